"""`hitl bench --ui` at a tiny size: every step is really taken in Chromium, and the report says so.

No time is asserted: the figures are only checked to be there and positive.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hitl_core import audit, ledger, reviews
from hitl_core.db import Database
from tests.conftest import _drop_pg_database, _fresh_pg_database, pg_url, require_postgres

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


@pytest.fixture
def empty_pg() -> Iterator[str]:
    require_postgres()
    name = _fresh_pg_database("hitl_bench_ui")
    try:
        yield pg_url(name)
    finally:
        _drop_pg_database(name)


def test_app_timings_at_30_pending(chromium: Path, empty_pg: str) -> None:
    from hitl_lab.bench import render_app
    from hitl_lab.bench_ui import REVIEWER, STEPS, measure_app

    said: list[str] = []
    report = measure_app(empty_pg, pending=30, repeats=2, log=said.append)

    timings = report["app_timings"]
    assert list(timings) == list(STEPS)
    for name, figures in timings.items():
        assert set(figures) == {"n", "median_ms", "p95_ms", "pending"}, name
        assert figures["n"] == 2 and figures["pending"] == 30, name
        assert 0 < figures["median_ms"] <= figures["p95_ms"], name
    run = report["app_run"]
    assert run["approved"] == run["ledger_rows"] == 2 and run["pending_after"] == 28
    assert said[0].startswith("app: 30 pending") and "2 reviews approved in Chromium" in said[-1]

    # The decisions the browser made are in the database: approved by the reviewer who logged in, through the app.
    db = Database(empty_pg)
    try:
        for review_id in run["decided"]:
            review = reviews.get(db, review_id)
            assert review["status"] == "approved" and review["decided_by"] == REVIEWER
            thread = review["thread_id"]
            credits = [e for e in ledger.list_entries(db, thread_id=thread) if e["name"] == "bench_transfer"]
            assert len(credits) == 1
            (decided,) = [e for e in audit.thread_history(db, thread) if e["kind"] == "review_decided"]
            assert decided["actor"] == REVIEWER and decided["data"]["channel"] == "app"
        logins = db.read("SELECT id FROM audit_events WHERE kind = 'login_succeeded' AND actor = :a", {"a": REVIEWER})
        assert len(logins) >= 2 + 1  # each timed login, and the session that paged, opened and approved
    finally:
        db.close()

    table = "\n".join(render_app(report))
    assert all(name in table for name in STEPS) and "2 approved, 2 ledger rows" in table
