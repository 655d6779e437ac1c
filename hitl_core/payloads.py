"""The shapes of what a thread pauses with and what it is resumed with, as TypedDicts.

A review's interrupt value is LangChain's `HITLRequest` (`action_requests`, `review_configs`) plus
the reviewer's context (`ReviewRequest`); a question to the requester is a `QuestionRequest`. A
review is resumed with a `ReviewResponse`: LangChain's `HITLResponse` shape (`{"decisions": [...]}`,
one decision here) whose decision is LangChain's approve / edit / reject, or one of the project's
own kinds (escalate, request_info, Agent Inbox's ignore, expire), each with the runtime's record of who decided and why.
These are types only: the JSON stays exactly what it was (`hitl show --json`, the stored payload).

LangChain's agents package is slow to import, so the core's own modules import this one only for
type checking; the approval gate (nodes/), which runs inside a graph, imports it for real.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain.agents.middleware.human_in_the_loop import (
    ActionRequest,
    ApproveDecision,
    EditDecision,
    HITLRequest,
    RejectDecision,
    ReviewConfig,
)
from typing_extensions import TypedDict  # LangChain's kind: typing's own does not mix with it as a base

__all__ = [
    "ActionRequest",
    "ConversationLine",
    "DecisionRecord",
    "ProposedBy",
    "QuestionRequest",
    "ReviewConfig",
    "ReviewDecision",
    "ReviewRequest",
    "ReviewResponse",
    "TierView",
]


class ConversationLine(TypedDict):
    """One message of the conversation, as the reviewer reads it."""

    role: str
    text: str


class TierView(TypedDict):
    """The tier deciding now: its place on the ladder plus the policy's tier (roles, approvals, limit)."""

    index: int
    name: str
    roles: list[str]
    approvals: int
    max_amount: float | None


class ProposedBy(TypedDict):
    """For a review opened by an edit: who proposed the new arguments, from which review, and the diff."""

    reviewer: str | None
    edit_of: str | None
    diff: dict[str, Any]


class RefusedResume(TypedDict):
    """Why the gate refused the resume it was sent last (`nodes/resume_check.py`), for the client that sent it."""

    reason: str
    claimed_reviewer: str | None


class _Refusable(TypedDict, total=False):
    refused_resume: RefusedResume
    """Only on a request raised again after a refusal (`hitl_core.interrupt_view.REFUSAL_KEY`)."""


class ReviewRequest(HITLRequest, _Refusable):
    """A review's interrupt value: LangChain's `HITLRequest` plus everything a reviewer needs to see."""

    kind: Literal["review"]
    review_id: str
    thread_id: str
    agent: str
    turn: int
    requester: str
    request: str
    conversation: list[ConversationLine]
    route: str | None
    risk: float | None
    confidence: float | None
    confidence_raw: float | None
    calibration: dict[str, Any] | None
    reasons: list[str]
    risk_signals: list[dict[str, Any]]
    confidence_signals: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    evidence: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    facts: dict[str, Any]
    draft: str | None
    revisions: list[dict[str, Any]]
    preview: dict[str, Any]
    alternatives: list[dict[str, Any]]
    undo_plan: str
    reversible: bool | None
    amount: float | None
    deadline: str | None
    expiry_fallback: str | None
    tier: TierView
    escalation_path: list[dict[str, Any]]
    extra_decisions: list[str]
    history: list[dict[str, Any]]
    proposed_by: ProposedBy | None


class QuestionRequest(TypedDict):
    """A question to the requester's interrupt value (nodes/ask_requester.py)."""

    kind: Literal["question"]
    review_id: str
    thread_id: str
    agent: str
    turn: int
    addressed_to: str
    question: str
    deadline: str | None


class DecisionRecord(TypedDict, total=False):
    """What the runtime's `decide` (or the deadline) adds to a decision: who, when, why, and for an edit the verdict."""

    review_id: str
    reviewer: str | None
    approvers: list[str]
    comment: str | None
    category: str | None
    channel: str
    at: str
    covered: bool
    reassessment: dict[str, Any]
    preview: dict[str, Any]
    next_deadline: str | None
    fallback: str


class Approve(ApproveDecision, DecisionRecord):
    """LangChain's approve decision, with the runtime's record."""


class Edit(EditDecision, DecisionRecord):
    """LangChain's edit decision (`edited_action`), with the runtime's record."""


class Reject(RejectDecision, DecisionRecord):
    """LangChain's reject decision (optional `message`), with the runtime's record."""


class Escalate(DecisionRecord):
    """Send the review to the next tier of the policy's ladder."""

    type: Literal["escalate"]


class RequestInfo(DecisionRecord):
    """Ask the requester for more information before deciding."""

    type: Literal["request_info"]


class Ignore(DecisionRecord):
    """Dismiss the review (Agent Inbox's ignore): nothing runs, the thread ends; `comment` is the reviewer's reason."""

    type: Literal["ignore"]


class Expire(DecisionRecord):
    """Nobody decided by the deadline: the policy's `fallback` applies."""

    type: Literal["expire"]


ReviewDecision = Approve | Edit | Reject | Escalate | RequestInfo | Ignore | Expire
"""What reaches the approval gate."""


class ReviewResponse(TypedDict):
    """LangChain's `HITLResponse` shape with this project's decisions (exactly one per review)."""

    decisions: list[ReviewDecision]
