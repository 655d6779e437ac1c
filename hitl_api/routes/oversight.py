"""What oversight reads: audit chain verification and metrics, for the roles the policies name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from hitl_api.deps import Caller, Runtime, require_page
from hitl_api.responses import as_json
from hitl_core import audit, metrics
from hitl_core.errors import Forbidden
from hitl_runtime import access
from hitl_runtime.agents import available_agents

router = APIRouter(tags=["oversight"])


@router.get("/audit/verify", summary="Verify every audit chain (hitl audit verify)")
def verify(user: Caller, runner: Runtime) -> Response:
    """`hitl audit verify --json`: `ok` false names the broken event."""
    require_page(user, "audit")
    return as_json(audit.verify(runner.db).as_dict())


@router.get("/metrics", summary="Review and automation metrics (hitl metrics)")
def read_metrics(
    user: Caller,
    runner: Runtime,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    agent: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """`hitl metrics --json`; one whose roles oversee only some agents names one of them."""
    require_page(user, "metrics")
    mine = access.oversight_agents(user, "metrics")
    if agent is not None and agent not in mine:
        raise Forbidden(f"{user.name} may not read the metrics of the agent {agent!r}")
    if agent is None and not set(mine) >= set(available_agents()):
        raise Forbidden(f"{user.name} may read the metrics of some agents only: pass agent= one of {', '.join(mine)}")
    return as_json(metrics.compute(runner.db, since=since, until=until, agent=agent, action=action))
