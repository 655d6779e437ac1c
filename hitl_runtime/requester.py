"""What a requester reads about their request: who will review it and how soon, in plain words, and where they left off.

Role ids (`support_lead`), tier names and policy limits are for reviewers; a requester reads
"a senior support specialist will review your request, usually within 4 hours". This is the one
mapping from roles to those words, used by the chat and anything else a requester reads. Once done,
each action taken reads in the past tense ("Your refund of 40.00 USD ... was issued"), in the words
its agent gives it (`ActionSpec.confirm`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from hitl_core import ledger
from hitl_core.actions import get_action
from hitl_core.db import Database
from hitl_runtime.agents import agent_policy

REVIEWER_WORDS: Final[dict[str, str]] = {
    "support_agent": "a support specialist",
    "support_lead": "a senior support specialist",
    "compliance_officer": "our compliance team",
    "sre": "an engineer on call",
    "ops_lead": "an operations lead",
    "admin": "an administrator",
}
"""The shipped roles in the words a requester reads; any other role is named from its id (`data_steward`: a data steward)."""

REQUESTER_ROLE: Final = "end_user"
"""The role of people who only ask (customers): they never read role ids, their own included."""

OPEN: Final = ("needs_info", "pending_review", "running")
"""Conversation statuses that wait for someone (a reviewer, the requester, the agent): a returning user lands there."""


DISMISSED_TEXT: Final = (
    "This request was closed without any action, so nothing has changed. Write again if you still need it."
)
"""What a requester's conversation says once a reviewer dismissed the request (never the reviewer's reason)."""


def account_words(name: str, roles: Iterable[str]) -> str:
    """How the app names a logged-in account: a requester by name only, staff with their role ids."""
    staff = [r for r in roles if r != REQUESTER_ROLE]
    return f"{name} ({', '.join(staff)})" if staff else name


def reviewer_words(roles: Iterable[str]) -> str:
    """Who will review, for a requester: the first role the review accepts, in plain words."""
    for role in roles:
        if role in REVIEWER_WORDS:
            return REVIEWER_WORDS[role]
        words = " ".join(str(role).replace("_", " ").replace("-", " ").split())
        if words:
            return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"
    return "a member of our team"


def wait_words(minutes: int) -> str:
    """A wait in round words: `30 minutes`, `4 hours`, `2 days`."""
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(minutes / 60)
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{round(hours / 24)} days"


def expected_wait(agent: str, action: str | None) -> str:
    """How soon a review usually comes: the policy's review deadline for the action (else the agent's)."""
    policy = agent_policy(agent)
    minutes = policy.deadline_minutes(action) if action in policy.actions else policy.review_deadline_minutes
    return wait_words(minutes)


def waiting_text(review: Mapping[str, Any]) -> str:
    """What a requester reads while their request waits for a review: who, how soon, and where the answer appears."""
    who = reviewer_words(review.get("required_roles") or [])
    within = expected_wait(str(review["agent"]), review.get("action"))
    return (
        f"{who[0].upper()}{who[1:]} will review your request, usually within {within}. "
        "Their answer appears here as soon as they decide."
    )


def open_conversation(db: Database, requester: str, agents: Sequence[str]) -> str | None:
    """The requester's most recently updated conversation that waits for someone (`OPEN`), with one of `agents`."""
    if not agents:
        return None
    names = {f"a{i}": a for i, a in enumerate(agents)}
    states = {f"s{i}": s for i, s in enumerate(OPEN)}
    rows = db.read(
        "SELECT thread_id FROM threads WHERE requester = :r"
        f" AND agent IN ({', '.join(':' + k for k in names)}) AND status IN ({', '.join(':' + k for k in states)})"
        " ORDER BY updated_at DESC LIMIT 1",
        {"r": requester, **names, **states},
    )
    return str(rows[0]["thread_id"]) if rows else None


def done_text(action: str, args: Mapping[str, Any]) -> str | None:
    """What the action did, in the past tense, for the requester; None when it says nothing of its own (a reply)."""
    spec = get_action(action)
    return spec.confirm(dict(args)) if spec.confirm is not None else None


def done_texts(db: Database, thread_id: str) -> list[str]:
    """What was done in the conversation, oldest first: one sentence per action still in effect (not rolled back)."""
    entries = reversed(ledger.list_entries(db, thread_id=thread_id))
    texts = [done_text(e["name"], e["args"]) for e in entries if e["status"] == "executed"]
    return [t for t in texts if t]
