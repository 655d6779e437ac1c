"""Queued work: where a run, reply or decision submitted over the API stands, and its result (hitl job)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from hitl_api.deps import Caller, Runtime
from hitl_api.queued import Waiting, polled
from hitl_runtime import access

router = APIRouter(tags=["jobs"])


@router.get("/jobs/{job_id}", summary="A queued run, reply or decision (hitl job): its status and result")
async def show(
    request: Request, job_id: Annotated[str, Path(max_length=100)], user: Caller, runner: Runtime, wait: Waiting
) -> Response:
    """queued, running, done (`result`: the synchronous call's body) or failed (`error`); `Prefer: wait=N` long-polls.

    Only its submitter reads a job; anyone else's is answered like an unknown one (404).
    """
    job = await run_in_threadpool(access.job, runner, user, job_id)
    return await polled(request, runner, job, wait)
