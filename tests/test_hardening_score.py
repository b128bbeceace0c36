"""Issue 9 hardening (score area): empty batches in the layer wrapper and its export."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import keras_ig
from tests.models import mlp, rand


def test_layer_wrapper_and_export_on_an_empty_batch(tmp_path) -> None:
    model = mlp()
    ig = keras_ig.IntegratedGradients(model, steps=8)
    empty = np.zeros((0, 6), np.float32)
    out = ig(empty)
    assert tuple(out.shape) == (0, 6)
    inp = keras.Input((6,))
    server = keras.Model(inp, {"attributions": ig(inp)})
    server.export(str(tmp_path / "served"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "served"))
    served = loaded.serve(tf.constant(empty))["attributions"]
    assert tuple(served.shape) == (0, 6)
    # A non-empty batch through the same loaded graph still gives real numbers.
    x = rand(3, 6)
    np.testing.assert_allclose(
        loaded.serve(tf.constant(x))["attributions"].numpy(), ig(x).numpy(), atol=1e-5
    )
