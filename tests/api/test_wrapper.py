"""IntegratedGradients as a Keras layer: same numbers, one graph, exportable."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from tests.helpers.models import cnn, mlp, rand, text_model


def test_layer_call_equals_explain() -> None:
    model, x = cnn(), rand(3, 12, 12, 1, high=255)
    ig = keras_ig.IntegratedGradients(model, steps=16, output="logits")
    attributions = ig(x)
    assert isinstance(attributions, tf.Tensor)
    exp = keras_ig.explain(model, x, steps=16, output="logits")
    np.testing.assert_allclose(attributions.numpy(), exp.attributions, atol=1e-6)
    again = ig.explain(x)
    np.testing.assert_allclose(again.attributions, exp.attributions, atol=1e-6)
    np.testing.assert_array_equal(again.target, exp.target)


def test_no_retrace_across_batch_sizes_and_targets() -> None:
    model = mlp()
    ig = keras_ig.IntegratedGradients(model, steps=8)
    for n in (1, 4, 9):
        ig(rand(n, 6))
        ig.explain(rand(n, 6), target=[1] * n)
        ig.explain(rand(n, 6), target=2, steps=5, method="riemann_middle", batch_size=3)
    assert ig._explainer.engine.traces == 1


def test_explain_reuses_the_graph_across_calls() -> None:
    model = mlp()
    for n in (2, 5):
        keras_ig.explain(model, rand(n, 6), steps=8)
        keras_ig.explain(model, rand(n, 6), steps=8, target=1, baseline="uniform", n_baselines=2)
    from keras_ig._api.explain import explainer_for

    assert explainer_for(model, target=None, layer=None, output=None).engine.traces == 1


def test_stack_baseline_in_call() -> None:
    model, x = mlp(), rand(3, 6)
    stack = keras_ig.BaselineStack(rand(2, 6, seed=4))
    ig = keras_ig.IntegratedGradients(model, steps=16, baseline=stack, target=1)
    exp = keras_ig.explain(model, x, steps=16, baseline=stack, target=1)
    np.testing.assert_allclose(ig(x).numpy(), exp.attributions, atol=1e-6)
    with pytest.raises(ValueError, match="depends on the input values"):
        keras_ig.IntegratedGradients(model, baseline="blur")(x)


@pytest.mark.slow
def test_in_functional_model_export_round_trip(tmp_path) -> None:
    model, x = cnn(), rand(4, 12, 12, 1, high=255)
    inp = keras.Input((12, 12, 1))
    ig = keras_ig.IntegratedGradients(model, steps=16, output="logits")
    server = keras.Model(inp, {"probs": model(inp), "attributions": ig(inp)})
    served = server(x)
    expected = keras_ig.explain(model, x, steps=16, output="logits").attributions
    np.testing.assert_allclose(served["attributions"].numpy(), expected, atol=1e-5)
    server.export(str(tmp_path / "served"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "served"))
    for n in (4, 2):
        out = loaded.serve(tf.constant(x[:n]))
        np.testing.assert_allclose(out["attributions"].numpy(), expected[:n], atol=1e-5)
        np.testing.assert_allclose(out["probs"].numpy(), model.predict(x[:n], verbose=0), atol=1e-6)


@pytest.mark.slow
def test_text_layer_wrapper_and_export(tmp_path) -> None:
    model = text_model()
    ids = np.random.default_rng(0).integers(1, 30, size=(3, 7)).astype("int32")
    ig = keras_ig.IntegratedGradients(model, layer="emb", steps=16, target=1)
    inp = keras.Input((7,), dtype="int32")
    server = keras.Model(inp, ig(inp))
    expected = keras_ig.explain(model, ids, layer="emb", steps=16, target=1).attributions
    np.testing.assert_allclose(server(ids).numpy(), expected, atol=1e-6)
    server.export(str(tmp_path / "text"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "text"))
    np.testing.assert_allclose(loaded.serve(tf.constant(ids)).numpy(), expected, atol=1e-6)


def test_per_input_targets_in_call() -> None:
    model, x = mlp(), rand(3, 6)
    ig = keras_ig.IntegratedGradients(model, steps=8)
    got = ig(x, target=tf.constant([2, 0, 1]))
    exp = keras_ig.explain(model, x, steps=8, target=[2, 0, 1])
    np.testing.assert_allclose(got.numpy(), exp.attributions, atol=1e-6)


def test_constructor_validation() -> None:
    model = mlp()
    with pytest.raises(ValueError, match="method"):
        keras_ig.IntegratedGradients(model, method="simpson")
    with pytest.raises(ValueError, match="steps"):
        keras_ig.IntegratedGradients(model, steps=0)
    with pytest.raises(ValueError, match="no layer named"):
        keras_ig.IntegratedGradients(model, layer="missing")
    with pytest.raises(TypeError, match="unexpected arguments"):
        keras_ig.IntegratedGradients(model).explain(rand(2, 6), stepz=3)


@pytest.mark.slow
def test_xla_layer_call_and_explain_options(tmp_path) -> None:
    model, x = mlp(), rand(5, 6)
    ig = keras_ig.IntegratedGradients(model, steps=16, jit_compile=True, batch_size=8, target=1)
    ref = keras_ig.explain(model, x, steps=16, target=1)
    np.testing.assert_allclose(ig(x).numpy(), ref.attributions, rtol=1e-5, atol=1e-7)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
    streamed = ig.explain(ds, out=tmp_path / "a.npy", verbose=0, tolerance=0.01)
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), streamed.attributions)
    assert streamed.converged.all() and len(streamed) == 5


@pytest.mark.slow
def test_explain_cache_does_not_keep_models_alive() -> None:
    import gc
    import weakref

    model = mlp()
    keras_ig.explain(model, rand(2, 6), steps=4)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
