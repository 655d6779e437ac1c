"""Starting a thread and answering the agent's question, as the caller (the requester)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from hitl_api.deps import Caller, Runtime
from hitl_api.models import ReplyBody, RunBody
from hitl_api.responses import as_json
from hitl_core.errors import Forbidden, NotFound
from hitl_runtime import access

router = APIRouter(tags=["runs"])


@router.post("/runs", summary="Start a request on an agent (hitl run)")
def start(body: RunBody, user: Caller, runner: Runtime) -> Response:
    """Runs until the thread completes or pauses; the body is `hitl run --json`'s."""
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
    result = runner.run(body.agent, body.message, thread_id=body.thread_id, user=user.name, context=body.context)
    return as_json(result.as_dict())


@router.post("/threads/{thread_id}/reply", summary="Answer the agent's question on one's own thread (hitl reply)")
def reply(thread_id: str, body: ReplyBody, user: Caller, runner: Runtime) -> Response:
    """The body is `hitl reply --json`'s."""
    access.thread(runner, user, thread_id, own=True)
    return as_json(runner.reply(thread_id, body.message, user=user.name).as_dict())
