"""Small models shared by the tests."""

from __future__ import annotations

import keras
import numpy as np


def mlp(n_in: int = 6, n_out: int = 3, activation: str | None = "softmax") -> keras.Model:
    """A smooth (tanh) MLP `[N, n_in] -> [N, n_out]`."""
    return keras.Sequential(
        [
            keras.Input((n_in,)),
            keras.layers.Dense(16, activation="tanh"),
            keras.layers.Dense(n_out, activation=activation),
        ]
    )


def cnn(n_out: int = 4) -> keras.Model:
    """A small CNN on `[N, 12, 12, 1]` images, with a preprocessing layer."""
    inp = keras.Input((12, 12, 1))
    h = keras.layers.Rescaling(1 / 255.0)(inp)
    h = keras.layers.Conv2D(4, 3, activation="softplus")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(n_out, name="logits")(h)
    out = keras.layers.Softmax()(out)
    return keras.Model(inp, out)


def text_model(vocab: int = 30, length: int = 7) -> keras.Model:
    """Token ids `[N, length]` -> 2 logits, through an Embedding named 'emb'."""
    inp = keras.Input((length,), dtype="int32")
    h = keras.layers.Embedding(vocab, 5, name="emb")(inp)
    h = keras.layers.Conv1D(6, 2, activation="tanh")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inp, keras.layers.Dense(2)(h))


def rand(*shape: int, seed: int = 0, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)
