"""The LangGraph checkpointer for the configured database, with fenced writes.

Checkpoints are serialized with strict msgpack (known safe types only) and never with pickle.
Every write carries the writer's lease token in its config and is refused if the token is stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
)
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from hitl_runtime import leases
from hitl_runtime.db import Database

LEASE_KEY = "lease_token"


def strict_serializer() -> JsonPlusSerializer:
    """Msgpack restricted to LangGraph's safe types; no pickle fallback."""
    return JsonPlusSerializer(pickle_fallback=False, allowed_msgpack_modules=None)


class _Fenced:
    """Mixin: check the lease token before each checkpoint write."""

    fence_db: Database
    fence_ttl: float

    def _fence(self, config: RunnableConfig) -> None:
        configurable = config.get("configurable", {})
        token = configurable.get(LEASE_KEY)
        if token is not None:
            leases.check_and_extend(self.fence_db, configurable["thread_id"], int(token), self.fence_ttl)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        self._fence(config)
        return super().put(config, checkpoint, metadata, new_versions)  # type: ignore[misc]

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._fence(config)
        super().put_writes(config, writes, task_id, task_path)  # type: ignore[misc]


def make_checkpointer(db: Database, lease_ttl: float) -> BaseCheckpointSaver[Any]:
    """SqliteSaver or PostgresSaver sharing the database's connections, with fenced writes."""
    if db.dialect == "sqlite":
        from langgraph.checkpoint.sqlite import SqliteSaver

        class FencedSqliteSaver(_Fenced, SqliteSaver):
            pass

        sqlite_saver = FencedSqliteSaver(db.sqlite_connection(), serde=strict_serializer())
        sqlite_saver.fence_db, sqlite_saver.fence_ttl = db, lease_ttl
        return sqlite_saver
    from langgraph.checkpoint.postgres import PostgresSaver

    class FencedPostgresSaver(_Fenced, PostgresSaver):
        pass

    pg_saver = FencedPostgresSaver(db.pool, serde=strict_serializer())
    pg_saver.fence_db, pg_saver.fence_ttl = db, lease_ttl
    return pg_saver
