"""Per-thread leases with fencing tokens: one process advances a thread at a time.

The open-source checkpointers do not stop two writers from forking a thread's checkpoint chain.
A process takes the lease (a row with an owner, an increasing token and an expiry) before it runs
or resumes a thread, and every checkpoint write checks that its token is still the current one:
a process that was paused past its expiry and overtaken finds its late writes refused.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from hitl_core.db import Database, Tx
from hitl_core.errors import Conflict, HitlError

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def current_owner() -> str:
    """Lease owner name of the calling thread: two threads of one process must not share a lease."""
    return f"{PROCESS_ID}:{threading.get_ident()}"


class LeaseLost(HitlError):
    """Another process took the thread over; this process's writes are refused."""


class LeaseBusy(Conflict):
    """Another live process holds the thread's lease."""


_ACQUIRE_SQL = """INSERT INTO thread_leases (thread_id, owner, token, expires_at) VALUES (:t, :o, 1, :e)
    ON CONFLICT (thread_id) DO UPDATE SET owner = :o, token = thread_leases.token + 1, expires_at = :e
    WHERE thread_leases.owner = '' OR thread_leases.owner = :o OR thread_leases.expires_at <= :now
    RETURNING token"""
"""Take the lease unless another owner holds it unexpired; the row lock serialises racing takers."""


def acquire_in(tx: Tx, thread_id: str, ttl: float, owner: str | None = None) -> int:
    """Take the thread's lease inside the caller's transaction; LeaseBusy if another process holds it."""
    now = time.time()
    row = tx.one(_ACQUIRE_SQL, {"t": thread_id, "o": owner or current_owner(), "e": now + ttl, "now": now})
    if row is None:
        raise LeaseBusy(f"thread {thread_id} is being advanced by another process; try again shortly")
    return int(row["token"])


def acquire(db: Database, thread_id: str, ttl: float, owner: str | None = None) -> int:
    """Take the thread's lease and return the new fencing token, or Conflict if it is held."""
    with db.transaction() as tx:
        return acquire_in(tx, thread_id, ttl, owner)


FENCE_SQL = "UPDATE thread_leases SET expires_at = :e WHERE thread_id = :t AND token = :k"
"""The token check: extends the lease and touches one row only while `token` is still current."""
FENCE_SQL_QMARK = "UPDATE thread_leases SET expires_at = ? WHERE thread_id = ? AND token = ?"
FENCE_SQL_PYFORMAT = "UPDATE thread_leases SET expires_at = %s WHERE thread_id = %s AND token = %s"
"""FENCE_SQL for the checkpointers' own connections (sqlite3 and psycopg placeholders)."""


@dataclass(frozen=True)
class Fence:
    """A lease holder's proof, checked by every write of a step in that write's own transaction."""

    thread_id: str
    token: int
    ttl: float = 60.0


def fence_in(tx: Tx, fence: Fence) -> None:
    """Refuse (LeaseLost, rolling the caller's transaction back) unless the token is still current.

    The UPDATE takes the lease row's lock until commit, so no other process can take the thread
    over between this check and the writes that follow it in the same transaction.
    """
    changed = tx.rowcount(FENCE_SQL, {"e": time.time() + fence.ttl, "t": fence.thread_id, "k": fence.token})
    if changed != 1:
        raise LeaseLost(f"thread {fence.thread_id}: lease token {fence.token} is no longer current; write refused")


def fence_and_release_in(tx: Tx, fence: Fence) -> None:
    """`fence_in` and `release_in` as one statement, at the start of the holder's last transaction.

    The UPDATE checks the token and locks the lease row until commit, as `fence_in` does, so the
    release only shows once the transaction's writes commit (and is undone with them on rollback).
    """
    changed = tx.rowcount(
        "UPDATE thread_leases SET owner = '', expires_at = 0 WHERE thread_id = :t AND token = :k",
        {"t": fence.thread_id, "k": fence.token},
    )
    if changed != 1:
        raise LeaseLost(f"thread {fence.thread_id}: lease token {fence.token} is no longer current; write refused")


def check_and_extend(db: Database, thread_id: str, token: int, ttl: float) -> None:
    """Refuse (LeaseLost) unless `token` is still current; extend the lease when it is."""
    with db.transaction() as tx:
        fence_in(tx, Fence(thread_id, token, ttl))


def release_in(tx: Tx, thread_id: str, token: int) -> None:
    """Give the lease up inside the caller's transaction (only if still ours)."""
    tx.execute(
        "UPDATE thread_leases SET owner = '', expires_at = 0 WHERE thread_id = :t AND token = :k",
        {"t": thread_id, "k": token},
    )


def release(db: Database, thread_id: str, token: int) -> None:
    """Give the lease up (only if still ours); the token keeps increasing for the next owner."""
    with db.transaction() as tx:
        release_in(tx, thread_id, token)


@dataclass
class Lease:
    """A held lease: its fencing token, and whether a transaction of the holder already gave it up."""

    thread_id: str
    token: int
    released: bool = False


@contextmanager
def lease(
    db: Database,
    thread_id: str,
    ttl: float,
    *,
    retries: int = 50,
    first: Callable[[Tx, int], None] | None = None,
) -> Iterator[Lease]:
    """Hold the lease for a block, waiting briefly while another process finishes with it.

    `first(tx, token)` runs in the transaction that takes the lease (so the holder's first writes
    cost no transaction of their own); if it raises, the lease is not taken. A holder that gives the
    lease up in its own last transaction (`release_in`) sets `released`, and nothing more is done.
    """
    token = 0
    for attempt in range(retries):
        try:
            with db.transaction() as tx:
                token = acquire_in(tx, thread_id, ttl)
                if first is not None:
                    first(tx, token)
            break
        except LeaseBusy:
            if attempt == retries - 1:
                raise
            time.sleep(0.1)
    held_lease = Lease(thread_id, token)
    try:
        yield held_lease
    finally:
        if not held_lease.released:
            with suppress(HitlError):
                release(db, thread_id, token)


@contextmanager
def try_lease(db: Database, thread_id: str, ttl: float) -> Iterator[Lease | None]:
    """Hold the lease if it is free right now; yields None (and holds nothing) if it is not."""
    try:
        token = acquire(db, thread_id, ttl)
    except LeaseBusy:
        yield None
        return
    current = Lease(thread_id, token)
    try:
        yield current
    finally:
        if not current.released:
            with suppress(HitlError):
                release(db, thread_id, token)
