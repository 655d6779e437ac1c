"""The seed's evaluation metrics, computed from the reviews, ledger, feedback and incidents tables.

Rates are over decided reviews (expired ones count as decided by the deadline); calibration
compares each review's confidence with whether the proposal was approved unchanged. Everything is
given overall, per agent, per action and per day, for reviews created in an optional window
(`since` / `until`: ISO timestamps, dates, or a span back from now such as `7d` or `12h`).

- approval_rate: approved or approved with edits / decided; edit_rate, rejection_rate,
  dismissal_rate (dismissed: the `ignore` decision), escalation_rate, expiry_rate likewise;
- time_to_review: median and 90th percentile seconds from a review's creation to a human decision
  (over `reviewed_by_people` reviews);
- false_approval_rate: approved actions later rolled back or reported as an incident / approved
  actions executed (`approved_executed`); post_approval_incident_rate: those with an incident report only;
- correction_categories: the reviewers' categories on edits and rejections (feedback in the window);
- calibration: Brier score and expected calibration error of the confidence shown to reviewers
  against "approved unchanged";
- auto_share: actions executed without review / (those + review requests).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hitl_core import audit
from hitl_core.canonical import iso, new_id, now_iso, parse_iso, utc_now
from hitl_core.db import Database
from hitl_core.errors import BadInput, NotFound
from hitl_core.stats import brier, calibration_bins, ece, percentile

FINAL = ("approved", "approved_with_edits", "rejected", "dismissed", "needs_info", "escalated", "expired")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: list[float], q: float) -> float | None:
    value = percentile(values, q)
    return None if value is None else round(value, 3)


def calibration(pairs: list[tuple[float, int]], bins: int = 10) -> dict[str, Any]:
    """Brier score and expected calibration error of (confidence, outcome) pairs, with the bins behind the ECE."""
    if not pairs:
        return {"brier": None, "ece": None, "n": 0, "bins": []}
    table = [
        b | {"confidence": round(b["confidence"], 4), "approved": round(b["approved"], 4)}
        for b in calibration_bins(pairs, bins)
    ]
    return {"brier": brier(pairs), "ece": ece(pairs, bins), "n": len(pairs), "bins": table}


_SPAN = re.compile(r"^(\d+)\s*([dhm])$")


def window_bound(text: str | None, *, end: bool = False, now: datetime | None = None) -> str | None:
    """A window bound as a stored timestamp: ISO time, a date (whole day), or a span back from now (7d, 12h, 30m)."""
    if text is None or not str(text).strip():
        return None
    value = str(text).strip()
    span = _SPAN.match(value)
    if span:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[span.group(2)]
        return iso((now or utc_now()) - timedelta(**{unit: int(span.group(1))}))
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            day = datetime.fromisoformat(value).replace(tzinfo=UTC)
            return iso(day + timedelta(days=1) - timedelta(microseconds=1) if end else day)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(
            f"{'--until' if end else '--since'} {value!r} is not a date, an ISO time or a span like 7d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso(moment)


def _summary(rows: list[dict[str, Any]], actions: dict[str, dict[str, Any]], incidents: set[str]) -> dict[str, Any]:
    decided = [r for r in rows if r["status"] in FINAL]
    count = Counter(r["status"] for r in decided)
    human = [r for r in decided if r["status"] != "expired" and r["decided_at"]]
    waits = [(parse_iso(r["decided_at"]) - parse_iso(r["created_at"])).total_seconds() for r in human]
    approved_ids = {r["id"] for r in decided if r["status"] in ("approved", "approved_with_edits")}
    executed = [a for a in actions.values() if a["review_id"] in approved_ids]
    false_approvals = [a for a in executed if a["status"] == "rolled_back" or a["id"] in incidents]
    incident_actions = [a for a in executed if a["id"] in incidents]
    pairs = _confidence_pairs(decided)
    return {
        "reviews": len(rows),
        "decided": len(decided),
        "pending": sum(1 for r in rows if r["status"] == "pending"),
        "approval_rate": _rate(count["approved"] + count["approved_with_edits"], len(decided)),
        "edit_rate": _rate(count["approved_with_edits"], len(decided)),
        "rejection_rate": _rate(count["rejected"], len(decided)),
        "dismissal_rate": _rate(count["dismissed"], len(decided)),
        "escalation_rate": _rate(count["escalated"], len(decided)),
        "expiry_rate": _rate(count["expired"], len(decided)),
        "time_to_review": {
            "median_s": round(statistics.median(waits), 3) if waits else None,
            "p90_s": _percentile(waits, 0.9),
        },
        "reviewed_by_people": len(waits),
        "approved_executed": len(executed),
        "false_approval_rate": _rate(len(false_approvals), len(executed)),
        "post_approval_incident_rate": _rate(len(incident_actions), len(executed)),
        "calibration": {k: v for k, v in calibration(pairs).items() if k != "bins"},
    }


def _with_extras(
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    auto: list[dict[str, Any]],
    feedback: list[dict[str, Any]],
) -> dict[str, Any]:
    categories = Counter(f["category"] or "uncategorised" for f in feedback if f["kind"] in ("edit", "reject"))
    summary["correction_categories"] = dict(sorted(categories.items(), key=lambda kv: (-kv[1], kv[0])))
    summary["automated_actions"] = len(auto)
    summary["auto_share"] = _rate(len(auto), len(auto) + len(rows))
    return summary


def compute(
    db: Database,
    *,
    since: str | None = None,
    until: str | None = None,
    agent: str | None = None,
    action: str | None = None,
) -> dict[str, Any]:
    """All metrics, overall, per agent, per action and per day, for reviews created in [since, until]."""
    since, until = window_bound(since), window_bound(until, end=True)
    if since and until and since > until:
        raise BadInput("--since is after --until")
    tables = _read_tables(db, since, until, agent, action)
    rows, auto = tables.rows, tables.auto
    result = _with_extras(_summary(rows, tables.actions, tables.incidents), rows, auto, tables.feedback)
    result["calibration"] = calibration(_confidence_pairs(rows))
    agents = sorted({r["agent"] for r in rows} | {a["agent"] for a in auto})
    result["per_agent"] = {name: tables.slice(("agent", "agent", "agent"), name) for name in agents}
    names = sorted({r["action"] for r in rows if r["action"]} | {a["action"] for a in auto})
    result["per_action"] = {name: tables.slice(("action", "action", "action"), name) for name in names}
    days = sorted({r["created_at"][:10] for r in rows} | {a["executed_at"][:10] for a in auto})
    result["series"] = [
        {
            "date": day,
            **{
                k: v
                for k, v in tables.slice(("created_at", "executed_at", "at"), day, chars=10).items()
                if k != "calibration"
            },
        }
        for day in days
    ]
    result["window"] = {"since": since, "until": until, "agent": agent, "action": action}
    return result


BUCKETS = ("hour", "day", "week")


def bucket_start(timestamp: str, unit: str) -> str:
    """The stored timestamp's bucket, as the bucket's first moment: its hour, its day, or its week's Monday."""
    moment = parse_iso(timestamp).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    if unit == "hour":
        return iso(moment)
    day = moment.replace(hour=0)
    return iso(day if unit == "day" else day - timedelta(days=day.weekday()))


