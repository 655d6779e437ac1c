"""`scripts/profile_cycle.py`: a cycle's time by category beside plain LangGraph's, our waits by what they are for."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import PG_ADMIN_URL, require_postgres

ROW = re.compile(r"^\s*(.+?)\s+(-?\d+\.\d\d)\s+\d+%\s+(\d+\.\d)\s+(-?\d+\.\d\d)\s+(\d+\.\d)\s+(-?\d+\.\d\d)$")
PURPOSES = (
    "BEGIN and COMMIT of our transactions",
    "audit chain (events, heads, registry)",
    "lease (take, fence, give up)",
    "ledger (idempotent execution, undo)",
    "notifications (outbox rows)",
    "review rows and decisions",
    "thread rows",
    "reviewer's account",
    "approval statistics (calibration)",
    "lessons (the feedback loop's memory)",
    "the gate's check of a resume",
    "other statements of ours",
)


@pytest.mark.postgres
def test_the_profile_charges_our_waits_to_the_promises_they_keep() -> None:
    require_postgres()
    done = subprocess.run(
        [sys.executable, "-m", "scripts.profile_cycle", "--cycles", "4"],
        env={**os.environ, "HITL_DATABASE_URL": PG_ADMIN_URL},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    rows: dict[str, tuple[float, float, float, float, float]] = {}
    for line in done.stdout.splitlines():
        found = ROW.match(line)
        if found:
            rows[found[1]] = (float(found[2]), float(found[3]), float(found[4]), float(found[5]), float(found[6]))
    totals = re.search(r"runner (\d+\.\d\d), plain_exit (\d+\.\d\d), difference (-?\d+\.\d\d)", done.stdout)
    assert totals, done.stdout
    assert float(totals[3]) == pytest.approx(float(totals[1]) - float(totals[2]), abs=0.011)
    for ms, _, plain_ms, _, added in rows.values():
        assert added == pytest.approx(ms - plain_ms, abs=0.011)

    ours, waits_ours, _, plain_waits, _ = rows["PostgreSQL waits: ours (runner and nodes)"]
    purposes = {name: value for name, value in rows.items() if name in PURPOSES}
    # Every wait of ours lands in exactly one purpose, in both ways of driving the graph.
    assert sum(v[1] for v in purposes.values()) == pytest.approx(waits_ours, abs=0.6)
    assert sum(v[3] for v in purposes.values()) == pytest.approx(plain_waits, abs=0.6)
    assert sum(v[0] for v in purposes.values()) == pytest.approx(ours, abs=0.05 * len(purposes))
    # A runner's cycle writes audit events, takes a lease, records a review and a ledger row.
    for name in (*PURPOSES[:4], "review rows and decisions"):
        assert purposes[name][1] >= 1, (name, done.stdout)
    # Plain LangGraph takes no lease: all of the lease's waits are the runner's addition.
    lease = purposes["lease (take, fence, give up)"]
    assert lease[3] == 0 and lease[4] == lease[0]
    # The turn's input checkpoint is its own invoke, timed inclusively.
    assert re.search(r"the turn's input checkpoint \(its own invoke\)\s+(\d+\.\d\d)", done.stdout)
    assert rows["runner (ours, Python)"][0] > 0 and rows["LangGraph step overhead"][2] > 0
