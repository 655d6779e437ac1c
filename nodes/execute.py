"""The one executor: approved or auto-routed actions, exactly once, through the ledger.

What reaches this node is not proof of anything: a resume may have been forged or replayed. The
ledger's transaction checks the thread's lease token and, for a reviewed action, that the reviews
table records an approval of exactly these arguments; otherwise nothing happens and the refusal is
audited.
"""

from __future__ import annotations

from typing import Any

from langgraph.config import get_config
from langgraph.runtime import Runtime

from hitl_core import audit, leases, ledger
from hitl_core.actions import get_action
from hitl_core.checkpointing import LEASE_KEY, LEASE_TTL_KEY
from hitl_core.errors import Forbidden, HitlError
from nodes.state import AgentContext, AgentState, current_decisions


def run_fence(thread_id: str) -> leases.Fence | None:
    """The lease token this run holds (the runtime puts it in the run's config), if any."""
    configurable = get_config().get("configurable", {})
    token = configurable.get(LEASE_KEY)
    if token is None:
        return None
    return leases.Fence(thread_id, int(token), float(configurable.get(LEASE_TTL_KEY) or 60.0))


def execute(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Perform the proposal (idempotent on thread + review); read-only actions just answer."""
    return execute_proposal(state, runtime.context)


def execute_proposal(state: AgentState, ctx: AgentContext, *, step: str | None = None) -> dict[str, Any]:
    """The executor's work for the proposal in `state`, from any node (`nodes/governed.py` calls it too).

    `step` names an automatic action's ledger step when one node may run several in a turn (the
    middleware's tool calls); a reviewed action's step is always its review.
    """
    proposal = state.get("proposal") or {}
    spec = get_action(proposal["name"])
    if not spec.has_effect:
        return {"outcome": "answered"}
    turn = state.get("turn", 1)
    approving = [d for d in current_decisions(state) if d["effective"] in ("approve", "edit")]
    review_id = approving[-1]["review_id"] if approving else None
    actor = f"agent:{ctx.agent}"
    later = len(state.get("earlier_replies") or [])  # a turn's second, third... action has a step of its own
    auto_step = step or f"auto-{turn}" + (f".{later}" if later else "")
    key = ledger.idempotency_key(ctx.thread_id, review_id or auto_step, spec.name)
    assessment = state.get("assessment") or {}
    fence = run_fence(ctx.thread_id)
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
            fence=fence,
        )
    except leases.LeaseLost:
        raise  # another process owns the thread now: this run's writes stop here
    except HitlError as exc:
        refused = isinstance(exc, Forbidden)
        with ctx.db.transaction() as tx:
            if fence is not None:
                leases.fence_in(tx, fence)
            audit.append(
                tx,
                "execution_refused" if refused else "action_failed",
                actor,
                {"action": spec.name, "args": proposal["args"], "error": str(exc)},
                thread_id=ctx.thread_id,
                review_id=review_id,
            )
        if refused:
            return {"status": "failed", "outcome": "execution_refused", "reply": "This request could not be completed."}
        return {"status": "failed", "outcome": "execution_failed", "reply": f"We could not complete that: {exc}"}
    return {"executed": [{"id": entry["id"], "name": entry["name"], "key": key}], "outcome": "executed"}
