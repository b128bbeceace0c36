"""Cost of `IGCallback` per epoch: the demo's training with it against without it.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_callback.py [--blocks 40] [--probes 8] [--steps 32]
                                        [--pause-ms 30]

Workload: exactly the demo's (`keras-ig demo`, `keras_ig._io.demo.DEFAULT`): its
CNN (three conv layers, global average pooling, softmax) on 3,000
`make_shapes` images of 32x32 with 500 validation images, batch size 32,
Adam. The callback is set up as the demo sets it up: `--probes` validation
images with their labels as targets and their object masks (localization
and outlines on), `--steps` Gauss-Legendre points on the logits, histograms
on: its full default output.

Method. On a shared machine single epochs of this workload vary by +-10%
(other tenants), more than the effect measured, so the arms are interleaved
as finely as possible and many epochs are measured. One `model.fit` runs
`4 * blocks` pairs of epochs. In each pair, the first epoch ends with one
arm's `on_epoch_end` (or nothing) and the second epoch with none, so the
pair holds all that one logged epoch costs, including the pictures the
background thread draws while the next epoch trains (the second epoch waits
for them at its end). The arms: no callback, `IGCallback` (default: pictures
drawn and written on its background thread),
`IGCallback(background_writes=False)`, `IGCallback(metrics=("deletion",
"insertion"))` (the quality scores of the probes' maps each epoch),
`IGCallback(background_ig=True)` (IG of a clone on the writer thread, as the
chief of a multi-worker fit does by default: `on_epoch_end` only copies the
weights), and a
calibration arm that sleeps a
known `--pause-ms` at `on_epoch_end`, which shows how closely the harness
recovers a known cost on the machine of the day. Every block holds one pair
of each arm, in a fresh random order. Each pair is timed from the first
epoch's `on_epoch_begin` to the next pair's: training, validation and
callbacks, in wall time and in this process's CPU time (all threads). Both
callbacks compile their graph in `on_train_begin`, before any timing.

Whole pairs are too noisy to resolve a few percent here (the calibration
arm shows by how much), so the callback's cost is also measured by its
parts, each a median over the blocks:
- how long its `on_epoch_end` holds the training loop (the IG graph, the
  statistics and `history`, handing the pictures to the thread);
- how much the next epoch's first steps, which its background thread
  overlaps (it reports when it ends), exceed that epoch's later steps,
  against the same excess without the callback (each epoch's first step
  also starts its data iterator, in every arm). This catches the thread's
  CPU time taken from training and any slowdown the IG graph leaves behind
  in the following steps.
Their sum over the epoch without the callback is the ratio "from its
parts". Also printed: a bound that assumes all the thread's CPU time were
taken from training, and the floor (one compiled forward + backward pass
over the same `probes * steps` path rows: what any IG implementation must
compute at each logged epoch). Target: <= 1.05.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_ig._io.demo import DEFAULT, build_model, pick_probes
from keras_ig.callbacks import IGCallback, _background
from keras_ig.datasets import make_shapes

ARMS = ("without", "with", "with_sync", "with_metrics", "with_bg", "pause")
LABELS = {
    "without": "no callback",
    "with": "IGCallback",
    "with_sync": "IGCallback, background_writes=False",
    "with_metrics": "IGCallback, metrics=deletion,insertion",
    "with_bg": "IGCallback, background_ig=True",
    "pause": "calibration: a known pause",
}


class Pause(keras.callbacks.Callback):
    """Sleeps a known time at `on_epoch_end`: what the harness must report."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        time.sleep(self.seconds)

    def _wait_for_writes(self) -> None:
        pass


