"""Starting a thread and answering the agent's question, as the caller (the requester): queued for a worker."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from hitl_api.deps import Caller, Runtime
from hitl_api.models import ReplyBody, RunBody
from hitl_api.queued import ACCEPTED, Waiting, accepted
from hitl_core.errors import Forbidden, NotFound
from hitl_core.users import User
from hitl_runtime import access, jobs
from hitl_runtime.runner import Runner

router = APIRouter(tags=["runs"])


def _submit_run(runner: Runner, user: User, body: RunBody) -> str:
    if not access.may_start(user, body.agent):  # an unknown agent is refused here, by the registry
        raise Forbidden(
            f"{user.name} (roles: {', '.join(user.roles)}) may not start requests on the {body.agent} agent"
        )
    if body.thread_id is not None:
        try:  # a turn on an existing thread only on one's own; another's is answered like an unknown one
            access.thread(runner, user, body.thread_id, own=True)
        except NotFound as hidden:
            try:
                runner.thread(body.thread_id)
            except NotFound:
                pass  # a new thread of that id
            else:
                raise hidden from None
    return jobs.submit_run(
        runner, body.agent, body.message, thread_id=body.thread_id, user=user.name, context=body.context
    )


@router.post("/runs", summary="Start a request on an agent (hitl run)", status_code=202, responses=ACCEPTED)
async def start(request: Request, body: RunBody, user: Caller, runner: Runtime, wait: Waiting) -> Response:
    """Checked and recorded now, run by a worker; the job's `result` is `hitl run --json`'s body."""
    job_id = await run_in_threadpool(_submit_run, runner, user, body)
    return await accepted(request, runner, job_id, wait)


def _submit_reply(runner: Runner, user: User, thread_id: str, body: ReplyBody) -> str:
    access.thread(runner, user, thread_id, own=True)
    return jobs.submit_reply(runner, thread_id, body.message, user=user.name)


@router.post(
    "/threads/{thread_id}/reply",
    summary="Answer the agent's question on one's own thread (hitl reply)",
    status_code=202,
    responses=ACCEPTED,
)
async def reply(
    request: Request, thread_id: str, body: ReplyBody, user: Caller, runner: Runtime, wait: Waiting
) -> Response:
    """The answer is recorded now and applied by a worker; the job's `result` is `hitl reply --json`'s body."""
    job_id = await run_in_threadpool(_submit_reply, runner, user, thread_id, body)
    return await accepted(request, runner, job_id, wait)
