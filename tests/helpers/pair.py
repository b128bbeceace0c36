"""PAIR saliency as a reference: its call_model_function built from a GradientTape."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf


def image_cnn(dtype: str = "float32", softmax: bool = False) -> keras.Model:
    """A small smooth CNN `[N, 10, 12, 3] -> [N, 3]` (logits, or softmax)."""
    inp = keras.Input((10, 12, 3), dtype=dtype)
    h = keras.layers.Conv2D(4, 3, activation="softplus", dtype=dtype)(inp)
    h = keras.layers.Conv2D(4, 3, activation="tanh", dtype=dtype)(h)
    h = keras.layers.GlobalAveragePooling2D(dtype=dtype)(h)
    out = keras.layers.Dense(3, name="logits", dtype=dtype)(h)
    if softmax:
        out = keras.layers.Softmax(dtype=dtype)(out)
    return keras.Model(inp, out)


def images(n: int = 3, dtype: str = "float32", seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(size=(n, 10, 12, 3)).astype(dtype)


def call_model_function(model: keras.Model, target: int) -> Callable:
    """PAIR's `call_model_function(x_batch, call_model_args, expected_keys)`: `model[:, target]`.

    The gradient of `model(x)[:, target]` per row, as PAIR expects it.
    """
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    dtype = model.inputs[0].dtype

    def call(x_batch, call_model_args=None, expected_keys=None):
        t = tf.convert_to_tensor(np.asarray(x_batch), dtype)
        with tf.GradientTape() as tape:
            tape.watch(t)
            score = model(t)[:, target]
        return {INPUT_OUTPUT_GRADIENTS: tape.gradient(score, t).numpy()}

    return call


def quantile_shim(quantile: Callable) -> Callable:
    """`np.quantile` accepting PAIR's `interpolation=` (removed in NumPy 2) as `method=`."""

    def shim(*args, interpolation=None, **kwargs):
        if interpolation is not None:
            kwargs["method"] = interpolation
        return quantile(*args, **kwargs)

    return shim
