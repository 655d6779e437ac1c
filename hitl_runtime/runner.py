"""Start, resume and decide threads: the one place where the promises are enforced.

The CLI, the Streamlit app, the notebooks and the tests all go through a `Runner`. It owns the
thread lease while a graph runs, writes a review row for every pending interrupt, checks identity,
role, authority and payload hash before a decision is recorded (compare-and-set), and only then
resumes the thread with `Command(resume={interrupt_id: decision})`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langgraph.pregel import Pregel
from langgraph.types import Command, Interrupt, StateSnapshot

from guardrails.input_checks import redact_for_log, screen
from guardrails.policy import Policy
from hitl_core import (
    audit,
    feedback,
    interrupt_view,
    leases,
    ledger,
    limits,
    memory,
    outbox,
    retention,
    reviews,
    threads,
    tokens,
    tracing,
)
from hitl_core.actions import get_action
from hitl_core.canonical import iso, iso_in, loads, new_id, now_iso, utc_now, value_hash
from hitl_core.checkpointing import LEASE_KEY, LEASE_TTL_KEY, latest_checkpoint_id
from hitl_core.db import Database, Row, Tx, is_connection_error
from hitl_core.errors import BadInput, Conflict, Forbidden, HitlError, Unavailable
from hitl_core.faults import crash_point
from hitl_core.masking import mask_text, mask_value
from hitl_core.payloads import QuestionRequest, ReviewDecision, ReviewRequest, ReviewResponse
from hitl_core.settings import Settings
from hitl_core.users import ANONYMOUS, User, get_user, validate_name
from hitl_runtime.agents import agent_actions, agent_module, agent_policy, sweep_steps
from hitl_runtime.models import make_model
from hitl_runtime.served_threads import HOST, ServedThreads, ThreadCheckpoints
from hitl_runtime.store import open_store
from nodes.assess import assess_state
from nodes.governed import no_signals
from nodes.propose import preview_for
from nodes.resume_check import CHANNEL, Waiting
from nodes.state import AgentContext

_THREAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DECISIONS = ("approve", "edit", "reject", "request_info", "escalate", "ignore")
_THREAD_AND_CHECKPOINT = """SELECT t.*, EXISTS (SELECT 1 FROM checkpoints c WHERE c.thread_id = :t AND c.checkpoint_ns = '')
    AS checkpointed FROM (SELECT 1 AS here) AS one LEFT JOIN threads t ON t.thread_id = :t"""
"""A thread's row (all NULL when there is none) and whether it has a root checkpoint (both savers' `checkpoints`)."""
INTERRUPT_KEY = "__interrupt__"
"""Where `invoke` puts the interrupts a run paused on, beside the state's values."""
SERVED_RESUME_TRIES = 5
"""How often a decision is sent to a server's thread that still waits on its review (runs queued ahead changed the id)."""


@dataclass(frozen=True)
class _Paused:
    """A thread's values and pending interrupts as a run left them (what bookkeeping reads of a snapshot)."""

    values: dict[str, Any]
    interrupts: tuple[Interrupt, ...]


class _StartedMeanwhile(Exception):
    """Another run created the thread between our look and our lease: start again on the existing thread."""


@dataclass
class RunResult:
    """What `hitl run` prints (DESIGN's JSON contract)."""

    thread_id: str
    status: str
    route: str | None
    risk: float | None
    confidence: float | None
    reasons: list[str]
    action: dict[str, Any] | None
    reviews: list[str]
    reply: str | None
    question: str | None = None
    executed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The contract's keys first, then extras."""
        return {
            "thread_id": self.thread_id,
            "status": self.status,
            "route": self.route,
            "risk": self.risk,
            "confidence": self.confidence,
            "reasons": self.reasons,
            "action": self.action,
            "reviews": self.reviews,
            "reply": self.reply,
            "question": self.question,
            "executed": self.executed,
        }


def normalize_decision(text: str) -> str:
    """`request-info` and `request_info` are the same decision."""
    kind = text.strip().lower().replace("-", "_")
    if kind not in DECISIONS:
        raise BadInput(f"unknown decision {text!r} (approve, edit, reject, request-info, escalate, ignore)")
    return kind


