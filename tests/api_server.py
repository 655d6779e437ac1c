"""The HTTP API on a real uvicorn server, in a thread of the test process, on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from hitl_core.db import Database
from tests.helpers import free_port, stop

TABLES = (
    "users",
    "threads",
    "reviews",
    "review_approvals",
    "audit_events",
    "action_ledger",
    "feedback",
    "incidents",
    "api_tokens",
    "login_throttle",
    "hitl_jobs",
)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def worker_for(database_url: str) -> Iterator[subprocess.Popen[bytes] | None]:
    """On PostgreSQL, a `hitl worker` process on the database, as a deployment runs one beside `hitl serve`.

    On SQLite nothing: the API's own process is the worker. The sweep may not apply decisions
    itself here (a long grace), so what finishes a queued decision is its job.
    """
    if not database_url.startswith("postgresql"):
        yield None
        return
    env = {
        **os.environ,
        "HITL_DATABASE_URL": database_url,
        "HITL_RESUME_GRACE_SECONDS": "3600",
        "HITL_LEASE_SECONDS": "30",
        "HITL_WORKER_POLL_SECONDS": "0.2",
    }
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a full pipe would stall the worker
        process = subprocess.Popen(
            [sys.executable, "-m", "hitl_cli.main", "worker", "--concurrency", "4"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            yield process
        finally:
            stop(process)


def digest(db: Database) -> dict[str, int]:
    """Row counts of the tables a request could change (what a refused request must leave alone)."""
    return {table: int(db.read(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]) for table in TABLES}
