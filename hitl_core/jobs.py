"""The queued-work table: one row per run, reply or decision a worker carries out.

The row is written in the same transaction as what the request recorded (the turn's input, the
answer, the decision), so a job exists exactly when there is work for it. Its status and result
are read here on both backends; on PostgreSQL procrastinate only schedules it (`backend`
'procrastinate'), on SQLite the in-process executor claims 'local' rows itself.
"""

from __future__ import annotations

from typing import Any

from hitl_core.canonical import dumps, iso_in, loads, new_id, now_iso
from hitl_core.db import Database, Row, Tx
from hitl_core.errors import NotFound

KINDS = ("run", "reply", "decision")
STATUSES = ("queued", "running", "done", "failed")


def create(
    tx: Tx, *, kind: str, thread_id: str, backend: str, review_id: str | None = None, requested_by: str | None = None
) -> str:
    """Queue a job in the caller's transaction; its id."""
    job_id = new_id("job")
    now = now_iso()
    tx.execute(
        """INSERT INTO hitl_jobs (id, kind, thread_id, review_id, requested_by, backend, status, run_after, created_at)
           VALUES (:i, :k, :t, :r, :u, :b, 'queued', :now, :now)""",
        {"i": job_id, "k": kind, "t": thread_id, "r": review_id, "u": requested_by, "b": backend, "now": now},
    )
    return job_id


def record_done(
    tx: Tx,
    *,
    kind: str,
    thread_id: str,
    result: dict[str, Any],
    review_id: str | None = None,
    requested_by: str | None = None,
) -> str:
    """A job that needed no worker (one approval of several was recorded): done at once, with its answer."""
    job_id = new_id("job")
    now = now_iso()
    tx.execute(
        """INSERT INTO hitl_jobs (id, kind, thread_id, review_id, requested_by, backend, status, result, run_after,
               created_at, finished_at)
           VALUES (:i, :k, :t, :r, :u, 'none', 'done', :res, :now, :now, :now)""",
        {"i": job_id, "k": kind, "t": thread_id, "r": review_id, "u": requested_by, "res": dumps(result), "now": now},
    )
    return job_id


def get(db: Database, job_id: str) -> dict[str, Any]:
    """A job's public view (result parsed), or NotFound."""
    rows = db.read("SELECT * FROM hitl_jobs WHERE id = :i", {"i": job_id})
    if not rows:
        raise NotFound(f"unknown job {job_id!r}")
    return public(rows[0])


def public(row: Row) -> dict[str, Any]:
    """The row as callers see it."""
    return {
        "job_id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "thread_id": row["thread_id"],
        "review_id": row["review_id"],
        "requested_by": row["requested_by"],
        "backend": row["backend"],
        "attempts": row["attempts"],
        "result": loads(row["result"]),
        "error": row["error"],
        "created_at": row["created_at"],
        "finished_at": row["finished_at"],
    }


def start(db: Database, job_id: str) -> Row:
    """Mark a job running (one more attempt) and return it; NotFound if it does not exist."""
    now = now_iso()
    with db.transaction() as tx:
        row = tx.one(
            """UPDATE hitl_jobs SET status = 'running', attempts = attempts + 1, started_at = :now,
                   heartbeat_at = :now, error = NULL
               WHERE id = :i RETURNING *""",
            {"i": job_id, "now": now},
        )
    if row is None:
        raise NotFound(f"unknown job {job_id!r}")
    return row


def claim_local(db: Database) -> Row | None:
    """Take the oldest due local job whose thread has no job running (one job per thread at a time)."""
    now = now_iso()
    with db.transaction() as tx:
        return tx.one(
            """UPDATE hitl_jobs SET status = 'running', attempts = attempts + 1, started_at = :now,
                   heartbeat_at = :now, error = NULL
               WHERE id = (SELECT id FROM hitl_jobs j WHERE backend = 'local' AND status = 'queued'
                   AND run_after <= :now
                   AND NOT EXISTS (SELECT 1 FROM hitl_jobs r WHERE r.thread_id = j.thread_id AND r.status = 'running')
                   ORDER BY created_at LIMIT 1)
               RETURNING *""",
            {"now": now},
        )


def heartbeat(db: Database, job_ids: list[str]) -> None:
    """The jobs this process runs are alive (a local job without a heartbeat is requeued)."""
    now = now_iso()
    with db.transaction() as tx:
        for job_id in job_ids:
            tx.execute(
                "UPDATE hitl_jobs SET heartbeat_at = :now WHERE id = :i AND status = 'running'",
                {"i": job_id, "now": now},
            )


def requeue_stalled_local(db: Database, silent_seconds: float) -> int:
    """Queue again local jobs whose process stopped beating (killed): the runner makes a repeat harmless."""
    with db.transaction() as tx:
        return tx.rowcount(
            """UPDATE hitl_jobs SET status = 'queued', run_after = :now
               WHERE backend = 'local' AND status = 'running' AND heartbeat_at < :b""",
            {"now": now_iso(), "b": iso_in(-silent_seconds)},
        )


def finish(db: Database, job_id: str, result: dict[str, Any]) -> None:
    """The job is done; its result is kept for `status`."""
    with db.transaction() as tx:
        tx.execute(
            "UPDATE hitl_jobs SET status = 'done', result = :r, finished_at = :now WHERE id = :i",
            {"r": dumps(result), "now": now_iso(), "i": job_id},
        )


def fail(db: Database, job_id: str, error: str) -> None:
    """The job cannot succeed (its request is refused now); the one-line reason is kept."""
    with db.transaction() as tx:
        tx.execute(
            "UPDATE hitl_jobs SET status = 'failed', error = :e, finished_at = :now WHERE id = :i",
            {"e": error[:500], "now": now_iso(), "i": job_id},
        )


def retry_later(db: Database, job_id: str, error: str, delay_seconds: float) -> None:
    """A passing obstacle (the thread busy, the database away): queued again after `delay_seconds`."""
    with db.transaction() as tx:
        tx.execute(
            "UPDATE hitl_jobs SET status = 'queued', error = :e, run_after = :at WHERE id = :i",
            {"e": error[:500], "at": iso_in(delay_seconds), "i": job_id},
        )
