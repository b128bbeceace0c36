"""Infidelity and max-sensitivity: closed forms on a linear model, Captum's formulas."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_ig import metrics
from tests.helpers.models import mlp, rand

W = np.array([1.0, -2.0, 0.5, 3.0], np.float32)


def linear() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([W[:, None]])
    return model


def captum_infidelity(dots_by_sample, diffs_by_sample, normalize):
    """Captum's `infidelity` as written there: sums over samples, `safe_div`, then / S."""
    s = len(dots_by_sample)
    sq = sum(d * d for d in dots_by_sample)
    cross = sum(d * f for d, f in zip(dots_by_sample, diffs_by_sample, strict=True))
    diff_sq = sum(f * f for f in diffs_by_sample)
    if normalize:
        beta = cross / np.where(sq == 0, 1.0, sq)  # Captum's safe_div(num, denom, 1.0)
        return (beta**2 * sq - 2 * beta * cross + diff_sq) / s
    return (sq - 2 * cross + diff_sq) / s


class Fixed:
    """A perturbation callable that hands out a known sequence of I."""

    def __init__(self, noises):
        self.noises, self.calls = list(noises), 0

    def __call__(self, x):
        noise = self.noises[self.calls]
        self.calls += 1
        return noise, x - noise


def test_infidelity_is_zero_for_the_gradient_of_a_linear_model():
    x = rand(3, 4, seed=0)
    grad = np.broadcast_to(W, x.shape)  # F(x) - F(x - I) = w . I = I . grad exactly
    got = metrics.infidelity(linear(), x, grad, normalize=False, seed=1)
    np.testing.assert_allclose(got, 0.0, atol=1e-9)
    # Normalized, any positive multiple of the gradient is just as faithful.
    np.testing.assert_allclose(metrics.infidelity(linear(), x, 7 * grad, seed=1), 0.0, atol=1e-9)


def test_gaussian_infidelity_has_its_closed_form_expectation():
    # E[(I . (a - w))**2] = stdev**2 * ||a - w||**2 for I ~ N(0, stdev**2).
    x = rand(2, 4, seed=2)
    a = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    got = metrics.infidelity(linear(), x, a, normalize=False, stdev=0.3, samples=400, seed=3)
    want = 0.09 * ((a - W) ** 2).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=0.25)


@pytest.mark.slow
def test_infidelity_matches_captums_formula_on_a_nonlinear_model():
    model = mlp(n_in=5, n_out=3)
    x, a = rand(4, 5, seed=4), rand(4, 5, seed=5, low=-1)
    rng = np.random.default_rng(6)
    noises = [rng.normal(0, 0.2, x.shape).astype(np.float32) for _ in range(5)]
    f = model(x).numpy()
    targets = f.argmax(axis=1)
    fx = f[np.arange(4), targets]
    dots = [(n * a).sum(axis=1) for n in noises]
    diffs = [fx - model(x - n).numpy()[np.arange(4), targets] for n in noises]
    for normalize in (True, False):
        perturb = Fixed(noises)
        got = metrics.infidelity(model, x, a, perturb=perturb, samples=5, normalize=normalize)
        assert perturb.calls == 5
        want = captum_infidelity(dots, diffs, normalize)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-9)
    by_batch = metrics.infidelity(model, x, a, perturb=Fixed(noises), samples=5, batch_size=3)
    np.testing.assert_allclose(by_batch, captum_infidelity(dots, diffs, True), rtol=1e-4)


def test_a_two_argument_perturb_gets_the_baseline():
    seen = []

    def towards_baseline(x, base):
        seen.append(base.copy())
        return x - base, base  # I = x - x', x - I = x'

    x = rand(2, 4, seed=7)
    a = x * W  # IG from zeros: complete, so I . a = F(x) - F(0) exactly
    got = metrics.infidelity(linear(), x, a, perturb=towards_baseline, samples=2, baseline=0.0)
    np.testing.assert_allclose(seen[0], 0.0)
    np.testing.assert_allclose(got, 0.0, atol=1e-9)


def test_sensitivity_max_on_a_linear_model():
    x = rand(3, 4, seed=8, low=0.5)
    r = 0.1

    def ig(z):
        return z * W  # IG of a linear model from zeros

    got = metrics.sensitivity_max(ig, x, radius=r, samples=300, seed=9)
    # ||d * w|| / ||x * w|| is at most r ||w|| / ||x * w||, reached at the cube's corners.
    bound = r * np.linalg.norm(W) / np.linalg.norm(x * W, axis=1)
    assert np.all(got <= bound + 1e-9)
    assert np.all(got >= 0.7 * bound)
    # The default explanation (keras_ig.explain) of a linear model is the same map.
    by_model = metrics.sensitivity_max(linear(), x, radius=r, samples=3, seed=9)
    np.testing.assert_allclose(
        by_model, metrics.sensitivity_max(ig, x, radius=r, samples=3, seed=9), rtol=1e-4
    )
    np.testing.assert_allclose(metrics.sensitivity_max(lambda z: np.ones_like(z), x), 0.0)


def test_sensitivity_max_matches_captums_formula():
    model = mlp(n_in=5, n_out=2, activation=None)

    def grad_times_input(z):  # any explanation that moves non-linearly with x
        return np.tanh(np.asarray(model(z)))[:, :1] * z**2

    x = rand(3, 5, seed=10)
    got = metrics.sensitivity_max(grad_times_input, x, radius=0.05, samples=4, seed=11)
    # Captum: for each sample, d ~ U(-r, r) of x's shape (here numpy's generator
    # with the same seed), then max over samples of ||e(x + d) - e(x)|| / ||e(x)||.
    rng = np.random.default_rng(11)
    e0 = grad_times_input(x).reshape(3, -1)
    ratios = []
    for _ in range(4):
        d = rng.uniform(-0.05, 0.05, size=x.shape).astype(np.float32)
        e = grad_times_input(x + d).reshape(3, -1)
        ratios.append(np.linalg.norm(e - e0, axis=1) / np.linalg.norm(e0, axis=1))
    np.testing.assert_allclose(got, np.max(ratios, axis=0), rtol=1e-6)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m, x: metrics.infidelity(m, x, np.ones((2, 3))), ValueError, "attributions"),
        (lambda m, x: metrics.infidelity(m, x, x, samples=0), ValueError, "samples"),
        (lambda m, x: metrics.infidelity(m, x, x, stdev=-1.0), ValueError, "stdev"),
        (lambda m, x: metrics.infidelity(m, x, x, perturb=3), TypeError, "perturb"),
        (lambda m, x: metrics.infidelity(m, x, x, perturb=lambda z: z), TypeError, "perturb"),
        (
            lambda m, x: metrics.infidelity(m, x, x, perturb=lambda z: (z[:1], z)),
            ValueError,
            "perturb returned I",
        ),
        (lambda m, x: metrics.infidelity(m, x, x, normalize=1), TypeError, "normalize"),
        (lambda m, x: metrics.sensitivity_max(m, x, radius=-0.1), ValueError, "radius"),
        (lambda m, x: metrics.sensitivity_max(m, x, samples=0), ValueError, "samples"),
        (lambda m, x: metrics.sensitivity_max("nope", x), TypeError, "explain_fn"),
        (lambda m, x: metrics.sensitivity_max(lambda z: z[:, :2], x), ValueError, "explain_fn"),
    ],
)
def test_bad_input_names_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(linear(), rand(2, 4))
