"""Retention: a finished thread's checkpoints and conversation are kept for its agent's `retention_days`.

`hitl sweep` (and `hitl retention apply`) deletes the checkpoints of threads that finished longer ago
than their agent's policy says, through the checkpointer's own `delete_thread`, clears the thread
row's last request and reply and the conversation shown in its reviews, and marks the thread purged.
The audit trail and the action ledger keep their rows (the purge itself is an audit event). A thread
waiting for someone, or running, is never purged; one busy with another process is tried next time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

from hitl_core import audit, leases
from hitl_core.canonical import dumps, iso, loads, now_iso, parse_iso
from hitl_core.db import Database, Tx

FINISHED: Final = ("completed", "rejected", "dismissed", "failed", "expired", "blocked", "withdrawn")
"""Thread statuses after which nothing more happens on a thread unless its requester writes again."""
BATCH: Final = 500


def strip_conversation(payload: dict[str, Any]) -> dict[str, Any]:
    """A review's payload without the requester's words (the request and the conversation)."""
    out = dict(payload)
    if "request" in out:
        out["request"] = ""
    if "conversation" in out:
        out["conversation"] = []
    return out


def clear_conversation(tx: Tx, thread_id: str, purged_by: str) -> None:
    """The thread row and its reviews lose the conversation; the thread is marked purged."""
    tx.execute(
        "UPDATE threads SET last_request = NULL, reply = NULL, purged_at = :at, purged_by = :by WHERE thread_id = :t",
        {"at": now_iso(), "by": purged_by, "t": thread_id},
    )
    for review in tx.execute("SELECT id, payload FROM reviews WHERE thread_id = :t", {"t": thread_id}):
        payload = loads(review["payload"], {})
        if isinstance(payload, dict):
            tx.execute(
                "UPDATE reviews SET payload = :p WHERE id = :i",
                {"p": dumps(strip_conversation(payload)), "i": review["id"]},
            )


def apply(
    db: Database,
    checkpointer: Any,
    retention_days: Callable[[str], int],
    *,
    lease_seconds: float,
    now: str | None = None,
) -> dict[str, Any]:
    """Purge every finished thread past its agent's retention (`retention_days(agent)`, from its policy).

    Errors are per agent, one line each: a broken policy stops only that agent's purge.
    """
    moment = parse_iso(now or now_iso())
    purged: list[str] = []
    busy: list[str] = []
    errors: list[dict[str, Any]] = []
    agents = db.read(
        "SELECT DISTINCT agent FROM threads WHERE purged_at IS NULL AND status IN "
        f"({', '.join(repr(s) for s in FINISHED)}) ORDER BY agent"
    )
    for row in agents:
        agent = str(row["agent"])
        try:
            days = retention_days(agent)
        except Exception as exc:  # a broken policy stops this agent's purge only, and is reported
            errors.append({"retention": agent, "error": (str(exc).splitlines() or [type(exc).__name__])[0][:300]})
            continue
        cutoff = iso(moment - timedelta(days=days))
        for thread_id in _due(db, agent, cutoff):
            try:
                done = _purge(db, checkpointer, thread_id, cutoff, days, lease_seconds)
            except (leases.LeaseBusy, leases.LeaseLost):
                done = False
            except Exception as exc:  # one thread's failure is reported; the next sweep tries again
                errors.append(
                    {"thread_id": thread_id, "error": (str(exc).splitlines() or [type(exc).__name__])[0][:300]}
                )
                continue
            (purged if done else busy).append(thread_id)
    return {"threads": purged, "busy": busy, "errors": errors}


def _due(db: Database, agent: str, cutoff: str) -> list[str]:
    rows = db.read(
        "SELECT thread_id FROM threads WHERE agent = :a AND purged_at IS NULL AND updated_at < :c AND status IN "
        f"({', '.join(repr(s) for s in FINISHED)}) ORDER BY updated_at LIMIT :n",
        {"a": agent, "c": cutoff, "n": BATCH},
    )
    return [str(r["thread_id"]) for r in rows]


def _purge(db: Database, checkpointer: Any, thread_id: str, cutoff: str, days: int, lease_seconds: float) -> bool:
    """Under the thread's lease: look again, delete its checkpoints, clear and mark it; False if busy."""
    with leases.try_lease(db, thread_id, lease_seconds) as held:
        if held is None:
            return False
        current = db.read("SELECT status, updated_at, purged_at FROM threads WHERE thread_id = :t", {"t": thread_id})
        if not current or current[0]["purged_at"] or current[0]["status"] not in FINISHED:
            return False
        if current[0]["updated_at"] >= cutoff:
            return False
        checkpointer.delete_thread(thread_id)
        with db.transaction() as tx:
            leases.fence_in(tx, leases.Fence(thread_id, held.token, lease_seconds))
            clear_conversation(tx, thread_id, "retention")
            audit.append(
                tx,
                "thread_purged",
                "retention",
                {"reason": "retention", "retention_days": days, "status": current[0]["status"]},
                thread_id=thread_id,
            )
    return True
