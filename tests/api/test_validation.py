"""Bad input: a clear ValueError/TypeError naming the argument, before any work."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._api.explain import explainer_for
from tests.helpers.models import mlp, rand, text_model


def _traces(model: keras.Model, **kw: object) -> int:
    return explainer_for(
        model, target=kw.get("target"), layer=kw.get("layer"), output=kw.get("output")
    ).engine.traces


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": "simpson"}, ValueError, "method must be one of"),
        ({"steps": 0}, ValueError, "steps must be >= 1"),
        ({"steps": 1.5}, TypeError, "steps must be an int"),
        ({"target": 3}, ValueError, "target 3 is out of range"),
        ({"target": -1}, ValueError, "target must be >= 0"),
        ({"target": [0, 1]}, ValueError, "target has 2 entries for 4 inputs"),
        ({"target": [0.5] * 4}, TypeError, "target must be"),
        ({"target": "cat"}, TypeError, "target must be"),
        ({"baseline": np.ones((5, 5))}, ValueError, "baseline has shape"),
        ({"baseline": np.full(6, np.nan)}, ValueError, "baseline contains NaN"),
        ({"baseline": "purple"}, ValueError, "baseline must be one of"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"layer": "nope"}, ValueError, "no layer named 'nope'"),
        ({"output": "logits"}, ValueError, "output='logits'"),
        ({"target": lambda y: y}, ValueError, "one score per row"),
        ({"baseline": "blur"}, ValueError, "blur"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    model = mlp(6, 3, activation=None)
    with pytest.raises(error, match=match):
        keras_ig.explain(model, rand(4, 6), **kwargs)


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (rand(4, 5), ValueError, r"x has shape \(4, 5\); the model expects"),
        (np.full((2, 6), np.nan, np.float32), ValueError, "x contains NaN or inf"),
        (np.full((2, 6), np.inf, np.float32), ValueError, "x contains NaN or inf"),
        (np.ones((2, 6), np.int32), TypeError, "integer inputs .* layer="),
        (np.zeros((0, 6), np.float32), ValueError, "x is empty"),
        (np.float32(3.0), ValueError, "batch-first"),
        ([[1.0, 2.0], [3.0]], TypeError, "x could not be read"),
    ],
)
def test_bad_inputs_raise_before_any_graph_is_built(x: object, error: type, match: str) -> None:
    model = mlp(6, 3)
    before = _traces(model)
    with pytest.raises(error, match=match):
        keras_ig.explain(model, x)
    assert _traces(model) == before


def test_model_output_independent_of_input() -> None:
    def constant(x):
        return tf.ones((tf.shape(x)[0], 1))

    with pytest.raises(ValueError, match="does not depend on x"):
        keras_ig.explain(constant, rand(2, 3))


def test_unused_input_of_multi_input_model() -> None:
    a, b = keras.Input((3,)), keras.Input((2,))
    model = keras.Model([a, b], keras.layers.Dense(1)(a))
    with pytest.raises(ValueError, match=r"does not depend on x\[1\]"):
        keras_ig.explain(model, [rand(2, 3), rand(2, 2)])
    # Holding it fixed is the way out.
    exp = keras_ig.explain(model, [rand(2, 3), rand(2, 2)], baseline=["zeros", None], steps=4)
    assert exp.attributions[1] is None


def test_multi_output_model_needs_callable_target() -> None:
    inp = keras.Input((4,))
    model = keras.Model(inp, [keras.layers.Dense(2)(inp), keras.layers.Dense(3)(inp)])
    with pytest.raises(ValueError, match="callable target"):
        keras_ig.explain(model, rand(2, 4))
    exp = keras_ig.explain(model, rand(2, 4), target=lambda ys: ys[1][:, 2], steps=4)
    np.testing.assert_allclose(exp.delta, 0, atol=1e-6)


def test_layer_errors() -> None:
    model = text_model()
    ids = np.ones((2, 7), np.int32)
    with pytest.raises(ValueError, match="cannot be used with layer="):
        keras_ig.explain(model, ids, layer="emb", baseline="uniform")
    with pytest.raises(ValueError, match="baseline has shape"):
        keras_ig.explain(model, ids, layer="emb", baseline=np.zeros((3, 3)))
    with pytest.raises(TypeError, match="layer must be a layer name"):
        keras_ig.explain(model, ids, layer=3)
    other = keras.layers.Dense(2)
    with pytest.raises(ValueError, match="not part of the model"):
        keras_ig.explain(model, ids, layer=other)


def test_structure_mismatch_of_baseline() -> None:
    a, b = keras.Input((3,)), keras.Input((2,))
    model = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(ValueError, match="structure of x"):
        keras_ig.explain(model, [rand(2, 3), rand(2, 2)], baseline=["zeros", None, None])
    with pytest.raises(ValueError, match=r"x\[1\] has 3 rows"):
        keras_ig.explain(model, [rand(2, 3), rand(3, 2)])
