"""The pure maths of keras_ig._numpy.faithfulness."""

from __future__ import annotations

import numpy as np

from keras_ig._numpy import faithfulness


def test_positions_rank_highest_first_and_ties_keep_index_order():
    got = faithfulness.feature_positions(np.array([[1.0, 3.0, 3.0, 0.0], [0.0, 0.0, 0.0, 5.0]]))
    np.testing.assert_array_equal(got, [[2, 0, 1, 3], [1, 2, 3, 0]])


def test_images_are_scored_per_pixel():
    a = np.arange(2 * 2 * 3 * 2, dtype=float).reshape(2, 2, 3, 2)
    np.testing.assert_array_equal(faithfulness.feature_scores(a), a.sum(-1))
    flat = np.ones((2, 5))
    np.testing.assert_array_equal(faithfulness.feature_scores(flat), flat)
    assert faithfulness.n_features(a.shape) == 6
    assert faithfulness.n_features(flat.shape) == 5


def test_channels_are_added_left_to_right():
    a = np.zeros((1, 1, 3, 9))
    a[0, 0, 0, :3] = [1.0, 1e16, -1e16]  # (1 + 1e16) - 1e16 = 0
    a[0, 0, 1, :3] = [1e16, -1e16, 1.0]  # (1e16 - 1e16) + 1 = 1
    a[0, 0, 2, 1:] = [1e16, 1, 1, 1, 1, 1, 1, -1e16]  # each 1 is lost next to 1e16
    np.testing.assert_array_equal(faithfulness.feature_scores(a), [[[0.0, 1.0, 0.0]]])


def test_step_counts_round_half_to_even_like_python():
    for n, steps in ((3, 2), (5, 2), (7, 4), (100, 20), (1, 3)):
        want = [round(k / steps * n) for k in range(steps + 1)]
        np.testing.assert_array_equal(faithfulness.step_counts(n, steps), want)


def test_trapezoid_area_is_exact_for_lines():
    x = faithfulness.fractions(7)
    curves = np.stack([2 * x + 1, 1 - x, np.zeros_like(x)])
    np.testing.assert_allclose(faithfulness.trapezoid_area(curves, x), [2.0, 0.5, 0.0])


def test_infidelity_normalize_is_the_least_squares_scale():
    rng = np.random.default_rng(0)
    dots = rng.normal(size=(50, 3))
    diffs = 2.5 * dots + rng.normal(scale=0.1, size=(50, 3))
    got = faithfulness.infidelity(dots, diffs, normalize=True)
    # The best beta per input minimises the mean squared residual: no other scale does better.
    for beta in (2.4, 2.6, 1.0):
        assert np.all(got <= ((beta * dots - diffs) ** 2).mean(axis=0))
    np.testing.assert_allclose(
        faithfulness.infidelity(dots, diffs, normalize=False), ((dots - diffs) ** 2).mean(axis=0)
    )
    np.testing.assert_allclose(faithfulness.infidelity(np.zeros((4, 2)), np.ones((4, 2))), 1.0)


def test_sensitivity_ratio_zero_and_inf():
    o = np.array([[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]])
    p = np.array([[3.0, 5.0], [0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(faithfulness.sensitivity_ratio(p, o), [0.2, 0.0, np.inf])
