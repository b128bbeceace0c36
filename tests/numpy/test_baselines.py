"""Baseline generation and resolution (pure numpy)."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ig import baselines as B


def _x(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, size=(n, 6, 5, 2)).astype(np.float32)


def test_zeros_and_constant_are_shared() -> None:
    x = _x()
    rb = B.resolve("zeros", x)
    assert rb.values.shape == (1, 6, 5, 2) and rb.k == 1
    assert np.all(rb.values == 0) and np.all(rb.index == 0)
    rb = B.resolve(0.5, x)
    assert np.all(rb.values == 0.5)
    assert B.resolve("black", x).values.sum() == 0


def test_array_readings() -> None:
    x = _x(3)
    shared = B.resolve(np.ones((6, 5, 2)), x)
    assert shared.k == 1 and shared.values.shape == (1, 6, 5, 2)
    per_input = B.resolve(np.ones((3, 6, 5, 2)), x)
    assert per_input.k == 1 and per_input.index[:, 0].tolist() == [0, 1, 2]
    stack = B.resolve(np.ones((4, 6, 5, 2)), x)
    assert stack.k == 4 and stack.index.tolist() == [[0, 1, 2, 3]] * 3


def test_stack_of_n_is_told_apart_by_baseline_stack() -> None:
    x = _x(3)
    values = np.random.default_rng(1).normal(size=(3, 6, 5, 2)).astype(np.float32)
    assert B.resolve(values, x).k == 1  # a bare (N, ...) array is per input
    stack = B.resolve(B.BaselineStack(values), x)
    assert stack.k == 3 and stack.index.tolist() == [[0, 1, 2]] * 3
    per_input_stack = B.resolve(B.BaselineStack(np.stack([values, values])), x)
    assert per_input_stack.k == 2 and per_input_stack.values.shape == (6, 6, 5, 2)
    # row n * K + k holds baseline k of input n
    np.testing.assert_array_equal(per_input_stack.values[2 * 1 + 1], values[1])


def test_generated_baselines_are_seeded_and_in_range() -> None:
    x = _x()
    a = B.resolve("uniform", x, n_baselines=5, seed=3)
    b = B.resolve("uniform", x, n_baselines=5, seed=3)
    c = B.resolve("uniform", x, n_baselines=5, seed=4)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)
    assert a.k == 5 and a.values.shape == (15, 6, 5, 2)
    assert a.values.min() >= x.min() and a.values.max() <= x.max()
    g = B.gaussian(x, 4, scale=0.1, seed=0).values
    assert g.shape == (4, *x.shape)
    assert np.abs(g - x[None]).mean() == pytest.approx(0.08, abs=0.02)  # E|N(0, .1)| = .08


def test_blur_keeps_flat_images_flat_and_smooths_edges() -> None:
    flat = np.full((2, 9, 9, 1), 0.3, np.float32)
    np.testing.assert_allclose(B.blur(flat, 2.0), flat, atol=1e-6)
    step = np.zeros((1, 16, 16, 1), np.float32)
    step[:, :, 8:] = 1.0
    blurred = B.blur(step, 2.0)
    assert blurred[0, 5, 7, 0] > 0.2 and blurred[0, 5, 8, 0] < 0.8  # edge softened
    np.testing.assert_allclose(blurred.mean(), step.mean(), atol=1e-3)  # mass kept
    assert B.resolve("blur", step).values.shape == step.shape


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("purple", ValueError, "baseline must be one of"),
        (np.ones((2, 2)), ValueError, "shape"),
        (float("nan"), ValueError, "finite"),
        (np.full((6, 5, 2), np.inf), ValueError, "NaN or inf"),
        (object(), TypeError, "baseline must be"),
        (True, TypeError, "bool"),
    ],
)
def test_bad_baselines(spec: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        B.resolve(spec, _x())


def test_blur_needs_spatial_axes() -> None:
    with pytest.raises(ValueError, match="blur"):
        B.resolve("blur", np.ones((2, 5), np.float32))
