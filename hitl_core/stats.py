"""Summary statistics shared by the metrics, the calibration fit and the benchmarks: one definition each.

- percentile: nearest rank on the sorted values (no interpolation), so a reported p90 is a value
  that was actually observed;
- brier, ece, calibration_bins: how well confidences in [0, 1] match 0/1 outcomes, over
  equal-width bins.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank q-quantile (0 <= q <= 1) of the values, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def brier(pairs: list[tuple[float, int]]) -> float | None:
    """Mean squared error of probabilities against 0/1 outcomes (rounded to 4 places; None for no pairs)."""
    return round(sum((p - y) ** 2 for p, y in pairs) / len(pairs), 4) if pairs else None


def calibration_bins(pairs: list[tuple[float, int]], bins: int = 10) -> list[dict[str, Any]]:
    """The pairs grouped into equal-width confidence bins, in bin order: n, mean confidence, outcome rate."""
    grouped: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p, y in pairs:
        grouped[min(bins - 1, int(p * bins))].append((p, y))
    table = []
    for index in sorted(grouped):
        members = grouped[index]
        mean_p = sum(p for p, _ in members) / len(members)
        mean_y = sum(y for _, y in members) / len(members)
        table.append({"bin": index, "n": len(members), "confidence": mean_p, "approved": mean_y})
    return table


def ece(pairs: list[tuple[float, int]], bins: int = 10) -> float | None:
    """Expected calibration error over equal-width bins (weighted |mean confidence - outcome rate|)."""
    if not pairs:
        return None
    table = calibration_bins(pairs, bins)
    return round(sum(b["n"] / len(pairs) * abs(b["confidence"] - b["approved"]) for b in table), 4)
