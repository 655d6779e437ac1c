"""The inbox, one review, and deciding it: through `access` for reading and `jobs.submit_decision` for deciding."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from hitl_api.auth import CHANNEL
from hitl_api.deps import Caller, Runtime, require_page
from hitl_api.models import DecisionBody
from hitl_api.queued import ACCEPTED, Waiting, accepted
from hitl_api.responses import as_json
from hitl_core import reviews
from hitl_core.errors import Forbidden
from hitl_core.users import User
from hitl_runtime import access, jobs
from hitl_runtime.runner import Runner

router = APIRouter(tags=["reviews"])


@router.get("/reviews", summary="The inbox (hitl reviews): filters and paging as the app and the CLI")
def inbox(
    user: Caller,
    runner: Runtime,
    status: Annotated[str, Query(max_length=40)] = "pending",
    role: Annotated[str | None, Query(max_length=100, description="one of the caller's roles")] = None,
    agent: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    sort: Annotated[str, Query(max_length=40)] = "deadline",
    include_questions: bool = False,
    search: Annotated[
        str | None,
        Query(max_length=reviews.MAX_SEARCH, description="literal text in the request, the arguments or the id"),
    ] = None,
) -> Response:
    """One page of reviews needing the caller's roles (all of them for an admin); `hitl reviews --json`'s rows."""
    require_page(user, "inbox")
    roles = access.inbox_roles(user)
    if role is not None:
        if roles is not None and role not in roles:
            raise Forbidden(f"{user.name} does not hold the role {role!r}")
        roles = [role]
    rows = reviews.inbox(
        runner.db,
        status=status,
        roles=roles,
        agent=agent,
        action=action,
        kind=None if include_questions else "review",
        limit=limit,
        offset=offset,
        sort=sort,
        search=search,
    )
    return as_json(rows)


@router.get("/reviews/{review_id}", summary="Everything a reviewer sees of one review (hitl show)")
def show(review_id: str, user: Caller, runner: Runtime) -> Response:
    """`hitl show --json`: the exact interrupt value under `interrupt`; unknown and not visible alike (404)."""
    return as_json(access.review(runner, user, review_id))


def _submit_decision(runner: Runner, user: User, review_id: str, body: DecisionBody) -> str:
    access.review_row(runner, user, review_id)  # one the caller may not see is unknown to them
    return jobs.submit_decision(
        runner,
        review_id,
        body.decision,
        user.name,
        args=body.args,
        comment=body.comment,
        category=body.category,
        seen_hash=body.expect_hash,
        channel=CHANNEL,
        authenticated=True,
    )


@router.post(
    "/reviews/{review_id}/decisions", summary="Decide a review (hitl decide)", status_code=202, responses=ACCEPTED
)
async def decide(
    request: Request, review_id: str, body: DecisionBody, user: Caller, runner: Runtime, wait: Waiting
) -> Response:
    """Approve, edit, reject, request-info, escalate or ignore, as the caller; the runtime checks everything now.

    A lost race or an already decided review is a 409 naming who decided. The decision is recorded
    before the answer; a worker resumes the thread, and the job's `result` is `hitl decide --json`'s body.
    """
    job_id = await run_in_threadpool(_submit_decision, runner, user, review_id, body)
    return await accepted(request, runner, job_id, wait)
