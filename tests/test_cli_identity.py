"""Command-line identity: accounts need an admin, four-eyes needs each approver's own proof.

The CLI is a tool on a trusted host, but one shell user must not be able to satisfy a two-approver
rule alone, nor create accounts with any role once an admin exists. Through the real `hitl` process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from hitl_core import audit, ledger


@pytest.fixture
def hitl(database_url: str):
    """The real `hitl` process on this module's database (SQLite and PostgreSQL)."""

    def call(*args: str, stdin: str | None = None, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "HITL_TOKEN"}
        env["HITL_DATABASE_URL"] = database_url
        if token:
            env["HITL_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "hitl_cli.main", *args],
            input=stdin,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    call.url = database_url  # type: ignore[attr-defined]
    return call


ADMIN, ADMIN_PASSWORD = "root-admin", "correct horse"


def _admin_token(hitl) -> str:
    """The first admin (created on first run, when no admin exists yet) proves itself with its password."""
    hitl("users", "add", ADMIN, "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n")
    created = hitl("tokens", "create", ADMIN, "--password-stdin", "--json", stdin=ADMIN_PASSWORD + "\n")
    return str(_ok(created)["token"])


def _ok(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip().startswith(("{", "[")) else proc.stdout


def _refused(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _token(hitl, name: str, admin: str | None = None) -> str:
    created = _ok(hitl("tokens", "create", name, "--json", token=admin))
    return str(created["token"])


def test_accounts_need_an_admin_once_one_exists(hitl):
    # First run: no admin yet, so the host's operator creates one (with a password).
    _ok(hitl("users", "add", ADMIN, "--role", "admin", "--password-stdin", stdin=ADMIN_PASSWORD + "\n"))
    assert "admin's credentials" in _refused(hitl("users", "add", "mallory", "--role", "ops_lead"))
    assert "admin's credentials" in _refused(
        hitl("users", "add", ADMIN, "--role", "admin", "--password-stdin", stdin="another pass\n")
    )
    # Bad input is still bad input (exit 2), before any credential is asked for.
    assert "unknown role" in _refused(hitl("users", "add", "x", "--role", "wizard"), 2)
    assert "wrong password" in _refused(hitl("tokens", "create", ADMIN, "--password-stdin", "--json", stdin="guess\n"))
    admin_token = _admin_token(hitl)
    _ok(hitl("users", "add", "sid", "--role", "sre", "--json", token=admin_token))
    sid_token = _token(hitl, "sid", admin=admin_token)
    assert "not an admin" in _refused(hitl("users", "add", "mallory", "--role", "admin", token=sid_token))
    listed = _ok(hitl("tokens", "list", "--json", token=admin_token))
    assert {t["user"] for t in listed} == {"root-admin", "sid"}
    assert all("token" not in t and "token_hash" not in t for t in listed)
    # A revoked token proves nothing.
    sid_id = next(t["id"] for t in listed if t["user"] == "sid")
    _ok(hitl("tokens", "revoke", sid_id, "--json", token=admin_token))
    assert "revoked" in _refused(hitl("tokens", "list", "--json", token=sid_token))


def test_four_eyes_from_the_command_line_needs_each_approvers_credentials(hitl):
    admin = _admin_token(hitl)
    for name in ("sid", "sia"):
        _ok(hitl("users", "add", name, "--role", "sre", "--json", token=admin))
    sid, sia = _token(hitl, "sid", admin), _token(hitl, "sia", admin)
    context = json.dumps(
        {
            "service": {"name": "payments-api", "env": "prod", "replicas": 4, "version": "3.2.1"},
            "incident": {"id": "inc-9", "severity": "sev2", "error_rate": 0.12, "logs": ["ERROR pool exhausted"]},
        }
    )
    run = _ok(
        hitl("run", "ops", "Restart payments-api in production, the pool is exhausted.", "--context", context, "--json")
    )
    assert run["status"] == "pending_review", run
    (review_id,) = run["reviews"]
    # One shell user naming two accounts: refused, nothing recorded.
    assert "distinct approvers" in _refused(hitl("decide", review_id, "approve", "--as", "sid", "--json"))
    # A token speaks only for its own account.
    assert "belongs to sid" in _refused(hitl("decide", review_id, "approve", "--as", "sia", "--json", token=sid))
    first = _ok(hitl("decide", review_id, "approve", "--as", "sid", "--json", token=sid))
    assert first["status"] == "pending" and first["approvals"] == 1
    second = _ok(hitl("decide", review_id, "approve", "--as", "sia", "--json", token=sia))
    assert second["status"] == "approved"

    from hitl_core.db import Database

    db = Database(hitl.url)
    try:
        (restart,) = [a for a in ledger.list_entries(db, thread_id=run["thread_id"]) if a["name"] == "restart_service"]
        assert sorted(restart["executed_by"].split(",")) == ["sia", "sid"]
        decided = [
            e
            for e in audit.thread_history(db, run["thread_id"])
            if e["kind"] in ("approval_recorded", "review_decided")
        ]
        assert [e["data"]["channel"] for e in decided] == ["cli+token", "cli+token"]
    finally:
        db.close()


def test_single_approver_review_still_works_from_a_trusted_shell(hitl):
    _ok(hitl("users", "add", "sam", "--role", "support_agent", "--json", token=_admin_token(hitl)))
    context = json.dumps({"customer": {"id": "c-1", "name": "Ann"}, "order": {"id": "o-1", "amount": 40}})
    run = _ok(hitl("run", "support", "My kettle broke, can I get my $40 back?", "--context", context, "--json"))
    (review_id,) = run["reviews"]
    out = _ok(hitl("decide", review_id, "approve", "--as", "sam", "--json"))
    assert out["status"] == "approved"
