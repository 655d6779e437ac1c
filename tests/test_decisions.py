"""Every decision type end to end, on SQLite and PostgreSQL, through the runtime's decide."""

from __future__ import annotations

import pytest

from hitl_core import audit, feedback, ledger, reviews
from hitl_core.errors import BadInput, Conflict, Forbidden, NotFound
from tests.helpers import refund_request


def _pending(runner, result):
    assert result.status == "pending_review", result
    (review_id,) = result.reviews
    return runner.show(review_id)


def _refunds(runner, thread_id):
    return [a for a in ledger.list_entries(runner.db, thread_id=thread_id) if a["name"] == "refund"]


def test_approve_executes_once_and_audits(runner):
    result = refund_request(runner, 45)
    review = _pending(runner, result)
    payload = review["interrupt"]
    # The interrupt value is a LangChain HITLRequest plus the reviewer's context.
    assert payload["action_requests"][0]["name"] == "refund"
    assert payload["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]
    assert payload["review_configs"][0]["args_schema"]["properties"]["amount"]["type"] == "number"
    for key in (
        "evidence",
        "tool_calls",
        "risk_signals",
        "confidence_signals",
        "checks",
        "preview",
        "undo_plan",
        "alternatives",
        "deadline",
        "escalation_path",
        "history",
        "request",
    ):
        assert key in payload, key
    assert review["required_roles"] == ["support_agent", "support_lead"]

    out = runner.decide(review["id"], "approve", "sam", seen_hash=review["payload_hash"])
    assert out["status"] == "approved"
    assert out["thread"]["status"] == "completed"
    (refund,) = _refunds(runner, result.thread_id)
    assert refund["args"]["amount"] == 45
    assert refund["idempotency_key"] == f"{result.thread_id}:{review['id']}:refund"
    kinds = [e["kind"] for e in audit.thread_history(runner.db, result.thread_id)]
    assert kinds == ["request_received", "review_requested", "review_decided", "action_executed", "turn_finished"]
    assert reviews.get(runner.db, review["id"])["applied_at"] is not None
    assert audit.verify(runner.db).ok


def test_edit_validates_and_records_diff(runner):
    result = refund_request(runner, 80)
    review = _pending(runner, result)
    with pytest.raises(BadInput, match="amount"):
        runner.decide(review["id"], "edit", "sam", args={"amount": "eighty"})
    with pytest.raises(BadInput, match="amount"):
        runner.decide(review["id"], "edit", "sam", args={"amount": -5})
    with pytest.raises(BadInput, match=r"Extra inputs"):
        runner.decide(review["id"], "edit", "sam", args={"bogus": 1})
    assert reviews.get(runner.db, review["id"])["status"] == "pending"

    out = runner.decide(
        review["id"], "edit", "sam", args={"amount": 60}, comment="item price only", category="wrong_amount"
    )
    assert out["status"] == "approved_with_edits"
    (refund,) = _refunds(runner, result.thread_id)
    assert refund["args"]["amount"] == 60
    assert "60.00" in out["thread"]["reply"]
    decided = next(e for e in audit.thread_history(runner.db, result.thread_id) if e["kind"] == "review_decided")
    assert decided["data"]["diff"] == {"amount": [80.0, 60.0]}
    (fb,) = [f for f in feedback.list_feedback(runner.db) if f["review_id"] == review["id"]]
    assert (fb["kind"], fb["category"], fb["diff"]) == ("edit", "wrong_amount", {"amount": [80.0, 60.0]})


def test_edit_beyond_authority_moves_to_the_tier_that_may_decide_it(runner):
    review = _pending(runner, refund_request(runner, 150, order_amount=900))
    out = runner.decide(review["id"], "edit", "sam", args={"amount": 500})
    assert out["status"] == "approved_with_edits"
    (moved,) = out["thread"]["reviews"]
    assert runner.show(moved)["required_roles"] == ["support_lead"]
    assert _refunds(runner, review["thread_id"]) == []


def test_reject_tells_the_requester_and_blocks_silent_retry(runner):
    result = refund_request(runner, 30)
    review = _pending(runner, result)
    out = runner.decide(review["id"], "reject", "sam", comment="item was used", category="policy_violation")
    assert out["status"] == "rejected"
    assert "item was used" in out["thread"]["reply"]
    assert _refunds(runner, result.thread_id) == []
    # Asking again on the same thread brings the same action back only through a new review.
    again = runner.run(
        "support",
        f"Please just refund the $30 for {review['args']['order_id']}.",
        thread_id=result.thread_id,
        user="eve",
    )
    assert again.status == "pending_review"
    assert any("rejected earlier" in r for r in again.reasons), again.reasons


def test_request_info_asks_the_requester_then_reviews_again(runner):
    result = refund_request(runner, 40)
    review = _pending(runner, result)
    with pytest.raises(BadInput, match="--comment"):
        runner.decide(review["id"], "request-info", "sam")
    out = runner.decide(review["id"], "request-info", "sam", comment="Please send a photo of the damage.")
    assert out["thread"]["status"] == "needs_info"
    assert "photo" in out["thread"]["question"]
    with pytest.raises(Forbidden):
        runner.reply(result.thread_id, "here you go", user="sam")
    answered = runner.reply(result.thread_id, "Photo attached: the lid is cracked.", user="eve")
    assert answered.status == "pending_review"  # revised, and back to a reviewer (never auto)
    assert answered.reviews and answered.reviews != [review["id"]]


def test_escalate_moves_to_next_tier_and_past_the_last_blocks(runner):
    result = refund_request(runner, 50)
    review = _pending(runner, result)
    out = runner.decide(review["id"], "escalate", "sam", comment="unsure about this customer")
    assert out["thread"]["status"] == "pending_review"
    (lead_review,) = out["thread"]["reviews"]
    lead = runner.show(lead_review)
    assert lead["required_roles"] == ["support_lead"]
    assert lead["tier"] == 1
    assert [r["id"] for r in reviews.inbox(runner.db, role="support_lead") if r["thread_id"] == result.thread_id] == [
        lead_review
    ]
    with pytest.raises(Forbidden, match="needs one of support_lead"):
        runner.decide(lead_review, "approve", "sam")
    out = runner.decide(lead_review, "escalate", "lee")
    (top,) = out["thread"]["reviews"]
    assert runner.show(top)["required_roles"] == ["compliance_officer"]
    out = runner.decide(top, "escalate", "olga")
    assert out["thread"]["status"] == "blocked"
    assert _refunds(runner, result.thread_id) == []


def test_large_refund_starts_escalated(runner):
    result = refund_request(runner, 2300)
    assert result.route == "escalate"
    review = runner.show(result.reviews[0])
    assert review["required_roles"] == ["support_lead"]
    assert any("exceeds the highest approval tier" in r for r in review["reasons"])


def test_self_approval_and_wrong_role_are_refused(runner):
    from hitl_core.users import add_user

    add_user(runner.db, "sally", ["support_agent", "end_user"])
    result = refund_request(runner, 20, user="sally")
    review = _pending(runner, result)
    with pytest.raises(Forbidden, match="made this request"):
        runner.decide(review["id"], "approve", "sally")
    with pytest.raises(Forbidden, match="may not decide"):
        runner.decide(review["id"], "approve", "ada")  # admin approves nothing the policy reserves
    with pytest.raises(NotFound):
        runner.decide(review["id"], "approve", "nobody")
    assert reviews.get(runner.db, review["id"])["status"] == "pending"


def test_changed_payload_is_refused(runner):
    result = refund_request(runner, 25)
    review = _pending(runner, result)
    with pytest.raises(Conflict, match="changed since it was shown"):
        runner.decide(review["id"], "approve", "sam", seen_hash="0" * 64)
    # Someone edits the stored proposal behind the reviewer's back: the checkpoint disagrees.
    with runner.db.transaction() as tx:
        tx.execute("UPDATE reviews SET payload_hash = :h WHERE id = :i", {"h": "f" * 64, "i": review["id"]})
    with pytest.raises(Conflict, match="no longer matches"):
        runner.decide(review["id"], "approve", "sam")
    assert _refunds(runner, result.thread_id) == []


def test_irreversible_action_needs_two_distinct_approvers(runner, policy_dir):
    text = (policy_dir / "support.yaml").read_text()
    text = text.replace(
        "  refund:\n    review: always\n    reversible: true",
        "  refund:\n    review: always\n    reversible: false",
    )
    text = text.replace(
        "roles: [support_agent, support_lead], max_amount: 200}",
        "roles: [support_agent, support_lead], max_amount: 200, approvals: 2}",
    )
    text = text.replace(
        "roles: [support_lead], max_amount: 1000}", "roles: [support_lead], max_amount: 1000, approvals: 2}"
    )
    (policy_dir / "support.yaml").write_text(text)
    result = refund_request(runner, 35)
    review = _pending(runner, result)
    assert review["approvals_required"] == 2
    first = runner.decide(review["id"], "approve", "sam")
    assert first["status"] == "pending" and first["approvals"] == 1
    with pytest.raises(Conflict, match="already approved"):
        runner.decide(review["id"], "approve", "sam")
    assert _refunds(runner, result.thread_id) == []
    second = runner.decide(review["id"], "approve", "sue")
    assert second["status"] == "approved"
    (refund,) = _refunds(runner, result.thread_id)
    assert refund["executed_by"] == "sam,sue"


def test_decided_review_cannot_be_decided_again(runner):
    review = _pending(runner, refund_request(runner, 15))
    runner.decide(review["id"], "approve", "sam")
    with pytest.raises(Conflict, match="already decided \\(approved\\) by sam"):
        runner.decide(review["id"], "reject", "lee")


def test_unknown_review_and_bad_decision(runner):
    with pytest.raises(NotFound, match="unknown review"):
        runner.decide("rv-missing", "approve", "sam")
    review = _pending(runner, refund_request(runner, 12))
    with pytest.raises(BadInput, match="unknown decision"):
        runner.decide(review["id"], "maybe", "sam")
    with pytest.raises(BadInput, match="only for edit"):
        runner.decide(review["id"], "approve", "sam", args={"amount": 1})
    with pytest.raises(BadInput, match="unknown category"):
        runner.decide(review["id"], "reject", "sam", category="vibes")
    assert reviews.get(runner.db, review["id"])["status"] == "pending"


def test_rollback_refund_and_cancel_reply(runner):
    result = refund_request(runner, 45)
    review = _pending(runner, result)
    runner.decide(review["id"], "approve", "sam")
    (refund,) = _refunds(runner, result.thread_id)
    with pytest.raises(Forbidden):
        runner.rollback(refund["id"], "eve")
    undone = runner.rollback(refund["id"], "lee")
    assert undone["status"] == "rolled_back"
    order = review["args"]["order_id"]
    rows = runner.db.read("SELECT kind, amount FROM sim_refunds WHERE order_id = :o ORDER BY created_at", {"o": order})
    assert [(r["kind"], r["amount"]) for r in rows] == [("refund", 45.0), ("reversal", -45.0)]
    assert runner.db.read("SELECT refunded FROM sim_orders WHERE id = :o", {"o": order})[0]["refunded"] == 0
    with pytest.raises(Conflict, match="already rolled back"):
        runner.rollback(refund["id"], "lee")

    from tests.helpers import question

    answered = question(runner)
    (reply,) = ledger.list_entries(runner.db, thread_id=answered.thread_id)
    runner.rollback(reply["id"], "sam")
    status = runner.db.read("SELECT status FROM sim_outbox WHERE id = :i", {"i": reply["effect"]["outbox_id"]})
    assert status[0]["status"] == "cancelled"
    kinds = [e["kind"] for e in audit.thread_history(runner.db, answered.thread_id)]
    assert kinds[-1] == "action_rolled_back"
