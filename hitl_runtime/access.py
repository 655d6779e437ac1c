"""What an account may read: the reviews and threads of agents whose policy names one of its roles.

A review or thread the account may not see is answered exactly like one that does not exist: the
same `NotFound`, with the same message, after the same lookup. So ids cannot be probed: whoever asks
for someone else's review learns nothing they would not learn by asking for a made-up id. The app
reads reviews and threads through these functions; the runtime checks roles again on every decision.
"""

from __future__ import annotations

from typing import Any

from hitl_core import reviews
from hitl_core.db import Row
from hitl_core.errors import NotFound
from hitl_core.users import User
from hitl_runtime import agents as registry
from hitl_runtime import jobs
from hitl_runtime.agents import agent_policy, available_agents
from hitl_runtime.runner import Runner

PAGES = ("inbox", "review", "thread", "audit", "metrics")


def agent_roles(agent: str) -> set[str]:
    """Every role the agent's policy names as a reviewer (its action tiers and its escalation path)."""
    return agent_policy(agent).reviewer_roles()


def visible_agents(user: User) -> list[str]:
    """The agents whose reviews, threads and metrics the user may see (all of them for an admin)."""
    agents = available_agents()
    if "admin" in user.roles:
        return agents
    return [a for a in agents if user.has_any(sorted(agent_roles(a)))]


def page_roles(page: str) -> tuple[str, ...]:
    """Which roles may open a page of the app (or the API's matching endpoints), from the agents' policies.

    Reviewers: the inbox, a review and a thread; the oversight roles: the audit trail and the metrics;
    administrators everything. Within a page, agents are filtered again (`visible_agents`,
    `oversight_agents`).
    """
    if page in ("inbox", "review", "thread"):
        return (*registry.reviewer_roles(), "admin")
    if page in ("audit", "metrics"):
        named = {role for agent in available_agents() for role in getattr(agent_policy(agent).oversight, page)}
        return (*sorted(named), "admin")
    raise KeyError(page)


def may_open(user: User, page: str) -> bool:
    """Whether the user's roles open a page (`PAGES`)."""
    return user.has_any(page_roles(page))


def oversight_agents(user: User, page: str) -> list[str]:
    """The agents whose audit trail (`page="audit"`) or metrics (`"metrics"`) the user may read."""
    agents = available_agents()
    if "admin" in user.roles:
        return agents
    return [a for a in agents if user.has_any(getattr(agent_policy(a).oversight, page))]


def inbox_roles(user: User) -> list[str] | None:
    """The role filter of the user's inbox: their own roles, or None (everything) for an admin."""
    return None if "admin" in user.roles else list(user.roles)


def may_start(user: User, agent: str) -> bool:
    """Whether the user may start a thread on an agent: a chat role of its policy, or one of its reviewers."""
    return user.has_any(agent_policy(agent).chat_roles) or agent in visible_agents(user)


def may_see(user: User, thread: Row | dict[str, Any]) -> bool:
    """Whether the user may read a thread (or a review of it): its requester, or a reviewer of its agent."""
    return thread.get("requester") == user.name or thread.get("agent") in visible_agents(user)


def review(runner: Runner, user: User, review_id: str) -> dict[str, Any]:
    """Everything the reviewer sees of a review (`Runner.show`), or NotFound: unknown and not visible alike."""
    try:
        found = runner.show(review_id)
    except NotFound:
        raise NotFound(_unknown("review", review_id)) from None
    if found.get("agent") not in visible_agents(user):
        raise NotFound(_unknown("review", review_id))
    return found


def review_row(runner: Runner, user: User, review_id: str) -> dict[str, Any]:
    """A review's public row without its payload (what deciding needs to look up), or NotFound as `review`."""
    try:
        found = reviews.get(runner.db, review_id)
    except NotFound:
        raise NotFound(_unknown("review", review_id)) from None
    if found.get("agent") not in visible_agents(user):
        raise NotFound(_unknown("review", review_id))
    return found


def thread(runner: Runner, user: User, thread_id: str, *, own: bool = False) -> Row:
    """A thread's row, or NotFound: unknown and not visible (another agent's; with `own`, anyone else's) alike."""
    try:
        found = runner.thread(thread_id)
    except NotFound:
        raise NotFound(_unknown("thread", thread_id)) from None
    if not (found["requester"] == user.name if own else may_see(user, found)):
        raise NotFound(_unknown("thread", thread_id))
    return found


def job(runner: Runner, user: User, job_id: str) -> dict[str, Any]:
    """A queued run, reply or decision of the user's own (`jobs.status`), or NotFound: another's is unknown to them.

    Only whoever submitted a job reads it: its result is what their request answered, which the
    roles of someone else need not open (a requester's own thread, a reviewer's decision).
    """
    try:
        found = jobs.status(runner, job_id)
    except NotFound:
        raise NotFound(_unknown("job", job_id)) from None
    if found["requested_by"] != user.name:
        raise NotFound(_unknown("job", job_id))
    return found


def _unknown(kind: str, identifier: str) -> str:
    return f"unknown {kind} {identifier!r}"
