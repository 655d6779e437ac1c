"""The validator node: the agent's signals plus the shared guardrails, routed by the policy.

Besides the agent's own signals it adds argument validation, the historical approval rate, the
output checks on the draft (faithfulness to the evidence among them), the rules of accepted
lessons from the agent's memory, the request's own intents with their minimum routes (found
without the model, `guardrails.intents`), and, where a calibration file exists, the calibrated
confidence.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from guardrails.calibration import load_calibration
from guardrails.intents import intent_checks, request_intents
from guardrails.output_checks import action_statements, check_draft
from guardrails.routing import Check, Proposal, Signal, assess, lesson_checks
from hitl_core import memory
from hitl_core.actions import ASK_REQUESTER, get_action
from hitl_core.canonical import iso_in
from hitl_core.errors import BadInput
from nodes.history import approval_rate
from nodes.questions import agent_question
from nodes.revise import revision_check
from nodes.state import AgentContext, AgentState, Node, current_decisions, turn_text

SignalFn = Callable[[AgentState, AgentContext], tuple[dict[str, Any], list[Signal], list[Signal], list[Check]]]
"""An agent's own view of a proposal: facts for the rules, confidence and risk signals, checks."""


def proposal_signature(proposal: dict[str, Any]) -> str:
    """Identity of a proposed action for the no-bypass rule (see `ActionSpec.identity`)."""
    return get_action(proposal["name"]).signature(dict(proposal.get("args") or {}))


def assess_state(
    state: AgentState,
    ctx: AgentContext,
    agent_signals: SignalFn,
    lessons: list[dict[str, Any]],
    *,
    revise_drafts: bool = False,
) -> dict[str, Any]:
    """The validator's state update for the proposal in `state` (the node, and the runtime's edit check).

    The runtime re-runs exactly this on a reviewer's edited arguments before it accepts the edit, so
    an edit meets the same schema, guardrails, rules, limits and tiers as the agent's own proposal.
    """
    proposal = state.get("proposal") or {}
    asking = proposal.get("name") == ASK_REQUESTER  # a lead's rewording of a question: no agent signal reads it
    # The request's own intents, found without the model: no route below what the request needs. Read
    # first, once; the agent's signals find them in the facts. A reviewer's edit is re-checked against
    # the intents found when the request came in.
    text = turn_text(state)
    found = request_intents(ctx.policy, text, (state.get("facts") or {}).get("intent"))
    read: AgentState = {**state, "facts": {**dict(state.get("facts") or {}), "intent": found}}
    facts, confidence, risk, checks = (
        agent_signals(read, ctx) if proposal and not asking else (dict(read["facts"]), [], [], [])
    )
    checks = [Check(**c) for c in state.get("input_checks", [])] + checks
    name = proposal.get("name")
    args = dict(proposal.get("args") or {})
    missing = list(proposal.get("missing") or [])
    if name and not missing:
        args = _validated_args(name, args, confidence, missing)
    if proposal.get("draft"):
        checks += check_draft(
            str(proposal["draft"]),
            list(state.get("evidence") or []),
            request=text,
            facts=facts,
            args=args,
            tool_calls=list(state.get("tool_calls") or []),
            known=action_statements(name, args, proposal.get("preview")) if name and not missing else None,
        )
    if name:
        rate, detail = approval_rate(ctx.db, ctx.agent, name)
        confidence.append(Signal("historical_approval", rate, detail))
    lessons = lessons if proposal else []
    if lessons:
        facts = {**facts, "lessons": [lesson["id"] for lesson in lessons]}
        checks += lesson_checks(lessons, facts, name)
    facts = {**facts, "intent": found}
    checks += intent_checks(ctx.policy, found, facts, name)
    revisions = int(state.get("draft_revisions") or 0)
    revisions_left = _revisions_left(state, proposal, ctx, revisions if revise_drafts else None, checks)
    reviewed = current_decisions(state)
    verdict = assess(
        ctx.policy,
        Proposal(
            action=name,
            args=args,
            missing=missing,
            previously_rejected=bool(name)
            and (proposal_signature({"name": name, "args": args}) in state.get("rejected", []) or bool(reviewed)),
            revisions_left=revisions_left,
        ),
        facts,
        confidence,
        risk,
        checks,
        calibration=load_calibration(ctx.agent),
    )
    # Questions to the requester get the policy's deadline too: nothing waits forever.
    verdict["deadline"] = iso_in(60 * (verdict["deadline_minutes"] or ctx.policy.review_deadline_minutes))
    update: dict[str, Any] = {"assessment": verdict, "tier": 0, "review_deadline": verdict["deadline"]}
    update["facts"] = {**dict(state.get("facts") or {}), "intent": found}
    if lessons:
        update["facts"]["lessons"] = facts["lessons"]
    update |= _revision_update(state, verdict, proposal, name, args, missing, revisions)
    if verdict["asks_first"]:
        update["proposal"] = question_proposal(proposal)
    return update


