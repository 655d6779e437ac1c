"""The seed's evaluation metrics, computed from the reviews, ledger, feedback and incidents tables.

Rates are over human-decided reviews (expired ones count as decided by the deadline); calibration
compares each review's confidence with whether the proposal was approved unchanged.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from typing import Any

from hitl_runtime.canonical import new_id, now_iso, parse_iso
from hitl_runtime.db import Database
from hitl_runtime.errors import BadInput, NotFound

FINAL = ("approved", "approved_with_edits", "rejected", "needs_info", "escalated", "expired")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 3)


def calibration(pairs: list[tuple[float, int]], bins: int = 10) -> dict[str, Any]:
    """Brier score and expected calibration error of (confidence, outcome) pairs."""
    if not pairs:
        return {"brier": None, "ece": None, "n": 0, "bins": []}
    brier = sum((p - y) ** 2 for p, y in pairs) / len(pairs)
    grouped: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p, y in pairs:
        grouped[min(bins - 1, int(p * bins))].append((p, y))
    ece, table = 0.0, []
    for index in sorted(grouped):
        members = grouped[index]
        mean_p = sum(p for p, _ in members) / len(members)
        mean_y = sum(y for _, y in members) / len(members)
        ece += len(members) / len(pairs) * abs(mean_p - mean_y)
        table.append({"bin": index, "n": len(members), "confidence": round(mean_p, 4), "approved": round(mean_y, 4)})
    return {"brier": round(brier, 4), "ece": round(ece, 4), "n": len(pairs), "bins": table}


def _summary(rows: list[dict[str, Any]], actions: dict[str, dict[str, Any]], incidents: set[str]) -> dict[str, Any]:
    decided = [r for r in rows if r["status"] in FINAL]
    count = Counter(r["status"] for r in decided)
    human = [r for r in decided if r["status"] != "expired" and r["decided_at"]]
    waits = [(parse_iso(r["decided_at"]) - parse_iso(r["created_at"])).total_seconds() for r in human]
    approved_ids = {r["id"] for r in decided if r["status"] in ("approved", "approved_with_edits")}
    executed = [a for a in actions.values() if a["review_id"] in approved_ids]
    false_approvals = [a for a in executed if a["status"] == "rolled_back" or a["id"] in incidents]
    incident_actions = [a for a in executed if a["id"] in incidents]
    pairs = [
        (float(r["confidence"]), 1 if r["status"] == "approved" else 0)
        for r in decided
        if r["confidence"] is not None and r["status"] in ("approved", "approved_with_edits", "rejected")
    ]
    return {
        "reviews": len(rows),
        "decided": len(decided),
        "pending": sum(1 for r in rows if r["status"] == "pending"),
        "approval_rate": _rate(count["approved"] + count["approved_with_edits"], len(decided)),
        "edit_rate": _rate(count["approved_with_edits"], len(decided)),
        "rejection_rate": _rate(count["rejected"], len(decided)),
        "escalation_rate": _rate(count["escalated"], len(decided)),
        "expiry_rate": _rate(count["expired"], len(decided)),
        "time_to_review": {
            "median_s": round(statistics.median(waits), 3) if waits else None,
            "p90_s": _percentile(waits, 0.9),
        },
        "false_approval_rate": _rate(len(false_approvals), len(executed)),
        "post_approval_incident_rate": _rate(len(incident_actions), len(executed)),
        "calibration": {k: v for k, v in calibration(pairs).items() if k != "bins"},
    }


def compute(db: Database, *, since: str | None = None, until: str | None = None) -> dict[str, Any]:
    """All metrics, overall and per agent and per action, for reviews created in [since, until]."""
    where, params = ["kind = 'review'"], {}
    if since:
        where.append("created_at >= :since")
        params["since"] = since
    if until:
        where.append("created_at <= :until")
        params["until"] = until
    rows = db.read(
        f"SELECT id, agent, action, status, confidence, created_at, decided_at FROM reviews WHERE {' AND '.join(where)}",
        params,
    )
    actions = {a["id"]: a for a in db.read("SELECT id, review_id, status, agent, action FROM action_ledger")}
    incidents = {i["action_id"] for i in db.read("SELECT action_id FROM incidents")}
    categories = Counter(
        f["category"] or "uncategorised"
        for f in db.read("SELECT category FROM feedback WHERE kind IN ('edit', 'reject')")
    )
    result = _summary(rows, actions, incidents)
    result["correction_categories"] = dict(categories.most_common())
    decided_pairs = [
        (float(r["confidence"]), 1 if r["status"] == "approved" else 0)
        for r in rows
        if r["confidence"] is not None and r["status"] in ("approved", "approved_with_edits", "rejected")
    ]
    result["calibration"] = calibration(decided_pairs)
    result["per_agent"] = {
        agent: _summary([r for r in rows if r["agent"] == agent], actions, incidents)
        for agent in sorted({r["agent"] for r in rows})
    }
    result["per_action"] = {
        action: _summary([r for r in rows if r["action"] == action], actions, incidents)
        for action in sorted({r["action"] for r in rows if r["action"]})
    }
    result["window"] = {"since": since, "until": until}
    return result


def report_incident(db: Database, action_id: str, reporter: str, description: str) -> dict[str, Any]:
    """Record that an executed action caused a problem (feeds false approvals and incident rate)."""
    from hitl_runtime import audit

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
