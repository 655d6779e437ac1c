"""LangGraph Server's auth handler (`langgraph.json` names it): the project's API tokens, its accounts and roles.

`Authorization: Bearer TOKEN` (a token from `hitl tokens create NAME`) makes the run's user that
account; its roles become the user's permissions. The graph reads the user where the server puts
it (`config["configurable"]["langgraph_auth_user"]`): it is the requester of a new turn and the
reviewer of a resume, which the gate checks against the policy like any other decision.
Requesters see only their own threads; accounts with a role beyond `end_user` see every thread,
since a reviewer resumes threads that others started.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph_sdk import Auth

from hitl_core import tokens
from hitl_core.errors import HitlError
from hitl_core.masking import mask_text, mask_value
from hitl_core.users import User

auth = Auth()

OWNER = "owner"
"""The metadata key that records who started a thread."""


def _account(token: str) -> User:
    from hitl_runtime.server import runner  # the graphs' own runner and pool, in the same process

    return tokens.authenticate(runner().db, token)


@auth.authenticate
async def authenticate(authorization: str | None) -> Auth.types.MinimalUserDict:
    """The account behind a bearer token; 401 for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Auth.exceptions.HTTPException(status_code=401, detail="send Authorization: Bearer <hitl tokens create>")
    try:
        user = await asyncio.to_thread(_account, token.strip())  # a database read: off the server's event loop
    except HitlError as exc:
        raise Auth.exceptions.HTTPException(status_code=401, detail=str(exc)) from None
    return {"identity": user.name, "permissions": list(user.roles), "display_name": user.name}


def _mask_run(kwargs: dict[str, Any]) -> None:
    """Mask a run's input and command in place (the server stores this very object)."""
    graph_input = kwargs.get("input")
    if isinstance(graph_input, dict) and isinstance(graph_input.get("request"), str):
        graph_input["request"] = mask_text(graph_input["request"], emails=True)
    for key in ("input", "command"):
        if kwargs.get(key) is not None:
            kwargs[key] = mask_value(kwargs[key])


def _staff(ctx: Auth.types.AuthContext) -> bool:
    return bool(set(ctx.permissions) - {"end_user"})


@auth.on.threads
async def threads(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | bool | None:
    """A new thread (and run) is stamped with its owner; a requester reaches only its own threads.

    A run's input and resume are masked here, before the server keeps them (card numbers and
    secrets; email addresses in the request's text), as `Runner.run` masks them. Editing a thread's
    state is refused to everyone: it would write past `intake` and the gate's records.
    """
    if ctx.action == "update":
        return False
    if ctx.action == "create_run" and isinstance(value, dict) and isinstance(value.get("kwargs"), dict):
        _mask_run(value["kwargs"])
    if ctx.action in ("create", "create_run") and isinstance(value, dict):
        metadata = value.setdefault("metadata", {})  # the server reads this very object
        if metadata is None:
            metadata = value["metadata"] = {}
        metadata[OWNER] = ctx.user.identity
    return None if _staff(ctx) else {OWNER: ctx.user.identity}


@auth.on.assistants
async def assistants(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Everyone may find the agents; only staff may change them."""
    return ctx.action in ("read", "search") or _staff(ctx)


@auth.on
async def everything_else(ctx: Auth.types.AuthContext, value: Any) -> bool:
    """Crons and the store: staff only."""
    return _staff(ctx)
