"""The validator node: the agent's signals plus the shared guardrails, routed by the policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from guardrails.output_checks import check_draft
from guardrails.routing import Check, Proposal, Signal, assess
from hitl_runtime.actions import get_action
from hitl_runtime.canonical import iso_in
from hitl_runtime.errors import BadInput
from nodes.history import approval_rate
from nodes.state import AgentContext, AgentState, Node

SignalFn = Callable[[AgentState, AgentContext], tuple[dict[str, Any], list[Signal], list[Signal], list[Check]]]
"""An agent's own view of a proposal: facts for the rules, confidence and risk signals, checks."""


def proposal_signature(proposal: dict[str, Any]) -> str:
    """Identity of a proposed action for the no-bypass rule (see `ActionSpec.identity`)."""
    return get_action(proposal["name"]).signature(dict(proposal.get("args") or {}))


def make_assess_node(agent_signals: SignalFn) -> Node:
    """Build the validator node around one agent's signal function."""

    def assess_node(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
        ctx = runtime.context
        proposal = state.get("proposal") or {}
        facts, confidence, risk, checks = (
            agent_signals(state, ctx) if proposal else (dict(state.get("facts") or {}), [], [], [])
        )
        checks = [Check(**c) for c in state.get("input_checks", [])] + checks
        name = proposal.get("name")
        args = dict(proposal.get("args") or {})
        missing = list(proposal.get("missing") or [])
        if name and not missing:
            try:
                args = get_action(name).validate_args(args)
                confidence.append(Signal("validation", 1.0, "arguments match the action's schema"))
            except BadInput as exc:
                confidence.append(Signal("validation", 0.0, str(exc)))
                missing.append(str(exc))
        if proposal.get("draft"):
            checks += check_draft(str(proposal["draft"]))
        if name:
            rate, detail = approval_rate(ctx.db, ctx.agent, name)
            confidence.append(Signal("historical_approval", rate, detail))
        turn = state.get("turn", 1)
        reviewed = [d for d in state.get("decisions", []) if d.get("turn") == turn]
        verdict = assess(
            ctx.policy,
            Proposal(
                action=name,
                args=args,
                missing=missing,
                previously_rejected=bool(name)
                and (proposal_signature({"name": name, "args": args}) in state.get("rejected", []) or bool(reviewed)),
            ),
            facts,
            confidence,
            risk,
            checks,
        )
        # Questions to the requester get the policy's deadline too: nothing waits forever.
        verdict["deadline"] = iso_in(60 * (verdict["deadline_minutes"] or ctx.policy.review_deadline_minutes))
        update: dict[str, Any] = {"assessment": verdict, "tier": 0, "review_deadline": verdict["deadline"]}
        if name and not missing:
            update["proposal"] = {**proposal, "args": args}
        return update

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
