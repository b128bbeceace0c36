"""The callback's numpy statistics: ranks, Spearman stability, localization."""

from __future__ import annotations

import ast
import math
import pathlib

import numpy as np
import pytest

from keras_ig._numpy import metrics as _metrics


def test_metrics_module_imports_no_tensorflow():
    tree = ast.parse(pathlib.Path(_metrics.__file__).read_text())
    names = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
        if alias.name
    }
    assert not names & {"tensorflow", "keras"}


def test_rankdata_averages_ties():
    ranks = _metrics.rankdata(np.array([10.0, 20.0, 20.0, 5.0]))
    np.testing.assert_array_equal(ranks, [2.0, 3.5, 3.5, 1.0])
    # Ranks always sum to n (n + 1) / 2, ties or not.
    v = np.random.default_rng(0).integers(0, 4, 50).astype(float)
    assert _metrics.rankdata(v).sum() == pytest.approx(50 * 51 / 2)


def test_spearman_is_invariant_to_monotone_maps():
    a = np.random.default_rng(1).normal(size=(6, 7))
    assert _metrics.spearman(a, np.exp(3 * a) + 5) == pytest.approx(1.0)
    assert _metrics.spearman(a, -(a**3)) == pytest.approx(-1.0)


def test_spearman_matches_the_textbook_formula_without_ties():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=40), rng.normal(size=40)
    d = _metrics.rankdata(a) - _metrics.rankdata(b)
    n = a.size
    expected = 1 - 6 * np.sum(d**2) / (n * (n**2 - 1))
    assert _metrics.spearman(a, b) == pytest.approx(expected)


def test_spearman_is_nan_when_undefined():
    assert math.isnan(_metrics.spearman(np.ones(5), np.arange(5.0)))
    assert math.isnan(_metrics.spearman(np.array([1.0, np.nan]), np.arange(2.0)))
    with pytest.raises(ValueError, match="elements"):
        _metrics.spearman(np.ones(3), np.ones(4))


def test_localization_is_the_positive_share_inside_the_mask():
    scores = np.array([[3.0, -5.0], [1.0, 0.0]])
    mask = np.array([[True, True], [False, False]])
    # positive mass 3 inside, 1 outside; negative mass is ignored.
    assert _metrics.localization(scores, mask) == pytest.approx(0.75)
    assert _metrics.localization(scores, np.ones((2, 2), bool)) == 1.0
    assert _metrics.localization(scores, np.zeros((2, 2), bool)) == 0.0
    assert math.isnan(_metrics.localization(-np.abs(scores), mask))
    with pytest.raises(ValueError, match="mask shape"):
        _metrics.localization(scores, np.ones(4, bool))


def test_finite_mean():
    assert _metrics.finite_mean(np.array([1.0, np.nan, 3.0])) == 2.0
    assert _metrics.finite_mean(np.array([np.nan])) is None


def test_rankdata_ranks_each_row_on_its_own():
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 4, size=(5, 9)).astype(float)  # many ties
    ranks = _metrics.rankdata(rows)
    for row, got in zip(rows, ranks, strict=True):
        np.testing.assert_array_equal(got, _metrics.rankdata(row))
        # Tie-averaged ranks: equal values share one rank, ranks sum to n(n+1)/2.
        for value in np.unique(row):
            assert len(set(got[row == value])) == 1
        assert got.sum() == pytest.approx(9 * 10 / 2)


def test_unit_ranks_all_agrees_with_one_map_at_a_time():
    rng = np.random.default_rng(4)
    maps = [rng.normal(size=(4, 4)), np.zeros((4, 4)), rng.normal(size=(4, 4))]
    maps[2][0, 0] = np.nan
    together = _metrics.unit_ranks_all(maps)
    assert together[1] is None and together[2] is None  # constant; not finite
    expected = _metrics.rankdata(maps[0].reshape(-1)) - 8.5
    np.testing.assert_allclose(together[0], expected / np.linalg.norm(expected))
    mixed = _metrics.unit_ranks_all([maps[0], rng.normal(size=5)])  # sizes differ
    np.testing.assert_allclose(mixed[0], together[0])
    assert mixed[1].shape == (5,)
    assert _metrics.correlation(together[0], together[0]) == pytest.approx(1.0)
