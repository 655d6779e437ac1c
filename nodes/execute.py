"""The one executor: approved or auto-routed actions, exactly once, through the ledger."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from hitl_runtime import audit, ledger
from hitl_runtime.actions import get_action
from hitl_runtime.errors import HitlError
from nodes.state import AgentContext, AgentState


def execute(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Perform the proposal (idempotent on thread + review); read-only actions just answer."""
    ctx = runtime.context
    proposal = state.get("proposal") or {}
    spec = get_action(proposal["name"])
    if not spec.has_effect:
        return {"outcome": "answered"}
    turn = state.get("turn", 1)
    approving = [
        d for d in state.get("decisions", []) if d.get("turn") == turn and d["effective"] in ("approve", "edit")
    ]
    review_id = approving[-1]["review_id"] if approving else None
    approvers = (
        [a for a in (approving[-1].get("approvers") or [approving[-1].get("reviewer")]) if a] if approving else []
    )
    if approving and approving[-1]["type"] == "expire":
        actor = "deadline"  # approve-on-expiry, only where the policy allows it
    else:
        actor = ",".join(approvers) if approvers else f"agent:{ctx.agent}"
    key = ledger.idempotency_key(ctx.thread_id, review_id or f"auto-{turn}", spec.name)
    assessment = state.get("assessment") or {}
    try:
        entry = ledger.execute(
            ctx.db,
            key=key,
            thread_id=ctx.thread_id,
            agent=ctx.agent,
            action=spec.name,
            args=proposal["args"],
            actor=actor,
            review_id=review_id,
            reversible=bool(assessment.get("reversible", True)),
            approvals=approvers,
        )
    except HitlError as exc:
        with ctx.db.transaction() as tx:
            audit.append(
                tx,
                "action_failed",
                actor,
                {"action": spec.name, "args": proposal["args"], "error": str(exc)},
                thread_id=ctx.thread_id,
                review_id=review_id,
            )
        return {"status": "failed", "outcome": "execution_failed", "reply": f"We could not complete that: {exc}"}
    return {"executed": [{"id": entry["id"], "name": entry["name"], "key": key}], "outcome": "executed"}
