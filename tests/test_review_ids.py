"""Review ids across the change that made derived ids card-safe: a review opened before it still decides.

The gate derives its review's id again each time LangGraph re-runs it, so a review opened with the
plain-hex id must still be matched after an upgrade, or its approved action would be refused.
"""

from __future__ import annotations

import pytest

from hitl_core import canonical, ledger, reviews
from hitl_core.masking import card_spans
from tests.helpers import trip_request


def _opened_before_the_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids as the earlier release made them: 16 plain hex digits."""
    monkeypatch.setattr(canonical, "card_safe", lambda digits: digits)


def test_a_support_review_opened_with_a_plain_hex_id_is_approved_and_executes(runner, monkeypatch):
    with monkeypatch.context() as before:
        _opened_before_the_change(before)
        started = runner.run(
            "support",
            "My kettle arrived broken. Can I get my $45 back for order o-551234?",
            user="eve",
            context={
                "customer": {"id": "c-upgrade", "name": "Eve Example", "tier": "standard", "lifetime_value": 150},
                "order": {"id": "o-551234", "amount": 45, "currency": "USD", "days_since_delivery": 3},
            },
        )
    (review_id,) = started.reviews
    assert review_id[3:].isalnum() and all(c in "0123456789abcdef" for c in review_id[3:]), review_id
    decided = runner.decide(review_id, "approve", "sam")
    assert decided["thread"]["status"] == "completed", decided
    (effect,) = ledger.list_entries(runner.db, thread_id=started.thread_id)
    assert effect["review_id"] == review_id and effect["executed_by"] == "sam"
    later = runner.run(
        "support", "And the same for my $45 toaster, order o-551235?", user="eve", thread_id=started.thread_id
    )
    assert all(not card_spans(r) and any(c not in "0123456789abcdef" for c in r[3:]) for r in later.reviews)


def test_an_own_agent_review_opened_with_a_plain_hex_id_is_approved_and_executes(runner, monkeypatch):
    with monkeypatch.context() as before:
        _opened_before_the_change(before)
        started = trip_request(runner)
    (review_id,) = started.reviews
    assert all(c in "0123456789abcdef" for c in review_id[3:]), review_id
    decided = runner.decide(review_id, "approve", "pat")
    assert decided["thread"]["status"] == "completed", decided
    assert reviews.get(runner.db, review_id)["status"] == "approved"
    (effect,) = ledger.list_entries(runner.db, thread_id=started.thread_id)
    assert effect["review_id"] == review_id and effect["executed_by"] == "pat"
