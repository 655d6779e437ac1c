"""Pre-model screen: injection and personal data are found before the agent acts."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime

from guardrails.input_checks import input_checks, screen
from nodes.state import AgentContext, AgentState


def screen_input(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Screen the request; the model only ever sees the redacted text."""
    screening = screen(state.get("request", ""))
    checks = [c.as_dict() for c in input_checks(screening)]
    return {
        "input_checks": checks,
        "redacted_request": screening.redacted,
        "messages": [HumanMessage(screening.redacted, name="requester")],
        "facts": {
            "guard": {"injection": bool(screening.injection), "pii": screening.pii, "regulated": screening.regulated}
        },
        "proposal": None,
        "assessment": None,
        "evidence": [],
        "tool_calls": [],
        "tier": 0,
        "revisions": 0,
        "draft_revisions": 0,
        "revision_history": [],
        "status": "running",
        "outcome": "",
        "reply": None,
        "review_deadline": None,
        "pending_calls": [],
        "proposal_start": len(state.get("decisions", [])),
        "earlier_replies": [],
    }


def blocked_before_model(state: AgentState, runtime: Runtime[AgentContext]) -> bool:
    """Whether an input check failed with an outcome of block (after the policy's overrides)."""
    overrides = runtime.context.policy.guardrail_outcomes
    return any(
        not c["passed"] and overrides.get(c["id"], c["outcome"]) == "block" for c in state.get("input_checks", [])
    )
