"""`GET /healthz`: the process answers and its database holds the schema it needs (no credential)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hitl_api.deps import Runtime
from hitl_api.responses import as_json
from hitl_core import schema
from hitl_core.db import is_connection_error
from hitl_core.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness and database check")
def healthz(runner: Runtime) -> Response:
    """`{"status": "ok", "schema": N}`; a 503 problem when the database cannot be reached."""
    try:
        with runner.db.transaction() as tx:
            version = schema.current_version(tx)
    except Exception as exc:
        if isinstance(exc, Unavailable) or is_connection_error(exc):
            raise Unavailable("the database cannot be reached") from None
        raise
    return as_json({"status": "ok", "schema": version})
