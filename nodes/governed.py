"""`request_approval`: a governed `interrupt()` for a node of a hand-written LangGraph graph.

A graph of one's own (not built with `nodes.wiring`) calls `request_approval(state, runtime, action,
args)` inside one of its nodes where it would have called `interrupt()`. It runs the shared
validator (`assess_state`) on the proposed action; when the policy routes it to a human it calls
`interrupt()` with exactly the shared gate's payload (a LangChain HITLRequest plus the reviewer's
context); the review's row is written as it pauses, and every decision passes `Runner.decide`'s
checks before it comes back here (the call accepts no other resume: `nodes/resume_check.py`).
Escalations and edits that need a higher tier are further reviews inside the same call. `Approval.carry_out` then executes through the one executor
(`nodes.execute.execute_proposal`: the ledger checks the approval in the reviews table and the lease
fence) and composes the turn's reply.

The contract a hand-written graph meets (the runner reads these keys; `nodes.state.AgentState`
has them all, so subclass it for the graph's state):
- input: `request`, `requester`, `turn`, `context` (the runner's `graph_input`);
- the node calling `request_approval` does nothing with side effects before it: LangGraph re-runs
  the node from its start on every resume, and the call is deterministic across re-runs (the review
  already opened is read back from the reviews table rather than re-assessed);
- the node returns `approval.carry_out(runtime)` (or `approval.update` merged into its own update):
  `proposal`, `assessment`, `decisions`, `executed`, `status` and `reply` are what the runner shows;
- the module's `SIGNALS` (optional, the `signals` passed here) re-validate a reviewer's edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage

from guardrails.input_checks import input_checks, screen
from hitl_core import memory, reviews
from hitl_core.actions import get_action
from nodes.approval_gate import (
    apply_decision,
    build_review_request,
    plain_review_id_for,
    review_id_for,
    route_after_gate,
)
from nodes.ask_requester import question_for
from nodes.assess import SignalFn, assess_state
from nodes.execute import execute_proposal
from nodes.finish import finish, refuse
from nodes.propose import preview_for
from nodes.resume_check import awaited_decision
from nodes.state import AgentContext, AgentState

APPROVED = ("auto", "approve", "edit")
"""Decisions after which the action runs."""
_AFTER_GATE = {"ask_requester": "request_info", "refuse": "escalated_out", "finish": "reject", "next_action": "reject"}
_BY_ROUTE = {"auto": "auto", "needs_info": "needs_info"}


def no_signals(state: AgentState, ctx: AgentContext) -> tuple[dict[str, Any], list[Any], list[Any], list[Any]]:
    """An agent without signals of its own: the shared checks and the policy decide alone."""
    return dict(state.get("facts") or {}), [], [], []


@dataclass(frozen=True)
class Approval:
    """What the runtime accepted for one proposed action (returned only after it accepted it)."""

    decision: str
    """auto | approve | edit | reject | ignore | request_info | escalated_out | needs_info | blocked."""
    state: dict[str, Any]
    """The node's view of the state after the decisions: what the executor and the reply read."""
    update: dict[str, Any]
    """The state update recording them (list keys hold only the new items: the graph's reducers add)."""
    step: str | None = None
    """The ledger step of an automatic action, when one turn may run several (see `request_approval`'s `key`)."""

    @property
    def approved(self) -> bool:
        """Whether the action may run: routed automatically, or approved (possibly edited) by reviewers."""
        return self.decision in APPROVED

    @property
    def args(self) -> dict[str, Any]:
        """The arguments that run: the reviewer's edit where there was one."""
        return dict((self.state.get("proposal") or {}).get("args") or {})

    def execute(self, runtime: Any) -> dict[str, Any]:
        """Run the approved action through the ledger (once per review); the executor's state update."""
        if not self.approved:
            raise ValueError(f"the action was not approved ({self.decision}); nothing to execute")
        return execute_proposal(self.state, runtime.context, step=self.step)  # type: ignore[arg-type]

    def carry_out(self, runtime: Any) -> dict[str, Any]:
        """The node's whole state update: the decisions, the execution if approved, and the turn's reply."""
        update = dict(self.update)
        state: dict[str, Any] = dict(self.state)
        if self.approved:
            done = self.execute(runtime)
            update.update(done)
            state.update(done)
        if self.decision in ("blocked", "escalated_out"):
            end = refuse(state, runtime)  # type: ignore[arg-type]
        elif self.decision in ("needs_info", "request_info"):
            question = question_for(state)  # type: ignore[arg-type]
            end = {"messages": [AIMessage(question)], "reply": question, "status": "completed", "outcome": "needs_info"}
        else:
            end = finish(state, runtime)  # type: ignore[arg-type]
        return {**update, **end}


