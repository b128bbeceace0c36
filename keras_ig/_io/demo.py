"""`keras-ig demo`: watch a small CNN learn to look at the object.

The demo trains a CNN on `keras_ig.datasets.make_shapes` (grey images of a
square, disc, triangle or cross, with the object's exact pixel mask) and
follows eight fixed validation images with `IGCallback`. Because the masks
are known, "is the model looking at the right thing?" becomes a number: the
localization score, the share of the positive attribution that falls inside
the object. A map that ignored the object would score the object's share of
the image (chance); a model that learned the shapes scores far above it.

Everything is local and seeded: no download, no GPU, same numbers for the
same `--seed` on the same machine.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from keras_ig._api.explain import explain
from keras_ig._numpy.metrics import localization
from keras_ig.callbacks import IGCallback
from keras_ig.datasets import make_shapes

DEFAULT_LOGDIR = "runs/demo"
PICTURE_NAME = "attributions.png"


@dataclass(frozen=True)
class Settings:
    """Sizes of one demo run.

    Attributes:
        train: training images.
        val: held-out images; the probes are taken from them.
        epochs: training epochs.
        steps: integration steps per attribution.
        probes: images followed in TensorBoard, a multiple of the 4 classes.
        size: image side in pixels.
        filters: channels of the three conv layers.
        batch_size: training batch size.
    """

    train: int = 3000
    val: int = 500
    epochs: int = 8
    steps: int = 32
    probes: int = 8
    size: int = 32
    filters: tuple[int, int, int] = (16, 32, 32)
    batch_size: int = 32


# Tuned on 2 CPU cores: about 15 s of training, localization from ~0.35 after
# the first epoch to ~0.85, against a chance level of ~0.12.
DEFAULT = Settings()
# Seconds, for tests: checks the plumbing, not the learning.
QUICK = Settings(train=128, val=32, epochs=2, steps=4, probes=4, filters=(4, 8, 8))


@dataclass(frozen=True)
class DemoResult:
    """What a demo run produced.

    Attributes:
        logdir: the TensorBoard log folder.
        picture: the PNG grid of the final attributions.
        chance: mean share of the probe images covered by their object.
        untrained: localization of the model before training.
        epochs: one dict per epoch, `{"epoch": int (0-based, = the TensorBoard step), "accuracy",
            "val_accuracy", "localization": float}`.
        seconds: wall time of data, training and logging.
    """

    logdir: Path
    picture: Path
    chance: float
    untrained: float
    epochs: list[dict[str, float]]
    seconds: float


def build_model(size: int, classes: int, filters: tuple[int, int, int]) -> keras.Model:
    """A small CNN ending in global average pooling and a softmax.

    Global average pooling keeps the evidence spatial right up to the
    classifier, which is what makes the attributions land on the object
    rather than spread over the image.
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
        ],
        name="shapes_cnn",
    )


