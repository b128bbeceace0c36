"""Quickstart: train a small classifier on generated data and explain it.

python examples/quickstart.py
"""

from __future__ import annotations

from keras_ig.cli import start_tensorflow

# As the CLI does: TF_CPP_MIN_LOG_LEVEL=2, and the C++ start-up lines
# (oneDNN, cuInit) that ignore it held back unless start-up fails.
start_tensorflow()

import keras
import numpy as np

import keras_ig


def main() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    # Class 1 when the first two of six features sum above 1; the rest is noise.
    x = rng.uniform(0, 1, size=(4096, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 1).astype("int64")
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    # Enough data and epochs that the model learns the rule (accuracy ~0.98);
    # a half-trained one also leans on the noise features, and IG shows it.
    history = model.fit(x, y, epochs=20, batch_size=64, verbose=0)

    # Baseline: the average input, so an attribution says how much a feature's
    # value moved the score away from that of a typical input.
    probes = x[:64]
    exp = keras_ig.explain(model, probes, steps=32, output="logits", baseline=x.mean(axis=0))
    np.set_printoptions(precision=3, suppress=True)
    print(f"training accuracy: {history.history['accuracy'][-1]:.3f}")
    print("target class of the first inputs:", exp.target[:4])
    print("their attributions (features 0 and 1 matter, 2-5 are noise):")
    print(exp.attributions[:4])
    print("mean |attribution| per feature over 64 inputs:")
    print(np.abs(exp.attributions).mean(axis=0))
    print("F(x) - F(baseline):", (exp.scores - exp.baseline_scores)[:4])
    print("completeness gap:  ", exp.delta[:4])


if __name__ == "__main__":
    main()
