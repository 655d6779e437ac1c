"""Crashes between decision and resume, inside execution, and deadlines: effects happen once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from hitl_core import audit, ledger, reviews
from hitl_core.canonical import iso, utc_now
from hitl_core.interrupt_view import payload_hash
from tests.helpers import refund_ask, refund_request, unique, vague_request

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


def test_a_process_killed_between_the_review_row_and_the_checkpoint_leaves_a_review_that_can_be_decided(
    runner, settings
):
    """The gate commits its review's row as `interrupt()` raises; LangGraph checkpoints the pause after.

    Killed in between, the thread's last checkpoint is the turn's input: the sweep runs it again, and
    the pause it reaches must be the one the row names (in a CI soak the row kept the first run's
    interrupt, pending on a thread that did not wait on it, and nobody could decide it).
    """
    text, context = refund_ask(42)
    thread_id = unique("th")
    crashed = _hitl(
        settings,
        "run",
        "support",
        text,
        "--thread",
        thread_id,
        "--user",
        "eve",
        "--context",
        json.dumps(context),
        crash_at="after_review_row",
    )
    assert crashed.returncode == -9, crashed.stderr
    (row,) = runner.db.read("SELECT id, status FROM reviews WHERE thread_id = :t", {"t": thread_id})
    assert row["status"] == "pending" and not runner.snapshot("support", thread_id).interrupts

    time.sleep(1.2)
    swept = _hitl(settings, "sweep", "--json")
    assert swept.returncode == 0, swept.stderr
    waiting = runner.snapshot("support", thread_id).interrupts
    rows = runner.db.read(
        "SELECT id, status, interrupt_id, payload_hash FROM reviews WHERE thread_id = :t", {"t": thread_id}
    )
    assert [(r["id"], r["status"]) for r in rows] == [(row["id"], "pending")]
    assert [p.id for p in waiting] == [rows[0]["interrupt_id"]]
    assert rows[0]["payload_hash"] == payload_hash(waiting[0].value)
    assert runner.state(thread_id).status == "pending_review"
    restated = [e for e in audit.thread_history(runner.db, thread_id) if e["kind"] == "review_restated"]
    assert [(e["review_id"], e["payload_hash"]) for e in restated] == [(row["id"], rows[0]["payload_hash"])]

    runner.decide(row["id"], "approve", "sam")
    assert runner.state(thread_id).status == "completed"
    assert len(_refunds(runner, thread_id)) == 1
    assert audit.verify(runner.db).ok


def test_a_review_asked_again_takes_the_new_pause_but_not_another_tier(runner):
    result = refund_request(runner, 42)
    review_id = result.reviews[0]
    first = runner.db.read("SELECT * FROM reviews WHERE id = :i", {"i": review_id})[0]
    shown = reviews.shown_payload(runner.db, review_id)
    later = {**shown, "deadline": iso(utc_now() + timedelta(hours=5))}
    higher = {**later, "tier": {**later["tier"], "index": 1, "name": "lead", "roles": ["support_lead"]}}

    def ask_again(value, interrupt_id):
        with runner.db.transaction() as tx:
            assert not reviews.register(
                tx, interrupt_id=interrupt_id, value=value, agent="support", thread_id=result.thread_id, requester="eve"
            )
        return runner.db.read("SELECT * FROM reviews WHERE id = :i", {"i": review_id})[0]

    kept = ask_again(higher, "i-higher")
    assert (kept["interrupt_id"], kept["payload_hash"], kept["tier"]) == (
        first["interrupt_id"],
        first["payload_hash"],
        first["tier"],
    )
    taken = ask_again(later, "i-later")
    assert (taken["interrupt_id"], taken["deadline"], taken["payload_hash"]) == (
        "i-later",
        later["deadline"],
        payload_hash(later),
    )
    assert taken["status"] == "pending" and taken["tier"] == first["tier"]
