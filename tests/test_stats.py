"""The shared statistics: nearest-rank percentiles and calibration scores, defined once in the core."""

from hitl_core.stats import brier, calibration_bins, ece, percentile


def test_percentile_is_an_observed_value_by_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.9) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.0) == 1.0


def test_calibration_bins_and_scores_agree():
    pairs = [(0.95, 1), (0.91, 0), (0.15, 0)]
    table = calibration_bins(pairs)
    assert [(b["bin"], b["n"]) for b in table] == [(1, 1), (9, 2)]
    assert ece(pairs) == round(1 / 3 * 0.15 + 2 / 3 * abs(0.93 - 0.5), 4)
    assert brier([]) is None and ece([]) is None
