"""Choose what F is: a probability, a logit, or class A versus class B.

    python examples/class_contrast.py     # about 20 s on 2 CPU cores

Integrated Gradients explains one number per input, F(x). Which number is a
choice, and it changes the answer:

- the probability of class A (the model's softmax output, the default):
  bounded by 1, so once the model is sure it saturates (0.98 on average
  here), and it also rises when *other* classes lose evidence;
- the logit of class A (`output="logits"`: the score before the softmax,
  without changing the model): unbounded, but the softmax ignores any shift
  shared by all logits, so one logit alone is measured from an arbitrary
  zero;
- class A *versus* class B (a callable target,
  `lambda y: y[:, A] - y[:, B]` on the logits): `log(p_A / p_B)`, the
  log-odds of a disc against a square. Shift-free and unbounded, it answers
  a precise question: "why a disc rather than a square?". Red pixels argue
  for the disc, blue ones for the square.

Completeness holds for each: the attributions add up to F(x) - F(baseline)
for whichever F was chosen.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from keras_ig.cli import start_tensorflow

# As the CLI does: TF_CPP_MIN_LOG_LEVEL=2, and the C++ start-up lines
# (oneDNN, cuInit) that ignore it held back unless start-up fails.
start_tensorflow()

import numpy as np
from _shapes import shapes_cnn, train_shapes_classifier  # examples/_shapes.py

import keras_ig
from keras_ig import render
from keras_ig.datasets import SHAPE_CLASSES, make_shapes

DISC, SQUARE = SHAPE_CLASSES.index("disc"), SHAPE_CLASSES.index("square")


def disc_versus_square(outputs):
    """F = logit(disc) - logit(square), one value per row."""
    return outputs[:, DISC] - outputs[:, SQUARE]


def main(argv: Sequence[str] | None = None) -> dict:
    """Explain disc images three ways and compare.

    Returns:
        One entry per F (`"probability"`, `"logit"`, `"disc - square"`), each
        `{"F(x)": float, "F(baseline)": float, "max_relative_gap": float,
        "object_share": float, "negative_share": float}` (means over probes;
        shares of positive mass on the object and of |mass| that is negative).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000, help="training images")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--probes", type=int, default=8, help="disc images explained")
    parser.add_argument("--steps", type=int, default=64, help="integration steps")
    parser.add_argument("--out", default="runs/contrast", help="folder for the picture")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # The small shapes CNN of `keras-ig demo`, ending in a softmax.
    model = train_shapes_classifier(shapes_cnn, args.train, args.epochs, seed=args.seed)
    pool = make_shapes(16 * args.probes, seed=args.seed + 1000)
    discs = np.flatnonzero(pool.labels == DISC)[: args.probes]
    x, masks = pool.images[discs], pool.masks[discs]

    choices = {
        # target=DISC on the model's own output: the softmax probability.
        "probability": {"target": DISC},
        "logit": {"target": DISC, "output": "logits"},
        # A callable target gets the (logit) outputs and returns F per row.
        "disc - square": {"target": disc_versus_square, "output": "logits"},
    }
    results, pictures = {}, []
    for name, kwargs in choices.items():
        exp = keras_ig.explain(model, x, steps=args.steps, **kwargs)
        maps = exp.attributions.sum(axis=-1)  # [N, H, W]
        positive = np.maximum(maps, 0.0)
        object_share = (positive * masks).sum(axis=(1, 2)) / np.maximum(
            positive.sum(axis=(1, 2)), 1e-12
        )
        negative_share = np.maximum(-maps, 0.0).sum(axis=(1, 2)) / np.maximum(
            np.abs(maps).sum(axis=(1, 2)), 1e-12
        )
        results[name] = {
            "F(x)": float(exp.scores.mean()),
            "F(baseline)": float(exp.baseline_scores.mean()),
            "max_relative_gap": float(exp.relative_delta.max()),
            "object_share": float(object_share.mean()),
            "negative_share": float(negative_share.mean()),
        }
        pictures.append(render.image_panel(x[0], exp.attributions[0], mask=masks[0]))

    print(f"{len(discs)} disc images, means over them:")
    print(f"{'F':<15}{'F(x)':>8}{'F(base)':>9}{'rel. gap':>10}{'on object':>11}{'negative':>10}")
    for name, r in results.items():
        print(
            f"{name:<15}{r['F(x)']:>8.3f}{r['F(baseline)']:>9.3f}"
            f"{r['max_relative_gap']:>10.2%}{r['object_share']:>11.1%}"
            f"{r['negative_share']:>10.1%}"
        )
    print(
        "\n'negative' is the share of attribution that argues against F: for the "
        "contrast, the evidence for 'square'."
    )
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "contrast.png")
    render.grid(pictures, cols=1).save(path)
    print(f"One probe, rows: {', '.join(choices)}: {path}")
    return results


if __name__ == "__main__":
    main()