def buckets(
    db: Database, unit: str, *, since: str | None = None, until: str | None = None, agent: str | None = None
) -> list[dict[str, Any]]:
    """The metrics of each hour, day or week (`unit`) with reviews or automated actions in the window.

    Like `series` (per day) but any bucket size, so a chart's points follow the window it shows;
    each entry's `start` is its bucket's first moment.
    """
    if unit not in BUCKETS:
        raise BadInput(f"bucket must be one of {', '.join(BUCKETS)}")
    tables = _read_tables(db, window_bound(since), window_bound(until, end=True), agent, None)
    moments = [r["created_at"] for r in tables.rows] + [a["executed_at"] for a in tables.auto]
    starts = sorted({bucket_start(m, unit) for m in moments})
    return [
        {
            "start": start,
            **{
                k: v
                for k, v in tables.slice(
                    ("created_at", "executed_at", "at"), start, key=lambda t: bucket_start(t, unit)
                ).items()
                if k != "calibration"
            },
        }
        for start in starts
    ]


def _confidence_pairs(rows: list[dict[str, Any]]) -> list[tuple[float, int]]:
    """(confidence shown, approved unchanged) of the reviews a human decided on the proposal as it stood."""
    return [
        (float(r["confidence"]), 1 if r["status"] == "approved" else 0)
        for r in rows
        if r["confidence"] is not None and r["status"] in ("approved", "approved_with_edits", "rejected")
    ]


