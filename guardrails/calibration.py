"""Calibrated confidence: the policy-weighted signal mean mapped to a probability that fits outcomes.

The raw confidence (`combine_confidence`: the policy's weighted mean of retrieval quality, evidence
agreement, validation, the model's estimate and the historical approval rate) is a score, not a
probability. A calibration is fitted on labelled outcomes, where the label says whether the
proposal could run without a human changing it:

- scenario sets: label 1 when the case is expected to run automatically;
- recorded decisions: label 1 when a reviewer approved the proposal unchanged, 0 when they edited,
  rejected, escalated it or let it expire.

Two methods, both in plain Python: Platt scaling (a logistic curve on the raw score, fitted by
Newton's method with Platt's smoothed targets) and isotonic regression (pool adjacent violators,
interpolated). Both are made strictly increasing, so the policy's thresholds map onto the
calibrated scale and every route stays exactly what it was on the raw scale: calibration changes
what the number means, never which cases a human sees.

The fitted calibration is a JSON file per agent, `guardrails/calibration/<agent>.json` (or
`HITL_CALIBRATION_DIR`), which the validator loads when it exists.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from guardrails.policy import Thresholds
from hitl_core.errors import BadInput
from hitl_core.settings import Settings, configured
from hitl_core.stats import brier, ece

CALIBRATION_DIR = Path(__file__).parent / "calibration"
Method = Literal["platt", "isotonic"]
_TIE_BREAK = 1e-3
"""Weight of the identity in an isotonic map: plateaus get a slight slope, so the map is strictly increasing."""


# -- scores ------------------------------------------------------------------------------------------
def scores(pairs: list[tuple[float, int]]) -> dict[str, Any]:
    """Brier score and ECE of (probability, outcome) pairs."""
    return {"n": len(pairs), "brier": brier(pairs), "ece": ece(pairs)}


# -- fitting -----------------------------------------------------------------------------------------
def fit_platt(pairs: list[tuple[float, int]], iterations: int = 100) -> dict[str, float]:
    """Logistic p = 1 / (1 + exp(-(a x + b))), fitted by Newton's method on Platt's smoothed targets."""
    positives = sum(y for _, y in pairs)
    negatives = len(pairs) - positives
    if positives == 0 or negatives == 0:
        raise BadInput("calibration needs both outcomes among the labelled cases (some approved, some not)")
    hi, lo = (positives + 1) / (positives + 2), 1 / (negatives + 2)
    targets = [(x, hi if y else lo) for x, y in pairs]
    a, b = 1.0, 0.0
    for _ in range(iterations):
        g_a = g_b = h_aa = h_ab = h_bb = 0.0
        for x, t in targets:
            p = _sigmoid(a * x + b)
            w = max(p * (1 - p), 1e-12)
            g_a += (p - t) * x
            g_b += p - t
            h_aa += w * x * x
            h_ab += w * x
            h_bb += w
        h_aa += 1e-9
        h_bb += 1e-9
        det = h_aa * h_bb - h_ab * h_ab
        if abs(det) < 1e-15:
            break
        step_a = (h_bb * g_a - h_ab * g_b) / det
        step_b = (h_aa * g_b - h_ab * g_a) / det
        a, b = a - step_a, b - step_b
        if abs(step_a) < 1e-10 and abs(step_b) < 1e-10:
            break
    return {"a": a, "b": b}


def fit_isotonic(pairs: list[tuple[float, int]]) -> dict[str, list[float]]:
    """Pool adjacent violators: the non-decreasing step function closest to the outcomes."""
    if not pairs:
        raise BadInput("calibration needs labelled cases")
    ordered = sorted(pairs)
    blocks: list[list[float]] = []  # [sum_x, sum_y, count]
    for x, y in ordered:
        blocks.append([x, float(y), 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            last = blocks.pop()
            blocks[-1] = [blocks[-1][0] + last[0], blocks[-1][1] + last[1], blocks[-1][2] + last[2]]
    return {"x": [round(s / n, 6) for s, _, n in blocks], "y": [round(t / n, 6) for _, t, n in blocks]}


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _interpolate(xs: list[float], ys: list[float], x: float) -> float:
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    for i in range(1, len(xs)):
        if x <= xs[i]:
            x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return ys[-1]


# -- the calibration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """A fitted, strictly increasing map from raw confidence to a probability of running unchanged."""

    agent: str
    method: Method
    params: dict[str, Any]
    report: dict[str, Any] = field(default_factory=dict)

    def apply(self, raw: float) -> float:
        """The calibrated confidence for a raw one."""
        x = min(max(raw, 0.0), 1.0)
        if self.method == "platt":
            return _sigmoid(float(self.params["a"]) * x + float(self.params["b"]))
        iso = _interpolate(self.params["x"], self.params["y"], x)
        return (1 - _TIE_BREAK) * iso + _TIE_BREAK * x

    def thresholds(self, raw: Thresholds) -> Thresholds:
        """The policy's confidence thresholds on the calibrated scale (risk is not calibrated)."""
        return raw.model_copy(
            update={
                "auto_min_confidence": self.apply(raw.auto_min_confidence),
                "review_min_confidence": self.apply(raw.review_min_confidence),
            }
        )

    def describe(self) -> dict[str, Any]:
        """What the review request shows about the calibration in force."""
        return {
            "method": self.method,
            "fitted_at": self.report.get("fitted_at"),
            "n": (self.report.get("before") or {}).get("n"),
        }

    def as_dict(self) -> dict[str, Any]:
        """The file's contents."""
        return {"agent": self.agent, "method": self.method, "params": self.params, "report": self.report}


