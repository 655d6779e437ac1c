"""The review screen's summary and next review (`hitl_runtime/review_screen.py`), on SQLite and PostgreSQL."""

from __future__ import annotations

from hitl_core import reviews
from hitl_core.users import add_user
from hitl_runtime import review_screen
from tests.helpers import refund_request


def _refund(runner, amount: float, user: str = "eve") -> str:
    result = refund_request(runner, amount, user=user)
    assert result.status == "pending_review", result
    return result.reviews[0]


def test_summary_names_the_escalation_and_then_what_was_decided(runner):
    sam, lee = add_user(runner.db, "sam", ["support_agent"]), add_user(runner.db, "lee", ["support_lead"])
    first = _refund(runner, 60)
    summary = review_screen.summary(runner.show(first))
    assert (summary["amount"], summary["currency"], summary["escalated"]) == (60.0, "USD", None)
    assert summary["target"].startswith("order_id=o-") and summary["approvals"] == {"count": 0, "required": 1, "by": []}
    runner.decide(first, "escalate", sam.name, comment="Looks like a pattern")
    thread = reviews.get(runner.db, first)["thread_id"]
    (second,) = [r["id"] for r in reviews.for_thread(runner.db, thread) if r["status"] == "pending"]
    escalated = review_screen.summary(runner.show(second))["escalated"]
    assert escalated == {
        "by": "sam",
        "note": "Looks like a pattern",
        "from_tier": reviews.get(runner.db, first)["tier_name"],
    }
    runner.decide(second, "edit", lee.name, args={"amount": 45.0}, category="wrong_amount")
    decided = review_screen.summary(runner.show(second))
    assert decided["edited"] and decided["amount"] == 45.0 and decided["args"]["amount"] == 45.0
    assert "45" in str(decided["preview"].get("money"))


def test_next_review_is_one_the_user_may_decide_or_none(runner):
    sam = add_user(runner.db, "sam", ["support_agent"])
    nobody = add_user(runner.db, "ops-only", ["sre"])
    own = _refund(runner, 20, user="sam")  # sam's own request: never offered to sam
    other = _refund(runner, 21)
    offered = review_screen.next_review(runner, sam, after=other)
    assert offered != own and offered != other
    assert offered is None or reviews.decide_refusal(sam, reviews.get(runner.db, offered)) is None
    assert review_screen.next_review(runner, sam) not in (None, own)  # at least `other` waits for sam
    assert review_screen.next_review(runner, nobody) is None
