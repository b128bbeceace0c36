"""`explain(multiply_by_inputs=False)` and input-space baselines with `layer=`."""

from __future__ import annotations

import numpy as np
import pytest

import keras_ig
from tests.helpers.models import linear, mlp, rand, text_model, two_inputs

W = np.array([1.0, -2.0, 3.0, 0.5], np.float32)


@pytest.mark.slow
@pytest.mark.parametrize("baseline", ["zeros", 0.7, "per-input"])
def test_unmultiplied_ig_of_a_linear_model_is_w(baseline) -> None:
    x = rand(3, 4, seed=1)
    if baseline == "per-input":
        baseline = rand(3, 4, seed=2)
    exp = keras_ig.explain(linear(W, 0.3), x, baseline=baseline, steps=4, multiply_by_inputs=False)
    np.testing.assert_allclose(exp.attributions, np.broadcast_to(W, x.shape), rtol=1e-6)
    # delta: the gap of the multiplied attributions, exact here.
    np.testing.assert_allclose(exp.delta, 0.0, atol=1e-5)


def test_unmultiplied_times_difference_is_ig() -> None:
    model, x, base = mlp(), rand(4, 6, seed=3), rand(4, 6, seed=4)
    ig = keras_ig.explain(model, x, baseline=base, steps=16, output="logits")
    grad = keras_ig.explain(
        model, x, baseline=base, steps=16, output="logits", multiply_by_inputs=False
    )
    np.testing.assert_allclose(grad.attributions * (x - base), ig.attributions, atol=1e-6)
    np.testing.assert_allclose(grad.delta, ig.delta, atol=1e-6)
    np.testing.assert_array_equal(grad.target, ig.target)


@pytest.mark.slow
def test_unmultiplied_with_a_layer_and_the_layer_wrapper() -> None:
    model, ids = text_model(), np.arange(14).reshape(2, 7) % 30
    grad = keras_ig.explain(model, ids, layer="emb", steps=8, multiply_by_inputs=False, target=1)
    ig = keras_ig.explain(model, ids, layer="emb", steps=8, target=1)
    emb = model.get_layer("emb")(ids).numpy()
    np.testing.assert_allclose(grad.attributions * emb, ig.attributions, atol=1e-6)
    layer = keras_ig.IntegratedGradients(model, layer="emb", steps=8, target=1)
    again = layer.explain(ids, multiply_by_inputs=False)
    np.testing.assert_allclose(again.attributions, grad.attributions, atol=1e-6)


def test_unmultiplied_options_checked() -> None:
    with pytest.raises(TypeError, match="multiply_by_inputs"):
        keras_ig.explain(mlp(), rand(2, 6), multiply_by_inputs="no")
    with pytest.raises(ValueError, match="tolerance"):
        keras_ig.explain(mlp(), rand(2, 6), multiply_by_inputs=False, tolerance=0.01)


# -- input-space baselines with layer= -------------------------------------------


def _embedded(model, ids: np.ndarray) -> np.ndarray:
    return model.get_layer("emb")(ids).numpy()


@pytest.mark.slow
@pytest.mark.parametrize("form", ["like x", "one row", "(1,) + row", "ints like x"])
def test_input_baseline_equals_the_embedded_pad_rows(form) -> None:
    model = text_model()
    ids = (np.arange(21).reshape(3, 7) * 7 + 1) % 30
    pad = np.zeros_like(ids)
    pad[:, 0] = 2  # a [CLS]-like id kept in place
    by_hand = keras_ig.explain(model, ids, layer="emb", steps=8, baseline=_embedded(model, pad))
    if form == "like x":
        baseline = keras_ig.InputBaseline(pad)
    elif form == "one row":
        baseline = keras_ig.InputBaseline(pad[0])
    elif form == "(1,) + row":
        baseline = keras_ig.InputBaseline(pad[:1])
    else:
        baseline = pad.astype(np.int64)  # integer ids, no wrapper
    exp = keras_ig.explain(model, ids, layer="emb", steps=8, baseline=baseline)
    np.testing.assert_allclose(exp.attributions, by_hand.attributions, atol=1e-6)
    np.testing.assert_allclose(exp.baseline_scores, by_hand.baseline_scores, atol=1e-6)
    np.testing.assert_allclose(exp.delta, by_hand.delta, atol=1e-6)
    np.testing.assert_allclose(exp.baseline[0], _embedded(model, pad)[0], atol=1e-7)


