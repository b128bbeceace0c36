"""Quadrature rules: weights, exactness, validation (pure numpy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keras_ig._numpy import quadrature as quadrature_mod
from keras_ig._numpy.quadrature import RULES, quadrature


@pytest.mark.parametrize("method", sorted(RULES))
@pytest.mark.parametrize("steps", [2, 3, 7, 64, 257])
def test_weights_sum_to_one_and_nodes_in_unit_interval(method: str, steps: int) -> None:
    alphas, weights = quadrature(method, steps)
    assert alphas.shape == weights.shape == (steps,)
    assert math.fsum(weights) == pytest.approx(1.0, abs=1e-13)
    assert np.all((alphas >= 0) & (alphas <= 1))
    assert np.all(weights > 0)


def test_trapezoid_spacing_is_one_over_n_minus_one() -> None:
    alphas, weights = quadrature("riemann_trapezoid", 5)
    np.testing.assert_allclose(alphas, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(weights, [0.125, 0.25, 0.25, 0.25, 0.125])


@pytest.mark.parametrize("n", [1, 2, 5, 10])
def test_gauss_legendre_exact_up_to_degree_2n_minus_1(n: int) -> None:
    alphas, weights = quadrature("gausslegendre", n)
    for degree in range(2 * n):
        assert np.dot(weights, alphas**degree) == pytest.approx(1 / (degree + 1), rel=1e-12)
    # ...and not beyond: degree 2n is integrated with an error.
    assert abs(np.dot(weights, alphas ** (2 * n)) - 1 / (2 * n + 1)) > 1e-15


@pytest.mark.parametrize("method", sorted(RULES))
def test_error_falls_as_steps_grow(method: str) -> None:
    # A sharp sigmoid: hard enough that even Gauss-Legendre needs points.
    def f(a):
        return 1 / (1 + np.exp(-20 * (a - 0.3)))

    exact = (np.log1p(np.exp(20 * 0.7)) - np.log1p(np.exp(-20 * 0.3))) / 20
    errors = [abs(np.dot(w, f(a)) - exact) for a, w in (quadrature(method, s) for s in (4, 16, 64))]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-2


def test_riemann_orders() -> None:
    exact = 1 - math.cos(1.0)
    err = {
        m: abs(np.dot(w, np.sin(a)) - exact)
        for m, (a, w) in ((m, quadrature(m, 32)) for m in RULES)
    }
    # Left/right are first order, midpoint/trapezoid second order, GL spectral.
    assert err["riemann_middle"] < err["riemann_left"] / 10
    assert err["riemann_trapezoid"] < err["riemann_right"] / 10
    assert err["gausslegendre"] < 1e-14


@pytest.mark.parametrize(
    ("method", "steps", "error"),
    [
        ("simpson", 8, ValueError),
        ("gausslegendre", 0, ValueError),
        ("riemann_trapezoid", 1, ValueError),
        ("gausslegendre", 2.5, TypeError),
        ("gausslegendre", True, TypeError),
    ],
)
def test_bad_arguments(method: str, steps: object, error: type) -> None:
    with pytest.raises(error, match=r"method|steps"):
        quadrature(method, steps)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["riemann_left", "riemann_right", "riemann_trapezoid"])
@pytest.mark.parametrize("n", [2, 5, 16])
def test_nested_refinement_adds_the_midpoints_of_the_doubled_rule(method, n):
    # new = old / 2 + added must equal the rule at the next point count.
    following, alphas, weights, nested = quadrature_mod.refinement(method, n)
    assert nested

    def g(a):
        return np.cos(3 * a) + a**2

    a0, w0 = quadrature_mod.quadrature(method, n)
    a1, w1 = quadrature_mod.quadrature(method, following)
    refined = np.sum(w0 * g(a0)) / 2 + np.sum(weights * g(alphas))
    np.testing.assert_allclose(refined, np.sum(w1 * g(a1)), rtol=1e-12)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_middle"])
def test_non_nested_refinement_is_the_rule_at_twice_the_points(method):
    following, alphas, weights, nested = quadrature_mod.refinement(method, 8)
    assert not nested and following == 16
    a, w = quadrature_mod.quadrature(method, 16)
    np.testing.assert_array_equal(alphas, a)
    np.testing.assert_array_equal(weights, w)