def fit(agent: str, pairs: list[tuple[float, int]], method: Method = "platt") -> Calibration:
    """Fit a calibration on (raw confidence, outcome) pairs; refuses one that is not increasing."""
    if method == "platt":
        params: dict[str, Any] = fit_platt(pairs)
        if params["a"] <= 0:
            raise BadInput(
                "the fitted calibration is not increasing (higher raw confidence does not mean more approvals "
                "in these outcomes); refusing to calibrate on them"
            )
    elif method == "isotonic":
        params = fit_isotonic(pairs)
    else:
        raise BadInput(f"unknown calibration method {method!r} (platt or isotonic)")
    return Calibration(agent, method, params)


def cross_validated(pairs: list[tuple[float, int]], method: Method, folds: int = 5) -> dict[str, Any]:
    """Brier and ECE of calibrated confidence on held-out folds (every k-th case, deterministic)."""
    predicted: list[tuple[float, int]] = []
    for fold in range(folds):
        train = [p for i, p in enumerate(pairs) if i % folds != fold]
        test = [p for i, p in enumerate(pairs) if i % folds == fold]
        if not test:
            continue
        try:
            model = fit("cv", train, method)
        except BadInput:
            model = Calibration("cv", "isotonic", {"x": [0.0, 1.0], "y": [0.0, 1.0]})
        predicted += [(model.apply(x), y) for x, y in test]
    return scores(predicted)


def calibration_dir(settings: Settings | None = None) -> Path:
    """Where calibration files are read from and written to (`HITL_CALIBRATION_DIR`, else the shipped folder).

    The validator node loads calibrations with no settings in reach (nodes/assess.py), so without
    `settings` the configured folder is read through `Settings`.
    """
    return Path((settings or configured()).calibration_dir or CALIBRATION_DIR)


def save(calibration: Calibration, directory: Path | None = None) -> Path:
    """Write `<agent>.json`; returns its path."""
    folder = directory or calibration_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{calibration.agent}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(calibration.as_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def parse(data: Any, source: str) -> Calibration:
    """Validate a calibration file's contents; BadInput names what is wrong."""
    if not isinstance(data, dict):
        raise BadInput(f"{source}: expected a JSON object")
    method, params = data.get("method"), data.get("params")
    if method not in ("platt", "isotonic") or not isinstance(params, dict):
        raise BadInput(f"{source}: method must be platt or isotonic, with params")
    if method == "platt":
        if not all(isinstance(params.get(k), (int, float)) for k in ("a", "b")) or params["a"] <= 0:
            raise BadInput(f"{source}: platt params need numbers a > 0 and b")
    else:
        xs, ys = params.get("x"), params.get("y")
        if (
            not isinstance(xs, list)
            or not isinstance(ys, list)
            or len(xs) != len(ys)
            or not xs
            or any(not isinstance(v, (int, float)) for v in xs + ys)
            or xs != sorted(xs)
            or ys != sorted(ys)
        ):
            raise BadInput(f"{source}: isotonic params need equal-length, non-decreasing number lists x and y")
    return Calibration(str(data.get("agent") or ""), method, params, dict(data.get("report") or {}))


@lru_cache(maxsize=16)
def _cached(path: str, mtime: float) -> Calibration:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(f"calibration file {Path(path).name} is unreadable: {exc}") from None
    return parse(data, Path(path).name)


def load_calibration(agent: str, directory: Path | None = None) -> Calibration | None:
    """The agent's calibration, or None when no file exists (the raw confidence is used)."""
    path = (directory or calibration_dir()) / f"{agent}.json"
    if not path.exists():
        return None
    return _cached(str(path), path.stat().st_mtime)
