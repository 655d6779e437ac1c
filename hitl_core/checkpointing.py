"""The LangGraph checkpointer for the configured database, with fenced writes.

Checkpoints are serialized with strict msgpack (known safe types only) and never with pickle.
Every write carries the writer's lease token in its config and is refused if the token is stale.
The token check runs in the checkpoint write's own transaction, on the saver's connection: the
lease row stays locked until the write commits, so a new owner cannot take the thread over between
the check and the write, and the check costs no transaction of its own.

This module is the one place that leans on LangGraph beyond its documented surface: the savers'
cursor factories (`SqliteSaver.cursor`, `PostgresSaver._cursor`) are overridden, because a
checkpoint write and the token check must share one transaction and the public API offers no
hook for that. `tests/test_langgraph_surface.py` fails loudly if an upgrade moves them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from hitl_core import leases
from hitl_core.db import Database, Tx

LEASE_KEY = "lease_token"
LEASE_TTL_KEY = "lease_ttl"
"""Where a run's config carries its lease token and the lease length, for every fenced write of the run."""


def strict_serializer() -> JsonPlusSerializer:
    """Msgpack restricted to LangGraph's safe types; no pickle fallback."""
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


class _Fenced:
    """Mixin: check the lease token inside each checkpoint write's transaction.

    `put` and `put_writes` note the token for the current thread; the saver's next cursor (the one
    the write uses) opens a transaction, extends the lease if the token is still current and
    raises `LeaseLost` before anything is written if it is not.
    """

    fence_ttl: float
    _fence_next: threading.local

    def _fence_for(self, config: RunnableConfig) -> tuple[str, int] | None:
        configurable = config.get("configurable", {})
        token = configurable.get(LEASE_KEY)
        return None if token is None else (str(configurable["thread_id"]), int(token))

    def _take_fence(self) -> tuple[str, int] | None:
        fence: tuple[str, int] | None = getattr(self._fence_next, "value", None)
        self._fence_next.value = None
        return fence

    def _take_parent(self) -> tuple[str, str | None] | None:
        """For a fenced root checkpoint: (thread, the parent it extends), to refuse a fork."""
        parent: tuple[str, str | None] | None = getattr(self._fence_next, "parent", None)
        self._fence_next.parent = None
        return parent

    def _fence_params(self, fence: tuple[str, int]) -> tuple[float, str, int]:
        return time.time() + self.fence_ttl, fence[0], fence[1]

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._fence_next.value = self._fence_for(config)
        configurable = config.get("configurable", {})
        if self._fence_next.value is not None and not configurable.get("checkpoint_ns"):
            self._fence_next.parent = (str(configurable["thread_id"]), configurable.get("checkpoint_id"))
        try:
            return super().put(config, checkpoint, metadata, new_versions)  # type: ignore[misc]
        finally:
            self._fence_next.value = None
            self._fence_next.parent = None

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._fence_next.value = self._fence_for(config)
        try:
            super().put_writes(config, writes, task_id, task_path)  # type: ignore[misc]
        finally:
            self._fence_next.value = None


_LATEST = "SELECT checkpoint_id FROM checkpoints WHERE thread_id = {p} AND checkpoint_ns = '' ORDER BY checkpoint_id DESC LIMIT 1"
_LATEST_QMARK = _LATEST.format(p="?")
_LATEST_PYFORMAT = _LATEST.format(p="%s")


class ForkRefused(leases.LeaseLost):
    """A write would branch the thread's checkpoint chain (a replay against an old checkpoint)."""


def _refuse_fork(parent: tuple[str, str | None], latest: Any) -> None:
    newest = latest[0] if latest else None
    if newest is not None and parent[1] != newest:
        raise ForkRefused(
            f"thread {parent[0]}: refusing to write after checkpoint {parent[1]}, which is not the latest "
            f"({newest}); replaying an old checkpoint would fork the thread"
        )


def _lease_lost(fence: tuple[str, int]) -> leases.LeaseLost:
    return leases.LeaseLost(f"thread {fence[0]}: lease token {fence[1]} is no longer current; write refused")


def make_checkpointer(db: Database, lease_ttl: float) -> BaseCheckpointSaver[Any]:
    """SqliteSaver or PostgresSaver sharing the database's connections, with fenced writes."""
    if db.dialect == "sqlite":
        import sqlite3

        from langgraph.checkpoint.sqlite import SqliteSaver

        class FencedSqliteSaver(_Fenced, SqliteSaver):
            @contextmanager
            def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
                fence = self._take_fence()
                if fence is None:
                    with super().cursor(transaction) as plain:
                        yield plain
                    return
                with self.lock:
                    self.setup()
                    cur = self.conn.cursor()
                    try:
                        cur.execute("BEGIN IMMEDIATE")
                        try:
                            cur.execute(leases.FENCE_SQL_QMARK, self._fence_params(fence))
                            if cur.rowcount != 1:
                                raise _lease_lost(fence)
                            parent = self._take_parent()
                            if parent is not None:
                                cur.execute(_LATEST_QMARK, (parent[0],))
                                _refuse_fork(parent, cur.fetchone())
                            yield cur
                        except BaseException:
                            self.conn.rollback()
                            raise
                        self.conn.commit()
                    finally:
                        cur.close()

        sqlite_saver = FencedSqliteSaver(db.sqlite_connection(), serde=strict_serializer())
        sqlite_saver.fence_ttl = lease_ttl
        sqlite_saver._fence_next = threading.local()
        return sqlite_saver
    from langgraph.checkpoint.postgres import PostgresSaver, _internal
    from psycopg import Cursor
    from psycopg.rows import DictRow, dict_row

    class FencedPostgresSaver(_Fenced, PostgresSaver):
        @contextmanager
        def _cursor(self, *, pipeline: bool = False) -> Iterator[Cursor[DictRow]]:
            fence = self._take_fence()
            if fence is None or self.pipe is not None:
                with super()._cursor(pipeline=pipeline) as plain:
                    yield plain
                return
            # One round trip for BEGIN, the token check and the fork check; one for the write and COMMIT.
            with (
                self.lock,
                _internal.get_connection(self.conn) as conn,
                conn.pipeline() as pipe,
                conn.transaction(),
                conn.cursor() as fencing,
                conn.cursor(binary=True, row_factory=dict_row) as cur,
            ):
                fencing.execute(leases.FENCE_SQL_PYFORMAT, self._fence_params(fence))
                parent = self._take_parent()
                if parent is not None:
                    cur.execute(_LATEST_PYFORMAT, (parent[0],))
                pipe.sync()
                if fencing.rowcount != 1:
                    raise _lease_lost(fence)
                if parent is not None:
                    row = cur.fetchone()
                    _refuse_fork(parent, (row["checkpoint_id"],) if row else None)
                yield cur

    pg_saver = FencedPostgresSaver(db.pool, serde=strict_serializer())
    pg_saver.fence_ttl = lease_ttl
    pg_saver._fence_next = threading.local()
    return pg_saver


def latest_checkpoint_id(tx: Tx, thread_id: str) -> str | None:
    """The id of a thread's newest root checkpoint (both savers keep them in `checkpoints`)."""
    row = tx.one(
        "SELECT checkpoint_id FROM checkpoints WHERE thread_id = :t AND checkpoint_ns = '' "
        "ORDER BY checkpoint_id DESC LIMIT 1",
        {"t": thread_id},
    )
    return str(row["checkpoint_id"]) if row else None
