"""`keras_ig.idgi`: closed forms, completeness, a by-hand reference, the keywords."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from tests.helpers.models import cnn, linear, mlp, rand, text_model, two_inputs

W3 = np.array([[1.0, 0.5, 0.0], [-2.0, 1.0, 1.0], [3.0, 0.0, -1.0], [0.5, 2.0, 0.2]], np.float32)


def _idgi_by_hand(model, x, base, steps, target):
    """IDGI from its definition, one point at a time, eagerly."""
    total = np.zeros_like(x, dtype=np.float64)
    f = lambda z: model(z)[:, target]  # noqa: E731
    scores = []
    grads = []
    for k in range(steps + 1):
        z = tf.constant(base + k / steps * (x - base))
        with tf.GradientTape() as tape:
            tape.watch(z)
            s = f(z)
        grads.append(tape.gradient(s, z).numpy().astype(np.float64))
        scores.append(s.numpy().astype(np.float64))
    for k in range(steps):
        g2 = grads[k] ** 2
        total += g2 / g2.sum(1, keepdims=True) * (scores[k + 1] - scores[k])[:, None]
    return total


@pytest.mark.slow
@pytest.mark.parametrize(
    "target", [0, 2, [0, 1, 2], lambda y: y[:, 1] - y[:, 2]], ids=["0", "2", "list", "fn"]
)
def test_idgi_of_a_linear_model_is_its_closed_form(target) -> None:
    x, base = rand(3, 4, seed=1), rand(3, 4, seed=2)
    exp = keras_ig.idgi(linear(W3, 0.1), x, baseline=base, steps=5, target=target)
    if callable(target):
        w = np.broadcast_to(W3[:, 1] - W3[:, 2], (3, 4))
    else:
        w = W3[:, np.broadcast_to(target, (3,))].T
    gap = (x * w).sum(1) - (base * w).sum(1)  # F(x) - F(x')
    expected = w**2 / (w**2).sum(1, keepdims=True) * gap[:, None]
    np.testing.assert_allclose(exp.attributions, expected, atol=1e-6)
    np.testing.assert_allclose(exp.scores - exp.baseline_scores, gap, atol=1e-6)
    assert exp.method == "idgi"


def test_idgi_matches_its_definition_and_is_complete() -> None:
    model, x, base = mlp(activation=None), rand(4, 6, seed=3), rand(4, 6, seed=4) * 0.1
    exp = keras_ig.idgi(model, x, baseline=base, steps=12, target=1)
    np.testing.assert_allclose(exp.attributions, _idgi_by_hand(model, x, base, 12, 1), atol=1e-5)
    np.testing.assert_allclose(exp.delta, 0.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 5, 7, 12, 13, 25, 1000])
def test_idgi_batch_size_never_changes_results(batch_size) -> None:
    # batch_size < steps: one-row tiles that hand their last point to the next.
    model, x = mlp(activation=None), rand(3, 6, seed=5)
    ref = keras_ig.idgi(model, x, steps=12)
    exp = keras_ig.idgi(model, x, steps=12, batch_size=batch_size)
    np.testing.assert_allclose(exp.attributions, ref.attributions, atol=1e-6)
    np.testing.assert_allclose(exp.delta, 0.0, atol=1e-5)


def test_idgi_complete_on_a_cnn_with_a_stack_of_baselines() -> None:
    x = rand(2, 12, 12, 1, high=255, seed=6)
    exp = keras_ig.idgi(cnn(), x, steps=8, output="logits", baseline="uniform", n_baselines=3)
    scale = np.abs(exp.scores - exp.baseline_scores).max()
    assert np.abs(exp.delta).max() <= 1e-4 * scale + 1e-6
    assert exp.baseline.shape == (2, 3, 12, 12, 1)


def test_idgi_at_a_layer_and_with_a_fixed_input() -> None:
    model, ids = text_model(), (np.arange(14).reshape(2, 7) * 3) % 30
    exp = keras_ig.idgi(model, ids, layer="emb", steps=8, baseline=np.zeros(7, np.int32))
    assert exp.attributions.shape == (2, 7, 5)
    np.testing.assert_allclose(exp.delta, 0.0, atol=1e-5)
    two = two_inputs()
    x = [rand(3, 4, seed=7), rand(3, 3, seed=8)]
    held = keras_ig.idgi(two, x, steps=8, baseline=[0.0, None], target=[0, 1, 0])
    assert held.attributions[1] is None and held.attributions[0].shape == (3, 4)
    np.testing.assert_allclose(held.delta, 0.0, atol=1e-5)


def test_idgi_datasets_out_and_render(tmp_path) -> None:
    model, x = mlp(), rand(5, 6, seed=9)
    ref = keras_ig.idgi(model, x, steps=8)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(5))).batch(2)
    streamed = keras_ig.idgi(model, ds, steps=8, out=tmp_path / "a.npy", verbose=0)
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), ref.attributions, atol=1e-6)
    np.testing.assert_array_equal(streamed.target, ref.target)
    (path,) = ref.save(tmp_path / "idgi.png")
    assert path.stat().st_size > 0


def test_idgi_options_checked() -> None:
    with pytest.raises(ValueError, match="steps"):
        keras_ig.idgi(mlp(), rand(2, 6), steps=0)
    with pytest.raises(TypeError, match="jit_compile"):
        keras_ig.idgi(mlp(), rand(2, 6), jit_compile=True)
    with pytest.raises(ValueError, match="target"):
        keras_ig.idgi(mlp(), rand(2, 6), target=7)
    with pytest.raises(TypeError, match="x has dtype"):
        keras_ig.idgi(
            keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)]), np.ones((2, 3), int)
        )
