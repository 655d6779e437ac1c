"""Races: two processes deciding one review, and leases that fence out a stale writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hitl_core import leases, ledger
from hitl_core.errors import Conflict
from tests.helpers import refund_request

# One contender: decide through the CLI, with a barrier at the decision point. Each contender stops
# once it has read the review as pending and checked the proposal (`Runner._pending_payload`, the last
# read before the deciding transaction) and waits there until every contender has arrived, so both
# enter the transaction believing they can win. Each records when it passed the barrier, when
# `hitl decide` returned, and each call to `reviews.compare_and_set` with its outcome.
CONTENDER = """
import json, os, sys, time
from pathlib import Path
from hitl_core import reviews
from hitl_cli.main import main
from hitl_runtime.runner import Runner
barrier, parties, log, argv = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
record = {"decision_points": []}

real_pending_payload = Runner._pending_payload
def pending_payload(self, *args, **kwargs):
    found = real_pending_payload(self, *args, **kwargs)
    if "at_barrier" not in record:
        record["at_barrier"] = time.time()
        (barrier / f"{os.getpid()}").touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < parties:
            if time.monotonic() > deadline:
                raise RuntimeError("the other contender never reached the decision point")
            time.sleep(0.001)
    return found
Runner._pending_payload = pending_payload

real_compare_and_set = reviews.compare_and_set
def compare_and_set(*args, **kwargs):
    reached = time.time()
    won = real_compare_and_set(*args, **kwargs)
    record["decision_points"].append({"reached": reached, "won": won})
    return won
reviews.compare_and_set = compare_and_set

code = main(argv)
record["finished"] = time.time()
log.write_text(json.dumps(record))
sys.exit(code)
"""


@dataclass
class Race:
    """What two contenders deciding one review at once came to."""

    winner: str
    loser: str
    outcomes: dict[str, tuple[str, str, int]]  # stdout, stderr, exit code


def race(database_url: str, folder: Path, review_id: str, contenders: dict[str, list[str]]) -> Race:
    """Run `hitl decide REVIEW *args --as WHO` for each contender at once, all held at the decision point.

    Asserts that exactly one won and that both really raced: each read the review as pending and
    reached the compare-and-set, where one won, and neither finished before both were at the barrier.
    """
    env = {**os.environ, "HITL_DATABASE_URL": database_url}
    barrier = folder / "barrier"
    barrier.mkdir()
    contender = [sys.executable, "-c", CONTENDER, str(barrier), str(len(contenders))]
    procs = {
        who: subprocess.Popen(
            [*contender, str(folder / f"{who}.json"), "decide", review_id, *decision, "--as", who, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=os.getcwd(),
        )
        for who, decision in contenders.items()
    }
    outcomes = {who: (*p.communicate(timeout=180), p.returncode) for who, p in procs.items()}
    codes = {who: code for who, (_, _, code) in outcomes.items()}
    assert sorted(codes.values()) == [0, 2], outcomes
    winner = next(who for who, code in codes.items() if code == 0)
    loser = next(who for who, code in codes.items() if code == 2)
    records = {who: json.loads((folder / f"{who}.json").read_text()) for who in procs}
    points = {who: [p["won"] for p in record["decision_points"]] for who, record in records.items()}
    assert points == {winner: [True], loser: [False]}, (
        f"the contenders did not both reach the compare-and-set: {points}; the loser was refused before it, "
        "so the race under test did not happen"
    )
    assert max(r["at_barrier"] for r in records.values()) < min(r["finished"] for r in records.values()), records
    return Race(winner, loser, outcomes)


def test_two_processes_deciding_at_once_one_wins(runner, settings, tmp_path):
    result = refund_request(runner, 55)
    run = race(settings.database_url, tmp_path, result.reviews[0], {"sam": ["approve"], "lee": ["approve"]})
    assert f"already decided (approved) by {run.winner}" in run.outcomes[run.loser][1], run.outcomes[run.loser]

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