@dataclass(frozen=True)
class _Tables:
    """The rows the metrics are computed from, read once: reviews, the ledger, incidents, feedback."""

    rows: list[dict[str, Any]]
    actions: dict[str, dict[str, Any]]
    auto: list[dict[str, Any]]
    incidents: set[str]
    feedback: list[dict[str, Any]]

    def slice(
        self,
        fields: tuple[str, str, str],
        value: str,
        *,
        chars: int | None = None,
        key: Callable[[str], str] | None = None,
    ) -> dict[str, Any]:
        """The metrics of one slice (an agent, an action, a day), the same measures as the whole.

        `fields` name the column that must equal `value` in reviews, automated actions and feedback;
        `chars` compares only its first characters (a timestamp's date), `key` compares what it
        makes of the column (a timestamp's bucket).
        """
        review_field, auto_field, feedback_field = fields

        def of(field: Any) -> Any:
            return key(field) if key is not None and field is not None else _cut(field, chars)

        rows = [r for r in self.rows if of(r[review_field]) == value]
        return _with_extras(
            _summary(rows, self.actions, self.incidents),
            rows,
            [a for a in self.auto if of(a[auto_field]) == value],
            [f for f in self.feedback if of(f[feedback_field]) == value],
        )


def _cut(value: Any, chars: int | None) -> Any:
    """A column's value, or its first `chars` characters (a missing value stays missing)."""
    return value if chars is None or value is None else value[:chars]


def _read_tables(db: Database, since: str | None, until: str | None, agent: str | None, action: str | None) -> _Tables:
    """Reviews, automated actions and feedback in the window (and of the agent or action), the ledger and incidents."""
    where, params = ["kind = 'review'"], {}
    ledger_where = ["review_id IS NULL"]
    feedback_where = ["1 = 1"]
    if since:
        where.append("created_at >= :since")
        ledger_where.append("executed_at >= :since")
        feedback_where.append("at >= :since")
        params["since"] = since
    if until:
        where.append("created_at <= :until")
        ledger_where.append("executed_at <= :until")
        feedback_where.append("at <= :until")
        params["until"] = until
    for column, value in (("agent", agent), ("action", action)):
        if value:
            where.append(f"{column} = :{column}")
            ledger_where.append(f"{column} = :{column}")
            feedback_where.append(f"{column} = :{column}")
            params[column] = value
    rows = db.read(
        f"SELECT id, agent, action, status, confidence, created_at, decided_at FROM reviews WHERE {' AND '.join(where)}",
        params,
    )
    actions = {a["id"]: a for a in db.read("SELECT id, review_id, status, agent, action FROM action_ledger")}
    auto = db.read(
        f"SELECT id, agent, action, executed_at FROM action_ledger WHERE {' AND '.join(ledger_where)}", params
    )
    incidents = {i["action_id"] for i in db.read("SELECT action_id FROM incidents")}
    feedback = db.read(
        f"SELECT agent, action, kind, category, at FROM feedback WHERE {' AND '.join(feedback_where)}", params
    )
    return _Tables(list(rows), actions, list(auto), incidents, list(feedback))


def report_incident(db: Database, action_id: str, reporter: str, description: str) -> dict[str, Any]:
    """Record that an executed action caused a problem (feeds false approvals and incident rate)."""
    if not description.strip():
        raise BadInput("describe the incident")
    with db.transaction() as tx:
        action = tx.one("SELECT id, thread_id, review_id FROM action_ledger WHERE id = :i", {"i": action_id})
        if action is None:
            raise NotFound(f"unknown action {action_id!r}")
        incident = {
            "id": new_id("inc"),
            "action_id": action_id,
            "reported_by": reporter,
            "description": description[:2000],
            "at": now_iso(),
        }
        tx.execute(
            "INSERT INTO incidents (id, action_id, reported_by, description, at) VALUES (:id, :action_id, :reported_by, :description, :at)",
            incident,
        )
        audit.append(
            tx,
            "incident_reported",
            reporter,
            {"description": description[:2000]},
            thread_id=action["thread_id"],
            review_id=action["review_id"],
            action_id=action_id,
        )
    return incident
