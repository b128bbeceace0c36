"""`keras_ig.expected_gradients`: closed forms, Monte-Carlo limits, seeds, keywords."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._api.cache import explainer_for
from tests.helpers.models import linear, mlp, rand, text_model, two_inputs

W3 = np.array([[1.0, 0.5, 0.0], [-2.0, 1.0, 1.0], [3.0, 0.0, -1.0], [0.5, 2.0, 0.2]], np.float32)


def squares() -> keras.Model:
    """F = sum(x**2) over `[N, 4]`."""
    inp = keras.Input((4,))
    out = keras.layers.Lambda(lambda v: tf.reduce_sum(v**2, 1, keepdims=True))(inp)
    return keras.Model(inp, out)


@pytest.mark.slow
@pytest.mark.parametrize(
    "target", [0, [2, 1, 0], lambda y: y[:, 0] - y[:, 1], None], ids=["0", "list", "fn", "None"]
)
def test_linear_model_exact_for_every_sample(target) -> None:
    x, bg = rand(3, 4, seed=1), rand(9, 4, seed=2)
    exp = keras_ig.expected_gradients(
        linear(W3, 0.2), x, bg, samples=5, seed=1, target=target, warn=False
    )
    if callable(target):
        w = np.broadcast_to(W3[:, 0] - W3[:, 1], (3, 4))
    else:
        t = np.argmax(x @ W3, 1) if target is None else np.broadcast_to(target, (3,))
        w = W3[:, t].T
        np.testing.assert_array_equal(exp.target, t)
    drawn = exp.baseline  # [N, samples, 4]: the background rows each draw picked
    assert drawn.shape == (3, 5, 4)
    assert all(any(np.array_equal(r, b) for b in bg) for r in drawn.reshape(-1, 4))
    np.testing.assert_allclose(exp.attributions, w * (x - drawn.mean(1)), atol=1e-5)
    # delta against F(x) - the background's mean score.
    mean_f = (w[:, None, :] * bg[None]).sum(-1).mean(1) + (0.0 if callable(target) else 0.2)
    np.testing.assert_allclose(exp.baseline_scores, mean_f, atol=1e-5)
    np.testing.assert_allclose(
        exp.delta, exp.attributions.sum(1) - (exp.scores - exp.baseline_scores), atol=1e-5
    )


def test_sum_of_squares_tends_to_its_closed_form() -> None:
    x, bg, samples = rand(2, 4, seed=3, low=-1), rand(6, 4, seed=4, low=-1), 3000
    exp = keras_ig.expected_gradients(squares(), x, bg, samples=samples, seed=0, warn=False)
    expected = x**2 - (bg**2).mean(0)
    # Tolerance: five standard errors of one draw (x - b) 2 (b + a (x - b)).
    rng = np.random.default_rng(0)
    b = bg[rng.integers(0, 6, 200_000)]
    a = rng.uniform(size=(200_000, 1))
    draws = (x[:, None] - b) * 2 * (b + a * (x[:, None] - b))  # [2, M, 4]
    tol = 5 * draws.std(1) / np.sqrt(samples)
    assert np.all(np.abs(exp.attributions - expected) < tol)
    np.testing.assert_allclose(exp.scores - exp.baseline_scores, expected.sum(1), rtol=1e-5)


def test_seeds_batch_size_and_one_graph() -> None:
    model, x, bg = mlp(activation=None), rand(4, 6, seed=5), rand(7, 6, seed=6)
    ref = keras_ig.expected_gradients(model, x, bg, samples=6, seed=3, warn=False)
    for batch_size in (1, 5, 1000):
        again = keras_ig.expected_gradients(
            model, x, bg, samples=6, seed=3, batch_size=batch_size, warn=False
        )
        np.testing.assert_allclose(again.attributions, ref.attributions, atol=1e-6)
        np.testing.assert_array_equal(again.baseline, ref.baseline)
    other = keras_ig.expected_gradients(model, x, bg, samples=6, seed=4, warn=False)
    assert not np.allclose(other.attributions, ref.attributions)
    method = explainer_for(model, target=None, layer=None, output=None).expected_engine()
    traces = method.traces
    keras_ig.expected_gradients(model, x[:2], rand(30, 6), samples=11, seed=0, warn=False)
    assert method.traces == traces  # background size and samples are graph arguments


def test_gradient_shap_noise_on_a_linear_model() -> None:
    x, bg, samples, stdev = rand(2, 4, seed=7), rand(5, 4, seed=8), 4000, 0.3
    exp = keras_ig.expected_gradients(
        linear(W3[:, 0]), x, bg, samples=samples, stdev=stdev, seed=2, warn=False
    )
    # Mean of w (x + n - b) over the drawn b: the noise's mean is within 5 SE of 0.
    residual = exp.attributions - W3[:, 0] * (x - exp.baseline.mean(1))
    assert np.all(np.abs(residual) < 5 * np.abs(W3[:, 0]) * stdev / np.sqrt(samples) + 1e-6)
    assert np.abs(residual).max() > 0  # the noise is there
    again = keras_ig.expected_gradients(
        linear(W3[:, 0]), x, bg, samples=samples, stdev=stdev, seed=2, batch_size=333, warn=False
    )
    np.testing.assert_allclose(again.attributions, exp.attributions, atol=1e-6)


@pytest.mark.slow
def test_expected_gradients_at_a_layer() -> None:
    model = text_model()
    ids = (np.arange(14).reshape(2, 7) * 5) % 30
    bg_ids = np.stack([np.zeros(7, int), np.full(7, 3), np.arange(7)])
    by_ids = keras_ig.expected_gradients(
        model, ids, bg_ids, layer="emb", samples=4, seed=0, warn=False
    )
    emb = model.get_layer("emb")(bg_ids).numpy()
    by_rows = keras_ig.expected_gradients(
        model, ids, emb, layer="emb", samples=4, seed=0, warn=False
    )
    wrapped = keras_ig.expected_gradients(
        model, ids, keras_ig.InputBaseline(bg_ids), layer="emb", samples=4, seed=0, warn=False
    )
    assert by_ids.attributions.shape == (2, 7, 5)
    np.testing.assert_allclose(by_ids.attributions, by_rows.attributions, atol=1e-6)
    np.testing.assert_allclose(wrapped.attributions, by_rows.attributions, atol=1e-6)


def test_expected_gradients_two_inputs_held_fixed_dataset_out_render(tmp_path) -> None:
    model = two_inputs()
    x = [rand(3, 4, seed=9), rand(3, 3, seed=10)]
    exp = keras_ig.expected_gradients(
        model, x, [rand(5, 4, seed=11), None], samples=4, seed=0, target=1, warn=False
    )
    assert exp.attributions[1] is None and exp.attributions[0].shape == (3, 4)
    single, x1 = mlp(), rand(5, 6, seed=12)
    bg = rand(4, 6, seed=13)
    ref = keras_ig.expected_gradients(single, x1, bg, samples=3, seed=5, warn=False)
    ds = tf.data.Dataset.from_tensor_slices((x1, np.zeros(5))).batch(5)
    streamed = keras_ig.expected_gradients(
        single, ds, bg, samples=3, seed=5, out=tmp_path / "eg.npy", verbose=0, warn=False
    )
    np.testing.assert_allclose(np.load(tmp_path / "eg.npy"), ref.attributions, atol=1e-6)
    np.testing.assert_allclose(streamed.delta, ref.delta, atol=1e-6)
    (path,) = ref.save(tmp_path / "eg.png")
    assert path.stat().st_size > 0
    smooth = keras_ig.expected_gradients(
        single, x1, bg, samples=3, seed=5, noise=keras_ig.Noise(2, 0.01, seed=0), warn=False
    )
    assert smooth.attributions.shape == x1.shape


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"background": None}, TypeError, "background must be an array"),
        ({"background": "zeros"}, TypeError, "background must be an array"),
        ({"background": np.zeros((3, 5))}, ValueError, r"background has shape \(3, 5\)"),
        ({"samples": 0}, ValueError, "samples must be >= 1"),
        ({"stdev": -1.0}, ValueError, "stdev must be"),
        ({"seed": -2}, ValueError, "seed must be >= 0"),
        ({"steps": 4}, TypeError, "steps"),
    ],
)
def test_expected_gradients_errors(kwargs, error, match) -> None:
    args = {"background": rand(3, 6), **kwargs}
    with pytest.raises(error, match=match):
        keras_ig.expected_gradients(mlp(), rand(2, 6), **args)


def test_a_large_gap_asks_for_more_samples() -> None:
    x, bg = rand(2, 4, seed=14), rand(9, 4, seed=15)
    with pytest.warns(keras_ig.CompletenessWarning, match="expected_gradients.*raise samples"):
        keras_ig.expected_gradients(linear(W3[:, 0]), x, bg, samples=1, seed=0)


@pytest.mark.slow
def test_expected_gradients_output_logits() -> None:
    from tests.helpers.models import cnn

    model, x = cnn(), rand(2, 12, 12, 1, high=255, seed=16)
    bg = rand(3, 12, 12, 1, high=255, seed=17)
    kw = {"samples": 4, "seed": 0, "target": 1, "warn": False}
    by_name = keras_ig.expected_gradients(model, x, bg, output="logits", **kw)
    by_layer = keras_ig.expected_gradients(model, x, bg, output=model.get_layer("logits"), **kw)
    probs = keras_ig.expected_gradients(model, x, bg, **kw)
    np.testing.assert_allclose(by_name.attributions, by_layer.attributions, atol=1e-6)
    logits = keras.Model(model.input, model.get_layer("logits").output)(x).numpy()
    np.testing.assert_allclose(by_name.scores, logits[:, 1], rtol=1e-5)
    assert not np.allclose(probs.scores, by_name.scores)
