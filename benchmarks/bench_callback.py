"""Cost of `IGCallback` per epoch: the demo's training with it against without it.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_callback.py [--blocks 40] [--probes 8] [--steps 32]

Workload: exactly the demo's (`keras-ig demo`, `keras_ig._demo.DEFAULT`): its
CNN (three conv layers, global average pooling, softmax) on 3,000
`make_shapes` images of 32x32 with 500 validation images, batch size 32,
Adam. The callback is set up as the demo sets it up: `--probes` validation
images with their labels as targets and their object masks (localization
and outlines on), `--steps` Gauss-Legendre points on the logits, histograms
on: its full default output.

Method. On a shared machine single epochs of this workload vary by +-10%
(other tenants), more than the effect measured, so the arms are interleaved
as finely as possible and many epochs are measured. One `model.fit` runs
`3 * blocks` pairs of epochs. In each pair, the first epoch ends with one
arm's `on_epoch_end` (or nothing) and the second epoch with none, so the
pair holds all that one logged epoch costs, including the pictures the
background thread draws while the next epoch trains (the second epoch waits
for them at its end). The three arms, no callback, `IGCallback` (default:
pictures drawn and written on its background thread) and
`IGCallback(background_writes=False)`, take one pair each in every block, in
a fresh random order. Each pair is timed from the first epoch's
`on_epoch_begin` to the next pair's: training, validation and callbacks, in
wall time and in this process's CPU time (all threads). Both callbacks
compile their graph in `on_train_begin`, before any timing.

Ratios are to the pair without the callback, reported per epoch (the
pair's added time over one epoch): the ratio of the per-arm medians, and
the median over blocks of each block's paired ratio, with its quartiles.
For scale, the table also times the floor: one compiled forward + backward
pass over the same `probes * steps` path rows (what any IG implementation
must compute at each logged epoch) and the ratio an epoch would have if the
callback cost exactly that. Target: <= 1.05.
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

from keras_ig._demo import DEFAULT, build_model, pick_probes
from keras_ig.callbacks import IGCallback
from keras_ig.datasets import make_shapes

ARMS = ("without", "with", "with_sync")
LABELS = {
    "without": "no callback",
    "with": "IGCallback",
    "with_sync": "IGCallback, background_writes=False",
}


class Interleave(keras.callbacks.Callback):
    """Runs one arm's `on_epoch_end` at the first epoch of each pair; times pairs.

    Args:
        callbacks: arm name -> `IGCallback` (the arm "without" has none).
        schedule: the arm of each pair, in order.
    """

    def __init__(self, callbacks: dict[str, IGCallback], schedule: list[str]) -> None:
        super().__init__()
        self.callbacks = callbacks
        self.schedule = schedule
        self.starts: list[tuple[float, float]] = []  # (wall, cpu) at each pair's start
        self.epoch_end: dict[str, list[float]] = {arm: [] for arm in callbacks}

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        for cb in self.callbacks.values():
            cb.set_model(model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        for cb in self.callbacks.values():
            cb.on_train_begin(logs)  # checks and compiles, before any timing

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch % 2 == 0:
            self.starts.append((time.perf_counter(), time.process_time()))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        arm = self.schedule[epoch // 2]
        cb = self.callbacks.get(arm)
        if cb is None:
            return
        if epoch % 2 == 0:
            start = time.perf_counter()
            cb.on_epoch_end(epoch, logs)
            self.epoch_end[arm].append(time.perf_counter() - start)
        else:
            cb._wait_for_writes()  # the pair holds the whole logged epoch

    def on_train_end(self, logs: dict | None = None) -> None:
        self.starts.append((time.perf_counter(), time.process_time()))
        for cb in self.callbacks.values():
            cb.on_train_end(logs)


def gradient_floor(
    model: keras.Model, probes: np.ndarray, labels: np.ndarray, steps: int
) -> Callable[[], float]:
    """A timer of d(target score)/d(input) over the `P * steps` path rows.

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


def time_background_writes(cb: IGCallback) -> list[float]:
    """Record the CPU time of each epoch's writing job on `cb`'s thread."""
    times: list[float] = []
    write = cb._write_epoch

    def timed(*args: object) -> list[str]:
        start = time.thread_time()
        problems = write(*args)
        times.append(time.thread_time() - start)
        return problems

    cb._write_epoch = timed  # type: ignore[method-assign]
    return times


