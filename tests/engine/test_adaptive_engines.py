"""The Blur IG and Guided IG engines: closed forms, the straight-line limit, one trace."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._engine.blur import MATRICES, BlurEngine
from keras_ig._engine.guided import GuidedEngine
from keras_ig._engine.job import make_plan
from keras_ig._engine.score import ScoreFunction
from keras_ig._numpy.blur import blur_path
from tests.helpers import pair

ndimage = pytest.importorskip("scipy.ndimage")


def linear(shape: tuple, seed: int = 0) -> tuple[keras.Model, np.ndarray]:
    """`F(x) = w . x + c` on `[N, *shape]`, with its weights `w` shaped like a row."""
    model = keras.Sequential(
        [keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(1, bias_initializer="ones")]
    )
    w = np.random.default_rng(seed).normal(size=(int(np.prod(shape)), 1)).astype("float32")
    model.layers[-1].kernel.assign(w)
    return model, w.reshape(shape)


@pytest.mark.slow
@pytest.mark.parametrize("fraction, max_dist", [(0.25, 0.02), (0.5, 1.0), (1.0, 0.0)])
def test_guided_ig_on_a_linear_model_is_w_times_the_difference(fraction, max_dist):
    # dF/dx = w everywhere, and every path ends at x: sum of w * dz = w (x - x').
    model, w = linear((4, 5, 2))
    x, base = pair.images(3)[:, :4, :5, :2], np.full((4, 5, 2), 0.3, "float32")
    exp = keras_ig.guided_ig(model, x, baseline=base, steps=7, fraction=fraction, max_dist=max_dist)
    np.testing.assert_allclose(exp.attributions, w * (x - base), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.delta, 0.0, atol=1e-5)


def scipy_blur(img: np.ndarray, sd: float) -> np.ndarray:
    """`img [H, W, C]` blurred over H and W by scipy (PAIR's blur); 0 is the identity."""
    return img if sd == 0 else ndimage.gaussian_filter(img, [sd, sd, 0], mode="constant")


def blur_ig_closed_form(w, x, sigma: float, s: int, h: float) -> np.ndarray:
    """Blur IG on `F = sum(w * x)`, in float64 with scipy's blur.

    `attr = -(max_sigma / S) / h * w * sum_k (blur(x, s_k + h) - blur(x, s_k))`.
    """
    return np.stack(
        [
            -(sigma / s)
            / h
            * w
            * sum(
                scipy_blur(xi, k * sigma / s + h) - scipy_blur(xi, k * sigma / s) for k in range(s)
            )
            for xi in x.astype("float64")
        ]
    )


def test_blur_ig_on_a_linear_model_is_its_closed_form():
    model, w = linear((6, 7, 2))
    x = pair.images(2)[:, :6, :7, :2]
    s, h, sigma = 5, 0.05, 2.0
    want = blur_ig_closed_form(w, x, sigma, s, h)
    exp = keras_ig.blur_ig(model, x, max_sigma=sigma, steps=s, grad_step=h, warn=False)
    np.testing.assert_allclose(exp.attributions, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(exp.baseline[0], scipy_blur(x[0], sigma), atol=1e-6)


def test_blur_ig_path_step_has_no_float32_cancellation_at_large_sigma():
    # At max_sigma=50 two float32 blurs 0.01 apart agree to ~1e-5, so their difference
    # kept ~4 digits (6e-4 relative error, 32 x 32); the step is now formed from float64
    # matrix differences, exact to float32 rounding of one blur.
    model, w = linear((32, 32, 1))
    x = np.random.default_rng(3).uniform(size=(2, 32, 32, 1)).astype("float32")
    s, h, sigma = 16, 0.01, 50.0
    want = blur_ig_closed_form(w, x, sigma, s, h)
    exp = keras_ig.blur_ig(model, x, max_sigma=sigma, steps=s, grad_step=h, warn=False)
    np.testing.assert_allclose(exp.attributions, want, rtol=0, atol=2e-6 * np.abs(want).max())


@pytest.mark.slow
def test_guided_ig_with_no_deviation_is_left_riemann_ig():
    model, x = pair.image_cnn(), pair.images()
    exp = keras_ig.guided_ig(model, x, steps=12, max_dist=0.0, target=1, warn=False)
    ig = keras_ig.explain(model, x, steps=12, method="left", target=1, warn=False)
    np.testing.assert_allclose(exp.attributions, ig.attributions, rtol=1e-4, atol=1e-7)


def test_guided_ig_averages_a_stack_of_baselines_and_is_zero_at_the_baseline():
    model, x = pair.image_cnn(), pair.images(2)
    stack = keras_ig.BaselineStack(np.stack([np.zeros_like(x[0]), np.ones_like(x[0])]))
    both = keras_ig.guided_ig(model, x, baseline=stack, steps=6, target=0, warn=False)
    ones = [
        keras_ig.guided_ig(model, x, baseline=b, steps=6, target=0, warn=False) for b in (0.0, 1.0)
    ]
    mean = (ones[0].attributions + ones[1].attributions) / 2
    np.testing.assert_allclose(both.attributions, mean, rtol=1e-5, atol=1e-7)
    same = keras_ig.guided_ig(model, x, baseline=x, steps=6, target=0, warn=False)
    np.testing.assert_array_equal(same.attributions, 0.0)


@pytest.mark.slow
def test_one_trace_serves_every_batch_and_chunk_size():
    model, x = pair.image_cnn(), pair.images(5)
    score = ScoreFunction(model)
    blur, guided = BlurEngine(score), GuidedEngine(score)
    fn_b = blur.compiled(x.shape[1:], x.dtype)
    plan = make_plan(None, ("x",), [0], [x], (x.shape[1:],), (tf.float32,))
    fn_g = guided.compiled(plan)
    path = blur_path(10, 12, 3.0, 4, 0.01)
    mats = {k: path[k].astype("float32") for k in MATRICES}
    for n, rows in [(5, 3), (2, 7), (1, 1)]:
        t = np.full(n, 1, np.int32)
        fn_b(x[:n], mats, t, np.int32(rows))
        fn_g([x[:n]], np.arange(n, dtype=np.int32), [0 * x[:n]], t, 4, 7, 0.1, np.int32(rows))
    assert blur.traces == 1 and guided.traces == 1


def test_blur_engine_refuses_a_layer():
    model = pair.image_cnn()
    with pytest.raises(ValueError, match="layer"):
        BlurEngine(ScoreFunction(model, layer="logits"))


def two_inputs() -> keras.Model:
    a, b = keras.Input((3,), name="a"), keras.Input((2, 2), name="b")
    h = keras.layers.Concatenate()([a, keras.layers.Flatten()(b)])
    h = keras.layers.Dense(5, activation="tanh")(h)
    return keras.Model({"a": a, "b": b}, keras.layers.Dense(2)(h))


@pytest.mark.slow
def test_guided_ig_on_a_two_input_model_walks_both_inputs_jointly():
    model = two_inputs()
    rng = np.random.default_rng(0)
    x = {
        "a": rng.normal(size=(4, 3)).astype("float32"),
        "b": rng.normal(size=(4, 2, 2)).astype("float32"),
    }
    # On the line (max_dist=0) it is left-Riemann IG, input by input.
    exp = keras_ig.guided_ig(model, x, steps=10, max_dist=0.0, target=1, warn=False)
    ig = keras_ig.explain(model, x, steps=10, method="left", target=1, warn=False)
    for key in ("a", "b"):
        np.testing.assert_allclose(
            exp.attributions[key], ig.attributions[key], rtol=1e-4, atol=1e-6
        )
    # Off the line, completeness still holds over both inputs, and an input held fixed gets None.
    guided = keras_ig.guided_ig(model, x, steps=64, target=1)
    total = guided.attributions["a"].sum(1) + guided.attributions["b"].sum((1, 2))
    np.testing.assert_allclose(
        total - (guided.scores - guided.baseline_scores), guided.delta, atol=1e-6
    )
    assert np.all(np.abs(guided.relative_delta) < 0.05)
    fixed = keras_ig.guided_ig(
        model, x, baseline={"a": 0.0, "b": None}, steps=8, target=1, warn=False
    )
    assert fixed.attributions["b"] is None and fixed.attributions["a"].shape == (4, 3)


def test_nth_smallest_is_numpys_lower_quantile_with_ties_and_inf():
    from keras_ig._engine.guided import nth_smallest

    rng = np.random.default_rng(0)
    a = np.abs(rng.normal(size=(4, 50)))
    a[:, :20] = 0.5  # a long run of equal values
    a[1, 30:] = np.inf  # PAIR's edge
    bits = tf.constant(a.view(np.int64))
    for n in (0, 19, 25, 49):
        got = nth_smallest(bits, tf.constant(n)).numpy().view(np.float64)
        want = np.quantile(a, n / 49, axis=1, method="lower")
        np.testing.assert_array_equal(got, want)
