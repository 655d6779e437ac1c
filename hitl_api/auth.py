"""Who is calling: `Authorization: Bearer <API token or JWT>`, throttled per client like password logins.

A missing credential is a 401 and is not counted. A wrong one (unknown or revoked token, a JWT that
fails verification or names no account) is a 401 counted against the client's address by
`login_guard.credential_failed`; once a client reaches the login limit every request from it is
refused with 429 until the lock expires, before its credential is even read, so the API cannot be
used to guess tokens faster than the login form could guess passwords.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hitl_api.oidc import InvalidJwt, JwtVerifier, looks_like_jwt
from hitl_api.problems import Unauthorized
from hitl_core import login_guard, tokens
from hitl_core.db import Database
from hitl_core.errors import HitlError, Unavailable
from hitl_core.settings import Settings
from hitl_core.users import User, get_user

CHANNEL = "api"
bearer = HTTPBearer(auto_error=False, description="An API token (`hitl tokens create NAME`) or a JWT")


class Authenticator:
    """Turns a bearer credential into an account, or refuses it."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.policy = login_guard.LoginPolicy.from_settings(settings)
        self.jwt = JwtVerifier(settings) if settings.jwt_issuer else None

    def user(self, credential: str | None, client: str | None) -> User:
        """The caller's account; Unauthorized (401) or LoginLocked (429) otherwise."""
        if not credential:
            raise Unauthorized("missing credential: send Authorization: Bearer <API token>")
        login_guard.check_client(self.db, client, channel=CHANNEL)
        try:
            return self._check(credential.strip())
        except Unavailable:  # the provider's key set is out of reach: nobody's fault, nothing counted
            raise
        except (HitlError, InvalidJwt) as exc:
            login_guard.credential_failed(self.db, client, policy=self.policy, channel=CHANNEL)
            reason = str(exc) if isinstance(exc, InvalidJwt) else "invalid or revoked API token"
            raise Unauthorized(reason) from None

    def _check(self, credential: str) -> User:
        if credential.startswith(tokens.PREFIX) or self.jwt is None or not looks_like_jwt(credential):
            return tokens.authenticate(self.db, credential)
        name = self.jwt.account(credential)
        try:
            return get_user(self.db, name)
        except HitlError:  # unknown, or not even a valid account name
            raise InvalidJwt("the JWT names no account of this deployment") from None


def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    """FastAPI dependency: the authenticated caller."""
    authenticator: Authenticator = request.app.state.authenticator
    client = request.client.host if request.client else None
    return authenticator.user(credentials.credentials if credentials else None, client)
