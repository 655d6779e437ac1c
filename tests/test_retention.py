"""Retention: the sweep deletes the checkpoints of finished threads past their agent's retention.

A thread waiting for someone is never purged, however old; the audit trail keeps its rows and verifies.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from guardrails.policy import DEFAULT_RETENTION_DAYS, parse_policy
from hitl_cli.main import main
from hitl_core import audit
from hitl_core.canonical import iso, utc_now
from hitl_core.errors import BadInput
from hitl_runtime.agents import agent_policy
from tests.helpers import question, refund_request


@pytest.fixture(autouse=True)
def _audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITL_AUDIT_KEY", "retention-tests-audit-key-0123456789")


def _age(runner: Any, thread_id: str, days: float) -> None:
    with runner.db.transaction() as tx:
        tx.execute(
            "UPDATE threads SET updated_at = :u WHERE thread_id = :t",
            {"u": iso(utc_now() - timedelta(days=days)), "t": thread_id},
        )


def _checkpoint(runner: Any, thread_id: str) -> Any:
    return runner.checkpointer.get_tuple({"configurable": {"thread_id": thread_id}})


def _row(runner: Any, thread_id: str) -> dict[str, Any]:
    return runner.db.read("SELECT * FROM threads WHERE thread_id = :t", {"t": thread_id})[0]


def test_sweep_purges_old_finished_threads_only(runner):
    days = agent_policy("support").retention_days
    old, recent, waiting = question(runner), question(runner), refund_request(runner, 21)
    assert (old.status, recent.status, waiting.status) == ("completed", "completed", "pending_review")
    _age(runner, old.thread_id, days + 1)
    _age(runner, recent.thread_id, days - 1)
    _age(runner, waiting.thread_id, days * 10)
    events_before = runner.db.read("SELECT COUNT(*) AS n FROM audit_events WHERE stream = :s", {"s": old.thread_id})

    result = runner.sweep()
    assert not result["errors"], result["errors"]
    assert old.thread_id in result["purged"]["threads"]
    assert recent.thread_id not in result["purged"]["threads"] and waiting.thread_id not in result["purged"]["threads"]
    assert _checkpoint(runner, old.thread_id) is None
    purged = _row(runner, old.thread_id)
    assert purged["purged_at"] and purged["status"] == "completed"
    assert purged["last_request"] is None and purged["reply"] is None
    assert _checkpoint(runner, recent.thread_id) is not None and _row(runner, recent.thread_id)["purged_at"] is None
    assert _checkpoint(runner, waiting.thread_id) is not None and _row(runner, waiting.thread_id)["purged_at"] is None
    # The waiting thread still works, the audit keeps the purged thread's rows and verifies.
    assert runner.decide(waiting.reviews[0], "approve", "sam")["thread"]["status"] == "completed"
    kinds = [e["kind"] for e in audit.thread_history(runner.db, old.thread_id)]
    assert kinds[-1] == "thread_purged" and len(kinds) == events_before[0]["n"] + 1
    assert audit.verify(runner.db).ok
    # A second sweep finds nothing more to do for it.
    assert old.thread_id not in runner.sweep()["purged"]["threads"]


def test_retention_comes_from_the_agents_policy(runner, policy_dir, capsys):
    path = policy_dir / "support.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nretention_days: 2\n", encoding="utf-8")
    thread = question(runner)
    _age(runner, thread.thread_id, 3)
    assert main(["retention", "apply", "--json"]) == 0
    assert thread.thread_id in capsys.readouterr().out
    assert _checkpoint(runner, thread.thread_id) is None


def test_default_retention_is_kept_for_a_policy_without_the_key():
    assert agent_policy("support").retention_days >= 1
    assert DEFAULT_RETENTION_DAYS >= 30


@pytest.mark.parametrize("value", ["0", "-3", "forever", "1.5", "100000"])
def test_bad_retention_is_a_one_line_error(value):
    from hitl_runtime.agents import shipped_policy_files

    text = shipped_policy_files()["support"].read_text(encoding="utf-8") + f"\nretention_days: {value}\n"
    with pytest.raises(BadInput) as caught:
        parse_policy(text, "support.yaml")
    message = str(caught.value)
    assert "retention_days" in message and "\n" not in message


def test_bad_retention_stops_the_purge_and_changes_nothing(runner, policy_dir):
    thread = question(runner)
    _age(runner, thread.thread_id, 10_000)
    path = policy_dir / "support.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nretention_days: 0\n", encoding="utf-8")
    result = runner.sweep()
    assert any("retention_days" in e["error"] for e in result["errors"]), result["errors"]
    assert _checkpoint(runner, thread.thread_id) is not None
