"""`noise=keras_ig.Noise(...)` over explain and idgi: closed forms on a linear model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._numpy.noise import combine, noisy_copies
from tests.helpers.models import linear, mlp, rand

W = np.array([1.0, -2.0, 3.0, 0.5], np.float32)


def _copies(x: np.ndarray, noise: keras_ig.Noise) -> np.ndarray:
    """The noisy copies the library draws for this seed, regenerated."""
    return noisy_copies([x], [True], noise)[0]


def test_smoothgrad_of_unmultiplied_ig_is_w() -> None:
    noise = keras_ig.Noise(samples=8, stdev=0.3, seed=1)
    exp = keras_ig.explain(linear(W), rand(3, 4), noise=noise, multiply_by_inputs=False, steps=4)
    np.testing.assert_allclose(exp.attributions, np.broadcast_to(W, (3, 4)), rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_each_kind_exact_against_the_regenerated_noise(kind) -> None:
    x = rand(3, 4, seed=2)
    noise = keras_ig.Noise(samples=6, stdev=0.2, kind=kind, seed=4)
    exp = keras_ig.explain(linear(W, 0.5), x, noise=noise, steps=4)  # zero baseline
    expected = combine(W * _copies(x, noise), 6, kind)  # IG of copy x + n is w (x + n)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-5, atol=1e-6)
    # scores are the copies' mean F; for smoothgrad the mean gap is the gap of the mean.
    copies_f = (_copies(x, noise) @ W + 0.5).reshape(3, 6).mean(1)
    np.testing.assert_allclose(exp.scores, copies_f, rtol=1e-5)
    np.testing.assert_allclose(exp.delta, 0.0, atol=1e-5)


def test_kinds_tend_to_their_expectations() -> None:
    x, s, n = rand(2, 4, seed=3), 0.2, 4000
    sq = keras_ig.explain(
        linear(W),
        x,
        steps=1,
        noise=keras_ig.Noise(samples=n, stdev=s, kind="smoothgrad_sq", seed=0),
    )
    var = keras_ig.explain(
        linear(W), x, steps=1, noise=keras_ig.Noise(samples=n, stdev=s, kind="vargrad", seed=0)
    )
    # Var of (w n)^2 is 2 w^4 s^4 + 4 w^4 x^2 s^2: five standard errors of the mean.
    tol = 5 * np.sqrt((2 * W**4 * s**4 + 4 * W**4 * x**2 * s**2) / n)
    assert np.all(np.abs(sq.attributions - W**2 * (x**2 + s**2)) < tol)
    assert np.all(np.abs(var.attributions - W**2 * s**2) < 5 * np.sqrt(2 / n) * W**2 * s**2)


def test_noise_targets_baselines_batch_size_and_seed() -> None:
    model, x = mlp(activation=None), rand(4, 6, seed=5)
    base = rand(4, 6, seed=6)  # per input: repeated for each copy
    noise = keras_ig.Noise(samples=5, stdev=0.05, seed=2)
    exp = keras_ig.explain(model, x, baseline=base, noise=noise, steps=8)
    predicted = np.argmax(model(x).numpy(), 1)
    np.testing.assert_array_equal(exp.target, predicted)  # resolved at the clean x
    np.testing.assert_array_equal(exp.baseline, base)
    assert exp.attributions.shape == x.shape
    small = keras_ig.explain(model, x, baseline=base, noise=noise, steps=8, batch_size=3)
    np.testing.assert_allclose(small.attributions, exp.attributions, atol=1e-6)
    other = keras_ig.explain(
        model, x, baseline=base, steps=8, noise=keras_ig.Noise(5, 0.05, seed=3)
    )
    assert not np.allclose(other.attributions, exp.attributions)
    # By hand: IG of each copy against its input's baseline, averaged.
    copies = _copies(x, noise)
    each = keras_ig.explain(
        model, copies, baseline=np.repeat(base, 5, 0), steps=8, target=np.repeat(predicted, 5)
    )
    np.testing.assert_allclose(
        exp.attributions, each.attributions.reshape(4, 5, 6).mean(1), atol=1e-6
    )


def test_noise_over_idgi_and_datasets(tmp_path) -> None:
    model, x = mlp(), rand(4, 6, seed=7)
    noise = keras_ig.Noise(samples=3, stdev=0.05, seed=1)
    exp = keras_ig.idgi(model, x, steps=6, noise=noise)
    np.testing.assert_allclose(exp.delta, 0.0, atol=1e-5)  # IDGI stays exact per copy
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4)
    streamed = keras_ig.idgi(model, ds, steps=6, noise=noise, out=tmp_path / "s.npy", verbose=0)
    np.testing.assert_allclose(np.asarray(streamed.attributions), exp.attributions, atol=1e-6)
    (path,) = exp.save(tmp_path / "smooth.png")
    assert path.stat().st_size > 0


def test_noise_errors() -> None:
    with pytest.raises(TypeError, match="noise must be"):
        keras_ig.explain(mlp(), rand(2, 6), noise=0.1)
    with pytest.raises(ValueError, match="tolerance"):
        keras_ig.explain(mlp(), rand(2, 6), noise=keras_ig.Noise(), tolerance=0.1)
    ids = np.ones((2, 7), np.int32)
    from tests.helpers.models import text_model

    with pytest.raises(ValueError, match="noise: x has no float input"):
        keras_ig.explain(text_model(), ids, layer="emb", noise=keras_ig.Noise())


def test_noise_with_a_callable_target_in_the_layer_wrapper() -> None:
    noise = keras_ig.Noise(samples=3, stdev=0.2, seed=0)
    score = lambda y: y[:, 0] - y[:, 1]  # noqa: E731
    layer = keras_ig.IntegratedGradients(linear(np.stack([W, -W], 1)), target=score, steps=2)
    exp = layer.explain(rand(2, 4), noise=noise, multiply_by_inputs=False)
    np.testing.assert_allclose(exp.attributions, np.broadcast_to(2 * W, (2, 4)), rtol=1e-5)
    assert exp.target is None
