"""The audit chain detects an edited, a removed and a truncated event, on both backends."""

from __future__ import annotations

import pytest

from hitl_core import audit
from tests.helpers import refund_request


@pytest.fixture
def decided(runner):
    result = refund_request(runner, 33)
    runner.decide(result.reviews[0], "approve", "sam")
    assert audit.verify(runner.db).ok
    return result.thread_id


def _events(runner, thread_id):
    return audit.thread_history(runner.db, thread_id)


def test_edited_event_is_named(runner, decided):
    target = _events(runner, decided)[2]
    with runner.db.transaction() as tx:
        tx.execute("UPDATE audit_events SET actor = 'mallory' WHERE id = :i", {"i": target["id"]})
    result = audit.verify(runner.db)
    assert not result.ok
    assert result.broken_event == target["id"]
    assert "edited" in (result.reason or "")
    with runner.db.transaction() as tx:
        tx.execute("UPDATE audit_events SET actor = :a WHERE id = :i", {"a": target["actor"], "i": target["id"]})
    assert audit.verify(runner.db).ok


def test_deleted_event_breaks_the_links(runner, decided):
    events = _events(runner, decided)
    with runner.db.transaction() as tx:
        tx.execute("DELETE FROM audit_events WHERE id = :i", {"i": events[1]["id"]})
    result = audit.verify(runner.db)
    assert not result.ok
    assert result.broken_event == events[2]["id"]
    _restore(runner, events[1])


def test_truncated_chain_is_detected(runner, decided):
    events = _events(runner, decided)
    with runner.db.transaction() as tx:
        tx.execute("DELETE FROM audit_events WHERE id = :i", {"i": events[-1]["id"]})
    result = audit.verify(runner.db)
    assert not result.ok
    assert "head says" in (result.reason or "")
    _restore(runner, events[-1])


def _restore(runner, event):
    from hitl_core.canonical import canonical_json

    row = {**event, "data": canonical_json(event["data"])}
    with runner.db.transaction() as tx:
        tx.execute(  # every column the row was read with, as it was
            f"INSERT INTO audit_events ({', '.join(row)}) VALUES ({', '.join(':' + c for c in row)})", row
        )
    assert audit.verify(runner.db).ok


def test_events_record_who_what_and_the_payload_hash(runner, decided):
    events = _events(runner, decided)
    requested = next(e for e in events if e["kind"] == "review_requested")
    decision = next(e for e in events if e["kind"] == "review_decided")
    assert decision["actor"] == "sam"
    assert decision["payload_hash"] == requested["payload_hash"]
    assert requested["data"]["evidence"] and "args" in requested["data"]
    executed = next(e for e in events if e["kind"] == "action_executed")
    assert executed["data"]["approvals"] == ["sam"]
    found = audit.search(runner.db, actor="sam", kind="review_decided")
    assert any(e["thread_id"] == decided for e in found)
