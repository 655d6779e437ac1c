"""Errors as `application/problem+json` (RFC 9457): the runtime's one-line reason, never a traceback.

A `HitlError` carries a message meant for a person, already masked; it becomes the problem's
`detail` with a status chosen by its kind. Anything else is a bug: the client gets a generic 500
and the server's log the (masked) traceback.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hitl_core.errors import BadInput, Conflict, Forbidden, HitlError, NotFound, Unavailable
from hitl_core.login_guard import LoginLocked
from hitl_core.masking import mask_text

MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("hitl_api")


class Unauthorized(HitlError):
    """No credential, or one that proves nobody: 401 with a `WWW-Authenticate: Bearer` challenge."""


KINDS: list[tuple[type[HitlError], int, str]] = [
    (Unauthorized, 401, "unauthorized"),
    (LoginLocked, 429, "locked-out"),
    (NotFound, 404, "not-found"),
    (Forbidden, 403, "forbidden"),
    (Conflict, 409, "conflict"),
    (BadInput, 400, "bad-input"),
    (Unavailable, 503, "unavailable"),
]
"""Most specific first: LoginLocked is a Forbidden, NotFound, Forbidden and Conflict are BadInput."""

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Unprocessable request",
    429: "Too many failed attempts",
    500: "Internal error",
    503: "Unavailable",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "description": "A problem (RFC 9457)",
    "content": {
        MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                },
                "required": ["type", "title", "status", "detail"],
            }
        }
    },
}
"""The problem shape, for the OpenAPI document's error responses."""


def problem(
    status: int, detail: str, *, kind: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A problem response: type, title, status and the one-line detail."""
    body = {
        "type": f"urn:hitl:problem:{kind or TITLES.get(status, 'error').lower().replace(' ', '-')}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": mask_text(detail.splitlines()[0] if detail else TITLES.get(status, "Error")),
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(exc: HitlError) -> JSONResponse:
    """The problem a runtime error becomes."""
    for cls, status, kind in KINDS:
        if isinstance(exc, cls):
            headers = None
            if status == 401:
                headers = {"WWW-Authenticate": "Bearer"}
            elif isinstance(exc, LoginLocked):
                headers = {"Retry-After": str(int(exc.retry_after))}
            return problem(status, str(exc), kind=kind, headers=headers)
    return problem(500, "internal error", kind="internal")


def _validation_detail(exc: RequestValidationError) -> str:
    """The first invalid field and why, in one line (never the value sent: it may be a secret)."""
    errors = exc.errors()
    if not errors:
        return "the request is not valid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or "the request"
    return f"{where}: {first.get('msg', 'invalid')}"


def install(app: FastAPI) -> None:
    """Every error the app can meet, as a problem."""

    async def hitl_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HitlError)
        return from_error(exc)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem(422, _validation_detail(exc), kind="invalid-request")

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None)

    app.add_exception_handler(HitlError, hitl_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_middleware(_Unexpected)


class _Unexpected:
    """Turn any unexpected exception into a generic 500 problem; the masked traceback goes to the log only.

    A plain ASGI middleware rather than an exception handler: Starlette re-raises what reaches its
    outermost handler, so the server would print the exception's text as well.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.error(
                "unexpected error on %s %s\n%s",
                scope.get("method"),
                mask_text(str(scope.get("path"))),
                mask_text(traceback.format_exc()),
            )
            if started:  # too late for a problem: the client sees the response cut short
                return
            response = problem(500, "internal error: the server's log has the details", kind="internal")
            await response(scope, receive, send)
