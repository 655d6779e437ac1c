"""What earlier human decisions say about a kind of action (a confidence signal)."""

from __future__ import annotations

from hitl_runtime.db import Database

PRIOR_APPROVALS, PRIOR_DECISIONS = 7.0, 10.0
"""A prior of 70% approval worth ten decisions, so a handful of outcomes cannot swing it."""


def approval_rate(db: Database, agent: str, action: str) -> tuple[float, str]:
    """Smoothed share of reviewed proposals of this action that reviewers approved."""
    rows = db.read(
        """SELECT SUM(CASE WHEN status IN ('approved', 'approved_with_edits') THEN 1 ELSE 0 END) AS approved,
                  COUNT(*) AS decided
           FROM reviews WHERE agent = :a AND action = :n AND kind = 'review'
             AND status IN ('approved', 'approved_with_edits', 'rejected')""",
        {"a": agent, "n": action},
    )
    approved = float(rows[0]["approved"] or 0) if rows else 0.0
    decided = float(rows[0]["decided"] or 0) if rows else 0.0
    rate = (approved + PRIOR_APPROVALS) / (decided + PRIOR_DECISIONS)
    return rate, f"{int(approved)} of {int(decided)} past {action} reviews approved (smoothed)"