def _as_shown(assessment: dict[str, Any], shown: dict[str, Any]) -> dict[str, Any]:
    """The assessment a review was opened with, from its stored payload (LangGraph re-runs the node on resume)."""
    tier = {k: v for k, v in (shown.get("tier") or {}).items() if k != "index"}
    kept = ("route", "risk", "confidence", "confidence_raw", "calibration", "reasons", "risk_signals")
    return {
        **assessment,
        **{k: shown.get(k) for k in kept},
        "confidence_signals": shown.get("confidence_signals", []),
        "checks": shown.get("checks", []),
        "reversible": shown.get("reversible"),
        "amount": shown.get("amount"),
        "fallback": shown.get("expiry_fallback"),
        "deadline": shown.get("deadline"),
        "ladder": [tier, *(shown.get("escalation_path") or [])],
    }


def request_approval(
    state: AgentState | dict[str, Any],
    runtime: Any,
    action: str,
    args: dict[str, Any],
    *,
    description: str | None = None,
    summary: str | None = None,
    preview: dict[str, Any] | None = None,
    alternatives: list[str] | None = None,
    signals: SignalFn | None = None,
    key: str | None = None,
) -> Approval:
    """Validate a proposed action and, where the policy says so, pause for the runtime's reviewers.

    `runtime` is the node's `Runtime[AgentContext]` (anything with `.context`, such as a tool's
    runtime). `summary` is what the requester is told once it ran. `key` (a tool call id) keeps
    review ids and ledger steps apart when one turn asks about several actions at once. Nothing is
    written here: the review row is the runner's, the effect the executor's.
    """
    ctx: AgentContext = runtime.context
    spec = get_action(action)
    local: dict[str, Any] = dict(state)
    if "input_checks" not in local or "redacted_request" not in local:
        screening = screen(str(local.get("request") or ""))  # the shared screen, when the graph has none
        local["input_checks"] = [c.as_dict() for c in input_checks(screening)]
        local["redacted_request"] = screening.redacted
    start = len(local.get("decisions") or [])
    local["proposal_start"] = start
    local["proposal"] = {
        "name": action,
        "args": dict(args),
        "description": description or spec.description,
        "summary": summary,
        "missing": [],
        "preview": preview if preview is not None else preview_for(ctx, spec, args),
        "alternatives": list(alternatives or []),
    }
    local.update(assess_state(local, ctx, signals or no_signals, memory.lessons_for_run(runtime)))  # type: ignore[arg-type]
    turn = int(local.get("turn") or 1)
    shown = reviews.shown_payload(ctx.db, review_id_for(ctx.thread_id, turn, start, key)) or reviews.shown_payload(
        ctx.db, plain_review_id_for(ctx.thread_id, turn, start, key)
    )
    if shown is not None:  # a re-run after a decision: the review stands as it was opened
        local["assessment"] = _as_shown(local["assessment"], shown)
        local["review_deadline"] = shown.get("deadline")
    route = local["assessment"]["route"]
    base = {
        k: local.get(k)
        for k in ("input_checks", "redacted_request", "proposal_start", "facts", "proposal", "assessment", "tier")
    }
    step = None if key is None else f"auto-{turn}.{key}"
    if route not in ("review", "escalate"):
        return Approval(_BY_ROUTE.get(route, "blocked"), local, {**base, "review_deadline": None}, step)
    decided: list[dict[str, Any]] = []
    rejected: list[str] = []
    while True:
        request = build_review_request(local, ctx)  # type: ignore[arg-type]
        request["review_id"] = review_id_for(ctx.thread_id, turn, len(local.get("decisions") or []), key)
        outcome = apply_decision(local, request, awaited_decision(ctx, request, local))  # type: ignore[arg-type]
        records, refused = outcome.pop("decisions"), outcome.pop("rejected", [])
        decided += records
        rejected += refused
        local = {
            **local,
            **outcome,
            "decisions": [*(local.get("decisions") or []), *records],
            "rejected": [*(local.get("rejected") or []), *refused],
        }
        where = route_after_gate(local)  # type: ignore[arg-type]
        if where != "approval_gate":
            break
    last = decided[-1]["effective"]
    decision = last if where == "execute" or last == "ignore" else _AFTER_GATE[where]
    update = {
        **base,
        **{k: local.get(k) for k in ("proposal", "assessment", "tier", "review_deadline")},
        "decisions": decided,
        "rejected": rejected,
    }
    return Approval(decision, local, update, step)
