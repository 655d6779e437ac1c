"""The gate's own check of a resume: a decision gets through only once the runtime's rules admitted it.

Anyone who can reach the checkpointer (a notebook, LangGraph Studio, a LangGraph Server client)
can send `Command(resume=...)`. Two kinds of resume get through:
- the decision the runtime recorded on the review (`Runner.decide` checked the reviewer, recorded
  the decision with a compare-and-set, then resumed): the gate compares the value with the row;
- a decision from an authenticated user of LangGraph Server (`config["configurable"]
  ["langgraph_auth_user"]`, set by the server's auth handler, `hitl_runtime/server_auth.py`), in
  LangChain's or Agent Inbox's shape: the gate hands it to the same rules (`AgentContext.admit`,
  which is `Runner.decide` without the resume), which record it with the resume it came from.
Whatever else arrives, or fails a rule, changes nothing: the refusal is audited and the node
interrupts again with the same request (and the refusal on it, for the resume's sender), so the
thread waits on the same review. An approval that needs further approvers is counted and the node
waits again too.

LangGraph hands a re-run node every resume value it consumed, in order, so each is judged once:
the `n`-th resume of a review is known by the decision that records it (`via`), or by the audit
event of its refusal or of its counted approval; it is never judged again by today's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from langgraph.config import get_config
from langgraph.errors import GraphInterrupt
from langgraph.types import interrupt

from hitl_core import audit, leases, reviews
from hitl_core.canonical import card_safe, now_iso, value_hash
from hitl_core.errors import HitlError
from hitl_core.faults import crash_point
from hitl_core.interrupt_view import REFUSAL_KEY, payload_hash
from hitl_core.payloads import QuestionRequest, RefusedResume, ReviewDecision, ReviewRequest
from hitl_core.users import ANONYMOUS
from nodes.execute import run_fence
from nodes.state import AgentContext

REFUSED = "resume_refused"
"""The audit event of a resume the gate did not accept."""
COUNTED = "approval_recorded"
"""The audit event of one approval of several (`Runner.decide`), which carries the resume it came from."""
AUTH_USER_KEY = "langgraph_auth_user"
"""Where LangGraph Server puts the user its auth handler accepted."""
CHANNEL = "langgraph"
"""The channel recorded with a decision admitted from a resume (as `cli`, `app`, `api` for the others)."""


@dataclass(frozen=True)
class Waiting:
    """What a gate admitting a resume holds, standing for the checkpoint the runtime would read."""

    value: ReviewRequest
    """The interrupt value (the request its reviewers saw)."""
    values: dict[str, Any]
    """The thread's state at the gate (an edit is re-assessed on it)."""
    via: dict[str, Any]
    """Which resume of the review this is: `{"seq": n, "resume": value hash, "channel": ...}`."""


def awaited_decision(ctx: AgentContext, request: ReviewRequest, state: Any) -> ReviewDecision:
    """Interrupt with `request` until a resume brings a decision the rules admitted; that decision.

    After a refusal the request is raised again with the refusal on it (`refused_resume`), so the
    client that sent the resume reads why; reviewers see the request as it was (`as_shown`).
    """
    requester = str(state.get("requester") or ANONYMOUS)
    asked: ReviewRequest = request
    seq = 0
    while True:
        value = interrupt_with_row(ctx, asked, requester)
        decision, refusal = _admitted(ctx, request, dict(state), value, seq)
        if decision is not None:
            return decision
        asked = cast(ReviewRequest, {**request, REFUSAL_KEY: refusal}) if refusal is not None else request
        seq += 1


