"""The metrics page follows its window everywhere: headline, tables and charts, each saying which window it shows.

A recent review and two three-week-old ones, on both backends: the last 24 hours show the recent
one only, the last 30 days all three.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from streamlit.testing.v1 import AppTest

from hitl_core import sessions
from hitl_core.canonical import iso, utc_now
from hitl_core.users import get_user
from ui import services

APP = Path(__file__).resolve().parent.parent / "ui" / "app.py"

NOW = utc_now()
REVIEWS = [
    # id, agent, action, status, created, seconds to the decision
    ("w-recent", "support", "refund", "approved", NOW - timedelta(hours=2), 252),
    ("w-old-reply", "support", "reply", "rejected", NOW - timedelta(days=20), 2 * 3600 + 5 * 60),
    ("w-old-restart", "ops", "restart_service", "approved", NOW - timedelta(days=21), 30),
]


def _insert(runner: Any) -> None:
    with runner.db.transaction() as tx:
        for rid, agent, action, status, created, wait in REVIEWS:
            tx.execute(
                """INSERT INTO reviews (id, kind, thread_id, interrupt_id, agent, requester, action, args, amount,
                       route, risk, confidence, reasons, required_roles, tier, tier_name, approvals_required,
                       deadline, payload, payload_hash, status, decided_by, decided_at, decision, applied_at,
                       created_at)
                   VALUES (:id, 'review', :t, :i, :agent, 'eve', :action, '{}', NULL, 'review', 0.2, 0.7, '[]',
                       '[]', 0, 'tier', 1, NULL, '{}', 'h', :status, 'lee', :decided, NULL, NULL, :created)""",
                {
                    "id": rid,
                    "t": f"th-{rid}",
                    "i": f"int-{rid}",
                    "agent": agent,
                    "action": action,
                    "status": status,
                    "decided": iso(created + timedelta(seconds=wait)),
                    "created": iso(created),
                },
            )


def _page(runner: Any) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.session_state[services.TOKEN_KEY] = sessions.create(runner.db, get_user(runner.db, "ada"))
    at.run()
    at.switch_page("metrics.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _table(at: AppTest, column: str) -> pd.DataFrame:
    return next(t.value for t in at.table if column in t.value.columns)


def _unescaped(values: Any) -> list[str]:
    return [str(v).replace("\\", "") for v in values]


def test_every_figure_and_table_follows_the_window_and_names_it(runner):
    _insert(runner)
    at = _page(runner)
    assert at.selectbox(key="metrics_window").value == "Last 24 hours"
    values = {m.label: m.value for m in at.metric}
    assert values["Approval rate"] == "100% of 1"
    assert values["Rejection rate"] == "0% of 1" and values["Dismissal rate"] == "0% of 1"
    assert values["Time to review (median)"] == "4 min 12 s"
    assert _unescaped(_table(at, "Agent")["Agent"]) == ["support"]
    assert _unescaped(_table(at, "Action")["Action"]) == ["refund"]
    assert _unescaped(_table(at, "Median")["Median"]) == ["4 min 12 s", "4 min 12 s"]
    headers = [h.value.replace("\\", "") for h in at.subheader]
    for title in ("Rates over time", "Rates by agent", "Rates by action", "Time to review"):
        assert f"{title} (last 24 hours)" in headers, headers
    assert any(c.value.replace("\\", "").startswith("Last 24 hours: 1 review") for c in at.caption)

    at.selectbox(key="metrics_window").select("Last 30 days").run()
    values = {m.label: m.value for m in at.metric}
    assert values["Approval rate"] == "67% of 3"
    assert values["Rejection rate"] == "33% of 3"
    assert values["Time to review (median)"] == "4 min 12 s"
    assert values["Time to review (p90)"] == "2 h 5 min"
    assert _unescaped(_table(at, "Agent")["Agent"]) == ["ops", "support"]
    assert _unescaped(_table(at, "Action")["Action"]) == ["refund", "reply", "restart_service"]
    times = dict(zip(_unescaped(_table(at, "Median")[""]), _unescaped(_table(at, "Median")["Median"]), strict=True))
    assert times["Action reply"] == "2 h 5 min" and times["Agent ops"] == "30 s"
    headers = [h.value.replace("\\", "") for h in at.subheader]
    assert "Rates by agent (last 30 days)" in headers, headers
    assert any(c.value.replace("\\", "").startswith("Last 30 days: 3 reviews") for c in at.caption)
