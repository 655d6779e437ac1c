"""Request bodies: the same fields as the CLI's arguments; unknown fields are refused (422)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunBody(_Body):
    """`hitl run AGENT MESSAGE [--thread ID] [--context JSON]`; the requester is the caller."""

    agent: str = Field(
        max_length=100, description="a registered agent (GET /openapi.json lists none: see `hitl agents`)"
    )
    message: str = Field(description="the request, as the requester writes it")
    thread_id: str | None = Field(None, description="continue (or name) a thread of one's own")
    context: dict[str, Any] | None = Field(
        None,
        description="facts for the agent's records, as `--context`",
        examples=[
            {
                "customer": {"id": "c-1", "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
                "order": {"id": "o-123456", "amount": 45, "currency": "USD", "days_since_delivery": 3},
            }
        ],
    )


class ReplyBody(_Body):
    """`hitl reply THREAD_ID MESSAGE`: the requester answers the agent's question."""

    message: str


class DecisionBody(_Body):
    """`hitl decide REVIEW_ID DECISION [--args JSON] [--comment] [--category] [--expect-hash]`."""

    decision: str = Field(
        max_length=40,
        description="approve, edit, reject, request-info, escalate or ignore (where the policy allows it)",
    )
    args: dict[str, Any] | None = Field(None, description="the edited arguments (edit only)")
    comment: str | None = None
    category: str | None = Field(None, max_length=100, description="reason category for edits and rejections")
    expect_hash: str | None = Field(
        None, max_length=200, description="refuse unless the review's payload hash is still this one"
    )


class RollbackBody(_Body):
    """`hitl rollback ACTION_ID`, with the reason the requester is told (required, as in the app)."""

    reason: str = Field(description="why the action is undone; the requester is told")
