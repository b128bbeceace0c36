"""Cost of `metrics.deletion` / `metrics.insertion` against their forward-pass floor.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_metrics.py [--inputs 32] [--steps 20] [--repeats 15]
                                       [--batch-sizes none,64] [--channels 1]

Workload: the demo's CNN (`keras_ig._io.demo.build_model` with the demo's
sizes: three conv layers on 32x32x1 `make_shapes` images, global average
pooling, softmax), `--inputs` images and their IG maps (computed once,
outside the timing). `--channels 3` reads RGB images instead (the same
network cloned onto a 3-channel input, the grey images scaled by 1, 0.8
and 0.6 per channel): a pixel's channels then move together.

A deletion or insertion run at `--steps` must push
`inputs * (steps + 1)` perturbed images through the model: the floor is
exactly that, a compiled `tf.function` walking the same number of rows,
already built on the device, in the same chunks (`batch_size` rows per model
call, a `tf.while_loop`), and reading one score per row; the rows are the
very images each run perturbs (deletion's and insertion's differ).
Everything else the metrics do (checking the arguments, the ranking and
the masks built in their graph, the class predicted at x when
`target=None`) is the overhead measured.
Target: <= 1.2x.

Method: every arm is called once before timing (graphs traced); then
`--repeats` rounds, each timing every arm once in a fresh random order
(a shared machine drifts; interleaving spreads the drift over the arms);
medians of wall time and of this process's CPU time (all threads; less
sensitive to other tenants) are printed side by side with their ratio to
the floor.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from keras_ig import explain, metrics
from keras_ig._engine.job import chunk_rows
from keras_ig._io.demo import DEFAULT, build_model
from keras_ig._numpy import faithfulness
from keras_ig.datasets import make_shapes


def floor_fn(model: keras.Model) -> Callable:
    """F of every prebuilt row in chunks of `batch_size`: the least any run must do."""

    @tf.function(autograph=False, reduce_retracing=True)
    def run(rows_x, targets, batch_size):
        total = tf.shape(rows_x)[0]
        n_chunks = (total + batch_size - 1) // batch_size

        def body(i, state):
            rows = tf.range(i * batch_size, tf.minimum((i + 1) * batch_size, total))
            out = tf.cast(model(tf.gather(rows_x, rows)), tf.float32)
            s = tf.gather(out, tf.gather(targets, rows), batch_dims=1)
            return i + 1, tf.tensor_scatter_nd_update(state, rows[:, None], s)

        _, state = tf.while_loop(
            lambda i, _: i < n_chunks,
            body,
            [tf.constant(0), tf.zeros([total], tf.float32)],
            parallel_iterations=1,
        )
        return state

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--batch-sizes", default="none,64")
    parser.add_argument("--channels", type=int, default=1)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    s = DEFAULT
    model = build_model(s.size, 4, s.filters)
    x = make_shapes(args.inputs, size=s.size, seed=1).images
    if args.channels != 1:
        model = keras.models.clone_model(
            model, input_tensors=keras.Input((s.size, s.size, args.channels))
        )
        scale = np.linspace(1.0, 0.6, args.channels, dtype=np.float32)
        x = x * scale
    exp = explain(model, x, steps=32, warn=False)
    a, targets = exp.attributions, exp.target
    points = args.steps + 1
    total = args.inputs * points
    floor = floor_fn(model)
    floor_targets = tf.constant(np.repeat(targets, points).astype(np.int32))
    # The exact rows each run sends through the model, built once for the floor.
    positions = faithfulness.feature_positions(faithfulness.feature_scores(a))
    counts = faithfulness.step_counts(int(np.prod(positions.shape[1:])), args.steps)
    moved = positions[:, None, ..., None] < counts.reshape(1, -1, 1, 1, 1)  # [N, P, H, W, 1]
    moved = np.broadcast_to(moved, (*moved.shape[:-1], x.shape[-1]))
    zeros = np.zeros_like(x)[:, None]
    rows = {
        "deletion": np.where(moved, zeros, x[:, None]),
        "insertion": np.where(moved, x[:, None], zeros),
    }
    rows = {k: tf.constant(v.reshape(total, *x.shape[1:])) for k, v in rows.items()}

    print(
        f"demo CNN, {args.inputs} inputs of {x.shape[1:]}, steps={args.steps}: "
        f"{total} rows per run; {args.repeats} interleaved rounds, medians in ms"
    )
    print(
        f"{'batch_size':>10} {'clock':<5} {'metric':<10} {'floor':>7} {'target=None':>12} "
        f"{'x floor':>8} {'target given':>13} {'x floor':>8}"
    )
    for spec in args.batch_sizes.split(","):
        batch = None if spec.strip().lower() == "none" else int(spec)
        chunk = tf.constant(chunk_rows([x.shape[1:]], batch, total), tf.int32)
        arms: dict[str, Callable[[], object]] = {}
        for fn in (metrics.deletion, metrics.insertion):
            name = fn.__name__
            arms[f"{name} floor"] = functools.partial(floor, rows[name], floor_targets, chunk)
            common = {"steps": args.steps, "batch_size": batch}
            arms[f"{name} None"] = functools.partial(fn, model, x, a, **common)
            arms[f"{name} given"] = functools.partial(fn, model, x, a, target=targets, **common)
        times = interleaved(arms, args.repeats)
        for clock, which in (("wall", 0), ("CPU", 1)):
            med = {k: statistics.median(v[which]) * 1e3 for k, v in times.items()}
            for name in ("deletion", "insertion"):
                base, none, given = (med[f"{name} {k}"] for k in ("floor", "None", "given"))
                print(
                    f"{spec:>10} {clock:<5} {name:<10} {base:7.1f} {none:12.1f} "
                    f"{none / base:8.2f} {given:13.1f} {given / base:8.2f}"
                )


def interleaved(
    arms: dict[str, Callable[[], object]], repeats: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and CPU seconds per call of each arm: traced first, then rounds in random order."""
    for fn in arms.values():
        fn()
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in arms}
    rng = random.Random(0)
    for _ in range(repeats):
        names = list(arms)
        rng.shuffle(names)
        for name in names:
            t0, c0 = time.perf_counter(), time.process_time()
            out = arms[name]()
            if isinstance(out, tf.Tensor):
                out.numpy()  # wait for the result, as the metrics do
            times[name][0].append(time.perf_counter() - t0)
            times[name][1].append(time.process_time() - c0)
    return times


if __name__ == "__main__":
    main()
