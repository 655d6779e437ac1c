"""The approval gate: one pure node that asks a human and turns the answer into state.

LangGraph re-runs an interrupted node from its start on resume, so this node does nothing but
build the review request from state (deterministically: the same review id and payload every
time) and read the decision. Identity, roles, payload hash and compare-and-set are enforced by
the runtime's `decide`, which records the decision on the review before it resumes; the gate
accepts no other resume (`nodes/resume_check.py`), and the executor checks the reviews table
again before any effect.

An edit is a new proposal. The runtime re-ran the validator on the edited arguments; when the
editor's own approval covers the result the thread executes it, otherwise it opens a new review
where the result belongs (a higher tier, or the full number of approvers), proposed by the editor.
"""

from __future__ import annotations

from typing import Any, cast

from langchain.agents.middleware.human_in_the_loop import DecisionType
from langgraph.runtime import Runtime

from hitl_core.actions import ASK_REQUESTER, get_action
from hitl_core.canonical import derived_id, value_hash
from hitl_core.feedback import args_diff
from hitl_core.payloads import ProposedBy, ReviewDecision, ReviewRequest, TierView
from nodes.assess import proposal_signature
from nodes.resume_check import answered_review_id, awaited_decision
from nodes.state import AgentContext, AgentState, current_decisions

EXTRA_DECISIONS = ["escalate", "request_info"]
"""Decision types beyond LangChain's approve / edit / reject that reviewers may use here."""
DECISIONS = ["approve", "edit", "reject"]
"""LangChain's decision types, offered on every review."""


def allowed_decisions(ctx: AgentContext, action: str, tier_roles: list[str]) -> list[DecisionType]:
    """What Agent Inbox offers: LangChain's three, and `ignore` (dismiss) where the policy lets this tier use it."""
    offered = DECISIONS + (["ignore"] if ctx.policy.may_be_ignored(action, tier_roles) else [])
    # LangChain's type lists its middleware's own kinds; `ignore` is Agent Inbox's, which reads this list.
    return cast("list[DecisionType]", offered)


def _review_key(thread_id: str, turn: int, visit: int, key: str | None) -> list[Any]:
    return [thread_id, turn, visit] if key is None else [thread_id, turn, visit, key]


def review_id_for(thread_id: str, turn: int, visit: int, key: str | None = None) -> str:
    """Stable across re-runs of the gate: derived from the thread, turn and visit number (and a tool call's `key`)."""
    return derived_id("rv", _review_key(thread_id, turn, visit, key))


def plain_review_id_for(thread_id: str, turn: int, visit: int, key: str | None = None) -> str:
    """The id the same review had before derived ids were card-safe: 16 plain hex digits.

    A review opened by the earlier release keeps that id in its row, so a node re-run on resume
    looks for it under both forms (`nodes/governed.py`) and records the one it was decided under.
    """
    return "rv-" + value_hash(_review_key(thread_id, turn, visit, key))[:16]


def build_review_request(state: AgentState, ctx: AgentContext) -> ReviewRequest:
    """The interrupt value: a LangChain HITLRequest plus everything a reviewer needs to see."""
    proposal = state.get("proposal") or {}
    assessment = state.get("assessment") or {}
    ladder = assessment.get("ladder") or []
    tier = state.get("tier", 0)
    current = ladder[tier]
    spec = get_action(proposal["name"])
    turn = state.get("turn", 1)
    decisions = state.get("decisions", [])
    about_this = current_decisions(state)
    last = about_this[-1] if about_this else {}
    proposed_by: ProposedBy | None = (
        {"reviewer": last.get("reviewer"), "edit_of": last.get("review_id"), "diff": last.get("diff") or {}}
        if last.get("effective") == "edit" and not last.get("covered")
        else None
    )
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
                "allowed_decisions": allowed_decisions(ctx, proposal["name"], current["roles"]),
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
        "tier": cast(TierView, {"index": tier, **current}),  # the policy's tier as the ladder holds it
        "escalation_path": ladder[tier + 1 :],
        "extra_decisions": EXTRA_DECISIONS,
        "history": decisions,
        "proposed_by": proposed_by,
    }


def approval_gate(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Pause for a reviewer at the current tier; record the decision and what it changes."""
    request = build_review_request(state, runtime.context)
    return apply_decision(state, request, awaited_decision(runtime.context, request, state))


def apply_decision(state: AgentState, request: ReviewRequest, decision: ReviewDecision) -> dict[str, Any]:
    """The state update a decision the runtime accepted makes (the gate's, and `request_approval`'s)."""
    proposal = dict(state.get("proposal") or {})
    tier = state.get("tier", 0)
    kind: str = decision["type"]
    if kind == "expire":
        kind = {"approve": "approve", "escalate": "escalate"}.get(decision.get("fallback", "reject"), "reject")
    record = {
        "review_id": answered_review_id(request, decision),
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
    if decision["type"] == "edit":  # the same as kind == "edit": an expiry never falls back to an edit
        edited = decision["edited_action"]
        spec = get_action(str(proposal.get("name")))
        record["covered"] = bool(decision.get("covered"))
        record["diff"] = args_diff(proposal.get("args") or {}, edited["args"])
        update["proposal"] = {
            **proposal,
            "args": edited["args"],
            "edited_from": proposal.get("args"),
            "edited_by": decision.get("reviewer"),
            "preview": decision.get("preview") or proposal.get("preview", {}),
        }
        if spec.draft_arg and spec.draft_arg in edited["args"]:
            update["proposal"]["draft"] = edited["args"][spec.draft_arg]
        reassessment = decision.get("reassessment")
        if isinstance(reassessment, dict) and not record["covered"]:
            update["assessment"] = reassessment
            update["tier"] = 0
            update["review_deadline"] = reassessment.get("deadline")
    elif kind in ("reject", "ignore"):  # a dismissed proposal, too, comes back only through a new review
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
    if kind == "edit" and not last.get("covered"):
        return "approval_gate"  # the edited proposal needs more than its editor: a new review
    if kind in ("approve", "edit"):  # an approved question is put to the requester: nothing else runs
        return "ask_requester" if (state.get("proposal") or {}).get("name") == ASK_REQUESTER else "execute"
    if kind == "request_info":
        return "ask_requester"
    if kind == "escalate":
        ladder = (state.get("assessment") or {}).get("ladder") or []
        return "approval_gate" if state.get("tier", 0) < len(ladder) else "refuse"
    if kind == "ignore":
        return "finish"  # dismissed: the turn ends here, its further proposed steps with it
    return "next_action" if state.get("pending_calls") else "finish"