def _fit_frame() -> types.FrameType | None:
    """The frame of the running `Model.fit` on this thread's stack."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_name != "fit":
        frame = frame.f_back
    return frame


class Interleave(keras.callbacks.Callback):
    """Runs one arm's `on_epoch_end` at the first epoch of each pair; times pairs.

    Args:
        callbacks: arm name -> `IGCallback` or `Pause` (the arm "without" has none).
        schedule: the arm of each pair, in order.
    """

    def __init__(self, callbacks: dict[str, keras.callbacks.Callback], schedule: list[str]) -> None:
        super().__init__()
        self.callbacks = callbacks
        self.schedule = schedule
        self.starts: list[tuple[float, float]] = []  # (wall, cpu) at each pair's start
        self.epoch_end: dict[str, list[float]] = {arm: [] for arm in callbacks}
        # Per pair: when its first epoch's on_epoch_end returned, then the end
        # of each training step of its second epoch.
        self.second: list[list[float]] = []

    def set_model(self, model: keras.Model) -> None:
        super().set_model(model)
        for cb in self.callbacks.values():
            cb.set_model(model)

    def on_train_begin(self, logs: dict | None = None) -> None:
        # The callbacks' writer threads watch `fit`'s frame, as under Keras's
        # own CallbackList, not this hook's (which returns at once).
        with mock.patch.object(_background, "caller_frame", _fit_frame):
            for cb in self.callbacks.values():
                cb.on_train_begin(logs)  # checks and compiles, before any timing

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch % 2 == 0:
            self.starts.append((time.perf_counter(), time.process_time()))

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if len(self.second) == len(self.starts):  # in a pair's second epoch
            self.second[-1].append(time.perf_counter())

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        arm = self.schedule[epoch // 2]
        cb = self.callbacks.get(arm)
        if epoch % 2 == 0:
            if cb is not None:
                start = time.perf_counter()
                cb.on_epoch_end(epoch, logs)
                self.epoch_end[arm].append(time.perf_counter() - start)
            self.second.append([time.perf_counter()])
        elif cb is not None:
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

    @tf.function(autograph=False)
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


def time_background_writes(cb: IGCallback) -> list[tuple[float, float]]:
    """Record each writing job on `cb`'s thread: (CPU time, wall clock at its end)."""
    times: list[tuple[float, float]] = []
    write = cb._write_epoch

    def timed(*args: object) -> list[str]:
        start = time.thread_time()
        problems = write(*args)
        times.append((time.thread_time() - start, time.perf_counter()))
        return problems

    cb._write_epoch = timed  # type: ignore[method-assign]
    return times


