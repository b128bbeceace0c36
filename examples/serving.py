"""Serve predictions and their attributions from one exported model.

    python examples/serving.py     # about 15 s on 2 CPU cores

`keras_ig.IntegratedGradients` is a Keras layer: tensors in, attributions
out. Put it in a functional model next to the classifier and the model
returns both, in one call. `model.export()` writes a TensorFlow SavedModel
that needs neither keras-ig nor Python code to run: TF Serving, a C++
client, or (here) `tf.saved_model.load` in a fresh process can query it.

The IG computation is one compiled graph per input signature, so the
exported endpoint takes any batch size.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Sequence

from keras_ig.cli import start_tensorflow

# As the CLI does: TF_CPP_MIN_LOG_LEVEL=2, and the C++ start-up lines
# (oneDNN, cuInit) that ignore it held back unless start-up fails.
start_tensorflow()

import keras
import numpy as np
import tensorflow as tf
from _shapes import shapes_cnn, train_shapes_classifier  # examples/_shapes.py

import keras_ig
from keras_ig.datasets import make_shapes


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, wrap, export, reload, query; check the served attributions.

    Returns:
        `{"max_abs_diff": float, "max_relative_gap": float, "shapes": dict}`:
        the largest difference between served and in-process attributions,
        the served attributions' completeness gap, and the output shapes.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000, help="training images")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=256, help="integration steps")
    parser.add_argument(
        "--export-dir", default=None, help="where to export (default: a temporary folder)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # The small shapes CNN of `keras-ig demo`, ending in a softmax.
    classifier = train_shapes_classifier(shapes_cnn, args.train, args.epochs, seed=args.seed)

    # The serving model: one input, two outputs. The IG layer shares the
    # classifier's weights; it explains the logit of the predicted class.
    image = keras.Input(classifier.input_shape[1:], name="image")
    ig = keras_ig.IntegratedGradients(classifier, steps=args.steps, output="logits")
    server = keras.Model(image, {"probabilities": classifier(image), "attributions": ig(image)})

    with tempfile.TemporaryDirectory() as tmp:
        path = args.export_dir or os.path.join(tmp, "served")
        server.export(path, verbose=False)  # a SavedModel with a `serve` endpoint

        # What a client does: no keras-ig, no model code, just the SavedModel.
        served = tf.saved_model.load(path)
        test = make_shapes(5, seed=args.seed + 1000)
        x = test.images  # any batch size works
        out = served.serve(tf.constant(x))
        probabilities = out["probabilities"].numpy()
        attributions = out["attributions"].numpy()

    # The same numbers as explaining in process (and completeness holds).
    exp = ig.explain(x)
    diff = float(np.abs(attributions - exp.attributions).max())
    gap = np.abs(attributions.reshape(len(x), -1).sum(axis=1) - (exp.scores - exp.baseline_scores))
    relative = float((gap / np.abs(exp.scores - exp.baseline_scores)).max())
    print(f"served outputs: probabilities {probabilities.shape}, attributions {attributions.shape}")
    print(f"predicted classes: {probabilities.argmax(axis=1).tolist()}")
    print(f"true classes:      {test.labels.tolist()}")
    print(f"served vs in-process attributions: max |difference| {diff:.2e}")
    print(f"completeness of the served attributions: gap <= {relative:.2%} of |F(x) - F(x')|")
    return {
        "max_abs_diff": diff,
        "max_relative_gap": relative,
        "shapes": {"probabilities": probabilities.shape, "attributions": attributions.shape},
    }


if __name__ == "__main__":
    main()
