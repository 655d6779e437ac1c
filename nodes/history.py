"""What earlier human decisions say about a kind of action (a confidence signal)."""

from __future__ import annotations

from hitl_core import reviews
from hitl_core.db import Database

PRIOR_APPROVALS, PRIOR_DECISIONS = 7.0, 10.0
"""A prior of 70% approval worth ten decisions, so a handful of outcomes cannot swing it."""


def approval_rate(db: Database, agent: str, action: str) -> tuple[float, str]:
    """Smoothed share of reviewed proposals of this action that reviewers approved."""
    approved, decided = reviews.decided_counts(db, agent, action)
    rate = (approved + PRIOR_APPROVALS) / (decided + PRIOR_DECISIONS)
    return rate, f"{int(approved)} of {int(decided)} past {action} reviews approved (smoothed)"
