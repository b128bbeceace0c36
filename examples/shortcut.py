"""Debug a shortcut: a model that reads a watermark instead of the shape.

    python examples/shortcut.py          # about 30 s on 2 CPU cores

The training images of `make_shapes(watermark="label")` carry a bright 3x3
patch in the corner given by the label: a perfect shortcut. A model trained
on them is 100% accurate, and no accuracy number on data with the same flaw
tells you why. Integrated Gradients does: most of the positive attribution
sits on the 9 watermark pixels (under 1% of the image), little on the shape.
Since the ground truth is known (`watermark_masks`, `masks`), that is a
number, not an impression.

The fix is in the data: with `watermark="random"` the patch says nothing
about the label, and the retrained model's attribution moves to the object.

The CNN flattens its feature maps (no global pooling), so it can tell the
corners apart - as many real models can.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from keras_ig.cli import start_tensorflow

# As the CLI does: TF_CPP_MIN_LOG_LEVEL=2, and the C++ start-up lines
# (oneDNN, cuInit) that ignore it held back unless start-up fails.
start_tensorflow()

import keras
import numpy as np
from _shapes import train_shapes_classifier  # examples/_shapes.py

import keras_ig
from keras_ig import render
from keras_ig.datasets import make_shapes


def positive_share(attributions: np.ndarray, masks: np.ndarray) -> float:
    """Mean share of positive attribution inside the masks.

    Args:
        attributions: `[N, H, W, C]`; channels are summed.
        masks: `bool[N, H, W]`.

    Returns:
        The mean over the N images of `sum(max(a, 0)[mask]) / sum(max(a, 0))`.
    """
    positive = np.maximum(attributions.sum(axis=-1), 0.0)
    inside = (positive * masks).sum(axis=(1, 2))
    return float(np.mean(inside / np.maximum(positive.sum(axis=(1, 2)), 1e-12)))


def flat_cnn() -> keras.Model:
    """A small CNN that flattens its feature maps: it can tell the corners apart."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(4, activation="softmax"),
        ]
    )


def main(argv: Sequence[str] | None = None) -> dict:
    """Train with the shortcut, explain, train without it, explain again.

    Returns:
        `{"shortcut": {...}, "fixed": {...}}`, each with `"watermark"` and
        `"object"` (positive share on each region), `"accuracy"` (on images
        of the training distribution) and `"accuracy_random"` (on images with
        a random watermark).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000, help="training images")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--probes", type=int, default=16, help="images explained")
    parser.add_argument("--steps", type=int, default=128, help="integration steps")
    parser.add_argument("--out", default="runs/shortcut", help="folder for the pictures")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # Held-out images: a different seed from training.
    honest = make_shapes(500, seed=args.seed + 1000, watermark="random")
    results = {}
    pictures = []
    for name, watermark in (("shortcut", "label"), ("fixed", "random")):
        model = train_shapes_classifier(
            flat_cnn, args.train, args.epochs, seed=args.seed, watermark=watermark
        )
        # Probes from the model's own training distribution: with the
        # shortcut, the watermark is in the corner the label says.
        probes = make_shapes(args.probes, seed=args.seed + 2000, watermark=watermark)
        exp = keras_ig.explain(
            model,
            probes.images,
            target=probes.labels,
            steps=args.steps,
            output="logits",  # the score before the softmax
        )
        results[name] = {
            "watermark": positive_share(exp.attributions, probes.watermark_masks),
            "object": positive_share(exp.attributions, probes.masks),
            "accuracy": float(model.evaluate(probes.images, probes.labels, verbose=0)[1]),
            "accuracy_random": float(model.evaluate(honest.images, honest.labels, verbose=0)[1]),
        }
        # One panel per probe, the object outlined in green.
        pictures += [
            render.image_panel(probes.images[i], exp.attributions[i], mask=probes.masks[i])
            for i in range(min(4, args.probes))
        ]

    chance_wm = float(probes.watermark_masks.mean())
    chance_obj = float(probes.masks.mean())
    print(f"Share of positive attribution (chance: watermark {chance_wm:.1%}, ", end="")
    print(f"object {chance_obj:.1%}):")
    print(f"{'trained on':<22}{'watermark':>10}{'object':>8}{'accuracy':>10}{'random wm':>11}")
    for name, label in (("shortcut", "watermark = label"), ("fixed", "watermark = random")):
        r = results[name]
        print(
            f"{label:<22}{r['watermark']:>10.1%}{r['object']:>8.1%}"
            f"{r['accuracy']:>10.1%}{r['accuracy_random']:>11.1%}"
        )
    print(
        "\nWith the shortcut, the model's evidence is the watermark; it fails as soon "
        "as the watermark moves (last column). Without it, the evidence is the shape."
    )
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "shortcut.png")
    # Top row: trained with the shortcut; bottom row: after the fix.
    render.grid(pictures, cols=len(pictures) // 2).save(path)
    print(f"Pictures (top: shortcut, bottom: fixed): {path}")
    return results


if __name__ == "__main__":
    main()
