"""Queued work over HTTP: a run, a reply or a decision answers with its job, and a client may wait for it.

`POST /runs`, `POST /threads/{id}/reply` and `POST /reviews/{id}/decisions` submit through
`hitl_runtime.jobs`, which makes every check at once (a refusal is a problem and queues nothing),
and answer with the job document and `Location: /jobs/{id}`: 202 Accepted, at once. A client that
would rather have the result in the same request sends `Prefer: wait=N` (RFC 7240) or `?wait=true`;
the server then holds the request up to N seconds (capped at `HITL_API_WAIT_MAX_SECONDS`, which
`?wait=true` means) and answers 200 once the job has finished, or 202 if the wait ran out. The same
preference on `GET /jobs/{id}` long-polls. Waiting is asynchronous (the job row is polled with a
short backoff), so a waiting client holds no request thread.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hitl_api.responses import as_json
from hitl_runtime import jobs
from hitl_runtime.runner import Runner

FINISHED = ("done", "failed")
_FIRST_POLL, _LONGEST_POLL = 0.005, 0.1

ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "Accepted: the job (`job_id`, `status`, `thread_id`, `review_id` where known); follow "
        "`Location: /jobs/{job_id}`. On PostgreSQL a `hitl worker` process carries it out; on SQLite the "
        "serving process does."
    },
    200: {"description": "With `Prefer: wait=N` or `?wait=true`: the job finished within the wait; `result` holds it"},
}
"""The OpenAPI responses of a queued operation."""


@dataclass(frozen=True)
class Wait:
    """How long the client asked to wait for its job (0: not at all), and the preference to acknowledge."""

    seconds: float
    applied: str | None = None


def prefer_wait(values: list[str]) -> int | None:
    """The `wait` preference of `Prefer` headers (RFC 7240: `wait=N`, N whole seconds), or None.

    Preferences are hints: an unknown one, or a `wait` whose value is not a number of seconds, is
    ignored as the RFC asks, so such a request is simply not held.
    """
    for header in values:
        for preference in header.split(","):
            name, _, value = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() == "wait":
                value = value.strip().strip('"')
                return int(value) if value.isdigit() and len(value) <= 9 else None
    return None


def wait_for(
    request: Request,
    prefer: Annotated[
        str | None,
        Header(description="`wait=N`: hold the request up to N seconds for the job (RFC 7240; capped)"),
    ] = None,
    wait: Annotated[bool, Query(description="wait for the job up to the server's cap (as `Prefer: wait`)")] = False,
) -> Wait:
    """FastAPI dependency: the wait this request asked for, capped at `HITL_API_WAIT_MAX_SECONDS`."""
    cap = float(request.app.state.runner.settings.api_wait_max_seconds)
    asked = prefer_wait(request.headers.getlist("prefer"))
    if asked is not None:
        seconds = min(float(asked), cap)
        return Wait(seconds, f"wait={seconds:g}")
    return Wait(cap if wait else 0.0)


Waiting = Annotated[Wait, Depends(wait_for)]


def document(runner: Runner, job: dict[str, Any]) -> dict[str, Any]:
    """The job as the API shows it: its status and, once done, `result`: the synchronous call's body."""
    shown = {k: v for k, v in job.items() if k != "backend"}
    shown["result"] = jobs.outcome(runner, job)
    return shown


def load(runner: Runner, job_id: str) -> dict[str, Any]:
    """The job's document, read now."""
    return document(runner, jobs.status(runner, job_id))


async def until_finished(request: Request, runner: Runner, job_id: str, seconds: float) -> dict[str, Any]:
    """The job's document once it has finished, or as it stands when `seconds` have passed (or the client left)."""
    deadline = time.monotonic() + seconds
    pause = _FIRST_POLL
    while True:
        job = await run_in_threadpool(load, runner, job_id)
        left = deadline - time.monotonic()
        if job["status"] in FINISHED or left <= 0 or await request.is_disconnected():
            return job
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, _LONGEST_POLL)


async def accepted(request: Request, runner: Runner, job_id: str, wait: Wait) -> Response:
    """The answer to a queued operation: 202 with the job, or 200 once it has finished within the wait."""
    if wait.seconds > 0:
        job = await until_finished(request, runner, job_id, wait.seconds)
        status = 200 if job["status"] in FINISHED else 202
    else:
        job, status = await run_in_threadpool(load, runner, job_id), 202
    return as_json(job, status, headers=_headers(wait, location=f"/jobs/{job_id}"))


def _headers(wait: Wait, *, location: str | None = None) -> dict[str, str]:
    headers = {"Location": location} if location else {}
    if wait.applied:
        headers["Preference-Applied"] = wait.applied
    return headers


async def polled(request: Request, runner: Runner, job: dict[str, Any], wait: Wait) -> Response:
    """`GET /jobs/{id}`: the job (already found visible), after waiting for it to finish if asked."""
    if wait.seconds > 0 and job["status"] not in FINISHED:
        shown = await until_finished(request, runner, str(job["job_id"]), wait.seconds)
    else:
        shown = await run_in_threadpool(document, runner, job)
    return as_json(shown, headers=_headers(wait))
