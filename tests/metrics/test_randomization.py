"""The model-randomization sanity check: a copy is randomized, never the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_ig import metrics
from keras_ig.datasets import make_regression
from tests.helpers.models import mlp, rand


@pytest.fixture(scope="module")
def trained():
    """A small MLP trained (seeded) for a few epochs on 32-feature regression data."""
    keras.utils.set_random_seed(1)
    data = make_regression(512, n_features=32, seed=1)
    model = keras.Sequential(
        [
            keras.Input((32,)),
            keras.layers.Dense(16, activation="tanh", name="hidden1"),
            keras.layers.Dense(16, activation="tanh", name="hidden2"),
            keras.layers.Dense(1, name="head"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.01), "mse")
    history = model.fit(data.features, data.targets, epochs=10, batch_size=32, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]  # it learned
    return model, data.features[:8]


def _weights_bytes(model):
    return [w.tobytes() for w in model.get_weights()]


@pytest.mark.slow
def test_cascade_leaves_the_model_untouched_and_falls_toward_zero(trained):
    model, x = trained
    before = _weights_bytes(model)
    got = metrics.randomization(model, x, seed=0)
    assert _weights_bytes(model) == before
    assert list(got) == ["head", "hidden2", "hidden1"]  # from the top
    for rho in got.values():
        assert rho.shape == (8,) and np.all(np.abs(rho) <= 1.0)
    # Once every layer is random, IG's maps have little to do with the trained ones.
    assert np.nanmean(got["hidden1"]) < 0.4


def test_a_map_that_ignores_the_model_keeps_correlation_one(trained):
    model, x = trained
    got = metrics.randomization(model, x, explain_fn=lambda m, batch: batch * batch, seed=0)
    for rho in got.values():
        np.testing.assert_allclose(rho, 1.0)


def test_independent_order_and_a_custom_explain_fn():
    model = mlp(n_in=6, n_out=3)
    x = rand(4, 6, seed=1)
    before = _weights_bytes(model)
    calls = []

    def gradient_times_input(m, batch):
        calls.append(m)
        return np.asarray(m(batch))[:, :1] * batch  # any map of the model's outputs

    got = metrics.randomization(
        model, x, explain_fn=gradient_times_input, order="independent", seed=2
    )
    assert _weights_bytes(model) == before
    assert calls[0] is model and all(m is not model for m in calls[1:])
    assert list(got) == [model.layers[1].name, model.layers[0].name]
    again = metrics.randomization(
        model, x, explain_fn=gradient_times_input, order="independent", seed=2
    )
    for name in got:
        np.testing.assert_array_equal(got[name], again[name])  # seeded


def test_bad_input_names_the_argument():
    model = mlp()
    with pytest.raises(ValueError, match="order must be one of"):
        metrics.randomization(model, rand(2, 6), order="top")
    with pytest.raises(TypeError, match=r"model must be a keras\.Model"):
        metrics.randomization(lambda z: z, rand(2, 6))
    with pytest.raises(TypeError, match="explain_fn"):
        metrics.randomization(model, rand(2, 6), explain_fn=3)
    with pytest.raises(ValueError, match="explain_fn returned"):
        metrics.randomization(
            model, rand(2, 6), explain_fn=lambda m, b: b if m is model else b[:, :2]
        )
