"""Password logins, throttled per account and per client, with lockouts that expire; every outcome audited.

`log_in` is how the app checks a password (the command line's `--password-stdin` proves identity
for one decision and is not a login). Each attempt counts against two subjects: the account name as
typed (whether or not such an account exists) and the client (the remote address the server saw,
or a key the caller passes). When either has had `account_failures` / `client_failures` failed
attempts within `window_seconds`, it is locked for `lockout_seconds`: every attempt on it is then
refused before the password is checked, even the right one, with the same one-line message whether
or not the account exists. A successful login clears its account's count, not the client's (so
logging into one's own account does not reset a client's budget for guessing others).

An attempt is counted before the password is checked and uncounted if it succeeds, so attempts
running at the same time cannot exceed the limit between them. Audit events, on the `system` chain:
`login_succeeded` (actor: the account), `login_failed`, `login_locked` (one per lock, with its
scope) and `login_refused` (an attempt while locked), whose actor is `anonymous` with the name as
typed and the client in the data.

A bearer credential (an API token or a JWT sent to the HTTP API) names no account before it is
checked, so it counts against the client only: `check_client` refuses a locked client before the
credential is read, and `credential_failed` counts (and audits) a wrong one. A good credential
writes nothing, so serving requests costs no throttle rows; the price is that requests already in
flight when a client's lock lands are still checked (at most the server's concurrency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from hitl_core import audit
from hitl_core.canonical import dumps, iso, loads, parse_iso, sha256_hex, utc_now
from hitl_core.db import Database, Tx
from hitl_core.errors import Forbidden
from hitl_core.settings import Settings, configured
from hitl_core.users import ANONYMOUS, User, authenticate

SCOPES: Final = ("account", "client")
"""The subjects an attempt counts against, in the order their rows are locked (the same in every transaction)."""


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures lock what, for how long; every field has an environment variable."""

    account_failures: int = 5
    """`HITL_LOGIN_MAX_FAILURES`: failed attempts on one account name within the window that lock it."""
    client_failures: int = 20
    """`HITL_LOGIN_CLIENT_MAX_FAILURES`: failed attempts from one client, on any names, that lock the client."""
    window_seconds: float = 900.0
    """`HITL_LOGIN_WINDOW_SECONDS`: how far back failures count."""
    lockout_seconds: float = 900.0
    """`HITL_LOGIN_LOCKOUT_SECONDS`: how long a lock lasts; it expires on its own."""

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> LoginPolicy:
        """The policy the settings give (`HITL_LOGIN_*`)."""
        chosen = settings or configured()
        return cls(
            account_failures=chosen.login_max_failures,
            client_failures=chosen.login_client_max_failures,
            window_seconds=chosen.login_window_seconds,
            lockout_seconds=chosen.login_lockout_seconds,
        )

    def limit(self, scope: str) -> int:
        """The failure limit of a scope."""
        return self.account_failures if scope == "account" else self.client_failures


