"""Several actions in one model answer: each is proposed, validated, reviewed and executed on its own.

The model's first tool call becomes the proposal; the others wait in `pending_calls`. When the
proposal in hand is done (executed, or rejected by a reviewer), this node keeps what it came to
for the turn's answer and clears the way; `propose` then takes the next waiting call instead of
asking the model again, so the agent's own enrichment (preview, alternatives) applies to it and the
validator judges it afresh. A blocked or failed action stops the turn, and the answer names what
was not attempted: no call is ever dropped silently.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from nodes.finish import amount_arg, outcome_of
from nodes.state import AgentContext, AgentState


def next_action(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Close the proposal in hand and make way for the next waiting tool call."""
    return {
        "earlier_replies": [
            *(state.get("earlier_replies") or []),
            outcome_of(state, amount_arg(state, runtime))["reply"],
        ],
        "proposal": None,
        "assessment": None,
        "tier": 0,
        "draft_revisions": 0,
        "revision_history": [],
        "review_deadline": None,
        "proposal_start": len(state.get("decisions", [])),
        "status": "running",
        "outcome": "",
    }


def replaying(state: AgentState) -> bool:
    """Whether `propose` should take the next waiting tool call rather than ask the model."""
    return bool(state.get("pending_calls")) and state.get("proposal") is None


def route_after_execute(state: AgentState) -> str:
    """On to the next waiting action when this one went through; otherwise the turn ends here."""
    if state.get("pending_calls") and state.get("status") != "failed":
        return "next_action"
    return "finish"
