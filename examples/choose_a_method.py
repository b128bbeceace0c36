"""Choose an attribution method by measurement: eight methods, four metrics, one table.

    python examples/choose_a_method.py            # about 30 s on 2 CPU cores
    python examples/choose_a_method.py --out runs/compare

A small CNN learns the synthetic shapes of `keras_ig.datasets.make_shapes`,
whose object masks are known. `keras_ig.compare` then explains the same
held-out images with every built-in method (IG with zeros, blur and uniform
baselines, SmoothGrad-IG, Expected Gradients, IDGI, Blur IG, Guided IG),
each for the class the model predicts, and scores each map with
`keras_ig.metrics`: deletion (lower is better), insertion, infidelity and
localization inside the object's mask. The table is printed and the maps
saved as `compare.png`, one row per method with its scores.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from keras_ig.cli import start_tensorflow

# As the CLI does: TF_CPP_MIN_LOG_LEVEL=2, and the C++ start-up lines
# (oneDNN, cuInit) that ignore it held back unless start-up fails.
start_tensorflow()

import numpy as np
from _shapes import shapes_cnn, train_shapes_classifier  # examples/_shapes.py

import keras_ig
from keras_ig.datasets import make_shapes

METRICS = ("deletion", "insertion", "infidelity", "localization")


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, compare the methods on held-out images, print and save the result.

    Returns:
        `{"comparison": keras_ig.Comparison, "picture": Path, "accuracy": float}`.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000, help="training images")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--probes", type=int, default=16, help="held-out images compared")
    parser.add_argument("--steps", type=int, default=32, help="path steps of every method")
    parser.add_argument("--filters", type=int, default=16, help="channels of the first conv")
    parser.add_argument("--out", default=None, help="folder for compare.png (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    f = args.filters
    model = train_shapes_classifier(
        lambda: shapes_cnn(filters=(f, 2 * f, 2 * f)), args.train, args.epochs, seed=args.seed
    )
    # Held-out images: a different seed from training.
    probes = make_shapes(args.probes, seed=args.seed + 1000)
    accuracy = float(
        np.mean(np.argmax(model.predict(probes.images, verbose=0), -1) == probes.labels)
    )
    print(
        f"CNN trained on {args.train} shape images for {args.epochs} epochs; "
        f"accuracy on the {args.probes} held-out images compared: {accuracy:.0%}."
    )
    comparison = keras_ig.compare(
        model,
        probes.images,
        metrics=METRICS,
        masks=probes.masks,
        output="logits",  # the score before the softmax, which saturates
        steps=args.steps,
        seed=args.seed,
    )
    print(comparison)
    print(
        f"Best by deletion: {comparison.best('deletion')}; by insertion: "
        f"{comparison.best('insertion')}; by localization: {comparison.best('localization')} "
        f"(chance level {probes.mask_fractions.mean():.3f})."
    )
    out = Path(tempfile.mkdtemp(prefix="keras-ig-compare-") if args.out is None else args.out)
    out.mkdir(parents=True, exist_ok=True)
    picture = out / "compare.png"
    comparison.save(picture)
    print(f"Maps of the first inputs, one row per method: {picture}")
    return {"comparison": comparison, "picture": picture, "accuracy": accuracy}


if __name__ == "__main__":
    main()
