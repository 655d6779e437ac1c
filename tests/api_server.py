"""The HTTP API on a real uvicorn server, in a thread of the test process, on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from hitl_core.db import Database

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
)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def digest(db: Database) -> dict[str, int]:
    """Row counts of the tables a request could change (what a refused request must leave alone)."""
    return {table: int(db.read(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]) for table in TABLES}