def pick_probes(labels: np.ndarray, count: int, classes: int) -> np.ndarray:
    """Indices of the first `count // classes` images of every class, in order."""
    per_class = max(1, count // classes)
    picks = [np.flatnonzero(labels == c)[:per_class] for c in range(classes)]
    return np.sort(np.concatenate(picks))


class _LocalizationInLogs(keras.callbacks.Callback):
    """Put the callback's localization score into the epoch's logs.

    Keras's progress bar and `History` show whatever is in `logs`; callbacks
    run in list order and the progress bar runs last, so the score appears on
    the epoch's progress line next to the accuracy.
    """

    def __init__(self, ig: IGCallback) -> None:
        super().__init__()
        self.ig = ig

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        record = self.ig.history[-1] if self.ig.history else None
        if logs is not None and record is not None and record["epoch"] == epoch:
            logs["localization"] = record["localization_mean"]


def run(
    *,
    epochs: int | None = None,
    steps: int | None = None,
    logdir: str | os.PathLike | None = None,
    seed: int = 0,
    quick: bool = False,
    verbose: int | str = "auto",
) -> DemoResult:
    """Train the demo CNN with `IGCallback` and print what happened.

    Args:
        epochs: training epochs (default 8; 2 with `quick`).
        steps: integration steps per attribution (default 32; 4 with `quick`).
        logdir: TensorBoard folder (default `runs/demo`).
        seed: seed of the data, the weights and the shuffling.
        quick: tiny data and model, for tests.
        verbose: Keras `fit` verbosity (`"auto"`: a progress bar).

    Returns:
        A `DemoResult`.
    """
    settings = QUICK if quick else DEFAULT
    settings = dataclasses.replace(
        settings,
        epochs=settings.epochs if epochs is None else epochs,
        steps=settings.steps if steps is None else steps,
    )
    logdir = Path(DEFAULT_LOGDIR if logdir is None else logdir)
    start = time.perf_counter()
    keras.utils.set_random_seed(seed)

    data = make_shapes(settings.train + settings.val, size=settings.size, seed=seed)
    classes = len(data.class_names)
    x_train, y_train = data.images[: settings.train], data.labels[: settings.train]
    x_val, y_val = data.images[settings.train :], data.labels[settings.train :]
    masks_val = data.masks[settings.train :]
    idx = pick_probes(y_val, settings.probes, classes)
    probes, probe_labels, probe_masks = x_val[idx], y_val[idx], masks_val[idx]
    chance = float(probe_masks.mean())

    model = build_model(settings.size, classes, settings.filters)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    if logdir.exists() and any(logdir.rglob("events.out.tfevents.*")):
        print(f"note: {logdir} already holds runs; TensorBoard will show them all.")
    print(
        f"Training a CNN on {settings.train} synthetic shape images "
        f"({', '.join(data.class_names)}), {settings.epochs} "
        f"epoch{'s' if settings.epochs != 1 else ''}. After every epoch, "
        f"IGCallback explains {len(idx)} fixed validation images."
    )
    print(
        f"Localization = share of positive attribution inside the object's mask. "
        f"The objects cover {chance:.1%} of those images: that is the chance level."
    )
    # The reference point: random weights already favour the object a little,
    # since its bright pixels differ most from the black baseline.
    before = explain(
        model, probes, target=probe_labels, steps=settings.steps, output="logits", warn=False
    )
    untrained = _mean_localization(before.attributions, probe_masks)
    print(f"Before training, localization is {untrained:.2f}.")
    ig = IGCallback(
        probes,
        str(logdir),
        target=probe_labels,  # follow the true class, not a changing prediction
        steps=settings.steps,
        output="logits",  # explain scores before the softmax: no saturation
        masks=probe_masks,
        warn_completeness=False,  # reported once, below, and in TensorBoard
    )
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        verbose=verbose,
        callbacks=[
            keras.callbacks.TensorBoard(str(logdir), write_graph=False),
            ig,
            _LocalizationInLogs(ig),
        ],
    )

    rows = _epoch_rows(history.history, ig.history)
    picture = logdir / PICTURE_NAME
    exp = ig.last_explanation
    if exp is not None:
        exp.save(picture, masks=probe_masks, cols=2)
    seconds = time.perf_counter() - start
    _report(rows, chance, untrained, exp, picture, logdir, seconds)
    return DemoResult(
        logdir=logdir,
        picture=picture,
        chance=chance,
        untrained=untrained,
        epochs=rows,
        seconds=seconds,
    )


def _mean_localization(attributions: np.ndarray, masks: np.ndarray) -> float:
    """IGCallback's score: positive mass in the mask, channels summed `[P, H, W, C]`."""
    maps = attributions.sum(axis=-1)
    return float(np.nanmean([localization(m, k) for m, k in zip(maps, masks, strict=True)]))


def _epoch_rows(fit_history: dict, ig_history: list[dict]) -> list[dict[str, float]]:
    by_epoch = {rec["epoch"]: rec["localization_mean"] for rec in ig_history}
    rows = []
    for e, (acc, val) in enumerate(
        zip(fit_history["accuracy"], fit_history["val_accuracy"], strict=True)
    ):
        rows.append(
            {
                "epoch": e,  # 0-based, as the TensorBoard step
                "accuracy": float(acc),
                "val_accuracy": float(val),
                "localization": float(by_epoch.get(e, np.nan)),
            }
        )
    return rows


def _report(
    rows: list[dict[str, float]],
    chance: float,
    untrained: float,
    exp: Any,
    picture: Path,
    logdir: Path,
    seconds: float,
) -> None:
    print()
    # The epoch column is TensorBoard's step (0-based), so a row can be found
    # on the step slider; the untrained model has no step.
    print(f"epoch (step)  accuracy  val_accuracy  localization  (chance {chance:.3f})")
    print(
        f"{'untrained':>12}         -             -  {untrained:>12.3f}  "
        f"{untrained / chance:>5.1f}x chance"
    )
    for r in rows:
        print(
            f"{r['epoch']:>12}  {r['accuracy']:>8.3f}  {r['val_accuracy']:>12.3f}  "
            f"{r['localization']:>12.3f}  {r['localization'] / chance:>5.1f}x chance"
        )
    last = rows[-1]["localization"]
    learned = last > 2 * chance and last > untrained + 0.1
    verdict = (
        "the model learned to look at the shapes"
        if learned
        else "no clear rise yet; train longer (--epochs)"
    )
    print(
        f"\nLocalization went from {untrained:.2f} (untrained) to {last:.2f}, "
        f"{last / chance:.1f}x the chance level of {chance:.2f}: {verdict}."
    )
    if exp is not None:
        worst = float(np.max(exp.relative_delta))
        print(
            f"Completeness: sum of attributions = F(x) - F(baseline) to within "
            f"{worst:.1%} (worst probe, {exp.steps} steps)."
        )
        print(f"Final attributions (probe | map | overlay, mask in green): {picture}")
    print(f"Done in {seconds:.0f} s. See the attributions evolve in TensorBoard:")
    print(f"\n    tensorboard --logdir {logdir}\n")
