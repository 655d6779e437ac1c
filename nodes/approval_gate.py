"""The approval gate: one pure node that asks a human and turns the answer into state.

LangGraph re-runs an interrupted node from its start on resume, so this node does nothing but
build the review request from state (deterministically: the same review id and payload every
time) and read the decision. Identity, roles, payload hash and compare-and-set were enforced by
the runtime's `decide` before the decision reached `Command(resume=...)`.
"""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from hitl_runtime.actions import get_action
from hitl_runtime.canonical import value_hash
from nodes.assess import proposal_signature
from nodes.state import AgentContext, AgentState

EXTRA_DECISIONS = ["escalate", "request_info"]
"""Decision types beyond LangChain's approve / edit / reject that reviewers may use here."""


def review_id_for(thread_id: str, turn: int, gate_visit: int) -> str:
    """Stable across re-runs of the gate: derived from the thread, turn and visit number."""
    return "rv-" + value_hash([thread_id, turn, gate_visit])[:16]


def build_review_request(state: AgentState, ctx: AgentContext) -> dict[str, Any]:
    """The interrupt value: a LangChain HITLRequest plus everything a reviewer needs to see."""
    proposal = state.get("proposal") or {}
    assessment = state.get("assessment") or {}
    ladder = assessment.get("ladder") or []
    tier = state.get("tier", 0)
    current = ladder[tier]
    spec = get_action(proposal["name"])
    turn = state.get("turn", 1)
    decisions = state.get("decisions", [])
    return {
        "action_requests": [
            {
                "name": proposal["name"],
                "args": proposal["args"],
                "description": proposal.get("description", spec.description),
            }
        ],
        "review_configs": [
            {
                "action_name": proposal["name"],
                "allowed_decisions": ["approve", "edit", "reject"],
                "args_schema": spec.args_schema(),
            }
        ],
        "kind": "review",
        "review_id": review_id_for(ctx.thread_id, turn, len(decisions)),
        "thread_id": ctx.thread_id,
        "agent": ctx.agent,
        "turn": turn,
        "requester": state.get("requester", "anonymous"),
        "request": state.get("redacted_request", ""),
        "conversation": [
            {"role": m.type, "text": m.content if isinstance(m.content, str) else str(m.content)}
            for m in state.get("messages", [])[-10:]
        ],
        "route": assessment.get("route"),
        "risk": assessment.get("risk"),
        "confidence": assessment.get("confidence"),
        "confidence_raw": assessment.get("confidence_raw"),
        "calibration": assessment.get("calibration"),
        "reasons": assessment.get("reasons", []),
        "risk_signals": assessment.get("risk_signals", []),
        "confidence_signals": assessment.get("confidence_signals", []),
        "checks": assessment.get("checks", []),
        "evidence": [{k: v for k, v in e.items() if k != "record"} for e in state.get("evidence", [])],
        "tool_calls": state.get("tool_calls", []),
        "facts": state.get("facts", {}),
        "draft": proposal.get("draft"),
        "revisions": state.get("revision_history") or [],
        "preview": proposal.get("preview", {}),
        "alternatives": proposal.get("alternatives", []),
        "undo_plan": spec.undo_plan,
        "reversible": assessment.get("reversible"),
        "amount": assessment.get("amount"),
        "deadline": state.get("review_deadline"),
        "expiry_fallback": assessment.get("fallback"),
        "tier": {"index": tier, **current},
        "escalation_path": ladder[tier + 1 :],
        "extra_decisions": EXTRA_DECISIONS,
        "history": decisions,
    }


def _decision_of(response: Any) -> dict[str, Any]:
    """Accept a HITLResponse ({"decisions": [...]}) carrying exactly one decision."""
    if isinstance(response, dict) and isinstance(response.get("decisions"), list) and len(response["decisions"]) == 1:
        decision = response["decisions"][0]
        if isinstance(decision, dict) and isinstance(decision.get("type"), str):
            return decision
    raise ValueError("resume value must be a HITLResponse with exactly one decision")


def approval_gate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Pause for a reviewer at the current tier; record the decision and what it changes."""
    request = build_review_request(state, runtime.context)
    decision = _decision_of(interrupt(request))
    proposal = dict(state.get("proposal") or {})
    tier = state.get("tier", 0)
    kind = decision["type"]
    if kind == "expire":
        kind = {"approve": "approve", "escalate": "escalate"}.get(decision.get("fallback", "reject"), "reject")
    record = {
        "review_id": request["review_id"],
        "turn": request["turn"],
        "tier": tier,
        "type": decision["type"],
        "effective": kind,
        "reviewer": decision.get("reviewer"),
        "approvers": decision.get("approvers", []),
        "comment": decision.get("comment") or decision.get("message"),
        "category": decision.get("category"),
        "action": proposal.get("name"),
        "at": decision.get("at"),
    }
    update: dict[str, Any] = {"decisions": [record]}
    if kind == "edit":
        edited = decision["edited_action"]
        update["proposal"] = {**proposal, "args": edited["args"], "edited_from": proposal.get("args")}
        if proposal.get("name") == "reply" and "message" in edited["args"]:
            update["proposal"]["draft"] = edited["args"]["message"]
    elif kind == "reject":
        update["rejected"] = [proposal_signature(proposal)]
    elif kind == "escalate":
        update["tier"] = tier + 1
        update["review_deadline"] = decision.get("next_deadline")
    elif kind == "request_info":
        update["review_deadline"] = decision.get("next_deadline")
    return update


def route_after_gate(state: AgentState) -> str:
    """Where the last decision sends the thread."""
    last = state["decisions"][-1]
    kind = last["effective"]
    if kind in ("approve", "edit"):
        return "execute"
    if kind == "request_info":
        return "ask_requester"
    if kind == "escalate":
        ladder = (state.get("assessment") or {}).get("ladder") or []
        return "approval_gate" if state.get("tier", 0) < len(ladder) else "refuse"
    return "finish"
