"""Bounded revision: a draft that failed a check with the outcome `revise` goes back to the agent once more.

The validator routes `revise` only while the policy's `max_draft_revisions` allows and nothing
blocks the proposal; the agent's propose node then sees what failed (`revision_request`) and
rewrites the draft. A revision may change the draft's text and nothing else: a revised proposal
with another action or other arguments is sent to a human (`revision_changed_action`). A blocked
proposal is never revised, and one rejected earlier on the thread still needs a reviewer, so a
revision cannot turn either into an automatic action.
"""

from __future__ import annotations

from typing import Any

from guardrails.routing import Check
from nodes.state import AgentState

TEXT_ARGS = ("message",)
"""Arguments that hold the draft's text; a revision may change these only."""


def revision_request(state: AgentState) -> dict[str, Any] | None:
    """What the agent must fix, when the validator sent its last proposal back for revision."""
    assessment = state.get("assessment") or {}
    history = state.get("revision_history") or []
    if assessment.get("route") != "revise" or not history:
        return None
    last = history[-1]
    return {
        "previous_draft": last.get("draft"),
        "action": last["proposal"].get("name"),
        "args": {k: v for k, v in (last["proposal"].get("args") or {}).items() if k not in TEXT_ARGS},
        "failed_checks": last.get("failed", []),
        "instruction": (
            "Rewrite the draft so that it passes these checks: keep the same action and arguments, state only "
            "what the sources support, promise nothing beyond them, stay courteous, include no personal data."
        ),
    }


def changed_beyond_text(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What a revision changed besides the draft's text (empty when it kept to the text)."""
    changes = []
    if before.get("name") != after.get("name"):
        changes.append(f"action {before.get('name')} -> {after.get('name')}")
    old = {k: v for k, v in (before.get("args") or {}).items() if k not in TEXT_ARGS}
    new = {k: v for k, v in (after.get("args") or {}).items() if k not in TEXT_ARGS}
    changes += [
        f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
    ]
    return changes


def revision_check(state: AgentState, proposal: dict[str, Any]) -> Check | None:
    """After a revision: a failing check when the agent changed more than the draft's text."""
    history = state.get("revision_history") or []
    if not history or not proposal or (state.get("assessment") or {}).get("route") != "revise":
        return None
    changes = changed_beyond_text(history[-1]["proposal"], proposal)
    return Check(
        "revision_changed_action",
        not changes,
        "review",
        "A revision may rewrite the draft only; a different action or different arguments need a human",
        "; ".join(changes),
    )
