"""`Explainer.predict`: the targets F picks at x, from a forward-only compiled pass."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ig._api.explainer import Explainer
from keras_ig._numpy.quadrature import quadrature
from tests.helpers.models import rand


class Counted(keras.Model):
    """An MLP counting its traced or eager calls; optionally with no gradient at all."""

    def __init__(self, stop_gradient: bool = False) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="tanh")
        self.head = keras.layers.Dense(3)
        self.stop_gradient = stop_gradient

    def call(self, x):
        if self.stop_gradient:  # a score with no gradient: only a forward pass works
            x = tf.stop_gradient(x)
        return self.head(self.hidden(x))


def test_predict_equals_the_integral_targets_and_builds_no_attribution_graph() -> None:
    model, x = Counted(), rand(7, 6, low=-1.0)
    model(x)
    explainer = Explainer(model)
    job = explainer.prepare(x)
    reference = explainer.integrate(job, *quadrature("riemann_left", 1), None)["targets"]
    traces = explainer.engine.traces
    np.testing.assert_array_equal(explainer.predict(x), reference)
    np.testing.assert_array_equal(explainer.predict(x), np.argmax(model(x).numpy(), 1))
    np.testing.assert_array_equal(explainer.predict(x, target=2), np.full(7, 2))
    np.testing.assert_array_equal(
        explainer.predict(x, target=[0, 1, 2, 0, 1, 2, 0]), [0, 1, 2, 0, 1, 2, 0]
    )
    assert explainer.engine.traces == traces  # no attribution graph was built


def test_predict_needs_no_gradient() -> None:
    model, x = Counted(stop_gradient=True), rand(4, 6, low=-1.0)
    model(x)
    explainer = Explainer(model)
    np.testing.assert_array_equal(explainer.predict(x), np.argmax(model(x).numpy(), 1))
    with pytest.raises(ValueError, match="gradient is None"):
        explainer.explain(x, steps=4)
