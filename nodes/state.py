"""Graph state shared by every agent, and the run context handed to nodes.

State holds plain JSON-like values only (strict msgpack checkpoints); services such as the
database and the model travel in the run context, which is never checkpointed.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from guardrails.policy import Policy
    from hitl_core.db import Database


class InputState(TypedDict, total=False):
    """What a caller passes to start a turn."""

    request: str
    """The requester's message for this turn."""
    requester: str
    """Who asked (an end user's account name, or `anonymous`)."""
    context: dict[str, Any]
    """Facts the simulated systems were loaded with (scenario `context`)."""
    turn: int
    """Turn number on this thread, starting at 1; part of review ids and idempotency keys."""


class AgentState(InputState, total=False):
    """Everything a thread remembers between steps and across interrupts."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The conversation: requests, the agent's replies, answers to its questions."""
    input_checks: list[dict[str, Any]]
    """Pre-model guardrail results for this turn."""
    redacted_request: str
    """The request with personal data masked: what the model and the logs see."""
    facts: dict[str, Any]
    """Records looked up for this turn (customer, order, service, document...)."""
    evidence: list[dict[str, Any]]
    """Retrieved sources with their scores."""
    tool_calls: list[dict[str, Any]]
    """Read-only tool calls made this turn (name, args, result summary)."""
    proposal: dict[str, Any] | None
    """The proposed action: name, args, description, draft, preview, undo plan, alternatives."""
    assessment: dict[str, Any] | None
    """The validator's verdict: route, risk, confidence, each signal and check, tier ladder."""
    review_deadline: str | None
    """Deadline of the review currently open (ISO UTC)."""
    tier: int
    """Index into the assessment's ladder of the review currently open."""
    decisions: Annotated[list[dict[str, Any]], operator.add]
    """Every decision taken on this thread, in order."""
    rejected: Annotated[list[str], operator.add]
    """Signatures of rejected proposals: they may come back only through a new review."""
    revisions: int
    """Times the agent revised its proposal this turn (bounded by the policy)."""
    draft_revisions: int
    """Times the agent rewrote a draft this turn after a `revise` check (bounded by the policy)."""
    revision_history: list[dict[str, Any]]
    """Drafts sent back for revision this turn, with the checks they failed (shown to reviewers)."""
    executed: Annotated[list[dict[str, Any]], operator.add]
    """Ledger rows of actions executed on this thread."""
    status: str
    """completed | pending_review | needs_info | blocked | failed."""
    outcome: str
    """How the turn ended: executed, answered, rejected, blocked, expired, ..."""
    reply: str | None
    """The agent's last message to the requester."""
    pending_calls: list[dict[str, Any]]
    """Further tool calls of the model's answer, each proposed (and reviewed) on its own after this one."""
    proposal_start: int
    """How many decisions the thread had when the proposal in hand began: later ones are about it."""
    earlier_replies: list[str]
    """What this turn's earlier proposals came to, for the turn's one answer to the requester."""


def turn_text(state: AgentState) -> str:
    """The turn's request as the model and logs may see it: masked once screened, as given before that."""
    return state.get("redacted_request") or state.get("request", "")


@dataclass
class AgentContext:
    """Run-scoped services; passed as `context=` on every invoke and resume."""

    db: Database
    policy: Policy
    model: BaseChatModel
    agent: str
    thread_id: str
    admit: Admit | None = None
    """The runtime's decision rules, for a gate admitting a resume that came another way (`nodes/resume_check.py`)."""
    host: str | None = None
    """Where the thread's checkpoints are when not in the runtime (`langgraph`): no bookkeeping follows its runs."""
    registered: set[str] = field(default_factory=set)
    """Interrupt ids whose review rows a node of this run wrote as it paused: the runtime's bookkeeping skips them."""


class Admit(Protocol):
    """`Runner.admit`: check and record a decision without resuming (the graph is already running)."""

    def __call__(  # noqa: D102
        self,
        review_id: str,
        decision: str,
        reviewer: str,
        *,
        args: dict[str, Any] | None,
        comment: str | None,
        waiting: Any,
    ) -> dict[str, Any]: ...


class Node(Protocol):
    """A node function: state and run context in, a partial state update out."""

    def __call__(self, state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]: ...  # noqa: D102


def current_decisions(state: AgentState) -> list[dict[str, Any]]:
    """The decisions about the proposal in hand: this turn's, since the proposal began."""
    turn = state.get("turn", 1)
    return [d for d in state.get("decisions", [])[state.get("proposal_start", 0) :] if d.get("turn") == turn]
