"""Executed actions (the ledger) and undoing one (`Runner.rollback`: the policy's rollback roles)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from hitl_api.deps import Caller, Runtime
from hitl_api.models import RollbackBody
from hitl_api.responses import as_json
from hitl_api.routes.threads import visible_thread
from hitl_core import ledger
from hitl_core.errors import BadInput, NotFound
from hitl_runtime import access

router = APIRouter(tags=["actions"])


@router.get("/actions", summary="Executed actions, newest first (hitl actions)")
def actions(
    user: Caller,
    runner: Runtime,
    thread: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    """Of one visible thread, or of every agent the caller reviews (all for an admin)."""
    if thread is not None:
        visible_thread(runner, user, thread)
        return as_json(ledger.list_entries(runner.db, thread_id=thread, limit=limit))
    agents = None if "admin" in user.roles else access.visible_agents(user)
    return as_json(ledger.list_entries(runner.db, limit=limit, agents=agents))


@router.post("/actions/{action_id}/rollback", summary="Undo an executed action (hitl rollback), with the reason")
def rollback(action_id: str, body: RollbackBody, user: Caller, runner: Runtime) -> Response:
    """The requester is told the reason in their conversation (`told`)."""
    entry = ledger.get_entry(runner.db, action_id)
    if not access.may_see(user, runner.thread(entry["thread_id"])):
        raise NotFound(f"unknown action {action_id!r}")
    if not body.reason.strip():
        raise BadInput("the reason is empty: write why the action is undone (the requester is told)")
    return as_json(runner.rollback(action_id, user.name, reason=body.reason))
