"""The action ledger: every side effect exactly once, with its undo.

The idempotency key (thread, review or auto-step, action) is unique in the table; the effect, its
ledger row and its audit event commit in one transaction. Re-running an execute step after a
crash finds the row and returns it instead of acting again. The same transaction checks the
thread's lease token (a stale holder's effect is refused) and, for a reviewed action, that the
reviews table records an approval of exactly these arguments (the graph's state is not trusted).
"""

from __future__ import annotations

from typing import Any

from hitl_core import audit, leases, reviews, tracing
from hitl_core.actions import get_action
from hitl_core.canonical import dumps, loads, new_id, now_iso
from hitl_core.db import Database, Row, Tx
from hitl_core.errors import BadInput, Conflict, NotFound
from hitl_core.faults import crash_point


def idempotency_key(thread_id: str, step: str, action: str) -> str:
    """`thread:step:action`, where step is the review id (or `auto-<turn>` without review)."""
    return f"{thread_id}:{step}:{action}"


def _existing(tx: Tx, key: str) -> Row | None:
    return tx.one("SELECT * FROM action_ledger WHERE idempotency_key = :k", {"k": key})


@tracing.traced("hitl.execute")
def execute(
    db: Database,
    *,
    key: str,
    thread_id: str,
    agent: str,
    action: str,
    args: dict[str, Any],
    actor: str,
    review_id: str | None,
    reversible: bool,
    fence: leases.Fence | None = None,
) -> dict[str, Any]:
    """Perform the action once for this key; return its ledger entry (new or existing).

    With a `review_id`, the recorded approvers of these arguments replace `actor`; without one the
    action is the validator's automatic route (`actor` is the agent).
    """
    spec = get_action(action)
    if spec.execute is None:
        raise BadInput(f"{action} is read-only and has nothing to execute")
    for attempt in range(2):
        try:
            with db.transaction() as tx:
                if fence is not None:
                    leases.fence_in(tx, fence)
                found = _existing(tx, key)
                if found:
                    return _public(found) | {"replayed": True}
                approvals: list[str] = []
                if review_id is not None:
                    approvals = reviews.authorizing_approvers(tx, review_id, thread_id, args)
                    actor = ",".join(approvals)
                effect = spec.execute(tx, args, thread_id)
                action_id = new_id("act")
                entry: dict[str, Any] = {
                    "id": action_id,
                    "idempotency_key": key,
                    "thread_id": thread_id,
                    "review_id": review_id,
                    "agent": agent,
                    "action": action,
                    "args": dumps(args),
                    "status": "executed",
                    "reversible": 1 if reversible and spec.undo is not None else 0,
                    "effect": dumps(effect),
                    "undo": spec.undo_plan,
                    "executed_by": actor,
                    "executed_at": now_iso(),
                }
                tx.execute(
                    """INSERT INTO action_ledger (id, idempotency_key, thread_id, review_id, agent,
                           action, args, status, reversible, effect, undo, executed_by, executed_at)
                       VALUES (:id, :idempotency_key, :thread_id, :review_id, :agent, :action, :args,
                           :status, :reversible, :effect, :undo, :executed_by, :executed_at)""",
                    entry,
                )
                audit.append(
                    tx,
                    "action_executed",
                    actor,
                    {"action": action, "args": args, "effect": effect, "key": key, "approvals": approvals},
                    thread_id=thread_id,
                    review_id=review_id,
                    action_id=action_id,
                )
                crash_point("inside_execution")
            crash_point("after_execution")
            return _public(entry) | {"replayed": False}
        except Exception as exc:
            # A concurrent executor inserted the same key first: its row is the answer.
            if attempt == 0 and _is_unique_violation(exc):
                continue
            raise
    raise Conflict(f"could not execute {action} for {key}")


def rollback(db: Database, action_id: str, actor: str, *, reason: str | None = None) -> dict[str, Any]:
    """Undo an executed action once (compensating change plus audit event, with the actor's `reason`).

    Whether `actor` may do so is the caller's check (the runner knows the policy).
    """
    with db.transaction() as tx:
        row = tx.one("SELECT * FROM action_ledger WHERE id = :i", {"i": action_id})
        if row is None:
            raise NotFound(f"unknown action {action_id!r}")
        if row["status"] == "rolled_back":
            raise Conflict(
                f"action {action_id} was already rolled back by {row['rolled_back_by']} at {row['rolled_back_at']}"
            )
        if not row["reversible"]:
            raise BadInput(f"action {action_id} ({row['action']}) cannot be undone")
        spec = get_action(row["action"])
        assert spec.undo is not None
        undo_effect = spec.undo(tx, loads(row["effect"], {}))
        changed = tx.rowcount(
            """UPDATE action_ledger SET status = 'rolled_back', rolled_back_by = :a, rolled_back_at = :t
               WHERE id = :i AND status = 'executed'""",
            {"a": actor, "t": now_iso(), "i": action_id},
        )
        if changed != 1:
            raise Conflict(f"action {action_id} changed while rolling back; nothing was undone")
        audit.append(
            tx,
            "action_rolled_back",
            actor,
            {"action": row["action"], "undo": undo_effect, "reason": reason},
            thread_id=row["thread_id"],
            review_id=row["review_id"],
            action_id=action_id,
        )
        row = tx.one("SELECT * FROM action_ledger WHERE id = :i", {"i": action_id})
        assert row is not None
        return _public(row) | {"undo_effect": undo_effect}


def get_entry(db: Database, action_id: str) -> dict[str, Any]:
    """One ledger entry, or NotFound."""
    rows = db.read("SELECT * FROM action_ledger WHERE id = :i", {"i": action_id})
    if not rows:
        raise NotFound(f"unknown action {action_id!r}")
    return _public(rows[0])


def list_entries(
    db: Database, thread_id: str | None = None, limit: int = 500, *, agents: list[str] | None = None
) -> list[dict[str, Any]]:
    """Executed actions, newest first, optionally for one thread and only of some agents (None: all)."""
    where: list[str] = []
    params: dict[str, Any] = {"n": limit}
    if thread_id:
        where.append("thread_id = :t")
        params["t"] = thread_id
    if agents is not None:
        names = {f"a{i}": name for i, name in enumerate(agents)}
        where.append(f"agent IN ({', '.join(':' + k for k in names)})" if names else "1 = 0")
        params.update(names)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = db.read(f"SELECT * FROM action_ledger {clause} ORDER BY executed_at DESC LIMIT :n", params)
    return [_public(r) for r in rows]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "thread_id": row["thread_id"],
        "review_id": row["review_id"],
        "agent": row["agent"],
        "name": row["action"],
        "args": loads(row["args"], {}) if isinstance(row["args"], str) else row["args"],
        "status": row["status"],
        "reversible": bool(row["reversible"]),
        "effect": loads(row["effect"], {}) if isinstance(row["effect"], str) else row["effect"],
        "undo_plan": row["undo"],
        "idempotency_key": row["idempotency_key"],
        "executed_by": row["executed_by"],
        "executed_at": row["executed_at"],
        "rolled_back_by": row.get("rolled_back_by"),
        "rolled_back_at": row.get("rolled_back_at"),
    }


def _is_unique_violation(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.IntegrityError):
        return True
    try:
        import psycopg.errors

        return isinstance(exc, psycopg.errors.UniqueViolation)
    except ImportError:  # pragma: no cover
        return False
