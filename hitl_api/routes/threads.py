"""One thread: where it stands, and its history (the app's thread page; its requester sees their chat's part)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from hitl_api.deps import Caller, Runtime
from hitl_api.responses import as_json
from hitl_core import audit, ledger, reviews
from hitl_core.errors import NotFound
from hitl_core.users import User
from hitl_runtime import access
from hitl_runtime.runner import Runner

router = APIRouter(tags=["threads"])


def visible_thread(runner: Runner, user: User, thread_id: str) -> tuple[dict[str, Any], bool]:
    """The thread row and whether the caller sees it as a reviewer (else only as its requester)."""
    if access.may_open(user, "thread"):
        return access.thread(runner, user, thread_id), True
    return access.thread(runner, user, thread_id, own=True), False


@router.get("/threads/{thread_id}", summary="A thread's state, reviews, actions and audit timeline")
def show(thread_id: str, user: Caller, runner: Runtime) -> Response:
    """`thread` (its row) and `state` (`hitl run --json`'s shape); for reviewers also `reviews`, `actions`, `timeline`."""
    row, reviewer = visible_thread(runner, user, thread_id)
    out: dict[str, Any] = {"thread": row, "state": runner.state(thread_id).as_dict()}
    if reviewer:
        out["reviews"] = reviews.for_thread(runner.db, thread_id)
        out["actions"] = ledger.list_entries(runner.db, thread_id=thread_id)
        out["timeline"] = audit.thread_history(runner.db, thread_id)
    return as_json(out)


@router.get("/threads/{thread_id}/audit", summary="A thread's audit events (hitl audit THREAD_ID)")
def thread_audit(thread_id: str, user: Caller, runner: Runtime) -> Response:
    """For the audit roles (any thread) and the thread's reviewers; anyone else is told it is unknown."""
    if access.may_open(user, "audit"):
        runner.thread(thread_id)
    else:
        _, reviewer = visible_thread(runner, user, thread_id)
        if not reviewer:
            raise NotFound(f"unknown thread {thread_id!r}")
    return as_json(audit.thread_history(runner.db, thread_id))
