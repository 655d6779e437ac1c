"""Races: two processes deciding one review, and leases that fence out a stale writer."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from hitl_runtime import leases, ledger
from hitl_runtime.errors import Conflict
from tests.helpers import refund_request


def test_two_processes_deciding_at_once_one_wins(runner, settings):
    result = refund_request(runner, 55)
    review_id = result.reviews[0]
    env = {**os.environ, "HITL_DATABASE_URL": settings.database_url}
    # Both processes import and connect first, then decide at the same moment (a shared start file).
    gate = f"{settings.database_url.rsplit('/', 1)[-1]}.{review_id}.go"
    script = (
        "import os, sys, time; from hitl_runtime.runner import Runner; r = Runner()\n"
        f"while not os.path.exists({gate!r}): time.sleep(0.005)\n"
        "from hitl_runtime.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, "decide", review_id, decision, "--as", who, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=os.getcwd(),
        )
        for decision, who in (("approve", "sam"), ("approve", "lee"))
    ]
    time.sleep(2.5)
    open(gate, "w").close()
    try:
        outcomes = [(*p.communicate(timeout=120), p.returncode) for p in procs]
    finally:
        os.remove(gate)
    codes = sorted(code for _, _, code in outcomes)
    assert codes == [0, 2], outcomes
    loser = next(err for _, err, code in outcomes if code == 2)
    assert "already decided (approved) by" in loser
    refunds = [a for a in ledger.list_entries(runner.db, thread_id=result.thread_id) if a["name"] == "refund"]
    assert len(refunds) == 1


def test_stale_lease_holder_is_fenced_out(runner):
    thread = "th-fence"
    first = leases.acquire(runner.db, thread, ttl=0.2, owner="worker-a")
    with pytest.raises(Conflict):
        leases.acquire(runner.db, thread, ttl=5, owner="worker-b")
    time.sleep(0.3)  # worker-a is paused past its lease (as with SIGSTOP)
    second = leases.acquire(runner.db, thread, ttl=5, owner="worker-b")
    assert second > first
    with pytest.raises(leases.LeaseLost):
        leases.check_and_extend(runner.db, thread, first, ttl=5)
    leases.check_and_extend(runner.db, thread, second, ttl=5)


def test_fenced_checkpoint_write_is_refused(runner):
    result = refund_request(runner, 11)
    stale = leases.acquire(runner.db, result.thread_id, ttl=0.1, owner="paused")
    time.sleep(0.2)
    leases.acquire(runner.db, result.thread_id, ttl=5, owner="new-owner")
    graph = runner.graph("support")
    config = runner.config(result.thread_id, stale)
    before = runner.snapshot("support", result.thread_id)
    with pytest.raises(leases.LeaseLost):
        graph.update_state(config, {"reply": "written by a stale process"})
    after = runner.snapshot("support", result.thread_id)
    assert after.config["configurable"]["checkpoint_id"] == before.config["configurable"]["checkpoint_id"]
