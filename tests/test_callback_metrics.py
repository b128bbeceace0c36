"""The callback's numpy statistics: ranks, Spearman drift, localization."""

from __future__ import annotations

import ast
import math
import pathlib

import numpy as np
import pytest

from keras_ig.callbacks import _metrics


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
