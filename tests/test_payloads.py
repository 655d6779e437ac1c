"""The TypedDicts of hitl_core/payloads.py describe the JSON the gate and the runtime really exchange.

mypy checks the code against them; these tests check them against what a run stores, so a key
added to the gate's payload (or a decision) without its type, or the other way round, fails here.
"""

from __future__ import annotations

from typing import get_args

from langchain.agents.middleware.human_in_the_loop import HITLRequest

from hitl_core.canonical import loads
from hitl_core.interrupt_view import REFUSAL_KEY
from hitl_core.payloads import DecisionRecord, ReviewDecision, ReviewRequest
from tests.helpers import refund_request


def _keys(typed: type) -> set[str]:
    return set(typed.__required_keys__) | set(typed.__optional_keys__)  # type: ignore[attr-defined]


def test_review_request_is_langchains_hitl_request_plus_the_reviewers_context():
    assert _keys(HITLRequest) == {"action_requests", "review_configs"}
    assert _keys(HITLRequest) < _keys(ReviewRequest)


def test_the_interrupt_value_has_exactly_the_keys_of_review_request(runner):
    result = refund_request(runner, 45)
    (review_id,) = result.reviews
    payload = runner.show(review_id)["interrupt"]
    assert set(payload) == _keys(ReviewRequest) - {REFUSAL_KEY}  # that one only after a refused resume
    assert ReviewRequest.__optional_keys__ == {REFUSAL_KEY}  # type: ignore[attr-defined]
    assert set(payload["tier"]) == {"index", "name", "roles", "approvals", "max_amount"}


def test_a_decision_reaches_the_gate_with_keys_its_type_declares(runner):
    result = refund_request(runner, 80)
    (review_id,) = result.reviews
    runner.decide(review_id, "approve", "sam")
    row = runner.db.read("SELECT decision FROM reviews WHERE id = :i", {"i": review_id})[0]
    decision = loads(row["decision"])
    declared = {member.__name__: _keys(member) for member in get_args(ReviewDecision)}
    assert decision["type"] == "approve" and set(decision) <= declared["Approve"], set(decision) - declared["Approve"]
    assert _keys(DecisionRecord) <= declared["Reject"] and "message" in declared["Reject"]