class LoginLocked(Forbidden):
    """Refused without checking the password: too many recent failures for this account or client."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1.0, retry_after)
        minutes = max(1, math.ceil(self.retry_after / 60))
        super().__init__(f"Too many failed login attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.")


def subject_key(text: str | None, fallback: str) -> str:
    """How a typed name or a client is stored: as given when short and printable, else a digest of it."""
    cleaned = (text or "").strip()
    if not cleaned:
        return fallback
    if len(cleaned) <= 128 and cleaned.isprintable():
        return cleaned
    return "sha256:" + sha256_hex(cleaned)[:32]


def log_in(
    db: Database,
    name: str,
    password: str,
    *,
    client: str | None,
    policy: LoginPolicy | None = None,
    channel: str = "app",
) -> User | None:
    """The account when the password is right and neither the account nor the client is locked.

    None for a wrong name or password (counted and audited); LoginLocked, with the same message for
    every name, while the account name or the client is locked.
    """
    policy = policy or LoginPolicy.from_settings()
    subjects = {"account": subject_key(name, "(empty)"), "client": subject_key(client, "unknown")}
    facts = {"user": subjects["account"], "client": subjects["client"], "channel": channel}
    stamp = _begin(db, subjects, facts, policy)
    # A name that cannot be an account (too long, unprintable) is checked as an unknown one: same cost.
    lookup = subjects["account"] if subjects["account"] == (name or "").strip() else ""
    user = authenticate(db, lookup, password)
    if user is None:
        _failed(db, subjects, facts, policy)
        return None
    _succeeded(db, subjects, facts, stamp, user)
    return user


def check_client(db: Database, client: str | None, *, channel: str = "api") -> None:
    """LoginLocked while the client is locked (audited as `login_refused`); a read only otherwise."""
    subject = subject_key(client, "unknown")
    now = utc_now()
    rows = db.read(
        "SELECT locked_until FROM login_throttle WHERE scope = 'client' AND subject = :k AND locked_until > :n",
        {"k": subject, "n": iso(now)},
    )
    if not rows:
        return
    until = str(rows[0]["locked_until"])
    with db.transaction() as tx:
        facts = {"user": "(bearer)", "client": subject, "channel": channel}
        audit.append(tx, "login_refused", ANONYMOUS, {**facts, "scopes": ["client"], "locked_until": until})
    raise LoginLocked((parse_iso(until) - now).total_seconds())


def credential_failed(
    db: Database, client: str | None, *, policy: LoginPolicy | None = None, channel: str = "api"
) -> None:
    """Count a wrong bearer credential against the client (locking it at its limit), audited as `login_failed`."""
    policy = policy or LoginPolicy.from_settings()
    subjects = {"client": subject_key(client, "unknown")}
    _failed(db, subjects, {"user": "(bearer)", "client": subjects["client"], "channel": channel}, policy, count=True)


def locked_until(db: Database, scope: str, subject: str) -> str | None:
    """When the lock on an account name or a client ends, or None when it is not locked."""
    rows = db.read(
        "SELECT locked_until FROM login_throttle WHERE scope = :s AND subject = :k AND locked_until > :n",
        {"s": scope, "k": subject_key(subject, ""), "n": iso(utc_now())},
    )
    return str(rows[0]["locked_until"]) if rows else None


# -- the three steps of an attempt -----------------------------------------------------------------
def _begin(db: Database, subjects: dict[str, str], facts: dict[str, Any], policy: LoginPolicy) -> str:
    """Refuse a locked (or saturated) account or client; otherwise count the attempt and return its stamp."""
    now = utc_now()
    stamp = iso(now)
    with db.transaction() as tx:
        rows = _lock_rows(tx, subjects, stamp)
        locked = [scope for scope in SCOPES if (rows[scope]["locked_until"] or "") > stamp]
        retry_after = max((parse_iso(rows[s]["locked_until"]) - now).total_seconds() for s in locked) if locked else 0
        recent = {scope: _recent(row, now, policy) for scope, row in rows.items()}
        if not locked:
            locked = [scope for scope in SCOPES if len(recent[scope]) >= policy.limit(scope)]
            if locked:  # attempts still being checked fill the budget: wait for the oldest to age out
                oldest = min(parse_iso(t) for scope in locked for t in recent[scope])
                retry_after = (oldest + timedelta(seconds=policy.window_seconds) - now).total_seconds()
        if retry_after > 0:
            until = iso(now + _s(retry_after))
            audit.append(tx, "login_refused", ANONYMOUS, {**facts, "scopes": locked, "locked_until": until})
        else:
            for scope in SCOPES:
                _store(tx, scope, subjects[scope], [*recent[scope], stamp], None, stamp)
    if retry_after > 0:
        raise LoginLocked(retry_after)
    return stamp


def _failed(
    db: Database, subjects: dict[str, str], facts: dict[str, Any], policy: LoginPolicy, *, count: bool = False
) -> None:
    """Record a failure: lock each subject whose failures reached its limit (and start its count afresh).

    `count`: the attempt was not counted beforehand (a bearer credential); it is counted here.
    """
    now = utc_now()
    stamp = iso(now)
    with db.transaction() as tx:
        rows = _lock_rows(tx, subjects, stamp)
        recent = {scope: _recent(row, now, policy) + ([stamp] if count else []) for scope, row in rows.items()}
        audit.append(tx, "login_failed", ANONYMOUS, {**facts, "failures": len(recent[next(iter(subjects))])})
        for scope in rows:
            row = rows[scope]
            if len(recent[scope]) < policy.limit(scope) or (row["locked_until"] or "") > stamp:
                if count:
                    _store(tx, scope, subjects[scope], recent[scope], row["locked_until"], stamp)
                continue
            until = iso(now + _s(policy.lockout_seconds))
            _store(tx, scope, subjects[scope], [], until, stamp)
            audit.append(
                tx,
                "login_locked",
                ANONYMOUS,
                {**facts, "scope": scope, "failures": len(recent[scope]), "locked_until": until},
            )
        # Forget subjects with nothing recent and no lock (names tried once, clients long gone).
        cutoff = iso(now - _s(max(policy.window_seconds, policy.lockout_seconds)))
        tx.execute(
            "DELETE FROM login_throttle WHERE updated_at < :c AND (locked_until IS NULL OR locked_until < :n)",
            {"c": cutoff, "n": stamp},
        )


def _succeeded(db: Database, subjects: dict[str, str], facts: dict[str, Any], stamp: str, user: User) -> None:
    """Clear the account's count; take this attempt back from the client's."""
    with db.transaction() as tx:
        rows = _lock_rows(tx, subjects, iso(utc_now()))
        tx.execute("DELETE FROM login_throttle WHERE scope = 'account' AND subject = :k", {"k": subjects["account"]})
        attempts = [t for t in loads(rows["client"]["attempts"], []) if isinstance(t, str)]
        if stamp in attempts:
            attempts.remove(stamp)
        _store(tx, "client", subjects["client"], attempts, rows["client"]["locked_until"], iso(utc_now()))
        audit.append(tx, "login_succeeded", user.name, {**facts, "user": user.name})


# -- rows ------------------------------------------------------------------------------------------
def _lock_rows(tx: Tx, subjects: dict[str, str], now: str) -> dict[str, dict[str, Any]]:
    """Each subject's row (of the scopes given), created if missing and locked for this transaction, in SCOPES order."""
    lock = " FOR UPDATE" if tx.dialect == "postgresql" else ""
    rows: dict[str, dict[str, Any]] = {}
    for scope in (s for s in SCOPES if s in subjects):
        params = {"s": scope, "k": subjects[scope], "n": now}
        tx.execute(
            """INSERT INTO login_throttle (scope, subject, attempts, updated_at) VALUES (:s, :k, '[]', :n)
               ON CONFLICT DO NOTHING""",
            params,
        )
        row = tx.one(
            f"SELECT attempts, locked_until FROM login_throttle WHERE scope = :s AND subject = :k{lock}", params
        )
        assert row is not None
        rows[scope] = row
    return rows


def _recent(row: dict[str, Any], now: datetime, policy: LoginPolicy) -> list[str]:
    """The row's counted attempts within the window, oldest first."""
    since = iso(now - _s(policy.window_seconds))
    return sorted(t for t in loads(row["attempts"], []) if isinstance(t, str) and t > since)


def _store(tx: Tx, scope: str, subject: str, attempts: list[str], locked: str | None, now: str) -> None:
    tx.execute(
        """UPDATE login_throttle SET attempts = :a, locked_until = :l, updated_at = :n
           WHERE scope = :s AND subject = :k""",
        {"a": dumps(attempts), "l": locked, "n": now, "s": scope, "k": subject},
    )


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
