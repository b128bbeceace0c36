"""A tied embedding that is also the output head (`reverse=True`) can be attributed."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import keras_ig


class _Embed(keras.layers.Layer):
    """Holds its embedding as an attribute (like KerasHub's TokenAndPositionEmbedding)."""

    def __init__(self, emb: keras.layers.Layer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.token_embedding = emb

    def call(self, ids):
        return self.token_embedding(ids) * 2.0


def _tied_lm(vocab: int = 11, dim: int = 4) -> tuple[keras.Model, keras.layers.Layer]:
    emb = keras.layers.ReversibleEmbedding(vocab, dim, name="tokens")
    ids = keras.Input((None,), dtype="int32")
    h = _Embed(emb)(ids)
    h = keras.layers.Dense(dim, activation="tanh")(h)
    return keras.Model(ids, emb(h, reverse=True)), emb


def test_the_reverse_call_is_not_the_layer_output_and_nested_layers_resolve():
    model, emb = _tied_lm()
    x = np.array([[1, 4, 2]], np.int32)

    def last_logit(y):
        return tf.nn.log_softmax(y[:, -1])[:, 3]

    exp = keras_ig.explain(model, x, layer=emb, target=last_logit, steps=32)
    assert exp.attributions.shape == (1, 3, 4)
    expected = last_logit(model(x)).numpy()
    np.testing.assert_allclose(exp.scores, expected, rtol=1e-5)
    gap = exp.attributions.sum() - (exp.scores[0] - exp.baseline_scores[0])
    np.testing.assert_allclose(exp.delta[0], gap, atol=1e-6)
    assert abs(exp.delta[0]) < 1e-3 * abs(exp.scores[0] - exp.baseline_scores[0])
