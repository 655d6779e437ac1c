"""Procrastinate on the project's own PostgreSQL database: its schema, and enqueueing inside our transaction.

Procrastinate keeps its queue in tables of the same database, so a job is deferred in the very
transaction that records the request (a decision and the job that applies it commit together, or
neither does). Its tables are created once, idempotently, by whichever process needs them first.
"""

from __future__ import annotations

import json
import threading

from hitl_core.db import Database, Tx

TASK_NAME = "hitl.execute_job"
"""The one procrastinate task: carry out one `hitl_jobs` row (hitl_runtime/worker.py registers it)."""
QUEUE = "hitl"
_SCHEMA_LOCK = 0x48495451  # "HITQ": serialises processes creating procrastinate's tables at once
_ready: set[str] = set()
_ready_lock = threading.Lock()


def thread_lock(thread_id: str) -> str:
    """Procrastinate's `lock` of a thread's jobs: no two of them run at once, and they run in order."""
    return f"thread:{thread_id}"


def ensure_schema(db: Database) -> None:
    """Create procrastinate's tables unless they exist (once per process and database; safe to race)."""
    if db.dialect != "postgresql" or db.target in _ready:
        return
    import psycopg
    from procrastinate.schema import SchemaManager

    with _ready_lock, psycopg.connect(db.target, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if not (row and row[0]):
            conn.execute(SchemaManager.get_schema())  # no parameters: the script runs as it is written
        _ready.add(db.target)


def defer_in(tx: Tx, job_id: str, thread_id: str) -> int:
    """Defer the job carrying out `job_id` in the caller's transaction; procrastinate's job id."""
    job = tx.one(
        """SELECT (procrastinate_defer_jobs_v1(ARRAY[ROW(CAST(:queue AS varchar), CAST(:task AS varchar), 0,
               CAST(:lock AS text), CAST(NULL AS text), CAST(:args AS jsonb), CAST(NULL AS timestamptz)
           )::procrastinate_job_to_defer_v1]))[1] AS id""",
        {"queue": QUEUE, "task": TASK_NAME, "lock": thread_lock(thread_id), "args": json.dumps({"job_id": job_id})},
    )
    assert job is not None
    return int(job["id"])
