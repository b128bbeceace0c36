"""The end points and the path in one loop (`Engine.one_loop`).

The end points' chunks (F(x), F(baseline); forward only) and the path's
chunks (forward and backward) share the loop's one model call, so the model
is traced once; the backward is gated off for the end points' chunks.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from tests.helpers.models import mlp, rand, two_inputs


class Counting(keras.layers.Layer):
    """Identity that counts its forward runs and its backward runs (per chunk)."""

    def __init__(self) -> None:
        super().__init__()
        self.forward = tf.Variable(0, dtype=tf.int32, trainable=False)
        self.backward = tf.Variable(0, dtype=tf.int32, trainable=False)

    def call(self, h):
        @tf.custom_gradient
        def counted(h):
            def grad(dy):
                # The count reads dy, so it runs exactly when dy is computed.
                one = tf.cast(tf.size(dy) >= 0, tf.int32)
                with tf.control_dependencies([self.backward.assign_add(one)]):
                    return tf.identity(dy)

            with tf.control_dependencies([self.forward.assign_add(tf.size(h) * 0 + 1)]):
                return tf.identity(h), grad

        return counted(h)


def counting_mlp() -> tuple[keras.Model, Counting]:
    counter = Counting()
    inp = keras.Input((6,))
    h = keras.layers.Dense(8, activation="tanh")(counter(inp))
    return keras.Model(inp, keras.layers.Dense(3)(h)), counter


@pytest.mark.parametrize(
    ("n", "baselines", "steps", "batch_size", "end_chunks", "path_chunks"),
    [
        # 3 inputs + 3 baseline rows = 6 end items in chunks of 2; the path:
        # tiles of one row and 2 of its 4 steps, 3 rows x 2 tiles.
        (3, 1, 4, 2, 3, 6),
        # 2 inputs x 3 baselines: 2 + 6 = 8 end items in one chunk of 16;
        # the path: 6 rows x 8 steps in tiles of 2 whole rows.
        (2, 3, 8, 16, 1, 3),
    ],
)
def test_the_backward_runs_only_in_the_path_chunks(
    n: int, baselines: int, steps: int, batch_size: int, end_chunks: int, path_chunks: int
) -> None:
    model, counter = counting_mlp()
    x = rand(n, 6, low=-1.0)
    base = rand(baselines, 6, seed=4) if baselines > 1 else 0.0
    kw = {"steps": steps, "batch_size": batch_size, "warn": False}
    exp = keras_ig.explain(model, x, baseline=base, **kw)  # traced and run once
    forward, backward = int(counter.forward.numpy()), int(counter.backward.numpy())
    # The first call may also run the model once eagerly (the host's probe).
    assert forward - (end_chunks + path_chunks) in (0, 1)
    assert backward == path_chunks  # not end_chunks + path_chunks
    counter.forward.assign(0)
    counter.backward.assign(0)
    again = keras_ig.explain(model, x, baseline=base, **kw)
    assert int(counter.backward.numpy()) == path_chunks
    assert int(counter.forward.numpy()) == end_chunks + path_chunks
    np.testing.assert_array_equal(again.attributions, exp.attributions)
    np.testing.assert_allclose(
        exp.attributions.sum(axis=1), exp.scores - exp.baseline_scores, atol=2e-3
    )


def test_a_model_that_holds_no_dataflow_control_flow_sees_the_same_numbers_eagerly() -> None:
    # Under tf.config.run_functions_eagerly nothing is traced and dead tensors
    # do not exist: the engine keeps two loops there; the numbers must agree.
    model, x = mlp(activation=None), rand(5, 6, low=-1.0)
    base = rand(2, 6, seed=3)
    kw = {"steps": 6, "batch_size": 4, "warn": False}
    graph = [keras_ig.explain(model, x, baseline=base, **kw), keras_ig.idgi(model, x, **kw)]
    tf.config.run_functions_eagerly(True)
    try:
        eager = [keras_ig.explain(model, x, baseline=base, **kw), keras_ig.idgi(model, x, **kw)]
    finally:
        tf.config.run_functions_eagerly(False)
    for g, e in zip(graph, eager, strict=True):
        np.testing.assert_allclose(e.attributions, g.attributions, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(e.scores, g.scores, rtol=1e-6)
        np.testing.assert_allclose(e.baseline_scores, g.baseline_scores, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(e.target, g.target)


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 7])
def test_one_loop_equals_the_xla_two_loops_for_every_chunking(batch_size: int) -> None:
    # XLA keeps the end points in their own loop: an independent computation.
    model, x = mlp(activation=None), rand(4, 6, low=-1.0)
    base = rand(3, 6, seed=9)
    kw = {"baseline": base, "steps": 5, "batch_size": batch_size, "warn": False}
    one = keras_ig.explain(model, x, **kw)
    two = keras_ig.explain(model, x, jit_compile=True, **kw)
    np.testing.assert_array_equal(one.target, two.target)
    np.testing.assert_allclose(one.attributions, two.attributions, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one.scores, two.scores, rtol=1e-6)
    np.testing.assert_allclose(one.baseline_scores, two.baseline_scores, rtol=1e-6, atol=1e-7)
    grad = keras_ig.explain(model, x, multiply_by_inputs=False, **kw)
    grad_xla = keras_ig.explain(model, x, multiply_by_inputs=False, jit_compile=True, **kw)
    np.testing.assert_allclose(grad.attributions, grad_xla.attributions, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad.delta, grad_xla.delta, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_multi_input_models_take_one_loop() -> None:
    model = two_inputs()
    x = [rand(3, 4, low=-1.0), rand(3, 3, seed=2, low=-1.0)]
    kw = {"steps": 6, "batch_size": 5, "warn": False}
    one = keras_ig.explain(model, x, **kw)
    two = keras_ig.explain(model, x, jit_compile=True, **kw)
    for a, b in zip(one.attributions, two.attributions, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(one.scores, two.scores, rtol=1e-6)
