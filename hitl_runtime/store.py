"""The deployment's database, opened and brought to the current schema: what every command needs.

The runner adds the agents' graphs and models on top; commands that only read or write tables (the
inbox, the ledger, the audit chain, accounts and tokens) open this alone and load no graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from hitl_core import schema
from hitl_core.checkpointing import make_checkpointer
from hitl_core.db import Database
from hitl_core.settings import Settings, configured
from hitl_runtime.agents import agent_migrations


@dataclass(frozen=True)
class Store:
    """One database with its checkpointer, at the current schema (the core's and every agent's tables)."""

    settings: Settings
    db: Database
    checkpointer: BaseCheckpointSaver[Any]

    def close(self) -> None:
        """Release connections."""
        self.db.close()


def open_store(settings: Settings | None = None, *, db: Database | None = None) -> Store:
    """Open the configured database (or `db`) and upgrade its schema; idempotent and safe to race."""
    settings = settings or configured()
    db = db or Database(settings.database_url)
    checkpointer = make_checkpointer(db, settings.lease_seconds)
    schema.upgrade(db, checkpointer, agent_migrations())
    return Store(settings, db, checkpointer)
