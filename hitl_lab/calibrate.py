"""`hitl calibrate`: labelled outcomes in, a calibration file and its before/after figures out.

Labelled outcomes come from two places:
- scenario sets: each case with a proposed action is run (in a throwaway database, like `hitl
  eval`); its raw confidence is paired with 1 when the case is expected to run automatically;
- recorded decisions (`--decisions`): each decided review's raw confidence (from the review
  request; older reviews carry only the raw one) paired with 1 when it was approved unchanged, 0
  when it was edited, rejected, escalated or expired.

The report gives Brier score and ECE of the raw confidence (before), of the calibrated one on the
same data (after, in sample), on 5-fold held-out data (after_cv), and on each `--holdout` set
(fitted without it). With `--write` the calibration goes to the file the validator loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guardrails.calibration import Method, cross_validated, fit, save, scores
from hitl_core.canonical import loads, now_iso
from hitl_core.db import Database
from hitl_core.errors import BadInput
from hitl_runtime.agents import agent_module, agent_policy
from hitl_runtime.evaluation import evaluate, load_scenarios

DECIDED = {"approved": 1, "approved_with_edits": 0, "rejected": 0, "escalated": 0, "expired": 0}


def scenario_pairs(agent: str, path: Path, evaluate_fn: Any = None) -> list[tuple[float, int]]:
    """(raw confidence, expected auto) for each case of a scenario set that proposed an action."""
    result = (evaluate_fn or evaluate)(agent, load_scenarios(path, agent), grade_drafts=False)
    return [
        (float(c["confidence_raw"]), 1 if c["expected_route"] == "auto" else 0)
        for c in result["per_case"]
        if c.get("action") and c.get("confidence_raw") is not None
    ]


def decision_pairs(db: Database, agent: str) -> list[tuple[float, int]]:
    """(raw confidence, approved unchanged) for each decided review of the agent."""
    rows = db.read(
        "SELECT status, confidence, payload FROM reviews WHERE agent = :a AND kind = 'review' AND status IN "
        "('approved', 'approved_with_edits', 'rejected', 'escalated', 'expired')",
        {"a": agent},
    )
    pairs = []
    for row in rows:
        payload = loads(row["payload"], {}) or {}
        raw = payload.get("confidence_raw")
        if raw is None:
            raw = row["confidence"] if payload.get("calibration") is None else None
        if raw is not None:
            pairs.append((float(raw), DECIDED[row["status"]]))
    return pairs


def calibrate(
    agent: str,
    datasets: list[Path],
    *,
    db: Database | None = None,
    method: Method = "platt",
    holdout: list[Path] | None = None,
    write: bool = False,
    output: Path | None = None,
    evaluate_fn: Any = None,
) -> dict[str, Any]:
    """Fit, report and optionally write an agent's calibration."""
    agent_module(agent)
    if not datasets and db is None:
        raise BadInput("give at least one --dataset, or --decisions")
    sources: dict[str, int] = {}
    pairs: list[tuple[float, int]] = []
    for path in datasets:
        found = scenario_pairs(agent, path, evaluate_fn)
        sources[path.name] = len(found)
        pairs += found
    if db is not None:
        found = decision_pairs(db, agent)
        sources["recorded decisions"] = len(found)
        pairs += found
    if len(pairs) < 10:
        raise BadInput(f"only {len(pairs)} labelled outcomes; calibration needs at least 10")
    model = fit(agent, pairs, method)
    after = [(model.apply(x), y) for x, y in pairs]
    held_out = []
    for path in holdout or []:
        test = scenario_pairs(agent, path, evaluate_fn)
        held_out.append(
            {"dataset": str(path), "before": scores(test), "after": scores([(model.apply(x), y) for x, y in test])}
        )
    policy = agent_policy(agent)
    mapped = model.thresholds(policy.thresholds)
    report: dict[str, Any] = {
        "fitted_at": now_iso(),
        "sources": sources,
        "before": scores(pairs),
        "after": scores(after),
        "after_cv": cross_validated(pairs, method),
        "holdout": held_out,
        "thresholds": {
            "raw": {
                "auto_min_confidence": policy.thresholds.auto_min_confidence,
                "review_min_confidence": policy.thresholds.review_min_confidence,
            },
            "calibrated": {
                "auto_min_confidence": round(mapped.auto_min_confidence, 4),
                "review_min_confidence": round(mapped.review_min_confidence, 4),
            },
        },
    }
    calibration = type(model)(agent, model.method, model.params, report)
    written = str(save(calibration, output)) if write else None
    return {
        "agent": agent,
        "method": method,
        "params": model.params,
        "sources": sources,
        "before": report["before"],
        "after": report["after"],
        "after_cv": report["after_cv"],
        "holdout": held_out,
        "thresholds": report["thresholds"]["calibrated"],
        "written": written,
    }