def interrupt_with_row(ctx: AgentContext, value: ReviewRequest | QuestionRequest, requester: str) -> Any:
    """`interrupt(value)`, writing the review's (or question's) row as the node pauses; the resume value.

    Written after `interrupt()` raised, from inside the graph, so that a thread that runs without the
    runtime (on LangGraph Server) has its review in the inbox like any other; once per review, and a
    later pause moves the row to LangGraph's new interrupt id.
    """
    try:
        return interrupt(value)
    except GraphInterrupt as paused:
        (pending,) = paused.args[0]
        fence = run_fence(ctx.thread_id)
        with ctx.db.transaction() as tx:
            if fence is not None:
                leases.fence_in(tx, fence)
            opened = reviews.register(
                tx, interrupt_id=pending.id, value=value, agent=ctx.agent, thread_id=ctx.thread_id, requester=requester
            )
            if opened and value.get("kind") != "question" and value.get("proposed_by"):
                reviews.approve_by_edit(tx, cast(ReviewRequest, value), ctx.thread_id)
            if ctx.host is not None:  # no bookkeeping follows a server's run: the row says it waits here
                tx.execute(
                    "UPDATE threads SET status = :s, updated_at = :u WHERE thread_id = :t",
                    {
                        "s": "needs_info" if value.get("kind") == "question" else "pending_review",
                        "u": now_iso(),
                        "t": ctx.thread_id,
                    },
                )
        crash_point("after_review_row")  # committed, and LangGraph has not yet checkpointed the pause
        ctx.registered.add(pending.id)
        raise


def decision_of(response: Any) -> ReviewDecision:
    """The one decision of a resume: LangChain's `{"decisions": [d]}`, or Agent Inbox's `[d]`."""
    listed = response.get("decisions") if isinstance(response, dict) else response
    if isinstance(listed, list) and len(listed) == 1:
        decision = listed[0]
        if isinstance(decision, dict) and isinstance(decision.get("type"), str):
            # LangGraph hands the resume value back untyped; `_admitted` checks it against the rules.
            return cast(ReviewDecision, decision)
    raise ValueError("the resume value must be a HITLResponse with exactly one decision")


def answered_review_id(request: ReviewRequest, decision: ReviewDecision) -> str:
    """The review a decision answers: this request's, in the form its row was opened with."""
    given = str(cast(dict[str, Any], decision).get("review_id") or "")
    derived = request["review_id"]
    was_plain = given.startswith("rv-") and all(c in "0123456789abcdef" for c in given[3:]) and len(given) == 19
    return given if was_plain and derived == "rv-" + card_safe(given[3:]) else derived


def shape(decision: dict[str, Any], action: str) -> tuple[str, dict[str, Any] | None, str | None]:
    """A decision in LangChain's or Agent Inbox's shape as the runtime's kind, edited arguments and comment.

    LangChain's HITL middleware: `approve`; `edit` with `edited_action: {name, args}`; `reject` with a
    `message`. Agent Inbox: `accept`; `edit` with `args: {action, args}`; `response` with the reviewer's
    text (the agent gets it back as a rejection's reason); `ignore` (a dismissal: its reason in `args`).
    The runtime's own kinds (`escalate`, `request_info`) read their text from `message` or `args`.
    """
    kind = str(decision.get("type"))
    raw_args = decision.get("args")
    text = decision.get("message") or decision.get("comment") or (raw_args if isinstance(raw_args, str) else None)
    if kind in ("approve", "accept"):
        return "approve", None, text
    if kind == "response":
        if not text:
            raise ValueError("a response needs the reviewer's text in args")
        return "reject", None, text
    if kind == "edit":
        edited = decision.get("edited_action") or (raw_args if isinstance(raw_args, dict) else None) or {}
        name, args = edited.get("name") or edited.get("action"), edited.get("args")
        if name != action or not isinstance(args, dict):
            raise ValueError(f"an edit carries the same action ({action}) with its arguments as an object")
        return "edit", args, text
    if kind in ("reject", "ignore", "escalate", "request_info"):
        return kind, None, text
    raise ValueError(f"unknown decision type {kind!r}")


