"""The FastAPI application, built from Settings: one Runner and one Authenticator per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from hitl_api import problems
from hitl_api.auth import Authenticator
from hitl_api.routes import actions, health, oversight, reviews, runs, threads
from hitl_core.db import Database
from hitl_core.settings import Settings
from hitl_runtime.runner import Runner

ERRORS: dict[int | str, dict[str, Any]] = {
    code: problems.PROBLEM_SCHEMA for code in (400, 401, 403, 404, 409, 422, 429, 500, 503)
}


def create_app(settings: Settings, *, runner: Runner | None = None) -> FastAPI:
    """The API over the settings' database (or over `runner`, which the caller then closes)."""
    own = runner is None
    runner = runner or Runner(settings, db=Database(settings.database_url, pool_size=settings.api_pool_size))
    try:
        authenticator = Authenticator(settings, runner.db)  # a bad JWT setting stops here, in one line
    except Exception:
        if own:
            runner.close()
        raise

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if own:
            runner.close()

    app = FastAPI(
        title="hitl-agents",
        version="1",
        summary="Human-in-the-loop workflows for AI agents: runs, the review inbox, decisions, undo and audit.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        responses=ERRORS,
    )
    app.state.runner = runner
    app.state.authenticator = authenticator
    problems.install(app)
    for module in (health, runs, threads, reviews, actions, oversight):
        app.include_router(module.router)
    return app
