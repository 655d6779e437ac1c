"""Accounts and roles; passwords are stored only as Argon2id hashes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hitl_core import audit
from hitl_core.canonical import dumps, loads, now_iso
from hitl_core.db import Database
from hitl_core.errors import BadInput, NotFound

BASE_ROLES: Final = ("end_user", "admin")
"""The roles every deployment has; the others come from the agents' policies (who reviews what)."""
_ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ANONYMOUS: Final = "anonymous"

_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    """An account: its name and the roles the runtime enforces."""

    name: str
    roles: tuple[str, ...]

    def has_any(self, roles: list[str] | tuple[str, ...]) -> bool:
        """Whether this user holds at least one of `roles`."""
        return any(role in self.roles for role in roles)


def validate_name(name: str) -> str:
    """User names are short, printable and carry no whitespace at the ends."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 64 or not cleaned.isprintable():
        raise BadInput(f"invalid user name {name!r}: 1-64 printable characters")
    return cleaned


def validate_role(role: str) -> str:
    """A role name: lower-case letters, digits and underscores, starting with a letter (BadInput otherwise)."""
    if not isinstance(role, str) or not _ROLE_NAME.match(role):
        raise BadInput(f"invalid role name {role!r}: lower-case letters, digits and _, starting with a letter")
    return role


def validate_account(
    name: str, roles: list[str], password: str | None = None, known_roles: Iterable[str] | None = None
) -> str:
    """The cleaned name, or BadInput for a bad name, an unknown role or a short password.

    `known_roles` (the deployment's: `BASE_ROLES` and those its policies name) is checked when given.
    """
    name = validate_name(name)
    if not roles:
        raise BadInput("at least one --role is required")
    for role in roles:
        validate_role(role)
    known = sorted(set(known_roles)) if known_roles is not None else None
    unknown = [r for r in roles if known is not None and r not in known]
    if unknown and known is not None:
        raise BadInput(f"unknown role {unknown[0]!r}; roles: {', '.join(known)}")
    if password is not None and len(password) < 8:
        raise BadInput("password must have at least 8 characters")
    return name


def add_user(db: Database, name: str, roles: list[str], *, password: str | None = None, actor: str = "admin") -> User:
    """Create or update an account (roles replaced, password set when given); audited."""
    name = validate_account(name, roles, password)
    unique_roles = sorted(set(roles))
    hashed = _hasher.hash(password) if password is not None else None
    with db.transaction() as tx:
        existing = tx.one("SELECT name, password_hash FROM users WHERE name = :n", {"n": name})
        if existing:
            tx.execute(
                "UPDATE users SET roles = :r, password_hash = COALESCE(:p, password_hash) WHERE name = :n",
                {"r": dumps(unique_roles), "p": hashed, "n": name},
            )
        else:
            tx.execute(
                "INSERT INTO users (name, roles, password_hash, created_at) VALUES (:n, :r, :p, :t)",
                {"n": name, "r": dumps(unique_roles), "p": hashed, "t": now_iso()},
            )
        audit.append(
            tx,
            "user_updated" if existing else "user_added",
            actor,
            {"user": name, "roles": unique_roles, "password_set": hashed is not None},
        )
    return User(name, tuple(unique_roles))


def get_user(db: Database, name: str) -> User:
    """The account, or NotFound with a one-line reason."""
    rows = db.read("SELECT name, roles FROM users WHERE name = :n", {"n": name})
    if not rows:
        raise NotFound(f"unknown user {name!r} (create it with: hitl users add {name} --role ROLE)")
    return User(rows[0]["name"], tuple(loads(rows[0]["roles"], [])))


def find_user(db: Database, name: str) -> User | None:
    """The account or None."""
    try:
        return get_user(db, name)
    except NotFound:
        return None


def list_users(db: Database) -> list[User]:
    """All accounts, by name."""
    rows = db.read("SELECT name, roles FROM users ORDER BY name")
    return [User(r["name"], tuple(loads(r["roles"], []))) for r in rows]


def authenticate(db: Database, name: str, password: str) -> User | None:
    """The user when the password matches its stored hash; None otherwise (no detail leaked).

    Unthrottled: the app's logins go through `login_guard.log_in`, which counts, locks and audits around it.
    """
    rows = db.read("SELECT name, roles, password_hash FROM users WHERE name = :n", {"n": name})
    if not rows or not rows[0]["password_hash"]:
        _hasher.hash(password)  # spend the same time whether or not the account exists
        return None
    try:
        _hasher.verify(rows[0]["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return User(rows[0]["name"], tuple(loads(rows[0]["roles"], [])))