def question_proposal(proposal: dict[str, Any]) -> dict[str, Any]:
    """The agent's question as a proposal of its own, for the lead who reviews it before the requester sees it."""
    question = agent_question(proposal)
    return {
        "name": ASK_REQUESTER,
        "args": {"question": question},
        "description": get_action(ASK_REQUESTER).description,
        "draft": question,
        "missing": [],
        "asked_for": list(proposal.get("missing") or []),
        "model_confidence": proposal.get("model_confidence"),
    }


def _validated_args(name: str, args: dict[str, Any], confidence: list[Signal], missing: list[str]) -> dict[str, Any]:
    """The arguments as the action's schema reads them; a mismatch is a missing piece and a zero validation signal."""
    try:
        args = get_action(name).validate_args(args)
        confidence.append(Signal("validation", 1.0, "arguments match the action's schema"))
    except BadInput as exc:
        confidence.append(Signal("validation", 0.0, str(exc)))
        missing.append(str(exc))
    return args


def _revisions_left(
    state: AgentState, proposal: dict[str, Any], ctx: AgentContext, revisions: int | None, checks: list[Check]
) -> int:
    """Rewrites the draft may still get (none where drafts are not revised, `revisions` None).

    A rewrite that changed more than the draft is a failing check, added to `checks`, and ends the rewrites.
    """
    revisions_left = 0 if revisions is None else max(0, ctx.policy.max_draft_revisions - revisions)
    changed = revision_check(state, proposal)
    if changed is not None:
        checks.append(changed)
        if not changed.passed:
            revisions_left = 0
    return revisions_left


def _revision_update(
    state: AgentState,
    verdict: dict[str, Any],
    proposal: dict[str, Any],
    name: str | None,
    args: dict[str, Any],
    missing: list[str],
    revisions: int,
) -> dict[str, Any]:
    """What a revise route records (the count and history of rewrites), and the proposal with validated arguments."""
    update: dict[str, Any] = {}
    if verdict["route"] == "revise":
        failed = [c for c in verdict["checks"] if not c["passed"] and c["outcome"] == "revise"]
        update["draft_revisions"] = revisions + 1
        update["revision_history"] = [
            *(state.get("revision_history") or []),
            {"proposal": {"name": name, "args": args}, "draft": proposal.get("draft"), "failed": failed},
        ]
    if name and not missing:
        update["proposal"] = {**proposal, "args": args}
    return update


def make_assess_node(agent_signals: SignalFn, *, revise_drafts: bool = False) -> Node:
    """Build the validator node around one agent's signal function.

    With `revise_drafts` (the graph routes `revise` back to the agent's propose node), a draft that
    fails a check whose outcome is `revise` is sent back for rewriting, at most the policy's
    `max_draft_revisions` times per turn.
    """

    def assess_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        proposal = state.get("proposal") or {}
        lessons = memory.lessons_for_run(runtime) if proposal else []
        return assess_state(state, runtime.context, agent_signals, lessons, revise_drafts=revise_drafts)

    return assess_node


def route_after_assess(state: AgentState) -> str:
    """Auto -> execute, review/escalate -> approval_gate, needs_info -> ask_requester, block -> refuse."""
    route = (state.get("assessment") or {}).get("route", "block")
    return {
        "auto": "execute",
        "review": "approval_gate",
        "escalate": "approval_gate",
        "needs_info": "ask_requester",
    }.get(route, "refuse")


def route_after_assess_revising(state: AgentState) -> str:
    """As `route_after_assess`, plus `revise` -> back to the agent's propose node."""
    if (state.get("assessment") or {}).get("route") == "revise":
        return "propose"
    return route_after_assess(state)
