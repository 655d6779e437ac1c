"""A question to the requester never hides a request that needs a lead (the stricter route wins).

A legal threat the agent cannot act on yet ("where is my refund?", no order named) used to go
to the requester as a question and nowhere else: unanswered, the thread closed and no lead ever
saw the threat. The question is now the step a lead reviews.
"""

from __future__ import annotations

import pytest

from hitl_core.actions import ASK_REQUESTER
from hitl_core.errors import Forbidden
from tests.helpers import seed_order, unique

THREAT = "My lawyer says I should take you to court. Where is my refund?"


def _customer(runner) -> dict:
    """A customer with two orders on record, so a request naming neither leaves the agent a question."""
    customer = {"id": unique("c"), "name": "Ana Lima", "tier": "standard", "lifetime_value": 80}
    for order in ("o-551234", "o-551235"):
        seed_order(runner, customer, {"id": order, "amount": 40, "currency": "USD", "days_since_delivery": 3})
    return {"customer": customer}


def _threat(runner):
    result = runner.run("support", THREAT, user="eve", context=_customer(runner))
    assert (result.route, result.status) == ("escalate", "pending_review"), (result.route, result.reasons)
    (review_id,) = result.reviews
    return result, runner.show(review_id)


def test_a_threat_the_agent_must_ask_about_first_reaches_the_lead_with_its_question(runner):
    result, review = _threat(runner)
    assert review["action"] == ASK_REQUESTER
    assert review["required_roles"] == ["support_lead"]
    question = review["args"]["question"]
    assert "order number" in question
    assert any("legal" in r.lower() for r in result.reasons), result.reasons
    assert any("asks the requester first" in r for r in result.reasons), result.reasons
    with pytest.raises(Forbidden, match="needs one of support_lead"):
        runner.decide(review["id"], "approve", "sam")

    out = runner.decide(review["id"], "approve", "lee")
    assert out["thread"]["status"] == "needs_info"
    assert out["thread"]["question"] == question
    # Answered, the request comes back to the lead as what it asks for, not as a question.
    answered = runner.reply(result.thread_id, "Order o-551234, the lamp arrived with a cracked shade.", user="eve")
    assert (answered.route, answered.status) == ("escalate", "pending_review"), (answered.route, answered.reasons)
    (next_review,) = answered.reviews
    shown = runner.show(next_review)
    assert shown["action"] != ASK_REQUESTER and shown["required_roles"] == ["support_lead"]


def test_the_lead_may_reword_the_question_or_decline_to_ask(runner):
    _, review = _threat(runner)
    asked = "Which order is this about, and what went wrong with it?"
    out = runner.decide(review["id"], "edit", "lee", args={"question": asked}, comment="one question, plainly")
    assert out["thread"]["status"] == "needs_info" and out["thread"]["question"] == asked

    _, review = _threat(runner)
    out = runner.decide(review["id"], "reject", "lee", comment="I will call the customer myself")
    assert out["status"] == "rejected" and out["thread"]["status"] == "completed"
    assert "I will call the customer myself" in out["thread"]["reply"] and out["thread"]["question"] is None


def test_a_question_on_a_request_that_needs_no_lead_still_goes_straight_to_the_requester(runner):
    result = runner.run("support", "I want a refund.", user="eve", context=_customer(runner))
    assert (result.route, result.status) == ("needs_info", "needs_info"), (result.route, result.reasons)
