"""Reading threads: one by id, and a requester's conversations, newest first (the chat page's history).

Queries on the threads table (indexed by requester and last update), never a checkpoint scan.
"""

from __future__ import annotations

from typing import Any

from hitl_core.db import Database, Row
from hitl_core.errors import BadInput, NotFound


def get(db: Database, thread_id: str) -> Row:
    """The thread row, or NotFound."""
    rows = db.read("SELECT * FROM threads WHERE thread_id = :t", {"t": thread_id})
    if not rows:
        raise NotFound(f"unknown thread {thread_id!r}")
    return rows[0]


def for_requester(db: Database, requester: str, *, agent: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The requester's threads (optionally of one agent), most recently updated first."""
    if not 1 <= limit <= 500:
        raise BadInput("limit must be between 1 and 500")
    where = "requester = :r" + (" AND agent = :a" if agent else "")
    params: dict[str, Any] = {"r": requester, "n": limit}
    if agent:
        params["a"] = agent
    return db.read(
        "SELECT thread_id, agent, requester, status, route, last_request, reply, created_at, updated_at "
        f"FROM threads WHERE {where} ORDER BY updated_at DESC LIMIT :n",
        params,
    )
