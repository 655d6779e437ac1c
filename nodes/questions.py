"""The agent's question to the requester, read from its proposal: one reading for the gate and the requester."""

from __future__ import annotations

from typing import Any

from hitl_core.actions import ASK_REQUESTER


def agent_question(proposal: dict[str, Any]) -> str:
    """The question as a lead approved (or reworded) it, else as the model put it, else from what is missing."""
    if proposal.get("name") == ASK_REQUESTER and (proposal.get("args") or {}).get("question"):
        return str(proposal["args"]["question"])
    if proposal.get("question"):
        return str(proposal["question"])
    missing = proposal.get("missing") or ["a few more details"]
    return "To help you with that, could you tell me " + " and ".join(missing) + "?"
