"""Path-method benchmark: each method of issue 11 against the floor of its own work.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_methods.py [--workloads mlp,cnn] [--repeats N] [--threads T]

Per workload and method, both sides compiled and warmed up first, then
timed alternately `--repeats` times in one process (medians, and the
median of the per-repeat ratios, as in `bench_engine.py`):

* `ig` `explain(...)`, for reference; floor: the compiled forward+backward
  over the `N * steps` path rows in chunks of `batch_size` (bench_engine's),
  plus a compiled forward pass over the `N` inputs and their `N * K`
  baseline rows (`K = 1` here), in chunks of `batch_size`: IG returns F(x),
  F(baseline) and the completeness gap, so that forward is its own work.
* `ig_grad` `explain(..., multiply_by_inputs=False)`: the same floor.
* `idgi` `keras_ig.idgi(...)`: the same floor (F at the points comes from
  the gradients' forward passes, so it adds no model call; F(x) and
  F(baseline) are returned as for IG).
* `smooth` `explain(..., noise=Noise(samples=4))`: the floor over the
  `4 * N * steps` rows of the copies.
* `eg` `keras_ig.expected_gradients(..., samples=steps)`: the floor over its
  `N * samples` draw rows (at the drawn points), plus a compiled forward pass
  over the `N * B` (input, background row) pairs its `delta` is measured
  against, both in chunks of `batch_size`.

Columns: `floor s` is that whole floor and `ratio`/`paired` the method
against it; `path s` is the path rows' forward+backward alone and
`path r` the paired ratio against it, so the forward added to a floor
hides nothing.

Target: every ratio <= 1.2.

`--host CALLS` prints instead, per workload, the host's cost of one IG call:
the CPU time of the calling thread (which the other processes sharing the
machine barely move, unlike wall time) of `explain(...)` and of its graph
alone (the concrete function called with tensors converted beforehand), and
the median of their per-call differences, the host work of a call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras
import numpy as np
import tensorflow as tf
from bench_engine import floor_fn, mlp, small_cnn

import keras_ig
from keras_ig._api.explainer import Explainer
from keras_ig._engine.job import chunk_rows
from keras_ig._numpy.quadrature import quadrature

SAMPLES = 4  # noisy copies for `smooth`
BACKGROUND = 16  # background rows for `eg`


def forward_fn(model: keras.Model, row_shape: tuple[int, ...]):
    """A compiled forward pass returning the target scores of one chunk."""

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *row_shape), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]
    )
    def forward(z, t):
        return tf.gather(tf.cast(model(z, training=False), tf.float32), t, batch_dims=1)

    return forward


def chunks(z: np.ndarray, t: np.ndarray, b: int) -> list[tuple[tf.Tensor, tf.Tensor]]:
    return [(tf.constant(z[i : i + b]), tf.constant(t[i : i + b])) for i in range(0, len(z), b)]


def straight_rows(x: np.ndarray, steps: int, rule: str) -> np.ndarray:
    """`[N * steps, ...]` points on the line from zeros, pair p = (p // m, p % m)."""
    alphas, _ = quadrature(rule, steps)
    a = np.tile(alphas, len(x)).astype(np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
    return a * np.repeat(x, steps, axis=0)


def cases(model, x, targets, steps, batch):
    """`(name, run method, floor chunk lists)` per method."""
    rng = np.random.default_rng(1)
    bg = rng.uniform(0, 1, (BACKGROUND, *x.shape[1:])).astype(np.float32)
    rows = straight_rows(x, steps, "gausslegendre")
    t_rows = np.repeat(targets, steps)
    grad_floor = [("grad", chunks(rows, t_rows, batch))]
    # F(x) and F(baseline) (zeros, one per input): the engine's end points.
    ends = np.concatenate([x, np.zeros_like(x)])
    ends_floor = [*grad_floor, ("fwd", chunks(ends, np.concatenate([targets, targets]), batch))]
    noisy = np.repeat(x, SAMPLES, 0) + rng.normal(0, 0.1, (len(x) * SAMPLES, *x.shape[1:]))
    smooth_rows = straight_rows(noisy.astype(np.float32), steps, "gausslegendre")
    draws = bg[rng.integers(0, BACKGROUND, len(x) * steps)]
    alpha = rng.uniform(size=(len(x) * steps,) + (1,) * (x.ndim - 1)).astype(np.float32)
    eg_rows = draws + alpha * (np.repeat(x, steps, 0) - draws)
    pairs = np.tile(bg, (len(x),) + (1,) * (x.ndim - 1))
    common = {"target": targets, "batch_size": batch, "warn": False}
    noise = keras_ig.Noise(samples=SAMPLES, stdev=0.1, seed=0)
    return [
        ("ig", lambda: keras_ig.explain(model, x, steps=steps, **common), ends_floor),
        (
            "ig_grad",
            lambda: keras_ig.explain(model, x, steps=steps, multiply_by_inputs=False, **common),
            ends_floor,
        ),
        ("idgi", lambda: keras_ig.idgi(model, x, steps=steps, **common), ends_floor),
        (
            "smooth",
            lambda: keras_ig.explain(model, x, steps=steps, noise=noise, **common),
            [("grad", chunks(smooth_rows, np.repeat(targets, SAMPLES * steps), batch))],
        ),
        (
            "eg",
            lambda: keras_ig.expected_gradients(model, x, bg, samples=steps, seed=0, **common),
            [
                ("grad", chunks(eg_rows, t_rows, batch)),
                ("fwd", chunks(pairs, np.repeat(targets, BACKGROUND), batch)),
            ],
        ),
    ]


def time_case(run, floor_parts, fns, repeats):
    """Medians of the method, its floor and its path-only floor, timed in turn.

    Returns:
        `(method s, floor s, paired ratio, path s, paired ratio to path)`.
    """

    def floor_of(parts_by_kind):
        def run_floor():
            out = None
            for kind, parts in parts_by_kind:
                for z, t in parts:
                    out = fns[kind](z, t)
            out.numpy()

        return run_floor

    run_floor = floor_of(floor_parts)
    run_path = floor_of([p for p in floor_parts if p[0] == "grad"])

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    for _ in range(2):
        run()
        run_floor()
        run_path()
    ex, fl, pa = [], [], []
    for _ in range(repeats):
        ex.append(timed(run))
        fl.append(timed(run_floor))
        pa.append(timed(run_path))
    return (
        statistics.median(ex),
        statistics.median(fl),
        statistics.median([e / f for e, f in zip(ex, fl, strict=True)]),
        statistics.median(pa),
        statistics.median([e / p for e, p in zip(ex, pa, strict=True)]),
    )


def host_cost(model, x, targets, steps, batch, calls):
    """Calling-thread CPU ms of `explain` and of its graph alone: `(explain, graph, host)`."""
    common = {"target": targets, "batch_size": batch, "warn": False}

    def run():
        keras_ig.explain(model, x, steps=steps, **common)

    explainer = Explainer(model)
    job = explainer.prepare(x, target=targets)
    alphas, weights = quadrature("gausslegendre", steps)
    rows = chunk_rows(job.plan.z_shapes, batch, job.n * job.k * steps)
    args = tf.nest.map_structure(
        tf.convert_to_tensor,
        job.args(alphas.astype(np.float32), weights.astype(np.float32), np.int32(rows)),
    )
    concrete = explainer.engine.compiled(job.plan, rows).get_concrete_function(*args)

    def graph():
        tf.nest.map_structure(lambda t: t.numpy(), concrete(*args))

    for _ in range(5):
        run()
        graph()
    ex, gr = [], []
    for _ in range(calls):
        t0 = time.thread_time()
        run()
        t1 = time.thread_time()
        graph()
        ex.append(t1 - t0)
        gr.append(time.thread_time() - t1)
    host = statistics.median([e - g for e, g in zip(ex, gr, strict=True)])
    return statistics.median(ex) * 1e3, statistics.median(gr) * 1e3, host * 1e3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="mlp,cnn")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--host", type=int, default=0, metavar="CALLS")
    args = parser.parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if args.host:
        print(f"{'workload':<8} {'explain ms':>10} {'graph ms':>9} {'host ms':>8}  (thread CPU)")
    else:
        print(
            f"{'workload':<8} {'method':<8} {'method s':>9} {'floor s':>9} {'ratio':>6} "
            f"{'paired':>6} {'path s':>9} {'path r':>6}"
        )
    for name in args.workloads.split(","):
        if name == "mlp":
            model, x, steps, batch = mlp(), rng.standard_normal((128, 20)), 32, 1024
        elif name == "cnn":
            model, x, steps, batch = small_cnn(), rng.uniform(0, 1, (8, 28, 28, 1)), 16, 128
        else:
            raise SystemExit(f"unknown workload {name!r}")
        x = x.astype(np.float32)
        targets = keras.ops.convert_to_numpy(model(x)).argmax(-1).astype(np.int32)
        if args.host:
            e, g, h = host_cost(model, x, targets, steps, batch, args.host)
            print(f"{name:<8} {e:>10.3f} {g:>9.3f} {h:>8.3f}", flush=True)
            continue
        fns = {"grad": floor_fn(model, x.shape[1:]), "fwd": forward_fn(model, x.shape[1:])}
        for method, run, floor_parts in cases(model, x, targets, steps, batch):
            e, f, p, pf, pp = time_case(run, floor_parts, fns, args.repeats)
            flag = "" if e / f <= 1.2 else "  > 1.2"
            print(
                f"{name:<8} {method:<8} {e:>9.4f} {f:>9.4f} {e / f:>6.3f} {p:>6.3f} "
                f"{pf:>9.4f} {pp:>6.3f}{flag}",
                flush=True,
            )


if __name__ == "__main__":
    main()
