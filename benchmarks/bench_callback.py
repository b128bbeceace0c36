"""Cost of `IGCallback` per epoch: `model.fit` with it against without it.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_callback.py [--rounds 8] [--epochs-per-fit 3]
                                        [--images 2000] [--probes 8] [--steps 32]
                                        [--every-n-epochs 1]

Workload: a small CNN (two conv + pool blocks, a dense layer, 4 logits) on
`keras_ig.datasets.make_shapes(images, size=32)`, batch size 32, Adam. The
callback follows `--probes` probes with their labels as targets and their
object masks (localization and outlines on), `--steps` Gauss-Legendre
points, histograms on: its full default output, logging every epoch.

Method: one model, trained on in `fit` calls of `--epochs-per-fit` epochs
(`initial_epoch` moves on), rotating three arms: no callback, `IGCallback`
(default: pictures drawn and written on its background thread) and
`IGCallback(background_writes=False)`. `--rounds` rounds, the order rotated
every round so that a slow drift of the machine hits every arm alike. Each
fit is timed whole (`on_train_end`, which waits for the last background
write, included) minus the callback's `on_train_begin` (the one-step check
run, a per-`fit` cost reported apart; the very first one also compiles the
graph), and divided by its epochs. Both wall time and this process's CPU
time (all threads) are reported: on a shared machine the CPU time is the
steadier measure of the work added. One warm-up fit per arm is not counted.

Two ratios per arm: the ratio of the per-arm medians, and the median of
the per-round paired ratios (each round's fit with the callback over the
same round's fit without it, so a slow stretch of the machine that spans a
round cancels out); the paired one is the steadier on a noisy machine.

For scale, the table also times the floor: one compiled forward + backward
pass over the same `probes * steps` path rows (what any IG implementation
must compute at each logged epoch) and the ratio an epoch would have if the
callback cost exactly that. Ratios are to the epoch without the callback
(target <= 1.05).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_ig.callbacks import IGCallback
from keras_ig.datasets import make_shapes

ARMS = ("without", "with", "with_sync")
LABELS = {
    "without": "no callback",
    "with": "IGCallback",
    "with_sync": "IGCallback, background_writes=False",
}


class Stopwatch(keras.callbacks.Callback):
    """Forwards to a callback, timing its `on_train_begin` and `on_epoch_end`."""

    def __init__(self, inner: keras.callbacks.Callback) -> None:
        super().__init__()
        self.inner = inner
        self.setup: list[tuple[float, float]] = []  # (wall, cpu) per fit
        self.epoch_end: list[float] = []

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        self.inner.set_model(model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.inner.on_train_begin(logs)
        self.setup.append((time.perf_counter() - wall, time.process_time() - cpu))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        start = time.perf_counter()
        self.inner.on_epoch_end(epoch, logs)
        if (epoch + 1) % self.inner.every_n_epochs == 0:  # a logged epoch
            self.epoch_end.append(time.perf_counter() - start)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.inner.on_train_end(logs)


def gradient_floor(
    model: keras.Model, probes: np.ndarray, labels: np.ndarray, steps: int
) -> Callable[[], float]:
    """A timer of d(target logit)/d(input) over the `P * steps` path rows.

    The irreducible work of IG at each logged epoch, whatever the engine:
    one compiled forward and backward pass over the same rows, built before
    timing.
    """
    alphas = (np.arange(steps) + 0.5) / steps
    rows = alphas[None, :, None, None, None] * probes[:, None]  # [P, m, H, W, C]
    path = tf.constant(rows.reshape(-1, *probes.shape[1:]), tf.float32)  # [P*m, H, W, C]
    targets = tf.constant(np.repeat(labels, steps).astype(np.int32))

    @tf.function
    def grad() -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(path)
            scores = tf.gather(model(path), targets, batch_dims=1)
        return tape.gradient(scores, path)

    def run() -> float:
        start = time.perf_counter()
        grad().numpy()
        return time.perf_counter() - start

    run()  # trace
    return run


def paired(times: dict[str, list[float]], arm: str) -> float:
    """Median over rounds of `arm`'s time over the same round's time without."""
    return statistics.median(t / b for t, b in zip(times[arm], times["without"], strict=True))


def build_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(4),
        ]
    )
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--epochs-per-fit", type=int, default=3)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--every-n-epochs", type=int, default=1)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    data = make_shapes(args.images, size=32, seed=0)
    model = build_model()
    p, k = args.probes, args.epochs_per_fit
    wall: dict[str, list[float]] = {arm: [] for arm in ARMS}
    cpu: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with tempfile.TemporaryDirectory() as log_dir:
        callbacks = {
            arm: IGCallback(
                data.images[:p],
                os.path.join(log_dir, arm),
                target=data.labels[:p],
                masks=data.masks[:p],
                steps=args.steps,
                every_n_epochs=args.every_n_epochs,
                warn_completeness=False,
                background_writes=arm == "with",
            )
            for arm in ARMS[1:]
        }
        watches = {arm: Stopwatch(cb) for arm, cb in callbacks.items()}
        epoch = 0

        def one_fit(arm: str, record: bool) -> None:
            nonlocal epoch
            watch = watches.get(arm)
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            model.fit(
                data.images,
                data.labels,
                batch_size=args.batch_size,
                initial_epoch=epoch,
                epochs=epoch + k,
                verbose=0,
                callbacks=[watch] if watch else [],
            )
            spent_wall = time.perf_counter() - start_wall
            spent_cpu = time.process_time() - start_cpu
            epoch += k
            if watch is not None:  # the per-fit check run is reported apart
                spent_wall -= watch.setup[-1][0]
                spent_cpu -= watch.setup[-1][1]
            if record:
                wall[arm].append(spent_wall / k)
                cpu[arm].append(spent_cpu / k)

        for arm in ARMS:  # warm-up: traces the train step, compiles the IG graph
            one_fit(arm, record=False)
        first_setup = watches["with"].setup[0][0]
        floor = gradient_floor(model, data.images[:p], data.labels[:p], args.steps)
        floors = []
        for r in range(args.rounds):
            shift = r % len(ARMS)  # rotate the order every round
            for arm in ARMS[shift:] + ARMS[:shift]:
                one_fit(arm, record=True)
            floors.append(floor())
        traces = {arm: cb._explainer.engine.traces for arm, cb in callbacks.items()}

    print(
        f"workload: CNN on make_shapes({args.images}, size=32), batch {args.batch_size}; "
        f"IGCallback every {args.every_n_epochs} epoch(s): {p} probes x {args.steps} "
        "steps, masks, histograms; "
        f"{args.rounds} fits of {k} epochs per arm, order rotated each round"
    )
    print(
        f"{'per epoch (median s)':40}{'wall':>8}{'ratio':>8}{'paired':>8}"
        f"{'cpu':>8}{'ratio':>8}{'paired':>8}"
    )
    base_wall, base_cpu = statistics.median(wall["without"]), statistics.median(cpu["without"])
    paired_wall = {arm: paired(wall, arm) for arm in ARMS}
    paired_cpu = {arm: paired(cpu, arm) for arm in ARMS}
    for arm in ARMS:
        w, c = statistics.median(wall[arm]), statistics.median(cpu[arm])
        print(
            f"{LABELS[arm]:40}{w:8.3f}{w / base_wall:8.3f}{paired_wall[arm]:8.3f}"
            f"{c:8.3f}{c / base_cpu:8.3f}{paired_cpu[arm]:8.3f}"
        )
    floor_s = statistics.median(floors)
    per_epoch = floor_s / args.every_n_epochs
    print(f"{'no callback + floor':40}{base_wall + per_epoch:8.3f}{1 + per_epoch / base_wall:8.3f}")
    print()
    print(f"floor, fwd+bwd over the {p * args.steps} path rows: {floor_s:.3f} s")
    for arm, watch in watches.items():
        end = statistics.median(watch.epoch_end[1:])
        print(f"on_epoch_end of a logged epoch ({LABELS[arm]}): {end:.3f} s")
    setup = statistics.median(s for s, _ in watches["with"].setup[1:])
    print(f"on_train_begin: {setup:.3f} s per fit (first fit, compiling: {first_setup:.3f} s)")
    print(f"graphs traced by the IG engine: {traces}")
    ratio = statistics.median(wall["with"]) / base_wall
    print(f"ratio with / without (median wall time per epoch): {ratio:.3f}   target <= 1.05")
    print(
        "ratio with / without (median of per-round paired ratios): "
        f"wall {paired_wall['with']:.3f}, cpu {paired_cpu['with']:.3f}   target <= 1.05"
    )


if __name__ == "__main__":
    main()
