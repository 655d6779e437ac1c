"""`hitl metrics` on a small hand-made history, on both backends: every figure has a known value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from hitl_core import metrics, schema
from hitl_core.canonical import dumps
from hitl_core.db import Database
from hitl_core.errors import BadInput, NotFound
from hitl_lab.calibrate import decision_pairs

DAY1, DAY2 = "2026-03-01", "2026-03-02"


def ts(day: str, clock: str) -> str:
    return f"{day}T{clock}.000000Z"


REVIEWS = [
    # id, agent, action, status, confidence, created, decided, payload
    (
        "r1",
        "support",
        "refund",
        "approved",
        0.9,
        ts(DAY1, "10:00:00"),
        ts(DAY1, "10:01:00"),
        {"confidence_raw": 0.7, "calibration": {"method": "platt"}},
    ),
    ("r2", "support", "refund", "approved_with_edits", 0.6, ts(DAY1, "11:00:00"), ts(DAY1, "11:02:00"), {}),
    ("r3", "support", "reply", "rejected", 0.4, ts(DAY1, "12:00:00"), ts(DAY1, "12:05:00"), {}),
    ("r4", "support", "reply", "escalated", 0.5, ts(DAY2, "09:00:00"), ts(DAY2, "09:10:00"), {}),
    ("r5", "ops", "restart_service", "approved", 0.8, ts(DAY2, "10:00:00"), ts(DAY2, "10:00:30"), {}),
    ("r6", "ops", "restart_service", "expired", 0.7, ts(DAY2, "11:00:00"), ts(DAY2, "15:00:00"), {}),
    ("r7", "support", "refund", "pending", 0.5, ts(DAY2, "12:00:00"), None, {}),
]
LEDGER = [
    # id, review, agent, action, status, executed
    ("a1", "r1", "support", "refund", "rolled_back", ts(DAY1, "10:01:01")),
    ("a2", "r2", "support", "refund", "executed", ts(DAY1, "11:02:01")),
    ("a3", "r5", "ops", "restart_service", "executed", ts(DAY2, "10:00:31")),
    ("a4", None, "support", "reply", "executed", ts(DAY1, "09:00:00")),
    ("a5", None, "ops", "restart_service", "executed", ts(DAY2, "08:00:00")),
]
FEEDBACK = [
    ("f1", "r2", "support", "refund", "edit", "wrong_amount", ts(DAY1, "11:02:00")),
    ("f2", "r3", "support", "reply", "reject", "tone", ts(DAY1, "12:05:00")),
    ("f3", "r4", "support", "reply", "escalate", None, ts(DAY2, "09:10:00")),
]


def _insert(db: Database) -> None:
    with db.transaction() as tx:
        for rid, agent, action, status, confidence, created, decided, payload in REVIEWS:
            tx.execute(
                """INSERT INTO reviews (id, kind, thread_id, interrupt_id, agent, requester, action, args, amount, route,
                       risk, confidence, reasons, required_roles, tier, tier_name, approvals_required, deadline, payload,
                       payload_hash, status, decided_by, decided_at, decision, applied_at, created_at)
                   VALUES (:id, 'review', :t, :i, :agent, 'eve', :action, '{}', NULL, 'review', 0.2, :c, '[]', '[]', 0,
                       'tier', 1, NULL, :payload, 'h', :status, :by, :decided, NULL, NULL, :created)""",
                {
                    "id": rid,
                    "t": f"th-{rid}",
                    "i": f"int-{rid}",
                    "agent": agent,
                    "action": action,
                    "c": confidence,
                    "payload": dumps(payload),
                    "status": status,
                    "by": "deadline" if status == "expired" else ("lee" if decided else None),
                    "decided": decided,
                    "created": created,
                },
            )
        # A question to a requester is not a review and counts nowhere.
        tx.execute(
            """INSERT INTO reviews (id, kind, thread_id, interrupt_id, agent, requester, action, args, amount, route,
                   risk, confidence, reasons, required_roles, tier, tier_name, approvals_required, deadline, payload,
                   payload_hash, status, decided_by, decided_at, decision, applied_at, created_at)
               VALUES ('q1', 'question', 'th-q', 'int-q', 'support', 'eve', NULL, NULL, NULL, 'needs_info', NULL, NULL,
                   '[]', '[]', 0, NULL, 1, NULL, '{}', 'h', 'answered', 'eve', :d, NULL, NULL, :c)""",
            {"d": ts(DAY1, "13:00:00"), "c": ts(DAY1, "12:59:00")},
        )
        for aid, review, agent, action, status, executed in LEDGER:
            tx.execute(
                """INSERT INTO action_ledger (id, idempotency_key, thread_id, review_id, agent, action, args, status,
                       reversible, effect, undo, executed_by, executed_at)
                   VALUES (:id, :k, :t, :r, :agent, :action, '{}', :status, 1, '{}', NULL, 'x', :at)""",
                {
                    "id": aid,
                    "k": f"key-{aid}",
                    "t": f"th-{aid}",
                    "r": review,
                    "agent": agent,
                    "action": action,
                    "status": status,
                    "at": executed,
                },
            )
        tx.execute(
            "INSERT INTO incidents (id, action_id, reported_by, description, at) VALUES ('i1', 'a2', 'lee', 'wrong', :at)",
            {"at": ts(DAY2, "08:00:00")},
        )
        for fid, review, agent, action, kind, category, at in FEEDBACK:
            tx.execute(
                """INSERT INTO feedback (id, review_id, thread_id, agent, action, kind, category, diff, comment, reviewer, at)
                   VALUES (:id, :r, :t, :agent, :action, :kind, :category, '{}', NULL, 'lee', :at)""",
                {
                    "id": fid,
                    "r": review,
                    "t": f"th-{review}",
                    "agent": agent,
                    "action": action,
                    "kind": kind,
                    "category": category,
                    "at": at,
                },
            )


@pytest.fixture(scope="module")
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    schema.upgrade(database)
    _insert(database)
    yield database
    database.close()


def _core(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "reviews",
        "decided",
        "pending",
        "approval_rate",
        "edit_rate",
        "rejection_rate",
        "escalation_rate",
        "expiry_rate",
        "time_to_review",
        "false_approval_rate",
        "post_approval_incident_rate",
        "automated_actions",
        "auto_share",
        "correction_categories",
    )
    return {k: summary[k] for k in keys}


def test_overall(db):
    result = metrics.compute(db)
    assert _core(result) == {
        "reviews": 7,
        "decided": 6,
        "pending": 1,
        "approval_rate": 0.5,
        "edit_rate": 0.1667,
        "rejection_rate": 0.1667,
        "escalation_rate": 0.1667,
        "expiry_rate": 0.1667,
        "time_to_review": {"median_s": 120.0, "p90_s": 600.0},
        "false_approval_rate": 0.6667,
        "post_approval_incident_rate": 0.3333,
        "automated_actions": 2,
        "auto_share": 0.2222,
        "correction_categories": {"tone": 1, "wrong_amount": 1},
    }
    assert {k: result["calibration"][k] for k in ("brier", "ece", "n")} == {"brier": 0.1425, "ece": 0.325, "n": 4}
    assert result["window"] == {"since": None, "until": None, "agent": None, "action": None}


def test_per_agent_and_action(db):
    result = metrics.compute(db)
    support, ops = result["per_agent"]["support"], result["per_agent"]["ops"]
    assert _core(support) == {
        "reviews": 5,
        "decided": 4,
        "pending": 1,
        "approval_rate": 0.5,
        "edit_rate": 0.25,
        "rejection_rate": 0.25,
        "escalation_rate": 0.25,
        "expiry_rate": 0.0,
        "time_to_review": {"median_s": 210.0, "p90_s": 600.0},
        "false_approval_rate": 1.0,
        "post_approval_incident_rate": 0.5,
        "automated_actions": 1,
        "auto_share": 0.1667,
        "correction_categories": {"tone": 1, "wrong_amount": 1},
    }
    assert support["calibration"] == {"brier": 0.1767, "ece": 0.3667, "n": 3}  # (0.1 + 0.6 + 0.4) / 3
    assert (ops["approval_rate"], ops["expiry_rate"], ops["false_approval_rate"], ops["auto_share"]) == (
        0.5,
        0.5,
        0.0,
        0.3333,
    )
    assert ops["time_to_review"] == {"median_s": 30.0, "p90_s": 30.0}
    refund = result["per_action"]["refund"]
    assert (refund["decided"], refund["approval_rate"], refund["edit_rate"], refund["false_approval_rate"]) == (
        2,
        1.0,
        0.5,
        1.0,
    )
    assert refund["correction_categories"] == {"wrong_amount": 1}
    assert result["per_action"]["reply"]["automated_actions"] == 1


def test_time_window_and_series(db):
    day2 = metrics.compute(db, since=DAY2, until=DAY2)
    assert day2["window"]["since"] == "2026-03-02T00:00:00.000000Z"
    assert day2["window"]["until"] == "2026-03-02T23:59:59.999999Z"
    assert (day2["reviews"], day2["decided"], day2["approval_rate"], day2["escalation_rate"]) == (4, 3, 0.3333, 0.3333)
    assert day2["time_to_review"] == {"median_s": 315.0, "p90_s": 600.0}
    assert (day2["false_approval_rate"], day2["correction_categories"], day2["automated_actions"]) == (0.0, {}, 1)
    assert day2["auto_share"] == 0.2
    series = {d["date"]: d for d in metrics.compute(db)["series"]}
    assert list(series) == [DAY1, DAY2]
    assert (series[DAY1]["reviews"], series[DAY1]["approval_rate"], series[DAY1]["automated_actions"]) == (3, 0.6667, 1)
    assert (series[DAY2]["reviews"], series[DAY2]["approval_rate"]) == (4, 0.3333)
    narrow = metrics.compute(db, since=ts(DAY1, "10:30:00"), until=ts(DAY1, "12:30:00"), agent="support")
    assert (narrow["reviews"], narrow["approval_rate"], narrow["rejection_rate"]) == (2, 0.5, 0.5)
    assert metrics.compute(db, action="restart_service")["reviews"] == 2


def test_bad_windows_are_bad_input(db):
    with pytest.raises(BadInput, match="--since"):
        metrics.compute(db, since="last tuesday")
    with pytest.raises(BadInput, match="after --until"):
        metrics.compute(db, since=DAY2, until=DAY1)
    assert metrics.window_bound("7d") is not None


def test_recorded_decisions_as_calibration_outcomes(db):
    # r1 carries its raw confidence in the review request; older rows' confidence column is raw.
    assert sorted(decision_pairs(db, "support")) == [(0.4, 0), (0.5, 0), (0.6, 0), (0.7, 1)]
    assert sorted(decision_pairs(db, "ops")) == [(0.7, 0), (0.8, 1)]


def test_report_incident(db):
    with pytest.raises(NotFound):
        metrics.report_incident(db, "a-none", "lee", "broke")
    with pytest.raises(BadInput):
        metrics.report_incident(db, "a3", "lee", "  ")


def test_metrics_command(db, monkeypatch, capsys):
    from hitl_cli.main import main

    monkeypatch.setenv("HITL_DATABASE_URL", db.url)
    assert main(["metrics", "--json", "--since", DAY2, "--agent", "ops"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["reviews"], out["approval_rate"], out["expiry_rate"], out["automated_actions"]) == (2, 0.5, 0.5, 1)
    assert list(out["per_agent"]) == ["ops"] and [d["date"] for d in out["series"]] == [DAY2]
    assert out["time_to_review"] == {"median_s": 30.0, "p90_s": 30.0}  # the JSON keeps its raw seconds
    assert main(["metrics", "--since", "yesterday-ish"]) == 2
    assert "--since" in capsys.readouterr().err
    assert main(["metrics"]) == 0
    text = capsys.readouterr().out
    assert "day 2026-03-01: reviews 3" in text
    assert "time_to_review: median 2 min, 90th percentile 10 min" in text
    assert "agent support: reviews 5" in text and "time to review median 3 min 30 s" in text
    assert "dismissal_rate: 0.0" in text and "dismissal 0.0, escalation" in text  # every rate, per group too
    assert "median_s" not in text and "120.0" not in text


def test_historical_approval_counts_edited_approvals(db):
    from nodes.history import approval_rate

    assert approval_rate(db, "support", "refund") == (0.75, "2 of 2 past refund reviews approved (smoothed)")
    rate, detail = approval_rate(db, "support", "reply")
    assert round(rate, 4) == 0.6364 and detail == "0 of 1 past reply reviews approved (smoothed)"


# -- the metrics as the review app shows them (hitl_runtime.metrics_view) ------------------------------
def test_buckets_follow_the_unit_asked_for(db):
    hours = metrics.buckets(db, "hour", since=DAY1, until=DAY1)
    assert [(b["start"], b["reviews"], b["decided"]) for b in hours] == [
        (ts(DAY1, "09:00:00"), 0, 0),  # an automated action only
        (ts(DAY1, "10:00:00"), 1, 1),
        (ts(DAY1, "11:00:00"), 1, 1),
        (ts(DAY1, "12:00:00"), 1, 1),
    ]
    assert hours[1]["approval_rate"] == 1.0 and hours[3]["rejection_rate"] == 1.0
    days = metrics.buckets(db, "day")
    assert [(b["start"][:10], b["reviews"]) for b in days] == [(DAY1, 3), (DAY2, 4)]
    weeks = metrics.buckets(db, "week")  # 2026-03-01 is a Sunday: its week began on Monday 02-23
    assert [(b["start"], b["reviews"], b["decided"]) for b in weeks] == [
        (ts("2026-02-23", "00:00:00"), 3, 3),
        (ts(DAY2, "00:00:00"), 4, 3),
    ]
    with pytest.raises(BadInput):
        metrics.buckets(db, "fortnight")


def test_bucket_size_follows_the_window():
    from datetime import timedelta

    from hitl_runtime.metrics_view import WINDOWS, bucket_label, bucket_unit

    units = {name: bucket_unit(span) for name, span in WINDOWS.items()}
    assert units["Last 24 hours"] == units["Last 2 days"] == "hour"
    assert units["Last 7 days"] == units["Last 14 days"] == "day"
    assert units["Last 30 days"] == units["Last 90 days"] == units["Last 365 days"] == "week"
    assert bucket_unit(timedelta(hours=6)) == "hour"
    assert bucket_label(ts(DAY1, "10:00:00"), "hour") == "2026-03-01 10:00"
    assert bucket_label(ts(DAY1, "00:00:00"), "day") == "2026-03-01"
    assert bucket_label(ts("2026-02-23", "00:00:00"), "week") == "week of 2026-02-23"


def test_rates_over_time_carry_their_sample_and_skip_empty_buckets(db):
    from datetime import timedelta

    from hitl_core.canonical import parse_iso
    from hitl_runtime.metrics_view import over_time

    rows = over_time(db, timedelta(days=2), now=parse_iso(ts(DAY2, "23:00:00")))
    assert [r["bucket"] for r in rows] == [
        "2026-03-01 10:00",
        "2026-03-01 11:00",
        "2026-03-01 12:00",
        "2026-03-02 09:00",
        "2026-03-02 10:00",
        "2026-03-02 11:00",
    ]  # 09:00 on day 1 (automated only) and 12:00 on day 2 (pending only) have no decided review
    assert rows[0] == {
        "bucket": "2026-03-01 10:00",
        "decided": 1,
        "Approved": 1.0,
        "Approved with edits": 0.0,
        "Rejected": 0.0,
        "Dismissed": 0.0,
        "Escalated": 0.0,
        "Expired (no decision in time)": 0.0,
    }
    weeks = over_time(db, timedelta(days=30), now=parse_iso(ts(DAY2, "23:00:00")))
    assert [(w["bucket"], w["decided"]) for w in weeks] == [("week of 2026-02-23", 3), ("week of 2026-03-02", 3)]
    days = over_time(db, timedelta(days=7), now=parse_iso(ts(DAY2, "23:00:00")))
    assert [(d["bucket"], d["decided"]) for d in days] == [("2026-03-01", 3), ("2026-03-02", 3)]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0.4, "0 s"),
        (40, "40 s"),
        (59.6, "1 min"),
        (240, "4 min"),
        (252, "4 min 12 s"),
        (315.4, "5 min 15 s"),
        (3600, "1 h"),
        (2 * 3600 + 5 * 60 + 20, "2 h 5 min"),
        (4 * 3600, "4 h"),
        (86400, "1 d"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
    ],
)
def test_durations_read_in_two_units_at_most(seconds, text):
    from hitl_runtime.metrics_view import duration_text

    assert duration_text(seconds) == text


def test_rates_stand_beside_their_sample_and_empty_groups_are_left_out(db):
    from hitl_runtime.metrics_view import rate_rows, rate_table, rate_text, review_time_table

    result = metrics.compute(db)
    assert rate_text(result["approval_rate"], result["decided"]) == "50% of 6"
    assert rate_text(1.0, 2000) == "100% of 2,000"
    assert rate_text(None, 0) == "-"
    groups = dict(result["per_action"]) | {"tag_ticket": metrics.compute(db, action="tag_ticket")}
    assert groups["tag_ticket"]["decided"] == 0
    chart = rate_rows(groups)
    assert list(chart) == ["refund (2 decided)", "reply (2 decided)", "restart_service (2 decided)"]
    assert chart["refund (2 decided)"]["Approved"] == 1.0
    table = rate_table(groups, "Action")
    assert [(r["Action"], r["Decided"], r["Approved"], r["Rejected"]) for r in table] == [
        ("refund", "2", "100%", "0%"),
        ("reply", "2", "0%", "50%"),
        ("restart_service", "2", "50%", "0%"),
    ]
    times = review_time_table({"Agent": result["per_agent"], "Action": groups})
    rows = {r[""]: r for r in times}
    assert "Action tag_ticket" not in rows
    assert rows["Agent support"] == {
        "": "Agent support",
        "Median": "3 min 30 s",
        "90th percentile": "10 min",
        "Reviews decided by a person": "4",
    }
    assert rows["Agent ops"]["Median"] == "30 s"
