"""Quickstart: train a small classifier on generated data and explain it.

python examples/quickstart.py
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import keras_ig


def main() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Class 1 when the first two of six features sum above 1; the rest is noise.
    x = rng.uniform(0, 1, size=(512, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 1).astype("int64")
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)

    probes = x[:4]
    exp = keras_ig.explain(model, probes, steps=32, output="logits")
    np.set_printoptions(precision=3, suppress=True)
    print("target class per input:", exp.target)
    print("attributions (features 0 and 1 matter, 2-5 are noise):")
    print(exp.attributions)
    print("F(x) - F(baseline):", exp.scores - exp.baseline_scores)
    print("completeness gap:  ", exp.delta)


if __name__ == "__main__":
    main()