def step_excess(second: list[float], window: int) -> float:
    """Extra time up to step `window` of an epoch, over its later steps' median.

    Args:
        second: when the previous epoch's `on_epoch_end` returned, then the
            end of each training step of this epoch.
        window: how many first steps the background work may have slowed;
            the first also holds the epoch's start (a fixed cost, the same
            in every arm).
    """
    durations = np.diff(second)
    return float(np.sum(durations[:window] - np.median(durations[window:])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--probes", type=int, default=DEFAULT.probes)
    parser.add_argument("--steps", type=int, default=DEFAULT.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pause-ms", type=float, default=30.0, help="the calibration arm's known cost"
    )
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
                background_writes=arm != "with_sync",
                metrics=("deletion", "insertion") if arm == "with_metrics" else None,
                background_ig=arm == "with_bg",
            )
            for arm in ("with", "with_sync", "with_metrics", "with_bg")
        }
        callbacks["pause"] = Pause(args.pause_ms / 1e3)
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
        traces = {
            arm: callbacks[arm]._explainer.engine.traces
            for arm in ("with", "with_sync", "with_metrics", "with_bg")
        }

    starts = np.array(timer.starts)
    spans = np.diff(starts, axis=0)  # [pairs, (wall, cpu)]
    # Paired: each block's pair of the arm against the same block's pair without.
    blocks = np.array(schedule).reshape(args.blocks, len(ARMS))
    block_spans = {
        arm: np.stack([spans[i * len(ARMS) + list(row).index(arm)] for i, row in enumerate(blocks)])
        for arm in ARMS
    }
    print(
        f"workload: the demo: CNN on {cfg.train} make_shapes images + {cfg.val} for "
        f"validation, batch {cfg.batch_size}; IGCallback: {len(idx)} probes x "
        f"{args.steps} steps, masks, histograms; {args.blocks} blocks of {len(ARMS)} "
        "epoch pairs, one per arm, in random order, in one fit"
    )
    base = np.median(block_spans["without"], axis=0)
    epoch_s, epoch_cpu = base / 2
    print(f"epoch without the callback (median): {epoch_s:.3f} s wall, {epoch_cpu:.3f} s CPU")
    print(
        "added per epoch: median over blocks of (pair with the arm - pair without), "
        "[quartiles]; ratio = 1 + median / epoch"
    )
    print(f"{'':38}{'wall ms':>24}{'ratio':>7}{'cpu ms':>24}{'ratio':>7}")
    for arm in ARMS[1:]:
        cells = []
        for j, per_epoch in enumerate((epoch_s, epoch_cpu)):
            added = (block_spans[arm][:, j] - block_spans["without"][:, j]) * 1e3
            q1, q2, q3 = np.percentile(added, [25, 50, 75])
            cells.append(
                f"{f'{q2:+.0f} [{q1:+.0f}, {q3:+.0f}]':>24}{1 + q2 / 1e3 / per_epoch:7.3f}"
            )
        label = LABELS[arm] + (f" of {args.pause_ms:g} ms" if arm == "pause" else "")
        print(f"{label:38}{''.join(cells)}")
    print(f"{'the floor, if it were all':38}{floor_s * 1e3:24.0f}{1 + floor_s / epoch_s:7.3f}")
    print()
    print(f"floor, fwd+bwd over the {len(idx) * args.steps} path rows: {floor_s * 1e3:.1f} ms")
    for arm, ends in timer.epoch_end.items():
        ms = statistics.median(ends) * 1e3
        print(
            f"on_epoch_end of a logged epoch ({LABELS[arm]}): {ms:.1f} ms, "
            f"{ms / 1e3 / epoch_s:.1%} of an epoch"
        )
    block = statistics.median(timer.epoch_end["with"])
    drawn = statistics.median(cpu for cpu, _ in background)
    print(
        f"its background thread (drawing, PNG, protos, writing): {drawn * 1e3:.1f} ms CPU "
        "per logged epoch"
    )
    # The background thread overlaps the next epoch's first training steps:
    # how much longer are those steps than the same epoch's later ones?
    ours = [p for p, arm in enumerate(schedule) if arm == "with"]
    ended = [
        int(np.searchsorted(timer.second[p][1:], end)) + 1
        for p, (_, end) in zip(ours, background, strict=True)
    ]
    n_steps = min(len(steps) - 1 for steps in timer.second)
    window = int(min(max(np.percentile(ended, 90) + 2, 2), n_steps // 2))
    excess = {
        arm: np.median(
            [
                step_excess(timer.second[p], window)
                for p in range(len(schedule))
                if schedule[p] == arm
            ]
        )
        for arm in ARMS
    }
    interference = excess["with"] - excess["without"]
    print(
        f"the thread's work ended within step {int(np.median(ended))} (median; 90%: "
        f"{int(np.percentile(ended, 90))}) of the next epoch's {n_steps}; its first "
        f"{window} steps took, over the same epoch's later steps' median: "
        + ", ".join(f"{LABELS[arm]} {excess[arm] * 1e3:+.1f} ms" for arm in ARMS)
    )
    total = block + interference
    print(
        f"IGCallback per logged epoch: on_epoch_end {block * 1e3:.1f} ms + slower steps "
        f"while its thread works {interference * 1e3:+.1f} ms = {total * 1e3:.1f} ms"
    )
    print(
        f"bound, as if the thread's CPU time were all taken from training: 1 + "
        f"({block * 1e3:.1f} + {drawn * 1e3:.1f}) ms / epoch = {1 + (block + drawn) / epoch_s:.3f}"
    )
    print(f"graphs traced by the IG engine: {traces}")
    added = np.median(block_spans["with"][:, 0] - block_spans["without"][:, 0])
    print(
        f"IGCallback / no callback, per epoch: {1 + total / epoch_s:.3f} from its parts, "
        f"{1 + added / epoch_s:.3f} from whole pairs (noisy: see the calibration arm), "
        f"{1 + (block + drawn) / epoch_s:.3f} bound   target <= 1.05"
    )


if __name__ == "__main__":
    main()