def _admitted(
    ctx: AgentContext, request: ReviewRequest, state: dict[str, Any], value: Any, seq: int
) -> tuple[ReviewDecision | None, RefusedResume | None]:
    """The decision `value` brings if the rules admit it (or admitted it before this re-run), else the refusal.

    Neither: one approval of several was counted; the node waits on.
    """
    via = {"seq": seq, "resume": value_hash(value), "channel": CHANNEL}
    try:
        decision = decision_of(value)
    except ValueError as exc:
        return None, _refused(ctx, request, value, str(exc), via)
    review_id = answered_review_id(request, decision)
    row = reviews.recorded_decision(ctx.db, review_id)
    if row is None or row["thread_id"] != ctx.thread_id:
        return None, _refused(ctx, request, value, f"review {review_id} is not open on this thread", via)
    recorded = row["decision"] if row["status"] != "pending" else None
    if recorded is not None and value_hash(recorded) == value_hash(decision):
        return cast(ReviewDecision, recorded), None  # the runtime's own resume
    if recorded is not None and recorded.get("via") == via:
        return cast(ReviewDecision, recorded), None  # admitted from this resume before this re-run
    judged = _judged(ctx, review_id, seq)
    if judged is not None:  # a refusal tells its sender why; a counted approval tells nothing
        return None, _told(judged) if judged.get("reason") is not None else None
    user = authenticated_user()
    if user is None or ctx.admit is None:
        state_now = f"{row['status']} by {row['decided_by']}" if recorded is not None else "it has none yet"
        return None, _refused(
            ctx,
            request,
            value,
            f"this is not the decision recorded on review {review_id} ({state_now}); decide it through the runtime "
            "(hitl decide, the review app or the API) or as an authenticated user of LangGraph Server",
            via,
        )
    try:
        kind, args, comment = shape(cast(dict[str, Any], decision), request["action_requests"][0]["name"])
        answer = ctx.admit(review_id, kind, user, args=args, comment=comment, waiting=Waiting(request, state, via))
    except (ValueError, HitlError) as exc:
        return None, _refused(ctx, request, value, str(exc), via, claimed=user)
    if answer["status"] == "pending":
        return None, None  # one approval of several, counted with this resume in its event
    admitted = reviews.recorded_decision(ctx.db, review_id)
    assert admitted is not None  # the rules just recorded it
    return cast(ReviewDecision, admitted["decision"]), None


def authenticated_user() -> str | None:
    """The user LangGraph Server's auth handler accepted for this run, if any."""
    user = get_config().get("configurable", {}).get(AUTH_USER_KEY)
    identity = user.get("identity") if isinstance(user, dict) else getattr(user, "identity", None)
    return str(identity) if identity else None


def _judged(ctx: AgentContext, review_id: str, seq: int) -> dict[str, Any] | None:
    """The refusal or counted approval of the `seq`-th resume of this review, if judged before (a re-run)."""
    with ctx.db.transaction() as tx:
        events = audit.thread_events(tx, ctx.thread_id, (REFUSED, COUNTED), review_id)
    return next(
        (
            e
            for e in events
            if (e.get("via") or {}).get("seq") == seq and (e.get("via") or {}).get("channel") == CHANNEL
        ),
        None,
    )


def _told(refusal: dict[str, Any]) -> RefusedResume:
    """What a refusal's audit event tells the resume's sender."""
    claimed = refusal.get("claimed_reviewer")
    return {"reason": str(refusal["reason"]), "claimed_reviewer": None if claimed is None else str(claimed)}


def _refused(
    ctx: AgentContext,
    request: ReviewRequest,
    value: Any,
    reason: str,
    via: dict[str, Any],
    *,
    claimed: str | None = None,
) -> RefusedResume:
    """Audit that this resume of the review (`via`) was refused, once however often the node re-runs.

    Returns the refusal as first recorded, so a re-run raises the same interrupt value.
    """
    review_id = request["review_id"]
    decisions = value.get("decisions") if isinstance(value, dict) else value
    first = decisions[0] if isinstance(decisions, list) and decisions and isinstance(decisions[0], dict) else {}
    fence = run_fence(ctx.thread_id)
    with ctx.db.transaction() as tx:
        if fence is not None:
            leases.fence_in(tx, fence)
        earlier = [e for e in audit.thread_events(tx, ctx.thread_id, (REFUSED,), review_id) if e.get("via") == via]
        if earlier:
            return _told(earlier[0])
        event = {
            "reason": reason,
            "claimed_decision": first.get("type"),
            "claimed_reviewer": claimed or first.get("reviewer"),
            "authenticated": claimed is not None,
            "via": via,
        }
        audit.append(
            tx,
            REFUSED,
            f"agent:{ctx.agent}",
            event,
            thread_id=ctx.thread_id,
            review_id=review_id,
            payload_hash=payload_hash(request),
        )
    return _told(event)
