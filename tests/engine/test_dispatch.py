"""Calling compiled graphs through their concrete functions (`devices.call`).

The fast path must give what the polymorphic call gives (values, dtypes,
errors), trace each graph once, and keep nothing alive after its engine.
"""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._api.explainer import Explainer
from keras_ig._engine import devices
from tests.helpers.models import mlp, rand

SIGNATURE = [
    [tf.TensorSpec((None, 3), tf.float32)],
    {"w": tf.TensorSpec((3,), tf.float32), "b": tf.TensorSpec((), tf.float32)},
    tf.TensorSpec((None,), tf.int32),
    tf.TensorSpec((), tf.int32),
]


def _graph() -> tuple[tf.types.experimental.PolymorphicFunction, list[int]]:
    """A graph of a list, a dict and scalars, counting its traces."""
    traces = [0]

    def affine(x, params, rows, scale):
        traces[0] += 1
        y = tf.linalg.matvec(tf.gather(x[0], rows), params["w"]) + params["b"]
        return {"y": y * tf.cast(scale, tf.float32), "rows": rows}

    return tf.function(affine, input_signature=SIGNATURE, autograph=False), traces


def _args(x: np.ndarray) -> tuple:
    w = np.array([1.0, -2.0, 0.5])
    return ([x], {"w": w, "b": np.float64(0.25)}, np.array([2, 0], np.int64), np.int32(3))


def test_call_matches_the_polymorphic_call_and_traces_once():
    fn, traces = _graph()
    x = rand(4, 3, seed=1)
    want = {k: v.numpy() for k, v in fn(*_args(x)).items()}
    for seed in range(3):  # new values, same signature: no retrace
        x = rand(4 + seed, 3, seed=seed)
        got = devices.call(fn, _args(x))
        # float64 and int64 arguments become the signature's dtypes, as fn converts them.
        assert got["y"].dtype == tf.float32 and got["rows"].dtype == tf.int32
        closed = 3 * (x[[2, 0]] @ np.array([1.0, -2.0, 0.5]) + 0.25)
        np.testing.assert_allclose(got["y"].numpy(), closed, rtol=1e-6)
    np.testing.assert_allclose(want["y"], devices.call(fn, _args(rand(4, 3, seed=1)))["y"])
    assert traces[0] == 1


def test_call_accepts_tensors_as_they_are():
    fn, _ = _graph()
    x = rand(3, 3, seed=2)
    args = tf.nest.map_structure(tf.convert_to_tensor, _args(x))
    params = {"w": tf.cast(args[1]["w"], tf.float32), "b": tf.constant(0.25)}
    args = (args[0], params, tf.cast(args[2], tf.int32), args[3])
    np.testing.assert_allclose(
        devices.call(fn, args)["y"].numpy(), fn(*_args(x))["y"].numpy(), rtol=1e-6
    )


@pytest.mark.parametrize(
    "bad",
    [
        lambda a: ([a[0][0], a[0][0]], *a[1:]),  # two tensors where the signature has one
        lambda a: (a[0], {"w": a[1]["w"]}, *a[2:]),  # a dict key missing
        lambda a: (a[0][0], *a[1:]),  # a tensor where the signature has a list
        lambda a: ([np.zeros((2, 4), np.float32)], *a[1:]),  # the wrong row shape
        lambda a: (*a[:2], tf.constant(a[2]), a[3]),  # an int64 tensor is not cast
    ],
)
def test_call_fails_as_the_polymorphic_call_does(bad):
    fn, _ = _graph()
    args = bad(_args(rand(2, 3)))
    with pytest.raises((TypeError, ValueError)) as direct:
        fn(*args)
    with pytest.raises(type(direct.value)):
        devices.call(fn, args)


def test_call_without_a_signature_calls_the_function():
    fn = tf.function(lambda x, y: x * y, autograph=False)
    assert float(devices.call(fn, (np.float32(3.0), np.float32(4.0)))) == 12.0


@pytest.mark.slow
def test_explain_leaves_no_graph_alive_after_its_explainer():
    explainer = Explainer(mlp())
    x = rand(2, 6)
    exp = explainer.explain(x, steps=4, target=[0, 1], warn=False)
    assert exp.attributions.shape == (2, 6)
    graph = weakref.ref(explainer.engine.compiled(explainer.prepare(x).plan))
    assert graph() is not None
    del explainer
    gc.collect()
    assert graph() is None


def test_one_explainer_keeps_each_rule_apart():
    """Per-rule constants are cached: a new rule must not reuse another's nodes.

    For F(x) = sum(x^2) from a zero baseline the left Riemann sum of m
    points gives attributions `x^2 (m - 1) / m` exactly.
    """
    inp = keras.Input((5,))
    model = keras.Model(inp, keras.ops.sum(inp * inp, axis=1, keepdims=True))
    explainer = Explainer(model)
    x = rand(3, 5, seed=4)
    for steps in (4, 8, 4, 5):
        exp = explainer.explain(
            x, steps=steps, method="riemann_left", target=0, batch_size=2, warn=False
        )
        np.testing.assert_allclose(exp.attributions, x**2 * (steps - 1) / steps, rtol=1e-5)
    assert explainer.engine.traces == 1


def test_predicted_targets_through_the_fast_path():
    model = mlp()
    x = rand(5, 6, seed=3)
    want = np.argmax(keras.ops.convert_to_numpy(model(x)), axis=1)
    explainer = Explainer(model)
    np.testing.assert_array_equal(explainer.predict(x), want)
    np.testing.assert_array_equal(keras_ig.explain(model, x, steps=4, warn=False).target, want)
