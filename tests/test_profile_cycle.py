"""`scripts/profile_cycle.py`: a cycle's time by category, our waits by what they are for."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import PG_ADMIN_URL, _pg_available


@pytest.mark.postgres
def test_the_profile_charges_our_waits_to_the_promises_they_keep() -> None:
    if not _pg_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required under CI=true but {PG_ADMIN_URL} is unreachable")
        pytest.skip("PostgreSQL is not reachable")
    done = subprocess.run(
        [sys.executable, "-m", "scripts.profile_cycle", "--cycles", "4"],
        env={**os.environ, "HITL_DATABASE_URL": PG_ADMIN_URL},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    figures: dict[str, tuple[float, float]] = {}
    for line in done.stdout.splitlines():
        found = re.match(r"^\s*(.+?)\s+(\d+\.\d\d)\s+\d+%\s*(\d+\.\d)?$", line)
        if found:
            figures[found[1]] = (float(found[2]), float(found[3] or 0))
    ours, waits_ours = figures["PostgreSQL waits: ours (runner and nodes)"]
    assert waits_ours > 0
    # Every wait of ours lands in exactly one purpose; a cycle writes audit events, takes a lease, a review.
    purposes = {
        name: value
        for name, value in figures.items()
        if name
        in (
            "BEGIN and COMMIT of our transactions",
            "audit chain (events, heads, registry)",
            "lease (take, fence, give up)",
            "ledger (idempotent execution, undo)",
            "notifications (outbox rows)",
            "review rows and decisions",
            "thread rows",
            "reviewer's account",
            "approval statistics (calibration)",
            "other statements of ours",
        )
    }
    for name in (
        "BEGIN and COMMIT of our transactions",
        "audit chain (events, heads, registry)",
        "lease (take, fence, give up)",
        "review rows and decisions",
        "ledger (idempotent execution, undo)",
    ):
        assert purposes[name][1] >= 1, (name, done.stdout)
    assert sum(calls for _, calls in purposes.values()) == pytest.approx(waits_ours, abs=0.6)
    assert sum(ms for ms, _ in purposes.values()) == pytest.approx(ours, abs=0.05 * len(purposes))
    # The turn's input checkpoint is its own invoke, timed inclusively.
    assert figures["the turn's input checkpoint (its own invoke)"][0] > 0
