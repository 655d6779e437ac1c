"""The fault harness: a short soak on PostgreSQL ends with zero violations, and its checks do bite."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hitl_core.errors import BadInput
from hitl_lab.soak import check_promises, thread_id_of, thread_prefix
from hitl_runtime.runner import checked_thread_id
from tests.helpers import refund_request

pytestmark = pytest.mark.serial  # restarts PostgreSQL: nothing else may run meanwhile


def test_the_soak_names_threads_the_runtime_accepts() -> None:
    """A soak whose thread ids read as card numbers started none of its threads (0 of 60, in CI)."""
    refused = []
    for _ in range(500):
        prefix = thread_prefix()
        for number in range(60):
            try:
                checked_thread_id(thread_id_of(prefix, number))
            except BadInput as exc:
                refused.append(f"{thread_id_of(prefix, number)}: {exc}")
    assert refused == []


def test_checks_detect_double_execution_forks_and_stale_reviews(runner):
    result = refund_request(runner, 31)
    prefix = result.thread_id
    assert check_promises(runner, prefix) == []
    runner.decide(result.reviews[0], "approve", "sam")
    assert check_promises(runner, prefix) == []

    # An effect whose arguments are not the approved ones (a retargeted refund) is caught.
    (entry,) = runner.db.read("SELECT id, args FROM action_ledger WHERE thread_id = :t", {"t": prefix})
    with runner.db.transaction() as tx:
        tx.execute(
            "UPDATE action_ledger SET args = :a WHERE id = :i",
            {"a": entry["args"].replace('"order_id":"o-', '"order_id":"o-9'), "i": entry["id"]},
        )
    found = check_promises(runner, prefix)
    assert any("differ from the approved" in v for v in found), found
    assert any("retargeted refund" in v for v in found), found
    with runner.db.transaction() as tx:
        tx.execute("UPDATE action_ledger SET args = :a WHERE id = :i", {"a": entry["args"], "i": entry["id"]})

    with runner.db.transaction() as tx:
        tx.execute(
            "INSERT INTO action_ledger (id, idempotency_key, thread_id, review_id, agent, action, args, status, reversible,"
            " effect, undo, executed_by, executed_at) SELECT 'act-dup', 'dup-key', thread_id, review_id, agent, action,"
            " args, status, reversible, effect, undo, executed_by, executed_at FROM action_ledger WHERE thread_id = :t",
            {"t": prefix},
        )
    assert any("executed 2 times" in v for v in check_promises(runner, prefix))
    with runner.db.transaction() as tx:
        tx.execute("DELETE FROM action_ledger WHERE id = 'act-dup'")
        tx.execute(
            "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata)"
            " SELECT thread_id, checkpoint_ns, checkpoint_id || 'x', parent_checkpoint_id, type, checkpoint, metadata"
            " FROM checkpoints WHERE thread_id = :t AND parent_checkpoint_id IS NOT NULL AND checkpoint_ns = '' LIMIT 1",
            {"t": prefix},
        )
        tx.execute("UPDATE reviews SET status = 'pending' WHERE thread_id = :t", {"t": prefix})
    found = check_promises(runner, prefix)
    assert any("forked" in v for v in found)
    assert any("pending but its thread is not waiting" in v for v in found)


def test_short_soak_on_postgres(settings):
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("the soak's kills, pause and restart are measured on PostgreSQL")
    restart = os.environ.get("CI", "").lower() == "true" or os.environ.get("HITL_SOAK_RESTART") == "1"
    args = ["soak", "--threads", "60", "--seconds", "40", "--json"] + ([] if restart else ["--no-restart"])
    env = {**os.environ, "HITL_DATABASE_URL": settings.database_url}
    done = subprocess.run(
        [sys.executable, "-m", "hitl_cli.main", *args], env=env, capture_output=True, text=True, timeout=300
    )
    report = json.loads(done.stdout)
    assert report["violations"] == 0, report["violation_details"]
    assert done.returncode == 0
    assert report["threads"] == 60
    assert report["kills"] >= 3 and report["pauses"] == 1
    assert report["decisions"] >= 40
    if restart:
        assert report["restarts"] == 1
