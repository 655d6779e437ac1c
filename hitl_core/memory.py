"""Agents' long-term memory: a LangGraph store on the project's database.

Only accepted lessons are written here (`hitl_runtime/lessons.py` is the gate: a reviewer's
acceptance and an evaluation without regression). Agents read their namespace, `("lessons",
AGENT)`, from `runtime.store` when the graph was compiled with one, else from the store of the
run context's database. SqliteStore on SQLite, PostgresStore on PostgreSQL, sharing the
connections the checkpointer uses; the store's tables are created on first use, under a lock on
PostgreSQL so that several processes may start at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from typing import Any

from langgraph.store.base import BaseStore

from hitl_core.db import Database

NAMESPACE = "lessons"
_STORE_LOCK = 0x4C45534E  # "LESN"
_stores: weakref.WeakKeyDictionary[Database, BaseStore] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def store_for(db: Database) -> BaseStore:
    """The store on this database, opened and set up once per Database object."""
    with _guard:
        store = _stores.get(db)
        if store is not None and db.dialect == "postgresql" and getattr(store, "conn", None) is not db.pool:
            store = None  # the database's pool was closed and reopened since
        if store is None:
            store = _open(db)
            _stores[db] = store
        return store


def _open(db: Database) -> BaseStore:
    if db.dialect == "sqlite":
        from langgraph.store.sqlite import SqliteStore

        sqlite_store = SqliteStore(db.sqlite_connection())
        for attempt in range(5):
            try:
                sqlite_store.setup()
                break
            except sqlite3.Error:  # another process applied the same migration first
                sqlite_store.is_setup = False
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        return sqlite_store
    from langgraph.store.postgres import PostgresStore

    pg_store = PostgresStore(db.pool)
    # A session lock on an idle autocommit connection, not a transaction: the store's migrations
    # build indexes CONCURRENTLY, which wait for every open transaction to end.
    with db.pool.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_STORE_LOCK,))
        try:
            pg_store.setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_STORE_LOCK,))
    return pg_store


def close(db: Database) -> None:
    """Forget the store of a database that is being closed (its SQLite connection too)."""
    with _guard:
        store = _stores.pop(db, None)
    conn = getattr(store, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        conn.close()


def namespace(agent: str) -> tuple[str, str]:
    """Where an agent's lessons live in the store."""
    return (NAMESPACE, agent)


def remember(db: Database, agent: str, lesson: dict[str, Any]) -> None:
    """Put an accepted lesson into the agent's memory (keyed by lesson id)."""
    store_for(db).put(namespace(agent), lesson["id"], lesson)


def forget(db: Database, agent: str, lesson_id: str) -> None:
    """Take a lesson out of the agent's memory."""
    store_for(db).delete(namespace(agent), lesson_id)


def lessons_in(store: BaseStore, agent: str) -> list[dict[str, Any]]:
    """The lessons in a store's namespace for the agent, oldest first."""
    items = store.search(namespace(agent), limit=1000)
    values = [dict(item.value) for item in items]
    return sorted(values, key=lambda v: (str(v.get("accepted_at") or ""), str(v.get("id"))))


def active_lessons(db: Database, agent: str) -> list[dict[str, Any]]:
    """The lessons an agent currently remembers."""
    return lessons_in(store_for(db), agent)


def lessons_for_run(runtime: Any) -> list[dict[str, Any]]:
    """Lessons for a node: from the graph's store if compiled with one, else from the run's database."""
    ctx = runtime.context
    store = getattr(runtime, "store", None)
    if store is not None:
        return lessons_in(store, ctx.agent)
    return active_lessons(ctx.db, ctx.agent)
