"""Structured feedback from reviewers: what they changed or refused, and why.

Stored as data (category, diff, comment), never fed to an agent directly: a lesson reaches an
agent only after a reviewer accepts it and an evaluation shows no regression.
"""

from __future__ import annotations

from typing import Any, Final

from hitl_core.canonical import dumps, loads, new_id, now_iso
from hitl_core.db import Database, Tx
from hitl_core.errors import BadInput

CATEGORIES: Final = (
    "wrong_amount",
    "wrong_action",
    "tone",
    "factual_error",
    "policy_violation",
    "missing_information",
    "insufficient_evidence",
    "suspected_fraud",
    "other",
)


def args_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Changed arguments as {name: [before, after]}."""
    keys = sorted(set(before) | set(after))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


def validate_category(category: str | None) -> str | None:
    """A known correction category, or BadInput listing them."""
    if category is None or category in CATEGORIES:
        return category
    raise BadInput(f"unknown category {category!r} (choose from: {', '.join(CATEGORIES)})")


def record(
    tx: Tx,
    *,
    review: dict[str, Any],
    kind: str,
    reviewer: str,
    diff: dict[str, Any],
    comment: str | None,
    category: str | None,
) -> str:
    """Store one piece of feedback in the decision's transaction."""
    feedback_id = new_id("fb")
    tx.execute(
        """INSERT INTO feedback (id, review_id, thread_id, agent, action, kind, category, diff, comment, reviewer, at)
           VALUES (:id, :r, :t, :a, :n, :k, :c, :d, :m, :u, :at)""",
        {
            "id": feedback_id,
            "r": review["id"],
            "t": review["thread_id"],
            "a": review["agent"],
            "n": review["action"],
            "k": kind,
            "c": category,
            "d": dumps(diff),
            "m": comment,
            "u": reviewer,
            "at": now_iso(),
        },
    )
    return feedback_id


def list_feedback(db: Database, agent: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Feedback, newest first."""
    where = "WHERE agent = :a" if agent else ""
    rows = db.read(f"SELECT * FROM feedback {where} ORDER BY at DESC LIMIT :l", {"a": agent, "l": limit})
    return [{**r, "diff": loads(r["diff"], {})} for r in rows]
