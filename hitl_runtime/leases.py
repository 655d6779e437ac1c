"""Per-thread leases with fencing tokens: one process advances a thread at a time.

The open-source checkpointers do not stop two writers from forking a thread's checkpoint chain.
A process takes the lease (a row with an owner, an increasing token and an expiry) before it runs
or resumes a thread, and every checkpoint write checks that its token is still the current one:
a process that was paused past its expiry and overtaken finds its late writes refused.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from hitl_runtime.db import Database
from hitl_runtime.errors import Conflict, HitlError

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseLost(HitlError):
    """Another process took the thread over; this process's writes are refused."""


def acquire(db: Database, thread_id: str, ttl: float, owner: str = PROCESS_ID) -> int:
    """Take the thread's lease and return the new fencing token, or Conflict if it is held."""
    now = time.time()
    with db.transaction() as tx:
        lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
        tx.execute(
            "INSERT INTO thread_leases (thread_id, owner, token, expires_at) VALUES (:t, '', 0, 0) "
            "ON CONFLICT DO NOTHING",
            {"t": thread_id},
        )
        row = tx.one(f"SELECT owner, token, expires_at FROM thread_leases WHERE thread_id = :t{lock}", {"t": thread_id})
        assert row is not None
        if row["owner"] and row["owner"] != owner and float(row["expires_at"]) > now:
            raise Conflict(f"thread {thread_id} is being advanced by another process; try again shortly")
        token = int(row["token"]) + 1
        tx.execute(
            "UPDATE thread_leases SET owner = :o, token = :k, expires_at = :e WHERE thread_id = :t",
            {"o": owner, "k": token, "e": now + ttl, "t": thread_id},
        )
    return token


def check_and_extend(db: Database, thread_id: str, token: int, ttl: float) -> None:
    """Refuse (LeaseLost) unless `token` is still current; extend the lease when it is."""
    with db.transaction() as tx:
        changed = tx.rowcount(
            "UPDATE thread_leases SET expires_at = :e WHERE thread_id = :t AND token = :k",
            {"e": time.time() + ttl, "t": thread_id, "k": token},
        )
    if changed != 1:
        raise LeaseLost(f"thread {thread_id}: lease token {token} is no longer current; write refused")


def release(db: Database, thread_id: str, token: int) -> None:
    """Give the lease up (only if still ours); the token keeps increasing for the next owner."""
    with db.transaction() as tx:
        tx.execute(
            "UPDATE thread_leases SET owner = '', expires_at = 0 WHERE thread_id = :t AND token = :k",
            {"t": thread_id, "k": token},
        )


@contextmanager
def held(db: Database, thread_id: str, ttl: float, retries: int = 50) -> Iterator[int]:
    """Hold the lease for a block, waiting briefly while another process finishes with it."""
    token = 0
    for attempt in range(retries):
        try:
            token = acquire(db, thread_id, ttl)
            break
        except Conflict:
            if attempt == retries - 1:
                raise
            time.sleep(0.1)
    try:
        yield token
    finally:
        with suppress(HitlError):
            release(db, thread_id, token)


@contextmanager
def try_held(db: Database, thread_id: str, ttl: float) -> Iterator[int | None]:
    """Hold the lease if it is free right now; yields None (and holds nothing) if it is not."""
    try:
        token = acquire(db, thread_id, ttl)
    except Conflict:
        yield None
        return
    try:
        yield token
    finally:
        with suppress(HitlError):
            release(db, thread_id, token)
