"""What every route needs: the process's one runner, and the authenticated caller (`auth.current_user`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from hitl_api.auth import current_user
from hitl_core.errors import Forbidden
from hitl_core.limits import check_text
from hitl_core.users import User
from hitl_runtime import access
from hitl_runtime.runner import Runner


def runner(request: Request) -> Runner:
    """The app's runner (one per process, shared by the request threads, as in the app)."""
    found: Runner = request.app.state.runner
    return found


Caller = Annotated[User, Depends(current_user)]
Runtime = Annotated[Runner, Depends(runner)]


def require_page(user: User, page: str) -> None:
    """Refuse a caller whose roles do not open the app's page of the same name."""
    if not access.may_open(user, page):
        raise Forbidden(f"{user.name} (roles: {', '.join(user.roles) or 'none'}) may not read the {page}")


PARAMETER_MAX_CHARS = 10_000
"""Longer query or path parameters are refused (each route may bound its own further, as `search` does)."""


def plain_parameters(request: Request) -> None:
    """Every query and path parameter is text the databases can hold: no NUL, no lone surrogate.

    PostgreSQL refuses NUL in text, so without this one filter's NUL was a 500 (found by the fuzzer);
    one place for every route, before a route's own checks, answered as the CLI answers bad input.
    """
    for where, params in (
        ("query parameter", request.query_params.multi_items()),
        ("path", request.path_params.items()),
    ):
        for name, value in params:
            check_text(str(value), f"{where} {name!r}", PARAMETER_MAX_CHARS)
