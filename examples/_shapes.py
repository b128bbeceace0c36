"""The shapes classifier several examples share (a helper, not an example).

`shapes_cnn` is the small CNN of `keras-ig demo`; `train_shapes_classifier`
fits a model to `make_shapes` images. Both are plain Keras.
"""

from __future__ import annotations

from collections.abc import Callable

import keras

from keras_ig.datasets import make_shapes


def shapes_cnn(
    size: int = 32, classes: int = 4, filters: tuple[int, int, int] = (16, 32, 32)
) -> keras.Model:
    """Three conv layers, global average pooling, a softmax over the shapes.

    Global average pooling keeps the evidence spatial right up to the
    classifier, so the attributions land on the object.
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((size, size, 1)),
            layers.Conv2D(filters[0], 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(filters[1], 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(filters[2], 3, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(classes, activation="softmax"),
        ]
    )


def train_shapes_classifier(
    build: Callable[[], keras.Model],
    n: int,
    epochs: int,
    *,
    seed: int = 0,
    watermark: str | None = None,
) -> keras.Model:
    """Seed, draw `n` training images, `build()` a classifier and fit it.

    Args:
        build: makes the untrained model, e.g. `shapes_cnn`.
        n: training images, from `make_shapes(n, seed=seed, watermark=watermark)`.
        epochs: training epochs (Adam, cross-entropy, batch size 32, silent).
        seed: seed of the data, the weights and the shuffling.
        watermark: as in `make_shapes`.
    """
    keras.utils.set_random_seed(seed)
    data = make_shapes(n, seed=seed, watermark=watermark)
    model = build()
    model.compile(
        keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(data.images, data.labels, epochs=epochs, batch_size=32, verbose=0)
    return model
