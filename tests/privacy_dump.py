"""A full dump of a database for privacy tests: every table, every value, blobs raw and decoded."""

from __future__ import annotations

from typing import Any

from hitl_core.checkpointing import strict_serializer
from hitl_core.db import Database


def table_names(db: Database) -> list[str]:
    """Every table of the database (the project's, the checkpointer's, the store's)."""
    if db.dialect == "sqlite":
        rows = db.read("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = db.read(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    return sorted(str(r["name"]) for r in rows)


def _texts(value: Any) -> list[str]:
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        out = [value.decode("utf-8", "replace")]
        for kind in ("msgpack", "json"):
            try:
                out.append(repr(strict_serializer().loads_typed((kind, value))))
            except Exception:
                continue
        return out
    return [] if value is None else [str(value)]


def dump(db: Database) -> str:
    """All rows of all tables as one lower-cased text (bytes decoded as UTF-8 and as msgpack)."""
    parts: list[str] = []
    for table in table_names(db):
        for row in db.read(f'SELECT * FROM "{table}"'):
            for column, value in row.items():
                parts.extend(f"{table}.{column}={text}" for text in _texts(value))
    return "\n".join(parts).lower()
