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


def _staff(ctx: Auth.types.AuthContext) -> bool:
    return bool(set(ctx.permissions) - {"end_user"})


@auth.on.threads
async def threads(ctx: Auth.types.AuthContext, value: Any) -> Auth.types.FilterType | None:
    """A new thread (and run) is stamped with its owner; a requester reaches only its own threads."""
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
