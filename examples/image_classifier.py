"""Watch an image classifier learn where to look, with IGCallback.

This is the code behind `keras-ig demo`, written out as a tutorial:

    python examples/image_classifier.py           # about 20 s on 2 CPU cores
    tensorboard --logdir runs/image_classifier

1. Data with ground truth. `make_shapes` draws one shape (square, disc,
   triangle, cross) per noisy grey image and returns each object's exact
   pixel mask, so "does the model look at the object?" can be measured.
2. A small CNN (`shapes_cnn`, in examples/_shapes.py). It ends in global
   average pooling, which keeps the evidence spatial, and in a softmax.
3. The callback. `IGCallback` explains a few fixed validation images at the
   end of every epoch and writes the pictures (probe | map | overlay, mask
   outlined) and scalars to TensorBoard. With `masks=` it also scores the
   *localization*: the share of positive attribution inside the mask.
4. The baseline for that score is the object's share of the image: a map
   spread evenly over the image would score exactly that.
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
from _shapes import shapes_cnn  # examples/_shapes.py

from keras_ig.callbacks import IGCallback
from keras_ig.datasets import make_shapes


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, log to TensorBoard, print accuracy and localization per epoch.

    Returns:
        `{"chance": float, "localization": [float per epoch], "val_accuracy":
        [float per epoch], "picture": str}`.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=3000, help="training images")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32, help="integration steps")
    parser.add_argument("--filters", type=int, default=16, help="width of the CNN")
    parser.add_argument("--logdir", default="runs/image_classifier")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    # 1. Data: train on the first images, keep 500 for validation and probes.
    data = make_shapes(args.train + 500, seed=args.seed)
    x_train, y_train = data.images[: args.train], data.labels[: args.train]
    x_val, y_val = data.images[args.train :], data.labels[args.train :]
    masks_val = data.masks[args.train :]

    # Probes: the first two validation images of each class.
    idx = np.sort(np.concatenate([np.flatnonzero(y_val == c)[:2] for c in range(4)]))
    probes, probe_labels, probe_masks = x_val[idx], y_val[idx], masks_val[idx]
    chance = float(probe_masks.mean())
    print(f"The objects cover {chance:.1%} of the probe images (chance level).")

    # 2. The model: three conv layers, global average pooling, a softmax.
    f = args.filters
    model = shapes_cnn(data.images.shape[1], filters=(f, 2 * f, 2 * f))
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )

    # 3. The callback. target=the true labels: follow each probe's own class
    # even while the model still predicts another. output="logits": explain
    # the score before the softmax, which does not saturate near 1.
    ig = IGCallback(
        probes,
        args.logdir,
        target=probe_labels,
        steps=args.steps,
        output="logits",
        masks=probe_masks,
    )
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=args.epochs,
        batch_size=32,
        verbose=2,
        # The TensorBoard callback adds loss and accuracy curves next to
        # IGCallback's attributions in the same log folder.
        callbacks=[keras.callbacks.TensorBoard(args.logdir, write_graph=False), ig],
    )

    # 4. What happened: IGCallback keeps one record per logged epoch.
    print(f"\nepoch  val_accuracy  localization  (chance {chance:.3f})")
    val_acc = history.history["val_accuracy"]
    for record in ig.history:
        e = record["epoch"]
        print(f"{e + 1:>5}  {val_acc[e]:>12.3f}  {record['localization_mean']:>12.3f}")

    # The last epoch's explanation, drawn as a grid, masks outlined in green.
    picture = os.path.join(args.logdir, "attributions.png")
    ig.last_explanation.save(picture, masks=probe_masks, cols=2)
    print(f"\nFinal attributions: {picture}")
    print(f"Watch them evolve:  tensorboard --logdir {args.logdir}")
    return {
        "chance": chance,
        "localization": [float(r["localization_mean"]) for r in ig.history],
        "val_accuracy": [float(v) for v in val_acc],
        "picture": picture,
    }


if __name__ == "__main__":
    main()