def test_input_baseline_for_a_two_input_model_list_and_dict() -> None:
    import keras

    ids_in = keras.Input((5,), dtype="int32", name="ids")
    scale = keras.Input((1,), name="scale")
    h = keras.layers.Embedding(20, 3, name="emb")(ids_in)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Multiply()([h, scale])
    model = keras.Model({"ids": ids_in, "scale": scale}, keras.layers.Dense(2)(h))
    x = {"ids": np.array([[3, 4, 5, 6, 7], [1, 2, 3, 0, 0]]), "scale": rand(2, 1, seed=5) + 1}
    pad = np.zeros(5, np.int32)
    # The layer's baseline: embeddings of the pads, for any scale (the Embedding sees ids only).
    by_hand = keras_ig.explain(model, x, layer="emb", steps=8, baseline=_embedded(model, pad[None]))
    exp = keras_ig.explain(
        model, x, layer="emb", steps=8, baseline=keras_ig.InputBaseline({"ids": pad, "scale": None})
    )
    np.testing.assert_allclose(exp.attributions, by_hand.attributions, atol=1e-6)
    with pytest.raises(ValueError, match="baseline"):
        keras_ig.explain(model, x, layer="emb", baseline=keras_ig.InputBaseline({"ids": pad}))


def test_input_baseline_errors_name_the_baseline() -> None:
    model, ids = text_model(), np.ones((2, 7), np.int32)
    with pytest.raises(ValueError, match=r"baseline has shape \(3,\)"):
        keras_ig.explain(
            model, ids, layer="emb", baseline=keras_ig.InputBaseline(np.zeros(3, np.int32))
        )
    with pytest.raises(ValueError, match="baseline: row 0 holds token id 99"):
        keras_ig.explain(model, ids, layer="emb", baseline=np.full(7, 99))
    with pytest.raises(ValueError, match="InputBaseline needs values"):
        keras_ig.InputBaseline(None)


def test_input_baseline_on_a_float_two_input_model_with_a_layer() -> None:
    model = two_inputs()
    x = [rand(3, 4, seed=6), rand(3, 3, seed=7)]
    layer = model.layers[3]  # the tanh Dense
    base = [np.zeros(4, np.float32), rand(3, 3, seed=8)]
    hidden = layer(np.concatenate([np.zeros((3, 4), np.float32), base[1]], 1)).numpy()
    by_hand = keras_ig.explain(model, x, layer=layer, steps=8, baseline=hidden, target=0)
    exp = keras_ig.explain(
        model, x, layer=layer, steps=8, baseline=keras_ig.InputBaseline(base), target=0
    )
    np.testing.assert_allclose(exp.attributions, by_hand.attributions, atol=1e-6)


def test_the_layer_wrapper_serves_unmultiplied_ig() -> None:
    import tensorflow as tf

    x = rand(3, 4, seed=9)
    layer = keras_ig.IntegratedGradients(linear(W, 0.1), steps=4, multiply_by_inputs=False)
    np.testing.assert_allclose(
        layer(tf.constant(x)).numpy(), np.broadcast_to(W, x.shape), rtol=1e-6
    )
    np.testing.assert_allclose(
        layer.explain(x).attributions, np.broadcast_to(W, x.shape), rtol=1e-6
    )
    with pytest.raises(TypeError, match="multiply_by_inputs"):
        keras_ig.IntegratedGradients(linear(W), multiply_by_inputs=1)
