"""One database for checkpoints and the project's own tables, on SQLite or PostgreSQL.

SQL in this project is written once, with `:name` placeholders, and runs on both dialects; this
module is the only place that knows how each driver wants its parameters and transactions.
"""

from __future__ import annotations

import re
import select
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from hitl_core.errors import BadInput, Unavailable

Dialect = Literal["sqlite", "postgresql"]
Row = dict[str, Any]

_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed `HITL_DATABASE_URL`."""

    dialect: Dialect
    target: str
    """A file path for SQLite, a libpq connection string for PostgreSQL."""

    @classmethod
    def parse(cls, url: str) -> DatabaseURL:
        """Accept SQLAlchemy's forms: `sqlite:///rel.db`, `sqlite:////abs.db`, `postgresql://`."""
        scheme, sep, rest = url.partition("://")
        if not sep:
            raise BadInput(f"HITL_DATABASE_URL {url!r} is not a URL (expected sqlite:/// or postgresql://)")
        driverless = scheme.split("+", 1)[0]
        if driverless == "sqlite":
            if not rest.startswith("/") or rest == "/":
                raise BadInput(f"HITL_DATABASE_URL {url!r}: use sqlite:///relative.db or sqlite:////abs.db")
            return cls("sqlite", rest[1:])
        if driverless in ("postgresql", "postgres"):
            return cls("postgresql", f"postgresql://{rest}")
        raise BadInput(f"HITL_DATABASE_URL scheme {scheme!r} is not supported (sqlite or postgresql)")


class Tx:
    """A cursor inside one transaction, speaking the project's `:name` SQL on either dialect."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run one statement; return its rows as dicts (empty for statements without rows)."""
        self._run(sql, params)
        if self._cursor.description is None:
            return []
        rows = self._cursor.fetchall()
        if self.dialect == "sqlite":
            names = [d[0] for d in self._cursor.description]
            return [dict(zip(names, row, strict=True)) for row in rows]
        return [dict(row) for row in rows]

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row, or None."""
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row, or None."""
        row = self.one(sql, params)
        return next(iter(row.values())) if row else None

    def rowcount(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a write and return how many rows it touched (compare-and-set checks use this)."""
        self._run(sql, params)
        return int(self._cursor.rowcount)

    def _run(self, sql: str, params: Mapping[str, Any] | None) -> None:
        if self.dialect == "postgresql":
            sql = _pyformat(sql)
        self._cursor.execute(sql, dict(params or {}))


@lru_cache(maxsize=1024)
def _pyformat(sql: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s` (statements are few and repeat: cached)."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def _check_idle_connection(conn: Any) -> None:
    """The pool's check on checkout, without a round trip while the connection looks healthy.

    An idle connection has nothing to read: when the server restarts or drops it, its socket
    turns readable (the server's goodbye, or end of file). Only then is the connection pinged
    (and replaced by the pool if the ping fails), which keeps the survival of a server restart
    that a ping on every checkout gives, at no cost to each transaction.
    """
    from psycopg import OperationalError
    from psycopg_pool import ConnectionPool

    if conn.closed or conn.broken:
        raise OperationalError("the connection is closed")
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        readable = bool(poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() here: ping as the pool would
        readable = True
    if readable:
        ConnectionPool.check_connection(conn)


class Database:
    """Connections for one URL: a pool on PostgreSQL, short-lived connections on SQLite."""

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        self.url = url
        parsed = DatabaseURL.parse(url)
        self.dialect: Dialect = parsed.dialect
        self.target = parsed.target
        self._pool: Any = None
        self._pool_size = pool_size
        self._lock = threading.Lock()
        if self.dialect == "sqlite":
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)

    # -- connections -----------------------------------------------------------------------
    def sqlite_connection(self) -> sqlite3.Connection:
        """A new SQLite connection in autocommit mode, WAL and a generous busy timeout."""
        try:
            conn = sqlite3.connect(self.target, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise Unavailable(f"cannot open SQLite database {self.target}: {exc}") from exc
        return conn

    @property
    def pool(self) -> Any:
        """The shared psycopg pool (PostgreSQL only), opened on first use."""
        with self._lock:
            if self._pool is None:
                import psycopg
                from psycopg.rows import dict_row
                from psycopg_pool import ConnectionPool

                try:  # fail fast, with one clear line, before a pool starts retrying in the background
                    psycopg.connect(self.target, connect_timeout=5).close()
                except psycopg.Error as exc:
                    raise Unavailable(f"cannot reach PostgreSQL at {_redact(self.target)}: {_first_line(exc)}") from exc

                pool = ConnectionPool(
                    self.target,
                    min_size=1,
                    max_size=self._pool_size,
                    kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
                    open=False,
                    timeout=10,
                    check=_check_idle_connection,  # survive a server restart: no stale connections
                )
                try:
                    pool.open(wait=True, timeout=10)
                except Exception as exc:
                    pool.close()
                    raise Unavailable(f"cannot reach PostgreSQL at {_redact(self.target)}: {_first_line(exc)}") from exc
                self._pool = pool
            return self._pool

    def close(self) -> None:
        """Close the pool; later calls open a new one."""
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Tx]:
        """One atomic unit of work; rolled back on any exception.

        SQLite transactions start with BEGIN IMMEDIATE, so two writers queue instead of failing
        on a lock upgrade; PostgreSQL ones run at READ COMMITTED with row locks where needed.
        """
        if self.dialect == "sqlite":
            conn = self.sqlite_connection()
            try:
                cur = conn.cursor()
                try:
                    cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                except sqlite3.Error as exc:
                    raise Unavailable(f"SQLite database {self.target} is busy: {exc}") from exc
                try:
                    yield Tx(cur, "sqlite")
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
            finally:
                conn.close()
            return
        with self._pg_cursor(atomic=True) as cur:
            yield Tx(cur, "postgresql")

    @contextmanager
    def _pg_cursor(self, *, atomic: bool) -> Iterator[Any]:
        """A cursor on a pooled connection: inside a transaction, or (atomic=False) in autocommit."""
        import psycopg

        try:
            conn_cm = self.pool.connection()
            conn = conn_cm.__enter__()
        except Unavailable:
            raise
        except Exception as exc:
            raise Unavailable(f"cannot reach PostgreSQL: {_first_line(exc)}") from exc
        failed: BaseException | None = None
        try:
            if atomic:
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            else:
                with conn.cursor() as cur:
                    yield cur
        except psycopg.OperationalError as exc:
            failed = exc
            raise Unavailable(f"PostgreSQL failed: {_first_line(exc)}") from exc
        except BaseException as exc:
            failed = exc
            raise
        finally:
            if failed is None:
                conn_cm.__exit__(None, None, None)
            else:
                conn_cm.__exit__(type(failed), failed, failed.__traceback__)

    def read(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """One read statement: its own transaction (on PostgreSQL an autocommit statement, no BEGIN/COMMIT)."""
        if self.dialect == "sqlite":
            with self.transaction(write=False) as tx:
                return tx.execute(sql, params)
        with self._pg_cursor(atomic=False) as cur:
            return Tx(cur, "postgresql").execute(sql, params)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _redact(conninfo: str) -> str:
    return re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", conninfo)


def is_connection_error(exc: BaseException) -> bool:
    """Whether an exception means the database was unreachable or went away (retry later)."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout))