def per_epoch_ratio(pair: float, base: float) -> float:
    """An epoch's time with the arm over without: the pair's extra over one epoch."""
    return 1.0 + (pair - base) / (base / 2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--probes", type=int, default=DEFAULT.probes)
    parser.add_argument("--steps", type=int, default=DEFAULT.steps)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cfg = DEFAULT
    keras.utils.set_random_seed(args.seed)
    data = make_shapes(cfg.train + cfg.val, size=cfg.size, seed=args.seed)
    x_train, y_train = data.images[: cfg.train], data.labels[: cfg.train]
    x_val, y_val = data.images[cfg.train :], data.labels[cfg.train :]
    idx = pick_probes(y_val, args.probes, len(data.class_names))
    probes, labels, masks = x_val[idx], y_val[idx], data.masks[cfg.train :][idx]
    model = build_model(cfg.size, len(data.class_names), cfg.filters)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(args.seed)
    schedule = [str(arm) for _ in range(args.blocks) for arm in rng.permutation(ARMS)]
    with tempfile.TemporaryDirectory() as log_dir:
        callbacks = {
            arm: IGCallback(
                probes,
                os.path.join(log_dir, arm),
                target=labels,
                steps=args.steps,
                output="logits",
                masks=masks,
                warn_completeness=False,
                background_writes=arm == "with",
            )
            for arm in ARMS[1:]
        }
        background = time_background_writes(callbacks["with"])
        # Warm-up: traces the train and validation steps.
        model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=1, verbose=0)
        timer = Interleave(callbacks, schedule)
        model.fit(
            x_train,
            y_train,
            validation_data=(x_val, y_val),
            batch_size=cfg.batch_size,
            epochs=2 * len(schedule),
            verbose=0,
            callbacks=[timer],
        )
        floor = gradient_floor(model, probes, labels, args.steps)
        floor_s = statistics.median(floor() for _ in range(30))
        traces = {arm: cb._explainer.engine.traces for arm, cb in callbacks.items()}

    starts = np.array(timer.starts)
    spans = np.diff(starts, axis=0)  # [pairs, (wall, cpu)]
    by_arm = {arm: spans[[a == arm for a in schedule]] for arm in ARMS}  # [blocks, 2]
    # Paired: each block's pair of the arm against the same block's pair without.
    blocks = np.array(schedule).reshape(args.blocks, len(ARMS))
    block_spans = {
        arm: np.stack([spans[i * len(ARMS) + list(row).index(arm)] for i, row in enumerate(blocks)])
        for arm in ARMS
    }
    print(
        f"workload: the demo: CNN on {cfg.train} make_shapes images + {cfg.val} for "
        f"validation, batch {cfg.batch_size}; IGCallback: {len(idx)} probes x "
        f"{args.steps} steps, masks, histograms; {args.blocks} blocks of 3 epoch "
        "pairs, one per arm, in random order, in one fit"
    )
    print(
        f"{'per epoch':38}{'pair s':>8}{'ratio':>7}{'paired [quartiles]':>22}"
        f"{'cpu s':>8}{'ratio':>7}{'paired [quartiles]':>22}"
    )
    base = np.median(by_arm["without"], axis=0)
    for arm in ARMS:
        med = np.median(by_arm[arm], axis=0)
        cells = []
        for j in range(2):  # wall, cpu
            paired = per_epoch_ratio(block_spans[arm][:, j], block_spans["without"][:, j])
            q1, q2, q3 = np.percentile(paired, [25, 50, 75])
            ratio = per_epoch_ratio(med[j], base[j])
            cells.append(f"{med[j]:8.3f}{ratio:7.3f}{f'{q2:.3f} [{q1:.3f}, {q3:.3f}]':>22}")
        print(f"{LABELS[arm]:38}{''.join(cells)}")
    epoch_s = base[0] / 2
    print(f"{'no callback + floor':38}{base[0] + floor_s:8.3f}{1 + floor_s / epoch_s:7.3f}")
    print()
    print(f"epoch without the callback (median): {epoch_s:.3f} s wall")
    print(f"floor, fwd+bwd over the {len(idx) * args.steps} path rows: {floor_s * 1e3:.1f} ms")
    for arm, ends in timer.epoch_end.items():
        ms = statistics.median(ends) * 1e3
        print(
            f"on_epoch_end of a logged epoch ({LABELS[arm]}): {ms:.1f} ms, "
            f"{ms / 1e3 / epoch_s:.1%} of an epoch"
        )
    block = statistics.median(timer.epoch_end["with"])
    drawn = statistics.median(background)
    print(
        f"its background thread (drawing, PNG, protos, writing): {drawn * 1e3:.1f} ms CPU "
        "per logged epoch"
    )
    print(
        f"bound with background writes: 1 + (on_epoch_end + all the background CPU time) "
        f"/ epoch = {1 + (block + drawn) / epoch_s:.3f} (if the thread's work never "
        "overlapped with training)"
    )
    print(f"graphs traced by the IG engine: {traces}")
    wall = per_epoch_ratio(np.median(by_arm["with"][:, 0]), base[0])
    cpu = per_epoch_ratio(np.median(by_arm["with"][:, 1]), base[1])
    print(
        f"IGCallback / no callback, per epoch (ratio of medians): wall {wall:.3f}, "
        f"cpu {cpu:.3f}   target <= 1.05"
    )


if __name__ == "__main__":
    main()
