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


def pooling_cnn(size: int = 32, seed: int = 0) -> keras.Model:
    """A small CNN with two max-pooling layers (10 logits), seeded weights."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(inp)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def shapes_classifier(size: int = 16, seed: int | None = None) -> keras.Model:
    """A tiny compiled CNN for `make_shapes` images `[N, size, size, 1]` -> 4 logits.

    `seed`, when given, seeds Keras first, so the initial weights repeat.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((size, size, 1)),
            keras.layers.Conv2D(4, 3, activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    return model


def text_model(vocab: int = 30, length: int = 7) -> keras.Model:
    """Token ids `[N, length]` -> 2 logits, through an Embedding named 'emb'."""
    inp = keras.Input((length,), dtype="int32")
    h = keras.layers.Embedding(vocab, 5, name="emb")(inp)
    h = keras.layers.Conv1D(6, 2, activation="tanh")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inp, keras.layers.Dense(2)(h))


def rand(*shape: int, seed: int = 0, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(np.float32)


def linear(w: np.ndarray, b: np.ndarray | float = 0.0) -> keras.Model:
    """F = x @ w + b: `[N, F] -> [N, units]` (w `[F]` gives one unit)."""
    w = np.asarray(w, np.float32)
    w2 = w[:, None] if w.ndim == 1 else w
    dense = keras.layers.Dense(w2.shape[1])
    inp = keras.Input((w2.shape[0],))
    model = keras.Model(inp, dense(inp))
    dense.set_weights([w2, np.broadcast_to(np.asarray(b, np.float32), (w2.shape[1],)).copy()])
    return model


def two_inputs() -> keras.Model:
    """`[N, 4]` and `[N, 3]` float inputs -> 2 logits."""
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate()([a, b])
    h = keras.layers.Dense(8, activation="tanh")(h)
    return keras.Model([a, b], keras.layers.Dense(2)(h))
