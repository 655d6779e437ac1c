"""The metrics as a person reads them: rates beside their sample sizes, readable durations, buckets that fit the window.

`hitl_core.metrics` computes the figures (`hitl metrics --json`); this module only turns them into
rows and words for the review app's metrics page, so a rate is never shown without how many
reviews it is of (100% of 2 is not 100% of 2,000) and a group without decided reviews is left out
rather than drawn as a row of zeros.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from hitl_core import metrics
from hitl_core.canonical import iso, parse_iso, utc_now
from hitl_core.db import Database

RATES: Final[dict[str, str]] = {
    "approval_rate": "Approved",
    "edit_rate": "Approved with edits",
    "rejection_rate": "Rejected",
    "dismissal_rate": "Dismissed",
    "escalation_rate": "Escalated",
    "expiry_rate": "Expired (no decision in time)",
}
"""Each rate's key in `hitl metrics` and its name in legends and tables (share of decided reviews)."""

WINDOWS: Final[dict[str, timedelta]] = {
    "Last 24 hours": timedelta(days=1),
    "Last 2 days": timedelta(days=2),
    "Last 7 days": timedelta(days=7),
    "Last 14 days": timedelta(days=14),
    "Last 30 days": timedelta(days=30),
    "Last 90 days": timedelta(days=90),
    "Last 365 days": timedelta(days=365),
}


def in_window(db: Database, window: timedelta, *, now: datetime | None = None) -> dict[str, Any]:
    """All the metrics (`hitl metrics`) of the reviews created in the window that ends now.

    The same window as `over_time`, so a page's figures, tables and chart all count the same reviews.
    """
    end = now or utc_now()
    return metrics.compute(db, since=iso(end - window), until=iso(end))


def bucket_unit(window: timedelta) -> str:
    """The bucket a chart over `window` uses: hours up to two days, days up to four weeks, weeks beyond."""
    if window <= timedelta(days=2):
        return "hour"
    if window < timedelta(days=28):
        return "day"
    return "week"


def bucket_label(start: str, unit: str) -> str:
    """A bucket's label, distinct within any window: `2026-03-01 10:00`, `2026-03-01`, `week of 2026-02-23`."""
    moment = parse_iso(start)
    if unit == "hour":
        return moment.strftime("%Y-%m-%d %H:00")
    day = moment.strftime("%Y-%m-%d")
    return day if unit == "day" else f"week of {day}"


def over_time(
    db: Database, window: timedelta, *, agent: str | None = None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Rates per bucket over the window that ends now, only buckets with decided reviews, each with its count.

    Each row: `bucket` (its label), `decided` (the sample size) and each rate under its name in `RATES`.
    """
    unit = bucket_unit(window)
    end = now or utc_now()
    rows = metrics.buckets(db, unit, since=iso(end - window), until=iso(end), agent=agent)
    return [
        {"bucket": bucket_label(r["start"], unit), "decided": r["decided"]}
        | {name: r.get(key) or 0.0 for key, name in RATES.items()}
        for r in rows
        if r.get("decided")
    ]


_UNITS: Final = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))


def duration_text(seconds: float | None) -> str:
    """A duration in its two largest units, the second left out when zero: `40 s`, `4 min 12 s`, `2 h 5 min`, `3 d 4 h`.

    Whole units read at a glance where `2.1 h` or `7520 s` need arithmetic; `-` for none. The one
    formatter of durations for people (the metrics page, `hitl metrics`, ages and deadlines in the app).
    """
    if seconds is None:
        return "-"
    rest = round(abs(float(seconds)))
    parts: list[tuple[int, str]] = []
    for name, size in _UNITS:
        count, rest = divmod(rest, size)
        if count or (parts and len(parts) < 2):
            parts.append((count, name))
        if len(parts) == 2:
            break
    words = [f"{count} {name}" for count, name in parts if count]
    return " ".join(words) or "0 s"


def count_text(count: int | None) -> str:
    """A count with thousands separators: `2,000`."""
    return f"{int(count or 0):,}"


def rate_text(rate: float | None, sample: int | None) -> str:
    """A rate beside its sample size: `50% of 2`; `-` when there was nothing to count."""
    if rate is None or not sample:
        return "-"
    return f"{float(rate):.0%} of {count_text(sample)}"


def group_label(name: str, decided: int) -> str:
    """A chart label that carries its sample size: `refund (12 decided)`."""
    return f"{name} ({count_text(decided)} decided)"


def rate_rows(groups: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Rates per group for a chart, labelled with their sample size; groups without decided reviews are left out."""
    return {
        group_label(name, int(summary["decided"])): {label: summary.get(key) or 0.0 for key, label in RATES.items()}
        for name, summary in groups.items()
        if summary.get("decided")
    }


def rate_table(groups: dict[str, dict[str, Any]], kind: str) -> list[dict[str, str]]:
    """The same rates as a table: the group, how many decided reviews, then each rate; empty groups left out."""
    return [
        {kind: name, "Decided": count_text(summary["decided"])}
        | {label: f"{float(summary.get(key) or 0.0):.0%}" for key, label in RATES.items()}
        for name, summary in groups.items()
        if summary.get("decided")
    ]


def review_time_table(groups: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, str]]:
    """Time to review per agent and action (`{"Agent": {...}, "Action": {...}}`), in readable units.

    Only groups a person decided reviews in; each row says over how many reviews.
    """
    rows = []
    for kind, members in groups.items():
        for name, summary in members.items():
            waits = summary.get("time_to_review") or {}
            if waits.get("median_s") is None:
                continue
            rows.append(
                {
                    "": f"{kind} {name}",
                    "Median": duration_text(waits.get("median_s")),
                    "90th percentile": duration_text(waits.get("p90_s")),
                    "Reviews decided by a person": count_text(summary.get("reviewed_by_people")),
                }
            )
    return rows
