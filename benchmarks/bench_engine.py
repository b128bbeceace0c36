"""Engine overhead benchmark: `keras_ig.explain` against its irreducible floor.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_engine.py [--workloads cnn,mobilenet,mlp,mlp256,text]
                                      [--repeats N] [--threads T] [--skip-steps]
                                      [--first-call mobilenet] [--phases mobilenet]
                                      [--fresh-first-call mobilenet] [--fresh-rounds N]

What it measures, per workload:

* explain: the wall time of `keras_ig.explain(model, x, target=t, steps=m,
  batch_size=B, warn=False)`, the whole call from the host (validation,
  F(x) and F(baseline) forward passes, the chunked path integral, the
  result's numpy arrays).
* floor: the irreducible work of Integrated Gradients, a compiled
  forward+backward pass (one `tf.function` with a `GradientTape` computing
  d(sum of target scores)/d(input)) over exactly the same `m * N` path rows,
  fed in the same chunks of `B` rows. The path rows are built before the
  clock starts; only the gradient calls over the chunks are timed.

Both are compiled and warmed up first, then timed alternately `--repeats`
times in one process; the table reports the medians and their ratio
(target: explain / floor <= 1.10), which is the engine's overhead. On a
shared machine the medians move with other load: the table also gives the
median of the per-repeat (paired) ratios and the ratio of median process
CPU times (`cpu`, user + system of all threads, which other processes on
the machine disturb far less than wall time); `--threads 1` (TensorFlow's
intra- and inter-op pools) makes runs steadier at the cost of speed.

Workloads: `cnn` (a small CNN on 28x28x1, 32 inputs, 64 steps), `mobilenet`
(MobileNetV2 at 96x96x3 with 10 classes, random weights, 8 inputs, 32
steps), `mlp` (20 features, 512 inputs, 64 steps; `mlp256` the same in
chunks of 256 rows), `text` (an Embedding
model on 128 tokens, 32 inputs, 32 steps, attributed at the Embedding with
`layer="emb"`; its floor differentiates a sub-model from the embedding
output to the logits, which shares the model's layers).

`--first-call` times the first call of the named workloads, tracing
included, on fresh models (target: explain <= 1.5x the floor's first call);
`--phases` splits such a first call into host preparation, Python tracing,
the first run (graph optimisation and kernel set-up included) and a second
run, with the graph's node count, for explain's compiled graph and the floor.
In one process the side timed first also pays the process's one-time work
(kernel set-up for the shapes), which the other then finds warm;
`--fresh-first-call mobilenet` times each side's first call in a fresh
process instead, alternated `--fresh-rounds` times (medians).

Unless `--skip-steps` is given, it also trains the CNN briefly on
`keras_ig.datasets.make_shapes` (28px) and reports, for `gausslegendre` and
`riemann_trapezoid`, the smallest `steps` in 2, 4, ..., 256 whose median
relative completeness gap (`Explanation.relative_delta`) is under 1%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

import keras_ig
from keras_ig._numpy.quadrature import quadrature
from keras_ig.datasets import make_shapes

STEPS_GRID = (2, 4, 8, 16, 32, 64, 128, 256)
METHOD = "gausslegendre"
EPOCHS = 10


@dataclass
class Workload:
    """One timing case: a model, its inputs and the floor's pieces.

    Attributes:
        name: the table's label.
        model: the model `explain` sees.
        x: the inputs, `[N, ...]`.
        steps: quadrature points.
        batch_size: rows per chunk, for `explain` and the floor alike.
        layer: the `layer=` argument of `explain`, or None.
        floor_model: what the floor differentiates (the model, or the
            sub-model from the attributed layer's output).
        z_x: the attributed tensor at x (x itself, or the layer's output).
        z_base: the baseline of the attributed tensor (zeros here).
    """

    name: str
    model: keras.Model
    x: np.ndarray
    steps: int
    batch_size: int
    layer: str | None
    floor_model: keras.Model
    z_x: np.ndarray
    z_base: np.ndarray


# -- models --------------------------------------------------------------------
def small_cnn() -> keras.Model:
    inp = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same")(inp)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    out = keras.layers.Dense(4, activation="softmax")(h)
    return keras.Model(inp, out, name="cnn")


def train_cnn(model: keras.Model, seed: int = 0) -> keras.Model:
    """A few epochs on 28px shapes, so F is far from linear along the path."""
    data = make_shapes(2048, size=28, seed=seed)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(data.images, data.labels, epochs=EPOCHS, batch_size=64, verbose=0)
    print(
        f"[cnn] trained {EPOCHS} epochs on make_shapes(2048, size=28): accuracy "
        f"{hist.history['accuracy'][-1]:.3f}",
        flush=True,
    )
    return model


def mlp() -> keras.Model:
    inp = keras.Input((20,))
    h = keras.layers.Dense(128, activation="relu")(inp)
    h = keras.layers.Dense(128, activation="relu")(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    out = keras.layers.Dense(3)(h)
    return keras.Model(inp, out, name="mlp")


def text_model(length: int, vocab: int = 2000, dim: int = 64) -> tuple[keras.Model, keras.Model]:
    """`(model, head)`: ids -> Embedding "emb" -> head, and the head alone.

    The head is a second functional model over the same layer objects, so it
    shares the weights and computes exactly the model from the embedding
    output to the logits.
    """
    emb = keras.layers.Embedding(vocab, dim, name="emb")
    head_layers = [
        keras.layers.Conv1D(64, 5, activation="relu", padding="same"),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(2),
    ]

    def apply(h):
        for lyr in head_layers:
            h = lyr(h)
        return h

    ids = keras.Input((length,), dtype="int32")
    model = keras.Model(ids, apply(emb(ids)), name="text")
    z = keras.Input((length, dim))
    head = keras.Model(z, apply(z), name="text_head")
    return model, head


# -- workloads -----------------------------------------------------------------
def _image_workload(name, model, x, steps, batch_size) -> Workload:
    return Workload(name, model, x, steps, batch_size, None, model, x, np.zeros_like(x))


def build(name: str, rng: np.random.Generator, cnn: keras.Model | None) -> Workload:
    if name == "cnn":
        model = cnn if cnn is not None else small_cnn()
        x = make_shapes(32, size=28, seed=1).images
        return _image_workload("cnn", model, x, 64, 256)
    if name == "mobilenet":
        model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)
        x = rng.uniform(-1, 1, (8, 96, 96, 3)).astype(np.float32)
        return _image_workload("mobilenet", model, x, 32, 64)
    if name in ("mlp", "mlp256"):
        # mlp256: the same work in chunks of 256 rows (4 inputs x 64 steps):
        # the per-chunk overhead of the engine's loop shows here.
        x = rng.standard_normal((512, 20)).astype(np.float32)
        return _image_workload(name, mlp(), x, 64, 4096 if name == "mlp" else 256)
    if name == "text":
        model, head = text_model(128)
        ids = rng.integers(1, 2000, (32, 128)).astype(np.int32)
        z_x = keras.ops.convert_to_numpy(model.get_layer("emb")(ids))
        return Workload("text", model, ids, 32, 256, "emb", head, z_x, np.zeros_like(z_x))
    raise ValueError(f"unknown workload {name!r}")


def targets_of(work: Workload) -> np.ndarray:
    """The predicted class at x, fixed for both sides."""
    out = keras.ops.convert_to_numpy(work.model(work.x))
    return out.argmax(axis=-1).astype(np.int32)


def path_chunks(work: Workload, targets: np.ndarray) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """The `N * m` path rows and their targets, in the engine's chunks.

    Pair `p` is row `p // m` at step `p % m`, as in the engine.
    """
    alphas, _ = quadrature(METHOD, work.steps)
    n, m = work.z_x.shape[0], work.steps
    pair = np.arange(n * m)
    r, step = pair // m, pair % m
    a = alphas[step].astype(np.float32).reshape((-1,) + (1,) * (work.z_x.ndim - 1))
    z = work.z_base[r] + a * (work.z_x[r] - work.z_base[r])
    t = targets[r]
    b = work.batch_size
    return [(tf.constant(z[i : i + b]), tf.constant(t[i : i + b])) for i in range(0, n * m, b)]


def floor_fn(model: keras.Model, row_shape: tuple[int, ...]) -> Callable:
    """A compiled d(sum of target scores)/d(z) for one chunk."""

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *row_shape), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]
    )
    def grad(z, t):
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = tf.cast(model(z, training=False), tf.float32)
            score = tf.reduce_sum(tf.gather(out, t, batch_dims=1))
        return tape.gradient(score, z)

    return grad


def time_workload(work: Workload, repeats: int) -> dict:
    targets = targets_of(work)
    chunks = path_chunks(work, targets)
    grad = floor_fn(work.floor_model, work.z_x.shape[1:])

    def run_explain() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        keras_ig.explain(
            work.model,
            work.x,
            target=targets,
            steps=work.steps,
            method=METHOD,
            batch_size=work.batch_size,
            layer=work.layer,
            warn=False,
        )
        return time.perf_counter() - t0, time.process_time() - c0

    def run_floor() -> tuple[float, float]:
        t0, c0 = time.perf_counter(), time.process_time()
        g = None
        for z, t in chunks:
            g = grad(z, t)
        g.numpy()  # the last chunk is done: all are
        return time.perf_counter() - t0, time.process_time() - c0

    for _ in range(2):  # compile, then one warm run each
        run_explain()
        run_floor()
    ex, fl, ex_cpu, fl_cpu = [], [], [], []
    for _ in range(repeats):
        for wall, cpu, run in ((ex, ex_cpu, run_explain), (fl, fl_cpu, run_floor)):
            w, c = run()
            wall.append(w)
            cpu.append(c)
    rows = work.z_x.shape[0] * work.steps
    paired = [e / f for e, f in zip(ex, fl, strict=True)]
    return {
        "name": work.name,
        "n": work.z_x.shape[0],
        "steps": work.steps,
        "batch": work.batch_size,
        "chunks": len(chunks),
        "rows": rows,
        "explain": statistics.median(ex),
        "floor": statistics.median(fl),
        "paired": statistics.median(paired),
        "cpu": statistics.median(ex_cpu) / statistics.median(fl_cpu),
        "explain_all": ex,
        "floor_all": fl,
    }


def _first_explain(work: Workload, targets: np.ndarray) -> float:
    """Seconds of `work`'s first `keras_ig.explain` call (tracing included)."""
    t0 = time.perf_counter()
    keras_ig.explain(
        work.model,
        work.x,
        target=targets,
        steps=work.steps,
        method=METHOD,
        batch_size=work.batch_size,
        layer=work.layer,
        warn=False,
    )
    return time.perf_counter() - t0


def _first_floor(work: Workload, targets: np.ndarray) -> float:
    """Seconds of the floor's first run over `work`'s chunks (tracing included)."""
    chunks = path_chunks(work, targets)
    t0 = time.perf_counter()
    grad = floor_fn(work.floor_model, work.z_x.shape[1:])
    for z, t in chunks:
        g = grad(z, t)
    g.numpy()
    return time.perf_counter() - t0


def first_call(name: str, rng: np.random.Generator) -> dict:
    """The first call's wall time (tracing included), explain vs floor.

    Each side gets a fresh model of the workload (same architecture, so the
    same tracing work); the floor's first call traces `floor_fn` and runs
    every chunk once.
    """
    work = build(name, rng, None)
    targets = targets_of(work)
    explain_s = _first_explain(work, targets)
    floor_s = _first_floor(build(name, rng, None), targets)
    return {"name": name, "explain": explain_s, "floor": floor_s}


def first_call_side(name: str, side: str) -> float:
    """One side's first call in this (fresh) process: explain, or the floor."""
    work = build(name, np.random.default_rng(0), None)
    targets = targets_of(work)
    return (_first_explain if side == "explain" else _first_floor)(work, targets)


def first_call_fresh(name: str, rounds: int) -> dict:
    """First calls, each side in a fresh process, alternated `rounds` times.

    In one process the side timed first also pays what the process does
    once for all (kernel set-up for the shapes, Keras' first-call work),
    which the other side then finds warm; here neither inherits anything.
    """
    times: dict[str, list[float]] = {"explain": [], "floor": []}
    for _ in range(rounds):
        for side in times:
            out = subprocess.run(
                [sys.executable, __file__, "--_side", f"{name}:{side}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            times[side].append(float(out.strip().splitlines()[-1]))
    return {side: statistics.median(v) for side, v in times.items()} | {"all": times}


def first_call_phases(name: str, rng: np.random.Generator) -> dict:
    """The first call split into its phases, explain's compiled graph vs the floor's.

    `trace`: Python tracing (`get_concrete_function`); `first`: the first
    execution, which includes graph optimisation (grappler) and kernel set-up;
    `second`: the same call again, for scale. explain's side skips the host
    validation (`prepare`, timed apart) and runs its graph directly; `ops`
    counts the nodes of the graph and of its function library.
    """
    from keras_ig._api.explainer import Explainer
    from keras_ig._engine.job import chunk_rows

    def ops(concrete) -> int:
        graph = concrete.graph.as_graph_def()
        return len(graph.node) + sum(len(f.node_def) for f in graph.library.function)

    def timed(fn: Callable) -> float:
        t0 = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), fn())
        return time.perf_counter() - t0

    work = build(name, rng, None)
    targets = targets_of(work)
    t0 = time.perf_counter()
    explainer = Explainer(work.model, layer=work.layer)
    job = explainer.prepare(work.x, target=targets)
    prepare = time.perf_counter() - t0
    alphas, weights = quadrature(METHOD, work.steps)
    batch = chunk_rows(job.plan.z_shapes, work.batch_size, job.n * job.k * work.steps)
    args = tf.nest.map_structure(
        tf.convert_to_tensor,
        job.args(alphas.astype(np.float32), weights.astype(np.float32), np.int32(batch)),
    )
    t0 = time.perf_counter()
    concrete = explainer.engine.compiled(job.plan, batch).get_concrete_function(*args)
    trace = time.perf_counter() - t0
    ex = {"prepare": prepare, "trace": trace, "ops": ops(concrete)}
    ex["first"] = timed(lambda: concrete(*args))
    ex["second"] = timed(lambda: concrete(*args))

    fresh = build(name, rng, None)
    chunks = path_chunks(fresh, targets)
    t0 = time.perf_counter()
    floor = floor_fn(fresh.floor_model, fresh.z_x.shape[1:]).get_concrete_function(*chunks[0])
    fl = {"prepare": 0.0, "trace": time.perf_counter() - t0, "ops": ops(floor)}

    def all_chunks():
        return [floor(z, t) for z, t in chunks][-1]

    fl["first"] = timed(all_chunks)
    fl["second"] = timed(all_chunks)
    return {"name": name, "explain": ex, "floor": fl}


# -- completeness ----------------------------------------------------------------
def steps_search(model: keras.Model, n: int = 32) -> dict[str, tuple[int | None, dict]]:
    """Smallest steps with median relative delta < 1%, per method."""
    x = make_shapes(n, size=28, seed=2).images
    result = {}
    for method in ("gausslegendre", "riemann_trapezoid"):
        medians, found = {}, None
        for steps in STEPS_GRID:
            exp = keras_ig.explain(
                model, x, steps=steps, method=method, batch_size=4096, warn=False
            )
            medians[steps] = float(np.median(exp.relative_delta))
            if found is None and medians[steps] < 0.01:
                found = steps
        result[method] = (found, medians)
    return result


# -- report ----------------------------------------------------------------------
def print_timing(results: list[dict]) -> None:
    head = (
        f"{'workload':<10} {'N':>4} {'steps':>5} {'rows':>6} {'batch':>5} {'chunks':>6} "
        f"{'explain s':>10} {'floor s':>10} {'ratio':>6} {'paired':>6} {'cpu':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        ratio = r["explain"] / r["floor"]
        flag = "" if ratio <= 1.10 else "  > 1.10"
        print(
            f"{r['name']:<10} {r['n']:>4} {r['steps']:>5} {r['rows']:>6} {r['batch']:>5} "
            f"{r['chunks']:>6} {r['explain']:>10.4f} {r['floor']:>10.4f} {ratio:>6.3f} "
            f"{r['paired']:>6.3f} {r['cpu']:>6.3f}{flag}"
        )


def print_steps(result: dict[str, tuple[int | None, dict]]) -> None:
    print("\nCNN (trained on make_shapes 28px): median relative completeness gap")
    head = f"{'steps':>5} " + " ".join(f"{m:>18}" for m in result)
    print(head)
    print("-" * len(head))
    for steps in STEPS_GRID:
        cells = " ".join(f"{result[m][1][steps]:>18.2e}" for m in result)
        print(f"{steps:>5} {cells}")
    for method, (found, _) in result.items():
        print(f"smallest steps with median relative delta < 1%: {method}: {found}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="cnn,mobilenet,mlp,text")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--threads", type=int, default=0, help="TensorFlow intra/inter-op threads (0: default)"
    )
    parser.add_argument("--skip-steps", action="store_true", help="skip the completeness search")
    parser.add_argument(
        "--first-call",
        default="",
        help="workloads whose first call (tracing included) to time, e.g. mobilenet",
    )
    parser.add_argument(
        "--phases",
        default="",
        help="workloads whose first call to split into tracing / first run / second run",
    )
    parser.add_argument(
        "--fresh-first-call",
        default="",
        help="workloads whose first call to time with each side in a fresh process",
    )
    parser.add_argument("--fresh-rounds", type=int, default=3)
    parser.add_argument("--_side", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._side:  # a child of --fresh-first-call: print one first call's seconds
        name, side = args._side.split(":")
        print(first_call_side(name, side))
        return
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    need_cnn = "cnn" in names or not args.skip_steps
    cnn = train_cnn(small_cnn()) if need_cnn else None

    results = []
    for name in names:
        work = build(name, rng, cnn)
        r = time_workload(work, args.repeats)
        print(
            f"[{name}] explain {' '.join(f'{v:.4f}' for v in r['explain_all'])} "
            f"floor {' '.join(f'{v:.4f}' for v in r['floor_all'])}",
            flush=True,
        )
        results.append(r)
    print(
        f"\ntf {tf.__version__}, keras {keras.__version__}, method {METHOD}, "
        f"repeats {args.repeats}, threads {args.threads or 'default'}; seconds are medians;\n"
        "ratio = median explain / median floor, paired = median of per-repeat ratios, "
        "cpu = ratio of median process CPU times"
    )
    print_timing(results)
    for name in [w.strip() for w in args.first_call.split(",") if w.strip()]:
        r = first_call(name, rng)
        print(
            f"first call [{name}]: explain {r['explain']:.2f} s, floor {r['floor']:.2f} s, "
            f"ratio {r['explain'] / r['floor']:.2f}"
        )
    for name in [w.strip() for w in args.phases.split(",") if w.strip()]:
        r = first_call_phases(name, rng)
        for side in ("explain", "floor"):
            p = r[side]
            total = p["prepare"] + p["trace"] + p["first"]
            print(
                f"first call phases [{name}] {side:<7}: prepare {p['prepare']:.2f} s, "
                f"trace {p['trace']:.2f} s, first run {p['first']:.2f} s (total {total:.2f} s; "
                f"second run {p['second']:.2f} s), {p['ops']} graph nodes"
            )
    for name in [w.strip() for w in args.fresh_first_call.split(",") if w.strip()]:
        r = first_call_fresh(name, args.fresh_rounds)
        print(
            f"first call, fresh processes [{name}]: explain {r['explain']:.2f} s, floor "
            f"{r['floor']:.2f} s (medians of {args.fresh_rounds}), ratio "
            f"{r['explain'] / r['floor']:.2f}; explain "
            f"{' '.join(f'{v:.2f}' for v in r['all']['explain'])}, floor "
            f"{' '.join(f'{v:.2f}' for v in r['all']['floor'])}"
        )
    if not args.skip_steps:
        print_steps(steps_search(cnn))


if __name__ == "__main__":
    main()
