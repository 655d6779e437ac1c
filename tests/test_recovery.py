"""Crashes between decision and resume, inside execution, and deadlines: effects happen once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from hitl_core import audit, ledger, reviews
from hitl_core.canonical import iso, utc_now
from tests.helpers import refund_request, vague_request

LATER = iso(utc_now() + timedelta(days=2))


def _hitl(settings, *args, crash_at=None):
    # A short lease: the killed process's lease must lapse before another may take the thread over.
    env = {
        **os.environ,
        "HITL_DATABASE_URL": settings.database_url,
        "HITL_RESUME_GRACE_SECONDS": "0",
        "HITL_LEASE_SECONDS": "1",
    }
    if crash_at:
        env["HITL_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", *args], env=env, capture_output=True, text=True, timeout=120
    )


def _refunds(runner, thread_id):
    return [a for a in ledger.list_entries(runner.db, thread_id=thread_id) if a["name"] == "refund"]


@pytest.mark.parametrize("point", ["after_decision", "inside_execution", "after_execution"])
def test_killed_process_then_sweep_executes_exactly_once(runner, settings, point):
    result = refund_request(runner, 42)
    review_id = result.reviews[0]
    crashed = _hitl(settings, "decide", review_id, "approve", "--as", "sam", crash_at=point)
    assert crashed.returncode == -9, crashed.stderr
    row = reviews.get(runner.db, review_id)
    assert row["status"] == "approved" and row["applied_at"] is None
    expected_before = 1 if point == "after_execution" else 0
    assert len(_refunds(runner, result.thread_id)) == expected_before

    time.sleep(1.2)
    swept = _hitl(settings, "sweep", "--json")
    assert swept.returncode == 0, swept.stderr
    assert review_id in swept.stdout
    assert len(_refunds(runner, result.thread_id)) == 1
    assert runner.state(result.thread_id).status == "completed"
    again = runner.sweep()
    assert again["resumed"] == [] and len(_refunds(runner, result.thread_id)) == 1
    assert audit.verify(runner.db).ok


def test_expiry_rejects_by_default(runner):
    result = refund_request(runner, 18)
    out = runner.sweep(now=LATER)
    assert {"review_id": result.reviews[0], "fallback": "reject"} in out["expired"]
    state = runner.state(result.thread_id)
    assert state.status == "completed"
    assert _refunds(runner, result.thread_id) == []
    assert reviews.get(runner.db, result.reviews[0])["status"] == "expired"
    kinds = [e["kind"] for e in audit.thread_history(runner.db, result.thread_id)]
    assert "review_expired" in kinds


def test_expiry_can_escalate(runner, policy_dir):
    text = (policy_dir / "support.yaml").read_text().replace("expiry_fallback: reject", "expiry_fallback: escalate")
    (policy_dir / "support.yaml").write_text(text)
    result = refund_request(runner, 19)
    runner.sweep(now=LATER)
    state = runner.state(result.thread_id)
    assert state.status == "pending_review"
    assert runner.show(state.reviews[0])["required_roles"] == ["support_lead"]
    assert _refunds(runner, result.thread_id) == []


def test_expiry_approves_only_where_the_policy_says(runner, policy_dir):
    text = (policy_dir / "support.yaml").read_text()
    text = text.replace(
        "  refund:\n    review: always\n    reversible: true\n    base_risk: 0.25\n",
        "  refund:\n    review: always\n    reversible: true\n    base_risk: 0.25\n    expiry_fallback: approve\n",
    )
    (policy_dir / "support.yaml").write_text(text)
    result = refund_request(runner, 21)
    runner.sweep(now=LATER)
    (refund,) = _refunds(runner, result.thread_id)
    assert refund["executed_by"] == "deadline"


def test_unanswered_question_expires(runner):
    result = vague_request(runner)
    assert result.status == "needs_info"
    runner.sweep(now=LATER)
    state = runner.state(result.thread_id)
    assert state.status == "completed" and "did not hear back" in (state.reply or "")


def test_replies_are_sent_after_the_undo_window(runner):
    from tests.helpers import question

    answered = question(runner)
    (entry,) = ledger.list_entries(runner.db, thread_id=answered.thread_id)
    outbox = entry["effect"]["outbox_id"]
    with runner.db.transaction() as tx:
        tx.execute("UPDATE sim_outbox SET created_at = '2000-01-01T00:00:00.000000Z' WHERE id = :i", {"i": outbox})
    assert runner.sweep()["sent"] >= 1
    from hitl_core.errors import Conflict

    with pytest.raises(Conflict, match="already sent"):
        runner.rollback(entry["id"], "sam")
