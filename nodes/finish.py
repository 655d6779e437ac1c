"""The end of a turn: tell the requester what happened, in plain words."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from hitl_core.actions import get_action
from nodes.state import AgentContext, AgentState, current_decisions


def finish(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Compose the turn's answer: what each of its proposals came to (executed, answered, rejected...)."""
    update = outcome_of(state)
    reply = " ".join([*(state.get("earlier_replies") or []), update["reply"], _not_attempted(state)]).strip()
    return {**update, "messages": [AIMessage(reply)], "reply": reply}


def outcome_of(state: AgentState) -> dict[str, Any]:
    """How the proposal in hand ended, in plain words for the requester (with status and outcome)."""
    if state.get("status") == "failed" or state.get("outcome") == "expired":
        reply = state.get("reply") or "Something went wrong; a member of our team will follow up."
        return {"reply": reply, "status": state.get("status", "completed")}
    proposal = state.get("proposal") or {}
    about_this = current_decisions(state)
    last = about_this[-1] if about_this else None
    if last and last["effective"] == "reject":
        reason = last.get("comment") or "it did not meet our policy"
        alternatives = proposal.get("alternatives") or []
        offer = f" What we can do instead: {alternatives[0]}" if alternatives else ""
        reply = f"We reviewed your request and could not go ahead with it: {reason}.{offer}"
        return {"reply": reply, "status": "completed", "outcome": "rejected"}
    reply = str(proposal.get("draft") or proposal.get("summary") or "Done.")
    spec = get_action(proposal["name"]) if proposal.get("name") else None
    if proposal.get("edited_from") is not None and spec is not None and spec.confirm is not None:
        reply = f"Our team reviewed and adjusted your request. {spec.confirm(proposal['args'])}"
    return {"reply": reply, "status": "completed"}


def _not_attempted(state: AgentState) -> str:
    """Further actions of the model's answer that this turn leaves undone (said, never dropped silently)."""
    left = [str(call.get("name")) for call in state.get("pending_calls") or []]
    if not left:
        return ""
    return f"We did not go on to the other step{'s' if len(left) > 1 else ''} proposed with it ({', '.join(left)})."


def refuse(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Blocked: say so, with the reason, and do nothing."""
    assessment = state.get("assessment") or {}
    reasons = list(assessment.get("reasons") or [])
    decisions = state.get("decisions", [])
    if decisions and decisions[-1]["effective"] == "escalate":
        reasons = ["no reviewer tier is left on the escalation path"]
    elif state.get("revisions", 0) > runtime.context.policy.max_revisions:
        reasons = ["the request could not be completed with the information given"]
    elif not reasons:
        reasons = [c["rule"] for c in state.get("input_checks", []) if not c["passed"]]
    reply = "We can't help with this request. " + ("Reason: " + "; ".join(reasons) if reasons else "")
    reply = " ".join([*(state.get("earlier_replies") or []), reply.strip(), _not_attempted(state)])
    return {
        "messages": [AIMessage(reply.strip())],
        "reply": reply.strip(),
        "status": "blocked",
        "outcome": "blocked",
        "assessment": {**assessment, "route": assessment.get("route") or "block", "reasons": reasons},
    }
