"""The end of a turn: tell the requester what happened, in plain words."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from hitl_core.actions import get_action
from nodes.state import AgentContext, AgentState, current_decisions

DISMISSED_REPLY = (
    "We looked at your request and closed it without taking any action, so nothing has changed. "
    "If you still need this, please send us a new message."
)
"""What a requester reads when a reviewer dismissed their request: never the reviewer's own reason."""


def finish(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Compose the turn's answer: what each of its proposals came to (executed, answered, rejected...)."""
    update = outcome_of(state, amount_arg(state, runtime))
    reply = " ".join([*(state.get("earlier_replies") or []), update["reply"], _not_attempted(state)]).strip()
    return {**update, "messages": [AIMessage(reply)], "reply": reply}


def amount_arg(state: AgentState, runtime: Runtime[AgentContext]) -> str | None:
    """The argument holding the amount of the proposal in hand (the policy's `amount_arg`), if any."""
    name = (state.get("proposal") or {}).get("name")
    action = runtime.context.policy.actions.get(str(name)) if name else None
    return action.amount_arg if action is not None else None


def outcome_of(state: AgentState, amount: str | None = None) -> dict[str, Any]:
    """How the proposal in hand ended, in plain words for the requester (with status and outcome).

    A rejection says that nothing was done and why (the reviewer's comment); an edit of the amount
    (`amount` names its argument) says what was done instead of what was asked, and why.
    """
    if state.get("status") == "failed" or state.get("outcome") == "expired":
        reply = state.get("reply") or "Something went wrong; a member of our team will follow up."
        return {"reply": reply, "status": state.get("status", "completed")}
    proposal = state.get("proposal") or {}
    about_this = current_decisions(state)
    last = about_this[-1] if about_this else None
    if last and last["effective"] == "ignore":
        return {"reply": DISMISSED_REPLY, "status": "dismissed", "outcome": "dismissed"}
    if last and last["effective"] == "reject":
        reason = _reason(last.get("comment")) or "it does not meet our policy"
        alternatives = proposal.get("alternatives") or []
        offer = f" What we can do instead: {alternatives[0]}" if alternatives else ""
        reply = (
            f"We reviewed your request and did not carry it out, so nothing has changed. The reason: {reason}.{offer}"
        )
        return {"reply": reply, "status": "completed", "outcome": "rejected"}
    reply = str(proposal.get("draft") or proposal.get("summary") or "Done.")
    spec = get_action(proposal["name"]) if proposal.get("name") else None
    if proposal.get("edited_from") is not None and spec is not None and spec.confirm is not None:
        edit = next((d for d in reversed(about_this) if d.get("effective") == "edit"), last or {})
        reply = f"{_edited(proposal, spec.done, amount, _reason(edit.get('comment')))} {spec.confirm(proposal['args'])}"
    return {"reply": reply, "status": "completed"}


def _reason(comment: object) -> str:
    """A reviewer's comment as a clause: trimmed, without its final full stop, a capitalised first word lowered."""
    text = " ".join(str(comment or "").split()).rstrip(".")
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def _edited(proposal: dict[str, Any], done: str | None, amount: str | None, reason: str) -> str:
    """What a reviewer's edit changed, for the requester: the amount done instead of the one asked, and why."""
    before, after = proposal.get("edited_from") or {}, proposal.get("args") or {}
    because = f", because {reason}" if reason else ""
    old, new = before.get(amount or ""), after.get(amount or "")
    if done and isinstance(old, (int, float)) and isinstance(new, (int, float)) and old != new:
        currency = f" {after['currency']}" if after.get("currency") else ""
        return f"We {done} {new:.2f}{currency} instead of the {old:.2f}{currency} requested{because}."
    return f"Our team reviewed and adjusted your request{because}."


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
