"""API tokens: how a person proves who they are outside the app (a command line, an HTTP client).

A token is shown once, at creation; only its SHA-256 digest is stored (tokens are 256 random bits,
so a fast digest is enough, unlike passwords). A token acts for its account with that account's
roles as they are when it is used, never more; revoking it takes effect at once. Its `last_used_at`
is kept to the minute. Creation, use
for a decision and revocation are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from hitl_core import audit
from hitl_core.canonical import iso, new_id, now_iso, utc_now
from hitl_core.db import Database
from hitl_core.errors import BadInput, Forbidden, NotFound
from hitl_core.users import User, get_user, list_users

PREFIX = "hitl_"
TOUCH_SECONDS = 60
"""`last_used_at` is rewritten at most this often: a busy API client's requests are not each a write."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(db: Database, user_name: str, *, label: str = "", actor: str) -> dict[str, Any]:
    """A new token for an existing account; the clear token is in the result and nowhere else."""
    user = get_user(db, user_name)
    if len(label) > 100:
        raise BadInput("--label is longer than 100 characters")
    token = PREFIX + secrets.token_urlsafe(32)
    token_id = new_id("tok")
    with db.transaction() as tx:
        tx.execute(
            """INSERT INTO api_tokens (id, user_name, label, token_hash, created_at, created_by)
               VALUES (:i, :u, :l, :h, :t, :a)""",
            {"i": token_id, "u": user.name, "l": label, "h": _digest(token), "t": now_iso(), "a": actor},
        )
        audit.append(tx, "token_created", actor, {"token_id": token_id, "user": user.name, "label": label})
    return {"id": token_id, "user": user.name, "label": label, "token": token}


def authenticate(db: Database, token: str) -> User:
    """The account a token acts for; Forbidden for an unknown or revoked token (no detail leaked)."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 200:
        raise Forbidden("invalid or revoked API token")
    rows = db.read(
        "SELECT id, user_name, revoked_at, last_used_at FROM api_tokens WHERE token_hash = :h",
        {"h": _digest(token.strip())},
    )
    if not rows or rows[0]["revoked_at"]:
        raise Forbidden("invalid or revoked API token")
    if not rows[0]["last_used_at"] or rows[0]["last_used_at"] < iso(utc_now() - timedelta(seconds=TOUCH_SECONDS)):
        with db.transaction() as tx:
            tx.execute("UPDATE api_tokens SET last_used_at = :t WHERE id = :i", {"t": now_iso(), "i": rows[0]["id"]})
    return get_user(db, str(rows[0]["user_name"]))


def list_tokens(db: Database, user_name: str | None = None) -> list[dict[str, Any]]:
    """Tokens (never their secret), newest first, optionally of one account."""
    where, params = ("WHERE user_name = :u", {"u": user_name}) if user_name else ("", {})
    rows = db.read(
        f"""SELECT id, user_name, label, created_at, created_by, last_used_at, revoked_at FROM api_tokens
            {where} ORDER BY created_at DESC""",
        params,
    )
    return [{**row, "user": row.pop("user_name")} for row in rows]


def revoke(db: Database, token_id: str, *, actor: str) -> dict[str, Any]:
    """Revoke a token for good; revoking twice says so."""
    with db.transaction() as tx:
        row = tx.one("SELECT id, user_name, revoked_at FROM api_tokens WHERE id = :i", {"i": token_id})
        if row is None:
            raise NotFound(f"unknown token {token_id!r}")
        if row["revoked_at"]:
            raise BadInput(f"token {token_id} was already revoked at {row['revoked_at']}")
        now = now_iso()
        tx.execute("UPDATE api_tokens SET revoked_at = :t WHERE id = :i", {"t": now, "i": token_id})
        audit.append(tx, "token_revoked", actor, {"token_id": token_id, "user": row["user_name"]})
    return {"id": token_id, "user": row["user_name"], "revoked_at": now}


def has_admin(db: Database) -> bool:
    """Whether any admin account exists yet (before the first one, the host's operator bootstraps)."""
    return any("admin" in user.roles for user in list_users(db))
