"""The `ignore` decision (Agent Inbox's dismiss), end to end on SQLite and PostgreSQL, through the runtime's decide.

The shipped support policy lets a support agent dismiss ticket housekeeping (`close_ticket`); a refund
may not be dismissed unless a policy says so (`dismissable` below lets only support leads).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from hitl_core import audit, ledger, metrics, outbox, reviews
from hitl_core.canonical import parse_iso, use_clock
from hitl_core.errors import BadInput, Conflict, Forbidden
from hitl_runtime import metrics_view
from tests.helpers import close_ticket_request, refund_request
from tests.test_concurrency import race

PRIVATE = "Duplicate of T-9 (internal note, never for the customer)"


@pytest.fixture
def dismissable(policy_dir: Path) -> Path:
    """The support policy with refunds that support leads (only) may dismiss."""
    path = policy_dir / "support.yaml"
    text = path.read_text().replace(
        "  refund:\n    review: always\n", "  refund:\n    review: always\n    ignore_roles: [support_lead]\n"
    )
    path.write_text(text)
    return policy_dir


def _pending(runner, result):
    assert result.status == "pending_review", result
    (review_id,) = result.reviews
    return runner.show(review_id)


def _effects(runner, thread_id):
    return [a for a in ledger.list_entries(runner.db, thread_id=thread_id)]


def _unchanged(runner, review, events_before):
    """The review still waits as it was, and nothing was audited or executed."""
    row = reviews.get(runner.db, review["id"])
    assert (row["status"], row["decided_by"], row["decision"]) == ("pending", None, None)
    assert len(audit.thread_history(runner.db, review["thread_id"])) == events_before
    assert _effects(runner, review["thread_id"]) == []
    assert runner.thread(review["thread_id"])["status"] == "pending_review"


def test_ignore_is_offered_only_where_the_policy_allows_it(runner, dismissable):
    ticket = _pending(runner, close_ticket_request(runner))
    assert ticket["interrupt"]["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject", "ignore"]
    refund = _pending(runner, refund_request(runner, 45))
    assert refund["interrupt"]["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject", "ignore"]


def test_the_shipped_policy_does_not_offer_ignore_on_a_refund(runner):
    refund = _pending(runner, refund_request(runner, 45))
    assert refund["interrupt"]["review_configs"][0]["allowed_decisions"] == ["approve", "edit", "reject"]


def test_ignore_ends_the_thread_dismissed_and_executes_nothing(runner):
    result = close_ticket_request(runner)
    review = _pending(runner, result)
    out = runner.decide(review["id"], "ignore", "sam", comment=PRIVATE, seen_hash=review["payload_hash"])

    assert (out["status"], out["decided_by"]) == ("dismissed", "sam")
    thread = out["thread"]
    assert thread["status"] == "dismissed" and thread["reviews"] == [] and thread["executed"] == []
    assert _effects(runner, result.thread_id) == []
    assert runner.thread(result.thread_id)["status"] == "dismissed"
    # The requester reads plain words, never the reviewer's private reason.
    reply = thread["reply"]
    assert "closed" in reply and "nothing has changed" in reply
    assert "T-9" not in reply and "internal" not in reply
    messages = runner.snapshot("support", result.thread_id).values["messages"]
    assert messages[-1].content == reply
    row = reviews.get(runner.db, review["id"])
    assert row["status"] == "dismissed" and row["applied_at"] is not None
    assert row["decision"]["type"] == "ignore" and row["decision"]["comment"] == PRIVATE


def test_ignore_is_audited_with_its_reason(runner):
    result = close_ticket_request(runner)
    review = _pending(runner, result)
    runner.decide(review["id"], "ignore", "sue", comment=PRIVATE, channel="cli")
    history = audit.thread_history(runner.db, result.thread_id)
    assert [e["kind"] for e in history] == ["request_received", "review_requested", "review_decided", "turn_finished"]
    decided = history[2]
    assert decided["actor"] == "sue" and decided["review_id"] == review["id"]
    assert decided["payload_hash"] == review["payload_hash"]
    assert {k: decided["data"][k] for k in ("decision", "status", "action", "comment", "channel")} == {
        "decision": "ignore",
        "status": "dismissed",
        "action": "close_ticket",
        "comment": PRIVATE,
        "channel": "cli",
    }
    assert history[3]["data"]["status"] == "dismissed"
    assert audit.verify(runner.db).ok


def test_ignore_needs_a_reason(runner):
    review = _pending(runner, close_ticket_request(runner))
    before = len(audit.thread_history(runner.db, review["thread_id"]))
    for comment in (None, "   "):
        with pytest.raises(BadInput, match="ignore needs --comment") as refused:
            runner.decide(review["id"], "ignore", "sam", comment=comment)
        assert "\n" not in str(refused.value)
    _unchanged(runner, review, before)


def test_ignore_refused_where_the_policy_does_not_allow_it(runner):
    review = _pending(runner, refund_request(runner, 45))
    before = len(audit.thread_history(runner.db, review["thread_id"]))
    with pytest.raises(Forbidden) as refused:
        runner.decide(review["id"], "ignore", "lee", comment="not needed")
    assert str(refused.value) == (
        f"review {review['id']} may not be dismissed: the support policy does not allow ignore on refund; "
        "reject it with a reason instead"
    )
    _unchanged(runner, review, before)
    # The review is still there to decide.
    assert runner.decide(review["id"], "approve", "lee")["status"] == "approved"


def test_ignore_by_a_role_the_policy_does_not_name_is_refused(runner, dismissable):
    review = _pending(runner, refund_request(runner, 45))
    before = len(audit.thread_history(runner.db, review["thread_id"]))
    with pytest.raises(Forbidden) as refused:
        runner.decide(review["id"], "ignore", "sam", comment="duplicate")
    assert str(refused.value) == (
        f"sam (roles: support_agent) may not dismiss review {review['id']}: it needs one of support_lead"
    )
    with pytest.raises(Forbidden, match="made this request"):
        runner.decide(review["id"], "ignore", "eve", comment="never mind")
    _unchanged(runner, review, before)
    out = runner.decide(review["id"], "ignore", "lee", comment="duplicate of an earlier refund")
    assert out["thread"]["status"] == "dismissed" and _effects(runner, review["thread_id"]) == []


def test_ignore_is_decided_once(runner):
    result = close_ticket_request(runner)
    review = _pending(runner, result)
    runner.decide(review["id"], "ignore", "sam", comment=PRIVATE)
    with pytest.raises(Conflict, match=r"already decided \(dismissed\) by sam"):
        runner.decide(review["id"], "ignore", "sue", comment="again")
    with pytest.raises(Conflict, match=r"already decided \(dismissed\) by sam"):
        runner.decide(review["id"], "approve", "sue")
    again = runner.apply(review["id"])  # applying the recorded decision again changes nothing
    assert again.status == "dismissed"
    assert _effects(runner, result.thread_id) == []
    kinds = [e["kind"] for e in audit.thread_history(runner.db, result.thread_id)]
    assert kinds.count("review_decided") == 1 and kinds.count("turn_finished") == 1


def test_ignore_after_the_deadline_is_refused_and_the_fallback_applies(runner):
    review = _pending(runner, close_ticket_request(runner))
    late = parse_iso(review["deadline"]) + timedelta(minutes=1)
    with use_clock(lambda: late), pytest.raises(Conflict, match="passed its deadline"):
        runner.decide(review["id"], "ignore", "sam", comment="too late")
    row = reviews.get(runner.db, review["id"])
    assert (row["status"], row["decided_by"]) == ("expired", "deadline")
    assert runner.thread(review["thread_id"])["status"] != "dismissed"


def test_ignore_racing_approve_one_wins_and_nothing_runs_if_ignore_won(runner, settings, tmp_path):
    result = close_ticket_request(runner)
    review_id = result.reviews[0]
    run = race(
        settings.database_url, tmp_path, review_id, {"sam": ["approve"], "sue": ["ignore", "--comment", "duplicate"]}
    )
    winner, outcomes = run.winner, run.outcomes
    row = reviews.get(runner.db, review_id)
    effects = _effects(runner, result.thread_id)
    if winner == "sue":
        assert "already decided (dismissed) by sue" in outcomes["sam"][1]
        assert row["status"] == "dismissed" and effects == []
        assert runner.thread(result.thread_id)["status"] == "dismissed"
    else:
        assert "already decided (approved) by sam" in outcomes["sue"][1]
        assert row["status"] == "approved" and [e["name"] for e in effects] == ["close_ticket"]
    decided = [e for e in audit.thread_history(runner.db, result.thread_id) if e["kind"] == "review_decided"]
    assert [e["actor"] for e in decided] == [winner]


def test_the_requester_is_told_it_was_closed_without_the_reason(runner):
    review = _pending(runner, close_ticket_request(runner))
    runner.decide(review["id"], "ignore", "sam", comment=PRIVATE)
    row = reviews.get_row(runner.db, review["id"])
    assert outbox.outcome_of(row) == "closed without action"


def test_metrics_count_dismissed_reviews(runner):
    review = _pending(runner, close_ticket_request(runner))
    runner.decide(review["id"], "ignore", "sam", comment=PRIVATE)
    summary = metrics.compute(runner.db)
    rows = runner.db.read("SELECT status FROM reviews")
    decided = [r for r in rows if r["status"] in metrics.FINAL]
    dismissed = [r for r in decided if r["status"] == "dismissed"]
    assert dismissed and summary["decided"] == len(decided)
    assert summary["dismissal_rate"] == round(len(dismissed) / len(decided), 4)
    assert summary["per_action"]["close_ticket"]["dismissal_rate"] > 0
    (row,) = metrics_view.rate_table({"close_ticket": summary["per_action"]["close_ticket"]}, "Action")
    assert row["Dismissed"] != "0%"  # the app's tables and charts show the share too
