"""Shared fixtures: one parametrised backend fixture (SQLite and PostgreSQL), accounts, no network.

PostgreSQL cases get a fresh database per test module on the local server. Under CI=true a missing
server fails the run instead of skipping it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hitl_core.strict_msgpack import enable_strict_msgpack

enable_strict_msgpack()  # the test process starts here, like the CLI and the app

PG_ADMIN_URL = os.environ.get("HITL_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parent.parent
SHARED_SCENARIOS = REPO / "tests" / "scenarios" / "shared"  # copied from the design's samples
# The repository's scenario sets are where lessons and simulations look unless a test says otherwise.
os.environ.setdefault("HITL_SCENARIO_DIRS", os.pathsep.join([str(REPO / "tests" / "scenarios"), str(SHARED_SCENARIOS)]))

ACCOUNTS: dict[str, list[str]] = {
    "sam": ["support_agent"],
    "sue": ["support_agent"],
    "lee": ["support_lead"],
    "lou": ["support_lead"],
    "olga": ["compliance_officer"],
    "ada": ["admin"],
    "eve": ["end_user"],
}


# -- no network models ------------------------------------------------------------------------------
_real_connect = socket.socket.connect


def _is_loopback(address: Any) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
        if host in ("localhost",):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return True  # unix sockets


@pytest.fixture(autouse=True)
def _no_network_models(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Hosted model APIs are never called: no API key, and no connection leaves this machine."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    def guarded(sock: socket.socket, address: Any) -> Any:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"tests may not reach {address!r}: network model calls are forbidden")
        return _real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


# -- databases ------------------------------------------------------------------------------------
def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


def _fresh_pg_database(prefix: str) -> str:
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def require_postgres() -> None:
    """Skip a test that needs the local PostgreSQL when it is down; under CI=true fail instead."""
    if not _pg_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI=true but {PG_ADMIN_URL} is unreachable")
        pytest.skip("PostgreSQL is not reachable")


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str) -> str:
    """URL of a database on the local test server."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh database for this test module, on each backend."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("db")
        yield f"sqlite:///{folder}/hitl.db"
        return
    require_postgres()
    module = request.module.__name__.rsplit(".", 1)[-1]
    name = _fresh_pg_database(f"hitl_{module}")
    try:
        yield pg_url(name)
    finally:
        _drop_pg_database(name)


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Settings pointing at the module's database; decisions older than 0 s count as unapplied."""
    from hitl_core.settings import Settings

    monkeypatch.setenv("HITL_DATABASE_URL", database_url)
    monkeypatch.setenv("HITL_RESUME_GRACE_SECONDS", "0")
    return Settings(database_url=database_url, resume_grace_seconds=0.0, lease_seconds=30.0)


@pytest.fixture
def runner(settings: Any) -> Iterator[Any]:
    """A Runner with the standard accounts."""
    from hitl_core.users import add_user
    from hitl_runtime.runner import Runner

    instance = Runner(settings)
    for name, roles in ACCOUNTS.items():
        add_user(instance.db, name, roles, actor="test")
    yield instance
    instance.close()


@pytest.fixture
def policy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy of the shipped policies, used instead of them for this test."""
    import shutil

    from hitl_runtime.agents import shipped_policy_files

    target = tmp_path / "policies"
    target.mkdir()
    for agent, path in shipped_policy_files().items():
        shutil.copyfile(path, target / f"{agent}.yaml")
    monkeypatch.setenv("HITL_POLICY_DIR", str(target))
    return target
