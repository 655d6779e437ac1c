"""The FastAPI application, built from Settings: one Runner and one Authenticator per process.

On SQLite the serving process is also the worker (as `hitl ui` is): an in-process worker runs the
queued runs, replies and decisions and the periodic steps while the app serves. On PostgreSQL the
queue is procrastinate's and `hitl worker` processes carry it out; nothing runs here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from hitl_api import deps, problems
from hitl_api.auth import Authenticator
from hitl_api.routes import actions, health, jobs, oversight, reviews, runs, threads
from hitl_core.db import Database
from hitl_core.settings import Settings
from hitl_runtime.runner import Runner
from hitl_runtime.worker import InProcessWorker

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
        worker = InProcessWorker(runner).start() if runner.db.dialect == "sqlite" else None
        if worker is None:
            # uvicorn's own logger: `hitl serve` shows it beside "Application startup complete".
            logging.getLogger("uvicorn.error").info(
                "PostgreSQL: queued runs, replies and decisions are carried out by `hitl worker` processes"
            )
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
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
        dependencies=[Depends(deps.plain_parameters)],
    )
    app.state.runner = runner
    app.state.authenticator = authenticator
    problems.install(app)
    for module in (health, runs, threads, reviews, jobs, actions, oversight):
        app.include_router(module.router)
    return app
