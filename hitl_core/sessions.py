"""Server-side login sessions for the app: revocable, expiring, checked on every request.

The browser holds only a random token (in an HttpOnly cookie the page's scripts cannot read); the
database holds its hash. A session ends at the first of: its absolute expiry (`SESSION_SECONDS`
after login), `IDLE_SECONDS` without activity, or a logout. Logging out revokes every session of
the user, so a second tab (or a stolen token) is useless from then on.
"""

from __future__ import annotations

import secrets

from hitl_core import audit
from hitl_core.canonical import iso, iso_in, now_iso, parse_iso, sha256_hex, utc_now
from hitl_core.db import Database
from hitl_core.errors import Forbidden
from hitl_core.settings import Settings, configured
from hitl_core.users import User, find_user

SESSION_SECONDS = 8 * 3600
"""Default absolute lifetime of a session (`HITL_SESSION_SECONDS`)."""
IDLE_SECONDS = 30 * 60
"""Default time without activity after which a session ends (`HITL_SESSION_IDLE_SECONDS`)."""
TOUCH_EVERY_SECONDS = 60.0
"""Activity is written at most this often per session (never more often than a quarter of its idle limit)."""


def lifetimes(settings: Settings | None = None) -> tuple[float, float]:
    """(absolute, idle) session lifetimes in seconds: `HITL_SESSION_SECONDS`, `HITL_SESSION_IDLE_SECONDS`."""
    chosen = settings or configured()
    return chosen.session_seconds, chosen.session_idle_seconds


def create(db: Database, user: User, ttl: float = SESSION_SECONDS, idle: float = IDLE_SECONDS) -> str:
    """Open a session for an authenticated user; returns the token to keep client-side.

    The session ends `ttl` seconds from now, or after `idle` seconds without activity (see `resolve`).
    """
    token = secrets.token_urlsafe(32)
    now = now_iso()
    with db.transaction() as tx:
        tx.execute(
            """INSERT INTO sessions (token_hash, user_name, created_at, expires_at, last_seen_at, idle_seconds)
               VALUES (:h, :u, :c, :e, :c, :i)""",
            {"h": sha256_hex(token), "u": user.name, "c": now, "e": iso_in(ttl), "i": max(1, round(idle))},
        )
    return token


def resolve(db: Database, token: str | None, *, activity: bool = True) -> User | None:
    """The session's user with current roles, or None if unknown, expired, idle too long or revoked.

    `activity` (the default) counts this request as the user's activity, which keeps the session from
    idling out; automatic refreshes pass False, so an open tab nobody uses still ends.
    """
    if not token:
        return None
    digest = sha256_hex(token)
    now = utc_now()
    rows = db.read(
        """SELECT user_name, last_seen_at, idle_seconds FROM sessions
           WHERE token_hash = :h AND revoked_at IS NULL AND expires_at > :n""",
        {"h": digest, "n": iso(now)},
    )
    if not rows:
        return None
    row = rows[0]
    idle = row["idle_seconds"]
    if idle and row["last_seen_at"]:
        quiet = (now - parse_iso(row["last_seen_at"])).total_seconds()
        if quiet >= idle:
            return None
        if activity and quiet >= min(TOUCH_EVERY_SECONDS, idle / 4):
            with db.transaction() as tx:
                tx.execute(
                    """UPDATE sessions SET last_seen_at = :n
                       WHERE token_hash = :h AND revoked_at IS NULL AND last_seen_at < :n""",
                    {"n": iso(now), "h": digest},
                )
    return find_user(db, row["user_name"])


def require(db: Database, token: str | None) -> User:
    """Like `resolve`, but a missing or stale session is refused (Forbidden)."""
    user = resolve(db, token)
    if user is None:
        raise Forbidden("your session has ended (logged out or expired); log in again")
    return user


def revoke_all(db: Database, user_name: str, *, channel: str = "app") -> int:
    """Log a user out everywhere (audited as `logout`); returns how many sessions were closed."""
    with db.transaction() as tx:
        closed = tx.rowcount(
            "UPDATE sessions SET revoked_at = :n WHERE user_name = :u AND revoked_at IS NULL",
            {"n": now_iso(), "u": user_name},
        )
        audit.append(tx, "logout", user_name, {"user": user_name, "sessions": closed, "channel": channel})
    return closed
