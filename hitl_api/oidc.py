"""JWTs from an identity provider (OIDC access or ID tokens): verified locally, mapped to an account.

The signature is checked with the provider's key set (`HITL_JWT_JWKS_URL`, keys cached and picked
by `kid`), a PEM public key (`HITL_JWT_PUBLIC_KEY`) or a shared secret (`HITL_JWT_SECRET`); the
issuer, the audience and the expiry must be present and right. The configured claim (`sub` by
default) names the account, which must already exist here: a provider proves who someone is, the
roles stay this deployment's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt

from hitl_core.errors import BadInput, Unavailable
from hitl_core.settings import Settings

LEEWAY_SECONDS = 30
"""Clock skew tolerated on `exp`, `nbf` and `iat`."""


class InvalidJwt(Exception):
    """The token is not a valid JWT of the configured provider; the message says why in one line."""


class JwtVerifier:
    """Checks JWTs against one provider's settings."""

    def __init__(self, settings: Settings) -> None:
        sources = [s for s in (settings.jwt_jwks_url, settings.jwt_public_key, settings.jwt_secret) if s]
        if not settings.jwt_audience:
            raise BadInput("HITL_JWT_ISSUER is set without HITL_JWT_AUDIENCE")
        if len(sources) != 1:
            raise BadInput(
                "HITL_JWT_ISSUER needs exactly one of HITL_JWT_JWKS_URL, HITL_JWT_PUBLIC_KEY and HITL_JWT_SECRET"
            )
        algorithms = list(settings.jwt_algorithms) or (
            ["HS256"] if settings.jwt_secret else ["RS256", "ES256", "EdDSA"]
        )
        if any(a.lower() == "none" for a in algorithms):
            raise BadInput("HITL_JWT_ALGORITHMS: 'none' (unsigned tokens) is never accepted")
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.claim = settings.jwt_claim
        self.algorithms = algorithms
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None
        self._key: Any = settings.jwt_secret or _pem(settings.jwt_public_key)

    def account(self, token: str) -> str:
        """The account name the token's claim holds; InvalidJwt when the token is not good."""
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError:
            raise Unavailable("the identity provider's key set cannot be fetched; try again") from None
        except jwt.PyJWTError as exc:
            raise InvalidJwt(f"invalid JWT: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        name = claims.get(self.claim)
        if not isinstance(name, str) or not name.strip():
            raise InvalidJwt(f"invalid JWT: no {self.claim!r} claim naming an account")
        return name


def _pem(value: str | None) -> str | None:
    """The PEM text of `HITL_JWT_PUBLIC_KEY`: given inline, or read from the file it names."""
    if value is None or value.lstrip().startswith("-----BEGIN"):
        return value
    path = Path(value)
    if not path.is_file():
        raise BadInput(f"HITL_JWT_PUBLIC_KEY: no such file {value!r} (give a PEM public key or its file)")
    return path.read_text(encoding="utf-8")


def looks_like_jwt(token: str) -> bool:
    """Three base64url parts separated by dots."""
    return token.count(".") == 2
