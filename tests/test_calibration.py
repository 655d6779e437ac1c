"""Confidence calibration: scores, fitting, the threshold mapping, the command and the file the agents load."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from guardrails.calibration import (
    Calibration,
    brier,
    ece,
    fit,
    fit_isotonic,
    fit_platt,
    load_calibration,
    parse,
    scores,
)
from guardrails.routing import Proposal, Signal, assess
from hitl_core.errors import BadInput
from hitl_runtime.agents import agent_policy

SCENARIOS = Path(__file__).parent / "scenarios"


def test_brier_and_ece_known_values():
    pairs = [(0.9, 1), (0.8, 1), (0.3, 0), (0.6, 0)]
    assert brier(pairs) == 0.125
    assert ece(pairs) == 0.3  # one case per bin: (0.1 + 0.2 + 0.3 + 0.6) / 4
    assert ece([(0.75, 1), (0.75, 0)]) == 0.25  # one bin: |0.75 - 0.5|
    assert scores([]) == {"n": 0, "brier": None, "ece": None}


def test_isotonic_pools_adjacent_violators():
    assert fit_isotonic([(0.1, 0), (0.2, 1), (0.3, 0), (0.4, 1)]) == {"x": [0.1, 0.25, 0.4], "y": [0.0, 0.5, 1.0]}
    assert fit_isotonic([(0.2, 1), (0.8, 0)]) == {"x": [0.5], "y": [0.5]}


def test_platt_recovers_a_known_curve():
    rng = random.Random(7)
    pairs = []
    for _ in range(4000):
        x = rng.random()
        p = 1 / (1 + pow(2.718281828459045, -(6 * x - 3)))
        pairs.append((x, 1 if rng.random() < p else 0))
    params = fit_platt(pairs)
    assert params["a"] == pytest.approx(6, abs=0.6) and params["b"] == pytest.approx(-3, abs=0.35)


def test_platt_needs_both_outcomes_and_an_increasing_fit():
    with pytest.raises(BadInput, match="both outcomes"):
        fit_platt([(0.5, 1), (0.7, 1)])
    with pytest.raises(BadInput, match="not increasing"):
        fit("support", [(0.9, 0), (0.8, 0), (0.2, 1), (0.1, 1), (0.85, 0), (0.15, 1)], "platt")


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_is_strictly_increasing_so_routes_do_not_change(method):
    rng = random.Random(3)
    pairs = [(x, 1 if rng.random() < x * x else 0) for x in (rng.random() for _ in range(300))]
    calibration = fit("support", pairs, method)
    policy = agent_policy("support")
    grid = [i / 200 for i in range(201)]
    values = [calibration.apply(x) for x in grid]
    assert all(b > a for a, b in itertools.pairwise(values))
    # Every route on the calibrated scale equals the route on the raw scale.
    for raw in grid:
        signals = [
            Signal("retrieval_quality", raw, ""),
            Signal("validation", raw, ""),
            Signal("model_estimate", raw, ""),
        ]
        facts = {"customer": {"tier": "standard", "lifetime_value": 0}, "evidence": {"top_score": 0.9}}
        plain = assess(policy, Proposal("reply", {}), facts, signals, [], [])
        calibrated = assess(policy, Proposal("reply", {}), facts, signals, [], [], calibration=calibration)
        assert plain["route"] == calibrated["route"]
        assert calibrated["confidence_raw"] == plain["confidence"]
        assert calibrated["confidence"] == round(calibration.apply(plain["confidence"]), 4)


def test_thresholds_are_mapped_onto_the_calibrated_scale():
    calibration = Calibration("support", "platt", {"a": 4.0, "b": -2.0})
    th = calibration.thresholds(agent_policy("support").thresholds)
    assert th.auto_min_confidence == pytest.approx(calibration.apply(0.62))
    assert th.review_min_confidence == pytest.approx(calibration.apply(0.30))
    assert th.auto_max_risk == 0.35  # risk is not calibrated


def test_file_validation(tmp_path):
    with pytest.raises(BadInput, match="a > 0"):
        parse({"method": "platt", "params": {"a": -1, "b": 0}}, "x.json")
    with pytest.raises(BadInput, match="non-decreasing"):
        parse({"method": "isotonic", "params": {"x": [0.1, 0.5], "y": [0.9, 0.2]}}, "x.json")
    (tmp_path / "support.json").write_text("{not json")
    with pytest.raises(BadInput, match="unreadable"):
        load_calibration("support", tmp_path)
    assert load_calibration("ops", tmp_path) is None


def test_shipped_calibration_loads():
    shipped = load_calibration("support", Path(__file__).parent.parent / "guardrails" / "calibration")
    assert shipped is not None and shipped.method == "platt" and shipped.params["a"] > 0
    report = shipped.report
    assert report["before"]["brier"] > report["after"]["brier"]
    assert report["holdout"][0]["before"]["brier"] > report["holdout"][0]["after"]["brier"]


def test_calibrate_command_reports_and_writes(tmp_path, monkeypatch, capsys):
    from hitl_cli.main import main

    monkeypatch.setenv("HITL_CALIBRATION_DIR", str(tmp_path))
    monkeypatch.setenv("HITL_DATABASE_URL", f"sqlite:///{tmp_path}/hitl.db")
    code = main(
        [
            "calibrate",
            "support",
            "--dataset",
            str(SCENARIOS / "support.jsonl"),
            "--holdout",
            str(SCENARIOS / "support_holdout.jsonl"),
            "--write",
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sources"] == {"support.jsonl": 60}
    assert out["before"]["n"] == 60 and out["after"]["brier"] < out["before"]["brier"]
    assert out["after"]["ece"] < out["before"]["ece"]
    assert out["holdout"][0]["after"]["brier"] < out["holdout"][0]["before"]["brier"]
    written = json.loads((tmp_path / "support.json").read_text())
    assert written["method"] == "platt" and written["report"]["sources"] == {"support.jsonl": 60}
    loaded = load_calibration("support")
    assert loaded is not None and loaded.params == out["params"]


def test_calibrate_needs_labelled_outcomes(capsys, tmp_path, monkeypatch):
    from hitl_cli.main import main

    monkeypatch.setenv("HITL_DATABASE_URL", f"sqlite:///{tmp_path}/hitl.db")
    assert main(["calibrate", "support"]) == 2
    assert "--dataset" in capsys.readouterr().err
    assert main(["calibrate", "support", "--decisions"]) == 2
    assert "at least 10" in capsys.readouterr().err