class Runner:
    """The runtime over one database; safe to share across threads of one process."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        db: Database | None = None,
        model_factory: Callable[[str], BaseChatModel] | None = None,
    ) -> None:
        store = open_store(settings, db=db)
        self.settings, self.db, self.checkpointer = store.settings, store.db, store.checkpointer
        agent_actions()  # every agent's action specs, for what this process may undo or preview
        tracing.configure(self.settings, redact_for_log)
        self._model_factory = model_factory or (lambda agent: make_model(agent, self.settings))
        self._compiled: dict[str, Any] = {}
        self._models: dict[str, BaseChatModel] = {}
        url = self.settings.langgraph_url
        self.served = ServedThreads(url, self.settings.langgraph_token) if url else None
        self.thread_checkpoints = ThreadCheckpoints(self.checkpointer, self.db, self.served)
        """What retention and erasure delete through: server threads' checkpoints are the server's."""

    def close(self) -> None:
        """Release connections."""
        self.db.close()

    # -- plumbing ----------------------------------------------------------------------------
    def graph(self, agent: str) -> Any:
        """The agent's graph compiled with this database's checkpointer (cached)."""
        if agent not in self._compiled:
            built = agent_module(agent).build_graph()
            # An already compiled graph (`create_agent(...)`) keeps its own options, with our checkpointer.
            self._compiled[agent] = (
                built.copy(update={"checkpointer": self.checkpointer})
                if isinstance(built, Pregel)
                else built.compile(checkpointer=self.checkpointer)
            )
        return self._compiled[agent]

    def context(self, agent: str, thread_id: str) -> AgentContext:
        """Run-scoped services for the agent's nodes."""
        return AgentContext(
            db=self.db,
            policy=self.policy(agent),
            model=self.model(agent),
            agent=agent,
            thread_id=thread_id,
            admit=self.admit,
        )

    def model(self, agent: str) -> BaseChatModel:
        """The agent's chat model, made once per runner."""
        if agent not in self._models:
            self._models[agent] = self._model_factory(agent)
        return self._models[agent]

    def policy(self, agent: str) -> Policy:
        """The agent's policy, from this runner's `policy_dir` when set (see `agents.agent_policy`)."""
        return agent_policy(agent, self.settings.policy_dir)

    def config(self, thread_id: str, token: int | None = None) -> dict[str, Any]:
        """LangGraph config for a thread; the lease token fences checkpoint writes and the executor's."""
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if token is not None:
            configurable[LEASE_KEY] = token
            configurable[LEASE_TTL_KEY] = self.settings.lease_seconds
        return {"configurable": configurable} | tracing.run_config()

    def snapshot(self, agent: str, thread_id: str) -> StateSnapshot:
        """The thread's current checkpointed state: here, or on the LangGraph Server that runs it."""
        local: StateSnapshot = self.graph(agent).get_state(self.config(thread_id))
        if local.values or local.next or not self._on_server(thread_id):
            return local
        assert self.served is not None  # `_on_server` says so
        return self.served.snapshot(thread_id)

    def _on_server(self, thread_id: str) -> bool:
        """Whether LangGraph Server keeps this thread's checkpoints (HitlError if the runtime cannot reach it)."""
        return self.thread_checkpoints.on_server(thread_id) is not None

    def thread(self, thread_id: str) -> Row:
        """The thread row, or NotFound."""
        return threads.get(self.db, thread_id)

    # -- starting and continuing ---------------------------------------------------------------
    @tracing.traced("hitl.run")
    def run(
        self,
        agent: str,
        message: str,
        *,
        thread_id: str | None = None,
        user: str | None = None,
        context: dict[str, Any] | None = None,
        enqueue: Callable[[Tx], None] | None = None,
    ) -> RunResult:
        """Start a turn on a new or finished thread; run until it completes or pauses.

        With `enqueue`, the turn is only recorded (thread row, audit, the input's checkpoint) and
        `enqueue(tx)` runs in the transaction that lets the thread go; a worker then advances it
        (`carry_on`), so the caller never waits on the model.
        """
        module = agent_module(agent)
        self.policy(agent)  # a broken policy fails here, before anything is written
        message, context = checked_request(message, context)
        requester = validate_name(user) if user else ANONYMOUS
        if self.served is not None and agent in self.settings.langgraph_agents:
            return self._run_served(agent, message, thread_id, requester, context)
        thread_id = new_id("th") if thread_id is None else checked_thread_id(thread_id)
        tracing.annotate(thread_id=thread_id)
        # The thread row and whether any checkpoint exists for it, in one round trip.
        (look,) = self.db.read(_THREAD_AND_CHECKPOINT, {"t": thread_id})
        existing = [look] if look["thread_id"] is not None else []
        if existing:
            row = existing[0]
            if row["agent"] != agent:
                raise BadInput(f"thread {thread_id} belongs to the {row['agent']} agent")
            if row["status"] in ("pending_review", "needs_info"):
                hint = "answer it with: hitl reply" if row["status"] == "needs_info" else "it is waiting for a review"
                raise Conflict(f"thread {thread_id} is not finished: {hint}")
        redacted = screen(message).redacted

        def start_turn(tx: Tx, turn: int) -> None:
            record_turn(tx, agent, thread_id, requester, redacted, context, turn)

        def graph_input(turn: int) -> dict[str, Any]:
            value: dict[str, Any] = {"request": message, "requester": requester, "turn": turn}
            if context is not None or not existing:
                value["context"] = context or {}  # a follow-up turn keeps the thread's facts
            own = getattr(module, "GRAPH_INPUT", None)  # a graph whose input is another shape ({"messages": ...})
            return dict(own(value)) if callable(own) else value

        if not existing and not look["checkpointed"]:
            # A new thread is turn 1: the lease, its thread row and first audit event in one transaction.
            def first(tx: Tx, token: int) -> None:
                if tx.one("SELECT thread_id FROM threads WHERE thread_id = :t", {"t": thread_id}):
                    raise _StartedMeanwhile()
                start_turn(tx, 1)

            try:
                with leases.lease(self.db, thread_id, self.settings.lease_seconds, first=first) as held:
                    return self._turn(agent, thread_id, held, graph_input(1), enqueue)
            except _StartedMeanwhile:
                return self.run(agent, message, thread_id=thread_id, user=user, context=context, enqueue=enqueue)

        def not_busy(tx: Tx, token: int) -> None:
            # Looked at again under the lease: another turn may have started (and paused) since our first look.
            current = tx.one("SELECT status FROM threads WHERE thread_id = :t", {"t": thread_id})
            if current is not None and current["status"] in ("pending_review", "needs_info", "running"):
                raise Conflict(
                    f"thread {thread_id} is not finished ({current['status']}); it is busy with another turn"
                )

        with leases.lease(self.db, thread_id, self.settings.lease_seconds, first=not_busy) as held:
            turn = int(self.snapshot(agent, thread_id).values.get("turn", 0)) + 1
            with self.db.transaction() as tx:
                leases.fence_in(tx, leases.Fence(thread_id, held.token, self.settings.lease_seconds))
                start_turn(tx, turn)
            return self._turn(agent, thread_id, held, graph_input(turn), enqueue)

    def _run_served(
        self, agent: str, message: str, thread_id: str | None, requester: str, context: dict[str, Any] | None
    ) -> RunResult:
        """A turn on LangGraph Server, as the requester (a one-run token of theirs: the server's requester is the token's account)."""
        assert self.served is not None
        if requester == ANONYMOUS:
            raise BadInput(
                f"the {agent} agent runs on LangGraph Server, which needs a requester with an account (--user)"
            )
        if thread_id is None:
            thread_id = str(uuid.uuid4())
        elif not _UUID.match(thread_id):
            raise BadInput(f"invalid thread id {thread_id!r}: threads on LangGraph Server are named by UUIDs")
        known = self.db.read("SELECT host, status FROM threads WHERE thread_id = :t", {"t": thread_id})
        if known and known[0]["host"] != HOST:
            raise BadInput(f"thread {thread_id} runs in this runtime, not on LangGraph Server")
        if known and known[0]["status"] in ("pending_review", "needs_info"):
            raise Conflict(f"thread {thread_id} is not finished: it is waiting ({known[0]['status']})")
        minted = tokens.create(self.db, requester, label="one run on LangGraph Server", actor="runtime")
        graph_input: dict[str, Any] = {"request": message} | ({"context": context} if context is not None else {})
        try:
            values, pending = self.served.start(thread_id, agent, graph_input, minted["token"])
        finally:
            tokens.revoke(self.db, minted["id"], actor="runtime")
        return self._result(thread_id, _Paused(values, pending))

    @tracing.traced("hitl.reply")
    def reply(
        self, thread_id: str, message: str, *, user: str | None = None, enqueue: Callable[[Tx], None] | None = None
    ) -> RunResult:
        """The requester answers the agent's question; the agent then revises its proposal.

        With `enqueue`, the answer is recorded with `enqueue(tx)` in its transaction and a worker
        applies it (`apply`); the result is then the thread as it stands.
        """
        if not isinstance(message, str) or not message.strip():
            raise BadInput("the answer is empty")
        limits.check_value(message, "answer")
        message = mask_text(message, emails=True)  # before anything is stored
        thread = self.thread(thread_id)
        tracing.annotate(agent=thread["agent"])
        question = reviews.pending_question(self.db, thread_id)
        if question is None:
            raise Conflict(f"thread {thread_id} is not waiting for an answer from the requester")
        if user is not None and user != question["requester"]:
            raise Forbidden(f"only the requester ({question['requester']}) can answer this question")
        decision = {"answer": message, "user": question["requester"], "at": now_iso()}
        with self.db.transaction() as tx:
            if not reviews.compare_and_set(tx, question["id"], "answered", question["requester"], decision):
                raise reviews.already_decided(reviews.row_for_update(tx, question["id"]))
            audit.append(
                tx,
                "question_answered",
                question["requester"],
                {"answer": screen(message).redacted},
                thread_id=thread_id,
                review_id=question["id"],
                payload_hash=question["payload_hash"],
            )
            if enqueue is not None:
                enqueue(tx)
        if enqueue is not None:
            return self._result(thread_id, self.snapshot(thread["agent"], thread_id))
        return self._resume(thread["agent"], question, decision)

    # -- deciding ------------------------------------------------------------------------------
    @tracing.traced("hitl.decide")
    def decide(
        self,
        review_id: str,
        decision: str,
        reviewer: str,
        *,
        args: dict[str, Any] | None = None,
        comment: str | None = None,
        category: str | None = None,
        seen_hash: str | None = None,
        channel: str = "python",
        authenticated: bool = True,
        enqueue: Callable[[Tx], None] | None = None,
        waiting: Waiting | None = None,
    ) -> dict[str, Any]:
        """Check and record one reviewer's decision, then resume the thread with it.

        `channel` (cli, app, api, ...) is recorded with the decision: how the reviewer reached us.
        `authenticated` says whether the reviewer proved who they are (the app's login, a token, a
        password); a trusted host's command line without proof may not count as one of several
        distinct approvers, since one shell user could otherwise stand in for two people.
        With `enqueue`, every check runs and the decision is recorded here, with `enqueue(tx)` in the
        same transaction; a worker resumes the thread (`apply`), and `thread` in the answer is None.
        `waiting` comes from the gate itself, admitting a resume that reached the graph without this
        method (`nodes/resume_check.py`): the interrupt value and state it holds stand for the
        checkpoint's, the decision carries the resume it came from, and nothing is resumed here.
        """
        kind, category, comment, args = _checked_input(decision, category, comment, args)
        raw = reviews.get_row(self.db, review_id)
        interrupt_id = str(raw["interrupt_id"])
        row = reviews.public(raw)
        tracing.annotate(thread_id=row["thread_id"], agent=row["agent"], action=row["action"])
        user = self._admit_reviewer(row, reviewer, authenticated, kind)
        self._refuse_stale(raw, row, seen_hash, in_graph=waiting is not None)
        seen: StateSnapshot | None = None
        if waiting is not None:  # the gate holds the interrupt value and the state
            _same_payload(row, waiting.value)
            values = waiting.values
        else:
            _, seen = self._pending_payload(row, interrupt_id)
            values = seen.values
        decision_value: dict[str, Any] = {
            "type": kind,
            "review_id": review_id,
            "reviewer": user.name,
            "comment": comment,
            "category": category,
            "channel": channel,
            "at": now_iso(),
        }
        if waiting is not None:
            decision_value["via"] = waiting.via
        diff = self._decision_details(kind, user, row, values, args, decision_value)
        approvers = [user.name]
        with self.db.transaction() as tx:
            if kind == "approve" and row["approvals_required"] > 1:
                approvers, more = self._count_approval(tx, row, user.name, comment, channel, decision_value.get("via"))
                if more is not None:
                    return more
            decision_value["approvers"] = approvers
            status = self._record_decision(tx, row, user.name, decision_value, diff)
            if enqueue is not None:
                enqueue(tx)
        if enqueue is not None:
            return {"review_id": review_id, "status": status, "decided_by": user.name, "thread": None}
        crash_point("after_decision")
        assert seen is not None  # without `enqueue` there is no `waiting` (the gate passes both)
        result = self._resume(row["agent"], row | {"interrupt_id": interrupt_id}, decision_value, seen=seen)
        return {"review_id": review_id, "status": status, "decided_by": user.name, "thread": result.as_dict()}

    def admit(
        self,
        review_id: str,
        decision: str,
        reviewer: str,
        *,
        args: dict[str, Any] | None,
        comment: str | None,
        waiting: Waiting,
    ) -> dict[str, Any]:
        """`decide` for a gate admitting a resume from an authenticated user of LangGraph Server.

        Every check runs and the decision is recorded with the resume it came from; nothing is
        resumed, since the graph is already running. The server's auth handler proved who it is.
        """
        return self.decide(
            review_id,
            decision,
            reviewer,
            args=args,
            comment=comment,
            channel=CHANNEL,
            authenticated=True,
            enqueue=_nothing,
            waiting=waiting,
        )

    def _admit_reviewer(self, row: dict[str, Any], reviewer: str, authenticated: bool, kind: str) -> User:
        """The reviewer's account, if they may decide this review now, this way (DESIGN "Deciding", checks 1-3 in order)."""
        if row["kind"] != "review":
            raise BadInput(
                f"{row['id']} is a question for the requester; answer it with: hitl reply {row['thread_id']}"
            )
        user = get_user(self.db, reviewer)
        if row["status"] != "pending":
            raise reviews.already_decided(row)
        self._authorize(user, row)
        if kind == "ignore":
            self._authorize_ignore(user, row)
        if not authenticated and row["approvals_required"] > 1:
            raise Forbidden(
                f"review {row['id']} needs {row['approvals_required']} distinct approvers, so each must prove who "
                "they are: set HITL_TOKEN to your API token (hitl tokens create) or pass --password-stdin"
            )
        return user

    def _refuse_stale(self, raw: Row, row: dict[str, Any], seen_hash: str | None, *, in_graph: bool = False) -> None:
        """Refuse a decision that comes too late or on a payload other than the one shown (checks 4-5).

        From inside the graph (`in_graph`) the thread is running, so the fallback is left to the sweep.
        """
        if row["deadline"] and row["deadline"] < now_iso():
            if in_graph:
                raise Conflict(
                    f"review {row['id']} passed its deadline at {row['deadline']}; the policy's fallback applies"
                )
            expired = self._expire(raw)
            raise Conflict(
                f"review {row['id']} passed its deadline at {row['deadline']}; "
                f"the policy's fallback ({expired['fallback']}) was applied instead of this decision"
            )
        if seen_hash is not None and seen_hash != row["payload_hash"]:
            raise Conflict(f"review {row['id']} changed since it was shown to you; reload it and review again")

    def _decision_details(
        self,
        kind: str,
        user: User,
        row: dict[str, Any],
        values: dict[str, Any],
        args: dict[str, Any] | None,
        decision_value: dict[str, Any],
    ) -> dict[str, Any]:
        """Add what each kind of decision carries to `decision_value` (an edit is checked as a new proposal); the diff."""
        comment = decision_value["comment"]
        policy = self.policy(row["agent"])
        diff: dict[str, Any] = {}
        if kind == "edit":
            edit = self._check_edit(user, row, values, args)
            diff = edit["diff"]
            decision_value.update(edit)
        if kind == "reject":
            decision_value["message"] = comment or "rejected by the reviewer"
        if kind == "request_info":
            if not comment or not comment.strip():
                raise BadInput("request-info needs --comment with the question for the requester")
            decision_value["message"] = comment
        if kind in ("escalate", "request_info"):
            decision_value["next_deadline"] = iso_in(60 * policy.deadline_minutes(row["action"]))
        return diff

    def _count_approval(
        self, tx: Tx, row: dict[str, Any], reviewer: str, comment: str | None, channel: str, via: Any = None
    ) -> tuple[list[str], dict[str, Any] | None]:
        """Bind one approval of several to the exact arguments; the approvers, and the answer if more are needed."""
        review_id = row["id"]
        args_hash = value_hash(row["args"] or {})
        count = reviews.add_approval(tx, review_id, reviewer, args_hash)
        if count < row["approvals_required"]:
            audit.append(
                tx,
                "approval_recorded",
                reviewer,
                {
                    "action": row["action"],
                    "approvals": count,
                    "required": row["approvals_required"],
                    "args_hash": args_hash,
                    "comment": comment,
                    "channel": channel,
                    **({"via": via} if via is not None else {}),
                },
                thread_id=row["thread_id"],
                review_id=review_id,
                payload_hash=row["payload_hash"],
            )
            waiting = {
                "review_id": review_id,
                "status": "pending",
                "approvals": count,
                "approvals_required": row["approvals_required"],
                "message": f"approval {count} of {row['approvals_required']} recorded; another approver is needed",
            }
            return [reviewer], waiting
        return reviews.approvers_of(tx, review_id, args_hash), None

    def _record_decision(
        self, tx: Tx, row: dict[str, Any], reviewer: str, decision_value: dict[str, Any], diff: dict[str, Any]
    ) -> str:
        """Compare-and-set the review, audit it and keep the reviewer's feedback, in the caller's transaction."""
        kind, comment, category = decision_value["type"], decision_value["comment"], decision_value["category"]
        review_id = row["id"]
        status = reviews.DECISION_STATUS[kind]
        if not reviews.compare_and_set(tx, review_id, status, reviewer, decision_value):
            raise reviews.already_decided(reviews.row_for_update(tx, review_id))
        audit.append(
            tx,
            "review_decided",
            reviewer,
            {
                "decision": kind,
                "status": status,
                "action": row["action"],
                "comment": comment,
                "category": category,
                "diff": diff,
                "approvers": decision_value["approvers"],
                "tier": row["tier_name"],
                "channel": decision_value["channel"],
                "covered": decision_value.get("covered"),
            },
            thread_id=row["thread_id"],
            review_id=review_id,
            payload_hash=row["payload_hash"],
        )
        if kind in ("edit", "reject", "escalate", "request_info"):
            feedback.record(tx, review=row, kind=kind, reviewer=reviewer, diff=diff, comment=comment, category=category)
        return status

    def _authorize(self, user: User, row: dict[str, Any]) -> None:
        """Refuse a reviewer the shared rule refuses (reviews.decide_refusal), saying why."""
        refusal = reviews.decide_refusal(user, row)
        if refusal == "own_request":
            raise Forbidden(f"{user.name} made this request and cannot decide it")
        if refusal == "no_role":
            raise Forbidden(
                f"{user.name} (roles: {', '.join(user.roles)}) may not decide review {row['id']}: "
                f"it needs one of {', '.join(row['required_roles'])} ({row['tier_name']})"
            )

    def _authorize_ignore(self, user: User, row: dict[str, Any]) -> None:
        """Refuse a dismissal the policy does not allow for this action at this tier, or not to this reviewer's roles."""
        policy = self.policy(row["agent"])
        action, tier_roles = str(row["action"]), row["required_roles"]
        if not policy.may_be_ignored(action, tier_roles):
            raise Forbidden(
                f"review {row['id']} may not be dismissed: the {row['agent']} policy does not allow ignore on "
                f"{action}; reject it with a reason instead"
            )
        allowed = policy.ignore_roles_at(action, tier_roles)
        if not user.has_any(allowed):
            raise Forbidden(
                f"{user.name} (roles: {', '.join(user.roles)}) may not dismiss review {row['id']}: "
                f"it needs one of {', '.join(allowed)}"
            )

    def _check_edit(
        self, user: User, row: dict[str, Any], values: dict[str, Any], args: dict[str, Any] | None
    ) -> dict[str, Any]:
        """An edit is a new proposal: schema, locked arguments, then the agent's whole validator.

        Returns what the decision carries: the edited action, the validator's new verdict and preview,
        and whether the editor's own approval covers the result (`covered`); when it does not (a higher
        tier, or more approvers), the thread opens a new review there, proposed by the editor.
        """
        if not isinstance(args, dict):
            raise BadInput("edit needs --args with the edited arguments as a JSON object")
        action = str(row["action"])
        spec = get_action(action)
        original = dict(row["args"] or {})
        edited = spec.validate_args({**original, **args})
        policy = self.policy(row["agent"])
        locked = [k for k in policy.action(action).locked_args if edited.get(k) != original.get(k)]
        if locked:
            raise Forbidden(
                f"an edit may not change {', '.join(locked)} of {action} (what the action is about); "
                "reject it and ask for a new request instead"
            )
        diff = feedback.args_diff(original, edited)
        if not diff:
            raise BadInput("the edit changes nothing; use approve")
        verdict, preview = self._reassess(row["agent"], row["thread_id"], values, action, edited)
        if verdict["route"] in ("block", "needs_info", "revise"):
            reason = (verdict.get("reasons") or [verdict["route"]])[0]
            raise BadInput(f"the edited {action} is refused: {reason}")
        ladder = verdict["ladder"] or [
            {"name": row["tier_name"], "roles": row["required_roles"], "approvals": row["approvals_required"]}
        ]
        covered = any(t["approvals"] <= 1 and user.has_any(t["roles"]) for t in ladder)
        return {
            "edited_action": {"name": action, "args": edited},
            "covered": covered,
            "reassessment": verdict,
            "preview": preview,
            "diff": diff,
        }

    def _reassess(
        self, agent: str, thread_id: str, values: dict[str, Any], action: str, args: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run the agent's own validator on edited arguments, as the graph would on a new proposal."""
        spec = get_action(action)
        ctx = self.context(agent, thread_id)
        proposal = {**(values.get("proposal") or {}), "name": action, "args": args}
        proposal["preview"] = preview_for(ctx, spec, args)
        if spec.draft_arg and isinstance(args.get(spec.draft_arg), str):
            proposal["draft"] = args[spec.draft_arg]
        module = agent_module(agent)
        parts = getattr(module, "NODES", None)
        signals = getattr(module, "SIGNALS", None) or (parts.signals if parts is not None else no_signals)
        state = {**values, "proposal": proposal}
        update = assess_state(state, ctx, signals, memory.active_lessons(self.db, agent), revise_drafts=False)  # type: ignore[arg-type]
        return update["assessment"], proposal["preview"]

    def _interrupt_id(self, review_id: str) -> str:
        rows = self.db.read("SELECT interrupt_id FROM reviews WHERE id = :i", {"i": review_id})
        return str(rows[0]["interrupt_id"])

    def _pending_payload(
        self, row: dict[str, Any], interrupt_id: str
    ) -> tuple[ReviewRequest | QuestionRequest, StateSnapshot]:
        """The interrupt value still waiting in the checkpoint, which must hash as recorded (and that snapshot)."""
        snapshot = self.snapshot(row["agent"], row["thread_id"])
        pending = _waiting_on(snapshot, row["id"], interrupt_id)
        if pending is not None:
            _same_payload(row, pending.value)
            value: ReviewRequest | QuestionRequest = pending.value
            return value, snapshot
        current = reviews.get(self.db, row["id"])
        if current["status"] != "pending":  # another reviewer won the race meanwhile
            raise reviews.already_decided(current)
        raise Conflict(f"review {row['id']} is no longer waiting: its thread has moved on")

    # -- queued work (hitl_runtime/jobs.py) -------------------------------------------------------
    def _turn(
        self, agent: str, thread_id: str, held: leases.Lease, graph_input: Any, enqueue: Callable[[Tx], None] | None
    ) -> RunResult:
        """Run the turn now, or write its input's checkpoint and hand the thread to a worker."""
        if enqueue is None:
            return self._advance(agent, thread_id, held, graph_input)
        config = self.config(thread_id, held.token)
        self.graph(agent).invoke(
            graph_input, config, context=self.context(agent, thread_id), durability="exit", interrupt_before="*"
        )
        with self.db.transaction() as tx:
            leases.fence_in(tx, leases.Fence(thread_id, held.token, self.settings.lease_seconds))
            enqueue(tx)
            leases.release_in(tx, thread_id, held.token)
        held.released = True
        return RunResult(thread_id, "running", None, None, None, [], None, [], None)

    def carry_on(self, thread_id: str) -> RunResult:
        """Advance a thread whose turn was recorded (or interrupted by a crash) until it completes or pauses.

        Safe to repeat: a thread that has moved on is only read (and its bookkeeping finished if a
        crash cut it short), since the runs before a gate have no side effects and the executor is
        idempotent by key.
        """
        agent = str(self.thread(thread_id)["agent"])
        with leases.lease(self.db, thread_id, self.settings.lease_seconds) as held:
            snapshot = self.snapshot(agent, thread_id)
            if snapshot.next and not snapshot.interrupts:
                return self._advance(agent, thread_id, held, None)
            if self.thread(thread_id)["status"] == "running":
                return self._advance_bookkeeping(agent, thread_id, snapshot, held=held)
            return self._result(thread_id, snapshot)

    def apply(self, review_id: str) -> RunResult:
        """Resume a thread with the decision (or answer) recorded on a review, once; safe to repeat."""
        row = reviews.get_row(self.db, review_id)
        if row["status"] == "pending":
            raise Conflict(f"review {review_id} has no decision to apply")
        if row["applied_at"] is not None:
            return self.state(str(row["thread_id"]))
        return self._apply_recorded(row)

    def _apply_recorded(self, row: Row) -> RunResult:
        """Resume a review's thread with the decision recorded on its row (the worker's and the sweep's way)."""
        decision = loads(row["decision"], {})
        return self._resume(row["agent"], reviews.public(row) | {"interrupt_id": row["interrupt_id"]}, decision)

    # -- resuming --------------------------------------------------------------------------------
    def _resume(
        self, agent: str, row: dict[str, Any], decision: dict[str, Any], *, seen: StateSnapshot | None = None
    ) -> RunResult:
        """Hand a recorded decision to its thread, exactly once (safe to repeat after a crash).

        `seen` is a snapshot the caller read before taking the lease; it stands for the thread's state
        under the lease only while the thread's latest checkpoint is still the one it shows.
        """
        interrupt_id = row.get("interrupt_id") or self._interrupt_id(row["id"])
        thread_id = row["thread_id"]
        latest: list[str | None] = []

        def look(tx: Tx, token: int) -> None:
            latest.append(latest_checkpoint_id(tx, thread_id))

        with leases.lease(
            self.db, thread_id, self.settings.lease_seconds, first=look if seen is not None else None
        ) as held:
            if seen is not None and latest == [seen.config["configurable"].get("checkpoint_id")]:
                snapshot = seen
            else:
                snapshot = self.snapshot(agent, thread_id)
            waiting = _waiting_on(snapshot, row["id"], interrupt_id)
            if waiting is None:
                if snapshot.next and not snapshot.interrupts:
                    # The decision was consumed but the run died before finishing: carry it on.
                    return self._advance(agent, thread_id, held, None, applied=row["id"])
                with self.db.transaction() as tx:
                    reviews.mark_applied(tx, row["id"])
                return self._result(thread_id, snapshot)
            interrupt_id = waiting.id
            if row["kind"] == "question":
                return self._advance(
                    agent, thread_id, held, Command(resume={interrupt_id: decision}), applied=row["id"]
                )
            # `decide` and the deadline build the decision as a dict; its keys are ReviewDecision's.
            response: ReviewResponse = {"decisions": [cast(ReviewDecision, decision)]}
            return self._advance(agent, thread_id, held, Command(resume={interrupt_id: response}), applied=row["id"])

    def _advance(
        self, agent: str, thread_id: str, held: leases.Lease, graph_input: Any, applied: str | None = None
    ) -> RunResult:
        if self.served is not None and isinstance(graph_input, Command) and self._on_server(thread_id):
            return self._advance_served(agent, thread_id, graph_input, applied)
        graph = self.graph(agent)
        config = self.config(thread_id, held.token)
        context = self.context(agent, thread_id)
        try:
            if isinstance(graph_input, dict):
                # A new turn's input is on disk before any node runs (one checkpoint, then a stop).
                graph.invoke(graph_input, config, context=context, durability="exit", interrupt_before="*")
                graph_input = None
            # Durability "exit": one checkpoint when the run pauses or ends, none per step. A run that dies
            # is carried on by `hitl sweep` from the checkpoint before it (the turn's input, or the pending
            # interrupt with its recorded decision): nodes before a gate have no side effects, and the
            # executor is idempotent by key, so running those steps again changes nothing more.
            output = graph.invoke(graph_input, config, context=context, durability="exit")
        except (leases.LeaseLost, Unavailable):
            raise  # the thread stays where its last checkpoint left it; `hitl sweep` carries it on
        except Exception as exc:
            if is_connection_error(exc):
                raise Unavailable(f"database failed while advancing {thread_id}: {str(exc).splitlines()[0]}") from exc
            if isinstance(exc, HitlError):
                return self._failed(agent, thread_id, str(exc), exc, held)
            return self._failed(agent, thread_id, f"{type(exc).__name__}: {exc}", exc, held)
        snapshot = self._outcome(agent, thread_id, output)
        return self._advance_bookkeeping(agent, thread_id, snapshot, applied, held, registered=context.registered)

    def _advance_served(self, agent: str, thread_id: str, resume: Command, applied: str | None) -> RunResult:
        """Resume a thread on LangGraph Server with a recorded decision; the graph there does its own bookkeeping.

        The resume is keyed by the interrupt id read before it, but the server queues runs: a requester's
        own resume that ran first was refused by the gate, which asks again under the next id, and LangGraph
        hands a resume under an id no longer waited with to no one. So the decision counts as applied only
        once the thread no longer waits on its review; until then it is sent again under the id it waits with.
        """
        assert self.served is not None
        ((interrupt_id, value),) = cast(dict[str, Any], resume.resume).items()
        for _ in range(SERVED_RESUME_TRIES):
            values, pending = self.served.resume(thread_id, agent, {interrupt_id: value})
            still = _waiting_on(_Paused(values, pending), applied, None) if applied else None
            if still is None:
                break
            interrupt_id = still.id
        else:
            raise HitlError(
                f"thread {thread_id} on LangGraph Server still waits on review {applied} after "
                f"{SERVED_RESUME_TRIES} resumes; the decision stays recorded and `hitl sweep` applies it"
            )
        if applied:
            with self.db.transaction() as tx:
                reviews.mark_applied(tx, applied)
        return self._result(thread_id, _Paused(values, pending))

    def _outcome(self, agent: str, thread_id: str, output: Any) -> _Paused | StateSnapshot:
        """The state and pending interrupts after a run: invoke's own output when it is the whole state."""
        graph = self.graph(agent)
        if isinstance(output, dict) and graph.output_channels == graph.stream_channels_asis:
            values = {k: v for k, v in output.items() if k != INTERRUPT_KEY}
            return _Paused(values, tuple(output.get(INTERRUPT_KEY, ())))
        snapshot: StateSnapshot = graph.get_state(self.config(thread_id))
        return snapshot

    def _advance_bookkeeping(
        self,
        agent: str,
        thread_id: str,
        snapshot: _Paused | StateSnapshot,
        applied: str | None = None,
        held: leases.Lease | None = None,
        *,
        registered: set[str] | None = None,
    ) -> RunResult:
        """After a run: a review row per pending interrupt, the thread row, the turn's end in the audit.

        When the caller holds the thread's lease, the same transaction checks and gives it up (one statement).
        Interrupts in `registered` had their rows written by the node that paused (`interrupt_with_row`).
        """
        result = self._result(thread_id, snapshot)
        with self.db.transaction() as tx:
            if held is not None:  # checked and given up here; others see it free once this commits
                leases.fence_and_release_in(tx, leases.Fence(thread_id, held.token, self.settings.lease_seconds))
            requester = snapshot.values.get("requester", ANONYMOUS)
            for pending in snapshot.interrupts:
                if registered and pending.id in registered:
                    continue
                value: ReviewRequest | QuestionRequest = pending.value
                created = reviews.register(
                    tx,
                    interrupt_id=pending.id,
                    value=value,
                    agent=agent,
                    thread_id=thread_id,
                    requester=requester,
                )
                if created and value.get("kind") != "question" and value.get("proposed_by"):
                    reviews.approve_by_edit(tx, cast(ReviewRequest, value), thread_id)
            if applied:
                reviews.mark_applied(tx, applied)
            record_turn_end(
                tx,
                agent,
                thread_id,
                result.status,
                result.route,
                result.reply,
                snapshot.values.get("outcome"),
                finished=not snapshot.interrupts,
            )
        if held is not None:
            held.released = True
        return result

    def _failed(
        self, agent: str, thread_id: str, reason: str, exc: BaseException, held: leases.Lease | None = None
    ) -> RunResult:
        with self.db.transaction() as tx:
            if held is not None:
                leases.fence_in(tx, leases.Fence(thread_id, held.token, self.settings.lease_seconds))
            tx.execute(
                "UPDATE threads SET status = 'failed', updated_at = :u WHERE thread_id = :t",
                {"u": now_iso(), "t": thread_id},
            )
            audit.append(tx, "run_failed", f"agent:{agent}", {"error": mask_text(reason)[:500]}, thread_id=thread_id)
        if isinstance(exc, HitlError) and not isinstance(exc, BadInput):
            raise exc
        return RunResult(thread_id, "failed", None, None, None, [reason], None, [], None)

    def _result(self, thread_id: str, snapshot: _Paused | StateSnapshot) -> RunResult:
        values = snapshot.values
        assessment = values.get("assessment") or {}
        proposal = values.get("proposal") or {}
        pending = [p.value for p in snapshot.interrupts]
        waiting = [p for p in pending if p.get("kind") == "review"]
        if waiting and not proposal.get("name"):
            # Asked from inside a node (`nodes.governed.request_approval`): the proposal is in the review only.
            assessment, proposal = waiting[0], waiting[0]["action_requests"][0]
        questions = [p for p in pending if p.get("kind") == "question"]
        if questions:
            status = "needs_info"
        elif pending:
            status = "pending_review"
        else:
            status = values.get("status") or "completed"
        return RunResult(
            thread_id=thread_id,
            status=status,
            route=assessment.get("route"),
            risk=assessment.get("risk"),
            confidence=assessment.get("confidence"),
            reasons=list(assessment.get("reasons") or []),
            action={"name": proposal["name"], "args": proposal.get("args", {})} if proposal.get("name") else None,
            reviews=[p["review_id"] for p in pending],
            reply=questions[0]["question"] if questions else (None if pending else values.get("reply")),
            question=questions[0]["question"] if questions else None,
            executed=[e for e in values.get("executed", []) if e],
        )

    def state(self, thread_id: str) -> RunResult:
        """Where a thread stands now (for `hitl run` callers polling, and the chat page)."""
        thread = self.thread(thread_id)
        return self._result(thread_id, self.snapshot(thread["agent"], thread_id))

    # -- deadlines and crash recovery --------------------------------------------------------------
    @tracing.traced("hitl.sweep")
    def sweep(self, *, now: str | None = None, checkpoint: bool = True) -> dict[str, Any]:
        """Expire overdue reviews, finish unapplied decisions, run each agent's own step, purge threads past retention.

        Retention: `hitl_core/retention.py`, each agent's `retention_days`. `checkpoint` signs the
        audit chains' heads too (the worker does that on its own, longer interval).

        One bad thread never stalls the rest: each item's failure is recorded in `errors` (one line)
        and the sweep moves on; the item is tried again by the next sweep.
        """
        moment = now or now_iso()
        expired: list[dict[str, Any]] = []
        resumed: list[str] = []
        errors: list[dict[str, Any]] = []
        busy: list[dict[str, Any]] = []

        def attempt(key: dict[str, Any], work: Callable[[], Any]) -> Any:
            try:
                return work()
            except (leases.LeaseBusy, leases.LeaseLost):
                busy.append(key)  # another process is on it; the next sweep looks again
                return None
            except Exception as exc:  # one failure must not stop the sweep; it is reported
                if isinstance(exc, Unavailable) or is_connection_error(exc):
                    raise Unavailable(f"database failed during sweep: {str(exc).splitlines()[0]}") from exc
                message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                errors.append({**key, "error": message[:300]})
                return None

        for row in reviews.overdue(self.db, moment):

            def expire(row: Row = row) -> dict[str, Any]:
                return self._expire(row)

            done = attempt({"review_id": row["id"]}, expire)
            if done is not None:
                expired.append(done)
        grace = iso(utc_now() - timedelta(seconds=self.settings.resume_grace_seconds))
        for row in reviews.unapplied(self.db, grace):

            def finish(row: Row = row) -> str:
                self._apply_recorded(row)
                return str(row["id"])

            if attempt({"review_id": row["id"]}, finish) is not None:
                resumed.append(row["id"])
        for thread in self.db.read(
            # A thread on LangGraph Server is the server's to carry on.
            "SELECT thread_id, agent FROM threads WHERE status = 'running' AND updated_at < :b AND host IS NULL",
            {"b": grace},
        ):

            def carry_on(thread: Row = thread) -> bool:
                return self._continue_stalled(thread["agent"], thread["thread_id"])

            if attempt({"thread_id": thread["thread_id"]}, carry_on):
                resumed.append(thread["thread_id"])
        steps: dict[str, int] = {}
        for name, step in sweep_steps().items():

            def agent_step(step: Callable[[Tx], int] = step) -> int:
                with self.db.transaction() as tx:
                    return step(tx)

            steps[name] = attempt({"agent": name}, agent_step) or 0
        purged = retention.apply(
            self.db,
            self.thread_checkpoints,
            lambda a: self.policy(a).retention_days,
            lease_seconds=self.settings.lease_seconds,
            now=moment,
        )
        errors.extend(purged.pop("errors"))
        anchored = attempt({"audit": "checkpoint"}, lambda: audit.checkpoint(self.db)) if checkpoint else None
        return {
            "expired": expired,
            "resumed": resumed,
            "sent": sum(steps.values()),
            "steps": steps,
            "errors": errors,
            "busy": busy,
            "purged": purged,
            "audit_checkpoint": anchored.as_dict() if anchored is not None else None,
        }

    def _continue_stalled(self, agent: str, thread_id: str) -> bool:
        """Finish a run whose process died mid-graph (its lease has lapsed); False if not stalled."""
        with leases.try_lease(self.db, thread_id, self.settings.lease_seconds) as held:
            if held is None:
                return False  # another process is still advancing it
            snapshot = self.snapshot(agent, thread_id)
            if not snapshot.next or snapshot.interrupts:
                self._advance_bookkeeping(agent, thread_id, snapshot, held=held)
                return False
            self._advance(agent, thread_id, held, None)
            return True

    def _expire(self, row: Row) -> dict[str, Any]:
        policy = self.policy(row["agent"])
        if row["kind"] == "question":
            decision: dict[str, Any] = {"expired": True, "at": now_iso()}
            fallback = "close"
        else:
            fallback = policy.fallback(row["action"])
            decision = {
                "type": "expire",
                "fallback": fallback,
                "review_id": row["id"],
                "reviewer": None,
                "at": now_iso(),
                "next_deadline": iso_in(60 * policy.deadline_minutes(row["action"])),
            }
        with self.db.transaction() as tx:
            if not reviews.compare_and_set(tx, row["id"], "expired", "deadline", decision):
                raise reviews.already_decided(reviews.row_for_update(tx, row["id"]))
            audit.append(
                tx,
                "review_expired",
                "deadline",
                {"fallback": fallback, "action": row["action"], "deadline": row["deadline"]},
                thread_id=row["thread_id"],
                review_id=row["id"],
                payload_hash=row["payload_hash"],
            )
            outbox.review_expired(tx, row, fallback)
        self._resume(row["agent"], reviews.public(row) | {"interrupt_id": row["interrupt_id"]}, decision)
        return {"review_id": row["id"], "fallback": fallback}

    # -- undo ----------------------------------------------------------------------------------
    def rollback(self, action_id: str, actor: str, reason: str | None = None) -> dict[str, Any]:
        """Undo an executed action, if the actor's role may decide that action under its policy.

        `reason` is recorded in the audit event and told to the requester in the thread's conversation
        (`told` in the result; False when the thread is waiting for someone or busy: the audit has it).
        """
        reason = reason.strip() if isinstance(reason, str) else None
        if reason is not None:
            limits.check_text(reason, "the reason", limits.MAX_COMMENT)
            reason = mask_text(reason)  # before anything is stored
        entry = ledger.get_entry(self.db, action_id)
        user = get_user(self.db, actor)
        roles = self.policy(entry["agent"]).rollback_roles(entry["name"])
        if not user.has_any(roles):
            raise Forbidden(
                f"{actor} (roles: {', '.join(user.roles)}) may not roll back {entry['name']}: needs one of {', '.join(roles)}"
            )
        result = ledger.rollback(self.db, action_id, user.name, reason=reason or None)
        notice = f"Update on your request: our team reversed the {entry['name'].replace('_', ' ')} made for it."
        notice += f" Reason: {reason}" if reason else ""
        return result | {"told": self._tell_requester(entry["agent"], entry["thread_id"], notice)}

    def _tell_requester(self, agent: str, thread_id: str, text: str) -> bool:
        """Add the agent's message to a resting thread's conversation and reply; False if it is waiting or busy."""
        try:
            with leases.lease(self.db, thread_id, self.settings.lease_seconds, retries=20) as held:
                snapshot = self.snapshot(agent, thread_id)
                if snapshot.next or snapshot.interrupts:
                    return False  # a turn is under way or waiting for someone: its own reply comes next
                update = {"messages": [AIMessage(text)], "reply": text}
                graph = self.graph(agent)
                as_node = "finish" if "finish" in graph.nodes else None  # a graph of one's own: its last node
                graph.update_state(self.config(thread_id, held.token), update, as_node=as_node)
                with self.db.transaction() as tx:
                    leases.fence_in(tx, leases.Fence(thread_id, held.token, self.settings.lease_seconds))
                    tx.execute(
                        "UPDATE threads SET reply = :p, updated_at = :u WHERE thread_id = :t",
                        {"p": text, "u": now_iso(), "t": thread_id},
                    )
        except leases.LeaseBusy:
            return False
        return True

    # -- reading -------------------------------------------------------------------------------
    def show(self, review_id: str) -> dict[str, Any]:
        """Everything the reviewer sees, with the exact interrupt value under `interrupt`."""
        return reviews.with_context(self.db, review_id)

    def seen_hash(self, review_id: str) -> str:
        """The payload hash a reviewer is shown with a review (to send back with the decision)."""
        return str(reviews.get(self.db, review_id)["payload_hash"])


def checked_request(message: Any, context: Any) -> tuple[str, dict[str, Any] | None]:
    """A request's message and context, bounded and masked before anything is stored; BadInput otherwise."""
    if not isinstance(message, str) or not message.strip():
        raise BadInput("the message is empty")
    if context is not None and not isinstance(context, dict):
        raise BadInput("--context must be a JSON object")
    limits.check_value(message, "message")
    limits.check_value(context, "context")
    return mask_text(message, emails=True), mask_value(context)


def record_turn(
    tx: Tx,
    agent: str,
    thread_id: str,
    requester: str,
    redacted: str,
    context: dict[str, Any] | None,
    turn: int,
    extra: dict[str, Any] | None = None,
    host: str | None = None,
) -> None:
    """A turn's start: the request's facts in the agent's records, the thread row, the audit event.

    `host` names where the thread's checkpoints are when it is not this runtime (`langgraph`).
    """
    now = now_iso()
    try:
        agent_module(agent).load_context(tx, context or {}, requester)
    except (ValueError, TypeError) as exc:  # a context value of the wrong type for the agent's records
        raise BadInput(f"--context does not fit the {agent} agent's records: {str(exc).splitlines()[0]}") from None
    tx.execute(
        """INSERT INTO threads (thread_id, agent, requester, status, last_request, created_at, updated_at, host)
           VALUES (:t, :a, :r, 'running', :m, :now, :now, :h)
           ON CONFLICT (thread_id) DO UPDATE SET status = 'running', last_request = :m, updated_at = :now""",
        {"t": thread_id, "a": agent, "r": requester, "m": redacted[:500], "now": now, "h": host},
    )
    audit.append(
        tx,
        "request_received",
        requester,
        {"agent": agent, "turn": turn, "message": redacted, "context": sorted((context or {}).keys()), **(extra or {})},
        thread_id=thread_id,
    )


def record_turn_end(
    tx: Tx,
    agent: str,
    thread_id: str,
    status: str,
    route: str | None,
    reply: str | None,
    outcome: str | None,
    *,
    finished: bool,
) -> None:
    """Where a run left the thread: its row, and the turn's end in the audit when it did not pause."""
    tx.execute(
        "UPDATE threads SET status = :s, route = :r, reply = :p, updated_at = :u WHERE thread_id = :t",
        {"s": status, "r": route, "p": reply, "u": now_iso(), "t": thread_id},
    )
    if finished:
        audit.append(
            tx,
            "turn_finished",
            f"agent:{agent}",
            {"status": status, "outcome": outcome, "reply": reply},
            thread_id=thread_id,
        )


def checked_thread_id(thread_id: str) -> str:
    """A caller's thread id, refused when it is malformed or would store a card number or a secret."""
    if not _THREAD_ID.match(thread_id):
        raise BadInput(f"invalid thread id {thread_id!r}: 1-100 letters, digits, '_', '.', ':' or '-'")
    if mask_text(thread_id) != thread_id:
        raise BadInput("invalid thread id: it holds a card number or a secret, which are never stored")
    return thread_id


def _same_payload(row: dict[str, Any], value: Any) -> None:
    """Refuse a decision when the interrupt waiting now is not the one recorded on the review."""
    if interrupt_view.payload_hash(value) != row["payload_hash"]:
        raise Conflict(f"review {row['id']}: the proposal no longer matches what was recorded; refusing")


def _nothing(tx: Tx) -> None:
    """Nothing more to do in the decision's transaction."""


def _waiting_on(snapshot: StateSnapshot | _Paused, review_id: str, interrupt_id: str | None) -> Interrupt | None:
    """The interrupt that waits for this review: by LangGraph's id, or by the review id it carries.

    The id changes when the gate asks again after refusing a resume that did not come through the runtime.
    """
    for pending in snapshot.interrupts:
        if pending.id == interrupt_id or (
            isinstance(pending.value, dict) and pending.value.get("review_id") == review_id
        ):
            return pending
    return None


def _checked_input(
    decision: str, category: str | None, comment: str | None, args: dict[str, Any] | None
) -> tuple[str, str | None, str | None, dict[str, Any] | None]:
    """The decision's kind and its bounded, masked inputs: refused or masked before anything is read or stored."""
    kind = normalize_decision(decision)
    category = feedback.validate_category(category)
    limits.check_value(comment, "comment")
    limits.check_value(args, "args")
    comment, args = mask_value(comment), mask_value(args)  # before anything is stored
    if args is not None and kind != "edit":
        raise BadInput("--args is only for edit")
    if kind == "ignore" and not (comment or "").strip():
        raise BadInput("ignore needs --comment with the reason (kept in the audit trail, never shown to the requester)")
    return kind, category, comment, args
