"""Server-side login sessions for the app: revocable, expiring, checked on every request.

The browser holds only a random token; the database holds its hash. Logging out revokes every
session of the user, so a second tab (or a stolen token) is useless from then on.
"""

from __future__ import annotations

import secrets

from hitl_core.canonical import iso_in, now_iso, sha256_hex
from hitl_core.db import Database
from hitl_core.errors import Forbidden
from hitl_core.users import User, find_user

SESSION_SECONDS = 8 * 3600


def create(db: Database, user: User, ttl: float = SESSION_SECONDS) -> str:
    """Open a session for an authenticated user; returns the token to keep client-side."""
    token = secrets.token_urlsafe(32)
    with db.transaction() as tx:
        tx.execute(
            "INSERT INTO sessions (token_hash, user_name, created_at, expires_at) VALUES (:h, :u, :c, :e)",
            {"h": sha256_hex(token), "u": user.name, "c": now_iso(), "e": iso_in(ttl)},
        )
    return token


def resolve(db: Database, token: str | None) -> User | None:
    """The session's user with current roles, or None if unknown, expired or revoked."""
    if not token:
        return None
    rows = db.read(
        "SELECT user_name FROM sessions WHERE token_hash = :h AND revoked_at IS NULL AND expires_at > :n",
        {"h": sha256_hex(token), "n": now_iso()},
    )
    return find_user(db, rows[0]["user_name"]) if rows else None


def require(db: Database, token: str | None) -> User:
    """Like `resolve`, but a missing or stale session is refused (Forbidden)."""
    user = resolve(db, token)
    if user is None:
        raise Forbidden("your session has ended (logged out or expired); log in again")
    return user


def revoke_all(db: Database, user_name: str) -> int:
    """Log a user out everywhere; returns how many sessions were closed."""
    with db.transaction() as tx:
        return tx.rowcount(
            "UPDATE sessions SET revoked_at = :n WHERE user_name = :u AND revoked_at IS NULL",
            {"n": now_iso(), "u": user_name},
        )
