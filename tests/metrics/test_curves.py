"""Deletion and insertion: curves by hand, grouping, ties, batching, bad input."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_ig
from keras_ig import metrics
from keras_ig._engine import curves
from keras_ig._numpy import faithfulness
from keras_ig.metrics import _setup
from tests.helpers.models import mlp, rand

W = np.array([1.0, 2.0, 3.0, -1.0], np.float32)


def linear(w: np.ndarray = W) -> keras.Model:
    """F(z) = w . z, one output unit."""
    model = keras.Sequential([keras.Input((len(w),)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].set_weights([np.asarray(w, np.float32)[:, None]])
    return model


def reference_curve(f, x, base, scores, steps, insertion):
    """A plain transcription of the definition: one row, one step at a time."""
    order = sorted(range(scores.size), key=lambda i: (-scores.flat[i], i))
    out = []
    for k in range(steps + 1):
        moved = order[: round(k / steps * scores.size)]
        z = (base if insertion else x).copy()
        for i in moved:
            z.flat[i] = (x if insertion else base).flat[i]
        out.append(f(z))
    return np.array(out)


def test_deletion_and_insertion_by_hand_on_a_linear_model():
    x = np.ones((1, 4), np.float32)
    a = x * W  # IG of a linear model: w * x; order: features 2, 1, 0, 3
    d = metrics.deletion(linear(), x, a, steps=4)
    np.testing.assert_allclose(d.curves, [[5, 2, 0, -1, 0]], atol=1e-6)
    np.testing.assert_allclose(d.fractions, [0, 0.25, 0.5, 0.75, 1])
    # Trapezoid: 0.25 * ((5 + 2) / 2 + (2 + 0) / 2 + (0 - 1) / 2 + (-1 + 0) / 2)
    np.testing.assert_allclose(d.scores, [0.875], atol=1e-6)
    i = metrics.insertion(linear(), x, a, steps=4, baseline=0.5)
    # Baseline 0.5 everywhere: F = 2.5, then features 2, 1, 0, 3 become 1.
    np.testing.assert_allclose(i.curves, [[2.5, 4, 5, 5.5, 5]], atol=1e-6)
    assert i.scores[0] == pytest.approx(0.25 * (6.5 + 9 + 10.5 + 10.5) / 2)


def test_curves_match_the_definition_with_rounded_steps():
    model = mlp(n_in=7)
    x, a = rand(3, 7, seed=1), rand(3, 7, seed=2, low=-1)
    base = rand(1, 7, seed=3)
    for insertion, fn in ((False, metrics.deletion), (True, metrics.insertion)):
        got = fn(model, x, a, baseline=base[0], steps=3, target=1)
        for n in range(3):

            def f(z):
                return float(model(z[None])[0, 1])

            want = reference_curve(f, x[n], base[0], a[n], 3, insertion)
            np.testing.assert_allclose(got.curves[n], want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got.targets, [1, 1, 1])


def test_one_baseline_per_input_and_images():
    model = keras.Sequential(
        [
            keras.Input((3, 3, 2)),
            keras.layers.Conv2D(2, 2, activation="tanh"),
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    x, base = rand(2, 3, 3, 2, seed=10), rand(2, 3, 3, 2, seed=11)
    a = rand(2, 3, 3, 2, seed=12, low=-1)
    got = metrics.deletion(model, x, a, baseline=base, steps=4, target=[0, 1])
    for n in range(2):
        pixel = a[n].sum(-1)  # the reference ranks pixels, moving both channels

        def f(z, n=n):
            return float(model(z[None])[0, n])

        order = sorted(range(9), key=lambda i: (-pixel.flat[i], i))
        want = []
        for k in range(5):
            z = x[n].copy()
            for i in order[: round(k / 4 * 9)]:
                z[i // 3, i % 3] = base[n][i // 3, i % 3]
            want.append(f(z))
        np.testing.assert_allclose(got.curves[n], want, rtol=1e-5, atol=1e-6)


def image_model() -> keras.Model:
    """F = sum of weights * pixels over a [2, 2, 2] image: a linear map."""
    w = np.arange(1, 9, dtype=np.float32)
    model = keras.Sequential(
        [keras.Input((2, 2, 2)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)]
    )
    model.layers[-1].set_weights([w[:, None]])
    return model


def test_image_pixels_move_with_their_channels_ranked_by_their_sum():
    model = image_model()
    x = np.ones((1, 2, 2, 2), np.float32)
    a = np.zeros((1, 2, 2, 2), np.float32)
    a[0, 0, 0] = [3.0, -2.0]  # pixel (0, 0): largest element, sum 1
    a[0, 1, 1] = [1.0, 1.0]  # pixel (1, 1): sum 2, moves first
    a[0, 0, 1] = [0.5, 0.0]  # pixel (0, 1): sum 0.5, third
    d = metrics.deletion(model, x, a, steps=4)
    # Flattened weights: pixel (0,0) -> 1 + 2, (0,1) -> 3 + 4, (1,0) -> 5 + 6, (1,1) -> 7 + 8.
    # Pixel order by summed attribution: (1,1), (0,0), (0,1), (1,0).
    np.testing.assert_allclose(d.curves, [[36, 21, 18, 11, 0]], atol=1e-5)
    # Ranked element by element, (0, 0)'s first channel would go first instead.
    assert d.curves[0, 1] != pytest.approx(36 - 1)


def test_ties_keep_index_order():
    x = np.ones((1, 4), np.float32)
    a = np.zeros((1, 4), np.float32)  # all tied: features leave as 0, 1, 2, 3
    d = metrics.deletion(linear(), x, a, steps=4)
    np.testing.assert_allclose(d.curves, [[5, 4, 2, -1, 0]], atol=1e-6)
    i = metrics.insertion(linear(), x, a, steps=2)  # round(0.5 * 4) = 2: features 0 and 1
    np.testing.assert_allclose(i.curves, [[0, 3, 5]], atol=1e-6)


def test_batch_size_never_changes_results_and_graphs_are_reused():
    model = mlp(n_in=5)
    x, a = rand(6, 5, seed=4), rand(6, 5, seed=5, low=-1)
    want = metrics.deletion(model, x, a, steps=5)
    engine = _setup._engine_for(model, None, None)[2]
    traces = engine.traces
    for b in (1, 4, 7, 1000):
        got = metrics.deletion(model, x, a, steps=5, batch_size=b)
        np.testing.assert_allclose(got.curves, want.curves, rtol=1e-6, atol=1e-7)
    metrics.deletion(model, x[:2], a[:2], steps=9, batch_size=3)  # other N, steps: same graph
    assert engine.traces == traces


@pytest.mark.parametrize("fn", [metrics.deletion, metrics.insertion])
def test_predicted_class_is_the_one_at_x_whatever_the_chunks(fn):
    # Many classes, so the class at x differs from those of the perturbed rows.
    model = mlp(n_in=6, n_out=5)
    x, a = rand(5, 6, seed=13), rand(5, 6, seed=14, low=-1)
    predicted = np.argmax(model(x).numpy(), axis=-1)
    assert len(set(predicted)) > 1
    given = fn(model, x, a, target=predicted, steps=4)
    # 5 rows per input: chunks of 1, 3, 4 and 7 split inputs at every offset.
    for b in (None, 1, 3, 4, 7):
        got = fn(model, x, a, steps=4, batch_size=b)
        np.testing.assert_array_equal(got.targets, predicted)
        np.testing.assert_allclose(got.curves, given.curves, rtol=1e-6, atol=1e-7)


def test_one_baseline_per_input_equals_the_shared_baseline_it_repeats():
    model = mlp(n_in=6, n_out=3)
    x, a, base = rand(4, 6, seed=15), rand(4, 6, seed=16, low=-1), rand(1, 6, seed=17)
    for fn in (metrics.deletion, metrics.insertion):
        shared = fn(model, x, a, baseline=base[0], steps=3, batch_size=5)
        each = fn(model, x, a, baseline=np.repeat(base, 4, axis=0), steps=3, batch_size=5)
        np.testing.assert_array_equal(each.curves, shared.curves)
        # And the baseline really is what the curve starts (insertion) or ends (deletion) at.
        f_base = model(base).numpy()[0, shared.targets]
        end = shared.curves[:, 0] if fn is metrics.insertion else shared.curves[:, -1]
        np.testing.assert_allclose(end, f_base, rtol=1e-5)


def _ties(shape: tuple, seed: int) -> np.ndarray:
    """Attributions drawn from a few values (many ties), some of them -0.0."""
    values = np.array([-1.0, -0.0, 0.0, 0.5, 2.0])
    return np.random.default_rng(seed).choice(values, size=shape)


@pytest.mark.parametrize(
    "shape", [(3, 17), (2, 4, 5), (3, 4, 5, 1), (2, 3, 4, 3), (2, 4, 4, 9), (1, 1)]
)
def test_on_device_ranking_equals_numpy_on_ties(shape):
    a = _ties(shape, seed=sum(shape))
    if len(shape) == 4 and shape[-1] >= 3:
        # Pixels whose channel sums depend on the order of the additions:
        # left to right, 1 + 1e16 - 1e16 is 0 (and 1 the other way).
        a[0, :2, :2] = 0.0
        a[0, 0, 0, :3] = [1.0, 1e16, -1e16]
        a[0, 0, 1, :3] = [1e16, -1e16, 1.0]
        a[0, 1, 0, :3] = [0.5, 0.0, 0.0]
    want = faithfulness.feature_positions(faithfulness.feature_scores(a))
    got = curves.feature_positions(curves.feature_scores(a)).numpy()
    np.testing.assert_array_equal(got, want)
    if len(shape) == 4 and shape[-1] >= 3:
        # The sums above: 0, then 1, then 0.5 -> pixel (0, 1) before (1, 0) before (0, 0).
        assert want[0, 0, 1] < want[0, 1, 0] < want[0, 0, 0]


def test_target_output_and_callable_target_agree():
    model = mlp(n_in=5, activation="softmax")
    x, a = rand(3, 5, seed=6), rand(3, 5, seed=7, low=-1)
    by_name = metrics.insertion(model, x, a, output="logits", target=2, steps=4)
    by_fn = metrics.insertion(
        model, x, a, output="logits", target=lambda y: y[:, 2], steps=4, batch_size=2
    )
    np.testing.assert_allclose(by_fn.curves, by_name.curves, rtol=1e-6)
    # The last point of insertion is F(x): the logit, computed by hand.
    w1, b1, w2, b2 = model.get_weights()
    logits = np.tanh(x @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(by_name.curves[:, -1], logits[:, 2], rtol=1e-5)


def test_true_ig_maps_beat_random_maps():
    model = mlp(n_in=12, n_out=3)
    x = rand(16, 12, seed=8)
    exp = keras_ig.explain(model, x, output="logits", warn=False)
    noise = np.random.default_rng(9).normal(size=x.shape).astype(np.float32)
    kw = {"output": "logits", "target": exp.target, "steps": 12}
    assert (
        metrics.deletion(model, x, exp.attributions, **kw).scores.mean()
        < metrics.deletion(model, x, noise, **kw).scores.mean()
    )
    assert (
        metrics.insertion(model, x, exp.attributions, **kw).scores.mean()
        > metrics.insertion(model, x, noise, **kw).scores.mean()
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"attributions": np.ones((2, 3))}, ValueError, "attributions has shape"),
        ({"attributions": np.full((2, 4), np.nan)}, ValueError, "attributions contains NaN"),
        ({"steps": 0}, ValueError, "steps must be >= 1"),
        ({"steps": 2.5}, TypeError, "steps must be an int"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"baseline": keras_ig.BaselineStack(np.zeros((3, 4)))}, ValueError, "baseline"),
        ({"target": 5}, ValueError, "target 5 is out of range"),
        ({"x": [np.ones((2, 4))]}, TypeError, "x: the metrics take one input"),
        ({"x": np.ones((2, 5), np.float32)}, ValueError, "x has shape"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    args = {"x": np.ones((2, 4), np.float32), "attributions": np.ones((2, 4))} | kwargs
    x, a = args.pop("x"), args.pop("attributions")
    for fn in (metrics.deletion, metrics.insertion):
        with pytest.raises(error, match=match):
            fn(linear(), x, a, **args)
