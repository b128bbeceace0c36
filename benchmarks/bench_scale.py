"""Scaling benchmark: datasets, replicas, memory, XLA and tolerance-driven steps.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_scale.py --quick     # about 3 minutes on 2 busy cores
    python benchmarks/bench_scale.py             # full: more inputs and repeats
    python benchmarks/bench_scale.py --sections memory,xla [--repeats 7] [--epochs 3]
                                     [--memory-in-ram]

At start-up, before any TensorFlow op runs, the one physical CPU is split
into two logical devices (`tf.config.set_logical_device_configuration`), so
`tf.distribute.MirroredStrategy` has two replicas. They share the same
cores: expect no speedup from them on a CPU machine; the table reports what
is measured. Timings are medians of alternating runs in one process (one
warm-up call per arm first, not counted; the order flipped every round), in
wall seconds and in process CPU seconds (`time.process_time`, all threads).
On a machine shared with other jobs the CPU-time ratios are the steadier
ones. Progress and every single timing go to stderr; the tables to stdout.

What it measures:

1. throughput: `keras_ig.explain(model, dataset, steps=m, batch_size=B)`
   over a batched `tf.data.Dataset` (from_tensor_slices of `N` inputs, `D`
   per element) in inputs/s, single device (no `strategy=`), the same with
   tf.data autotuning off (`Options().autotune.enabled = False`, see below)
   and with `MirroredStrategy` over the two logical CPUs; next to them the
   same inputs as one array (`explain(model, x)`) and the engine floor: one
   compiled forward+backward (`bench_engine.floor_fn`) over exactly the same
   `N * m` path rows, in the same chunks of `B` rows per dataset element
   (path rows built before the clock starts). Ratios are time / floor time.
   The CNN also runs with `D=4` (the same chunks), which gives the host
   cost per extra dataset element. Models: `bench_engine.small_cnn`
   (28x28x1, trained as in section 4) and
   `keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3),
   classes=10)` with few inputs.
   Why the autotune-off arm: with tf.data autotuning on (the default),
   destroying the iterator at the end of the loop over the dataset
   sometimes blocks until the autotuner's next wake-up, which falls at
   10 ms * (2**k - 1) after the iterator was made (1.27, 2.55, 5.11,
   10.23, ... s): the wall time of `explain(dataset)` then snaps to one of
   those values while its CPU time does not change.
2. memory: peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss` at the end
   of a child process, this script with a hidden flag, started through
   `sh` so that it does not inherit this process's peak; `VmHWM` printed as
   a check) for explaining 1,000 versus 10 inputs of 96x96x3 at 64 steps,
   generated inside the tf.data pipeline
   (`Dataset.range(n).map(stateless_uniform).batch(25)`), attributions
   streamed with `out=` to a `.npy` in a temporary folder. Model: a small
   strided CNN at 96x96x3 (`cnn96`). Target: ratio <= 1.5.
   `--memory-in-ram` adds 1,000 inputs without `out=` (attributions in RAM).
3. xla: `explain(..., jit_compile=True)` versus `jit_compile=False` on the
   28px CNN, same inputs and `batch_size`: medians, ratio, the first
   (compiling) call of each, and the max abs difference of attributions.
4. tolerance: on `bench_engine.small_cnn` trained `--epochs` epochs on
   `make_shapes(2048, size=28)`, the smallest fixed Gauss-Legendre step count
   (2, 4, ..., 1024) at which every input meets
   `|delta| <= 0.01 |F(x) - F(x')|` (the library's `within_tolerance`, which
   adds float32 slack), versus `tolerance=0.01` started at 4, 16 and 64
   steps (those not above the fixed count): wall and CPU time, and gradient
   rows: `sum(steps_used)` against `N * fixed`, and the path rows actually
   run (Gauss-Legendre does not nest, so an input refined from `s0` to `s`
   steps costs `s0 + 2 s0 + ... + s = 2 s - s0` rows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf


def split_cpu(n: int = 2) -> None:
    """Split the CPU into `n` logical devices; must precede any TF op."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )


import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_engine import Workload, floor_fn, path_chunks, small_cnn  # noqa: E402

import keras_ig  # noqa: E402
from keras_ig._api.explanation import within_tolerance  # noqa: E402
from keras_ig.datasets import make_shapes  # noqa: E402

SECTIONS = ("throughput", "memory", "xla", "tolerance")
# Timed rounds per arm, (quick, full); --repeats overrides them all.
REPEATS = {"cnn": (5, 5), "mobilenet": (3, 3), "xla": (3, 5), "tolerance": (5, 7)}
TOLERANCE = 0.01
MAX_STEPS = 1024


def repeats(args: argparse.Namespace, what: str) -> int:
    if args.repeats is not None:
        return args.repeats
    return REPEATS[what][0 if args.quick else 1]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def alternate(arms: dict[str, Callable[[], object]], rounds: int) -> dict[str, dict]:
    """Median wall and process CPU seconds per arm: `{arm: {"wall": s, "cpu": s}}`.

    One warm-up call per arm (not counted), then `rounds` rounds, the order
    flipped every round; every single timing is logged to stderr.
    """
    for fn in arms.values():
        fn()
    times: dict[str, dict] = {k: {"wall": [], "cpu": []} for k in arms}
    for i in range(rounds):
        order = list(arms) if i % 2 == 0 else list(reversed(arms))
        for k in order:
            c0, t0 = time.process_time(), time.perf_counter()
            arms[k]()
            times[k]["wall"].append(time.perf_counter() - t0)
            times[k]["cpu"].append(time.process_time() - c0)
    for k, v in times.items():
        log(f"  {k:<22} wall {fmt_all(v['wall'])} cpu {fmt_all(v['cpu'])}")
    return {k: {"wall": med(v["wall"]), "cpu": med(v["cpu"])} for k, v in times.items()}


def med(values: list[float]) -> float:
    return statistics.median(values)


def fmt_all(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def train_shapes_cnn(epochs: int) -> tuple[keras.Model, float]:
    """`bench_engine.small_cnn` trained briefly on 28px `make_shapes`."""
    model = small_cnn()
    data = make_shapes(2048, size=28, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(data.images, data.labels, epochs=epochs, batch_size=64, verbose=0)
    accuracy = float(hist.history["accuracy"][-1])
    log(f"[setup] CNN trained {epochs} epochs on make_shapes(2048, size=28): acc {accuracy:.3f}")
    return model, accuracy


# -- 1. dataset throughput -----------------------------------------------------------
def throughput_case(
    name: str,
    model: keras.Model,
    x: np.ndarray,
    steps: int,
    per_element: int,
    chunk: int,
    strategy: tf.distribute.Strategy,
    rounds: int,
    small_element: int | None = None,
) -> dict:
    """Dataset (single, mirrored), array and floor arms for one model.

    `small_element`: also time the dataset with that many inputs per element
    (same chunks when `small_element * steps` is a multiple of `chunk`), to
    expose the per-element host cost.
    """
    n = x.shape[0]
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(per_element)
    targets = keras.ops.convert_to_numpy(model(x)).argmax(axis=-1).astype(np.int32)
    # The floor's chunks, dataset batch by dataset batch, as the engine cuts them.
    chunks = []
    for a in range(0, n, per_element):
        xb = x[a : a + per_element]
        work = Workload(name, model, xb, steps, chunk, None, model, xb, np.zeros_like(xb))
        chunks += path_chunks(work, targets[a : a + per_element])
    grad = floor_fn(model, x.shape[1:])
    results: dict[str, object] = {}
    common = {"steps": steps, "batch_size": chunk, "warn": False}

    def run_dataset() -> None:
        results["single"] = keras_ig.explain(model, dataset, verbose=0, **common)

    def run_mirrored() -> None:
        results["mirrored"] = keras_ig.explain(
            model, dataset, verbose=0, strategy=strategy, **common
        )

    def run_array() -> None:
        keras_ig.explain(model, x, **common)

    def run_floor() -> None:
        g = None
        for z, t in chunks:
            g = grad(z, t)
        g.numpy()

    # The same pipeline with tf.data autotuning off: the iterator's teardown
    # then never waits for the autotuner (see the module docstring).
    no_autotune = tf.data.Options()
    no_autotune.autotune.enabled = False
    dataset_off = dataset.with_options(no_autotune)

    arms = {
        "dataset": run_dataset,
        "dataset, autotune off": lambda: keras_ig.explain(model, dataset_off, verbose=0, **common),
        "dataset+mirrored": run_mirrored,
        "array": run_array,
        "floor": run_floor,
    }
    if small_element:
        small = tf.data.Dataset.from_tensor_slices(x).batch(small_element)
        arms[f"dataset D={small_element}"] = lambda: keras_ig.explain(
            model, small, verbose=0, **common
        )
    log(f"[throughput] {name}: N={n} steps={steps} D={per_element} B={chunk}")
    times = alternate(arms, rounds)
    single = np.asarray(results["single"].attributions)
    diff = float(np.max(np.abs(single - np.asarray(results["mirrored"].attributions))))
    return {
        "name": name,
        "n": n,
        "steps": steps,
        "per_element": per_element,
        "small_element": small_element,
        "chunk": chunk,
        "chunks": len(chunks),
        "times": times,
        "mirror_diff": diff,
        "scale": float(np.max(np.abs(single))),
    }


def section_throughput(args: argparse.Namespace, cnn: keras.Model) -> list[dict]:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    n_cnn = 64 if args.quick else 256
    x_cnn = make_shapes(n_cnn, size=28, seed=1).images
    rows = [
        throughput_case(
            "cnn 28x28x1", cnn, x_cnn, 64, 32, 256, strategy, repeats(args, "cnn"), small_element=4
        )
    ]
    mobilenet = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)
    n_mob = 8 if args.quick else 16
    x_mob = rng.uniform(-1, 1, (n_mob, 96, 96, 3)).astype(np.float32)
    rows.append(
        throughput_case(
            "mobilenetv2 96px", mobilenet, x_mob, 32, 8, 64, strategy, repeats(args, "mobilenet")
        )
    )
    return rows


def print_throughput(rows: list[dict]) -> None:
    print("\n1. Dataset throughput (medians; ratios to the engine floor, wall and process CPU)")
    head = (
        f"{'arm':<22} {'inputs/s':>9} {'wall s':>8} {'CPU s':>8} {'wall/floor':>10} "
        f"{'CPU/floor':>9}"
    )
    for r in rows:
        print(
            f"{r['name']}: N={r['n']}, steps={r['steps']}, D={r['per_element']} inputs per "
            f"element, B={r['chunk']} rows per chunk, {r['chunks']} chunks, "
            f"{r['n'] * r['steps']} path rows"
        )
        print(head)
        print("-" * len(head))
        t = r["times"]
        fl = t["floor"]
        for arm, v in t.items():
            print(
                f"{arm:<22} {r['n'] / v['wall']:>9.1f} {v['wall']:>8.3f} {v['cpu']:>8.3f} "
                f"{v['wall'] / fl['wall']:>10.3f} {v['cpu'] / fl['cpu']:>9.3f}"
            )
        mir, ds = t["dataset+mirrored"], t["dataset"]
        print(
            f"mirrored / single-device dataset: wall {mir['wall'] / ds['wall']:.3f}, "
            f"CPU {mir['cpu'] / ds['cpu']:.3f}; max |attr(mirrored) - attr(single)| = "
            f"{r['mirror_diff']:.2e} (max |attr| {r['scale']:.2e})"
        )
        small = r["small_element"]
        if small:
            sm = t[f"dataset D={small}"]
            extra = r["n"] // small - r["n"] // r["per_element"]
            print(
                f"host cost per extra dataset element (D={small} vs D={r['per_element']}, same "
                f"chunks): {1000 * (sm['cpu'] - ds['cpu']) / extra:.1f} ms CPU"
            )
        print()
    print(
        "floor: one compiled forward+backward over the same path rows and chunks "
        "(bench_engine.floor_fn); mirrored: MirroredStrategy over 2 logical CPUs that "
        "share the same cores; array: the same N inputs as one array"
    )


# -- 2. memory -----------------------------------------------------------------------
def cnn96() -> keras.Model:
    inp = keras.Input((96, 96, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(10)(h)
    return keras.Model(inp, out, name="cnn96")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _vm_hwm_mib() -> float:
    """Peak RSS of this address space (`VmHWM`), NaN where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def memory_child(n: int, out_dir: str | None) -> None:
    """One explain over a generated dataset; prints a JSON line for the parent."""
    keras.utils.set_random_seed(0)
    model = cnn96()

    def image(i):
        seed = tf.stack([i, tf.constant(7, tf.int64)])
        return tf.random.stateless_uniform((96, 96, 3), seed=seed)

    dataset = tf.data.Dataset.range(n).map(image).batch(25)
    path = os.path.join(out_dir, "attr.npy") if out_dir else None
    before = _peak_rss_mib()
    c0, t0 = time.process_time(), time.perf_counter()
    exp = keras_ig.explain(
        model, dataset, steps=64, batch_size=256, out=path, verbose=0, warn=False
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = _peak_rss_mib()
    info = {
        "n": n,
        "out": path is not None,
        "peak_mib": peak,
        "vm_hwm_mib": _vm_hwm_mib(),
        "peak_before_mib": before,
        "wall_s": wall,
        "cpu_s": cpu,
        "shape": list(exp.attributions.shape),
        "memmap": isinstance(exp.attributions, np.memmap),
        "file_mib": os.path.getsize(path) / 2**20 if path else 0.0,
        "max_rel_delta": float(np.max(exp.relative_delta)),
    }
    print("MEMCHILD " + json.dumps(info), flush=True)


def run_child(n: int, use_out: bool) -> dict:
    """Run `memory_child` in a fresh process, started through `sh`.

    Linux keeps `ru_maxrss` across `exec`: a child exec'd straight from this
    process (fork or vfork) would report at least this process's own peak
    (TensorFlow and MobileNetV2 loaded: well over a GiB). `sh` forks the
    child instead of exec'ing it, so the child starts from the shell's few
    MiB and its `ru_maxrss` is its own.
    """
    with tempfile.TemporaryDirectory() as tmp:
        child = [sys.executable, os.path.abspath(__file__), "--_memory-child", str(n)]
        if use_out:
            child += ["--_out-dir", tmp]
        cmd = ["/bin/sh", "-c", '"$0" "$@"; exit $?', *child]
        log(f"[memory] child: n={n} out={'yes' if use_out else 'no'}")
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MEMCHILD ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"memory child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return json.loads(lines[-1][len("MEMCHILD ") :])


def section_memory(args: argparse.Namespace) -> list[dict]:
    rows = [run_child(10, True), run_child(1000, True)]
    if args.memory_in_ram:
        rows.append(run_child(1000, False))
    return rows


def print_memory(rows: list[dict]) -> None:
    print(
        "\n2. Peak RSS, generated tf.data inputs 96x96x3, 64 steps, batch_size 256, "
        "25 inputs per element"
    )
    print("   model: cnn96 (Conv2D 8 s2, Conv2D 16 s2, GlobalAveragePooling2D, Dense 10)")
    head = (
        f"{'N':>5} {'out=':>5} {'peak RSS MiB':>12} {'VmHWM':>6} {'before explain':>14} "
        f"{'explain s':>9} {'CPU s':>6} {'inputs/s':>8} {'file MiB':>8} {'max rel delta':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['n']:>5} {'npy' if r['out'] else 'no':>5} {r['peak_mib']:>12.0f} "
            f"{r['vm_hwm_mib']:>6.0f} "
            f"{r['peak_before_mib']:>14.0f} {r['wall_s']:>9.1f} {r['cpu_s']:>6.1f} "
            f"{r['n'] / r['wall_s']:>8.1f} "
            f"{r['file_mib']:>8.1f} {r['max_rel_delta']:>13.2e}"
        )
    small, large = rows[0], rows[1]
    ratio = large["peak_mib"] / small["peak_mib"]
    verdict = "ok" if ratio <= 1.5 else "ABOVE TARGET"
    print(
        f"peak RSS ratio 1000/10 with out=: {ratio:.3f} (target <= 1.5: {verdict}); "
        f"growth {large['peak_mib'] - small['peak_mib']:.0f} MiB"
    )
    if len(rows) > 2:
        print(
            f"without out= (attributions in RAM, {rows[2]['shape']} float32 = "
            f"{np.prod(rows[2]['shape']) * 4 / 2**20:.0f} MiB): peak "
            f"{rows[2]['peak_mib']:.0f} MiB, ratio to 10 inputs "
            f"{rows[2]['peak_mib'] / small['peak_mib']:.2f}"
        )


# -- 3. XLA --------------------------------------------------------------------------
def section_xla(args: argparse.Namespace, cnn: keras.Model) -> dict:
    n, steps, batch = 32, 64, 256
    x = make_shapes(n, size=28, seed=4).images
    results: dict[str, object] = {}
    first: dict[str, float] = {}

    def arm(jit: bool) -> Callable[[], None]:
        key = "xla" if jit else "graph"

        def run() -> None:
            t0 = time.perf_counter()
            results[key] = keras_ig.explain(
                cnn, x, steps=steps, batch_size=batch, jit_compile=jit, warn=False
            )
            first.setdefault(key, time.perf_counter() - t0)

        return run

    log(f"[xla] cnn 28x28x1: N={n} steps={steps} batch_size={batch}")
    times = alternate({"graph": arm(False), "xla": arm(True)}, repeats(args, "xla"))
    a, b = results["graph"], results["xla"]
    return {
        "n": n,
        "steps": steps,
        "batch": batch,
        "graph": times["graph"],
        "xla": times["xla"],
        "first_graph": first["graph"],
        "first_xla": first["xla"],
        "diff": float(np.max(np.abs(a.attributions - b.attributions))),
        "scale": float(np.max(np.abs(a.attributions))),
        "delta_graph": float(np.max(a.relative_delta)),
        "delta_xla": float(np.max(b.relative_delta)),
    }


def print_xla(r: dict) -> None:
    print(
        f"\n3. XLA on the CNN 28x28x1 (N={r['n']}, steps={r['steps']}, "
        f"batch_size={r['batch']}; medians, seconds)"
    )
    head = (
        f"{'jit_compile':<12} {'wall s':>8} {'CPU s':>8} {'first call s':>12} {'inputs/s':>9} "
        f"{'max rel delta':>13}"
    )
    print(head)
    print("-" * len(head))
    for key, label in (("graph", "False"), ("xla", "True")):
        print(
            f"{label:<12} {r[key]['wall']:>8.4f} {r[key]['cpu']:>8.4f} "
            f"{r['first_' + key]:>12.2f} {r['n'] / r[key]['wall']:>9.1f} "
            f"{r['delta_' + key]:>13.2e}"
        )
    print(
        f"ratio True/False: wall {r['xla']['wall'] / r['graph']['wall']:.3f}, CPU "
        f"{r['xla']['cpu'] / r['graph']['cpu']:.3f}; max |attr(True) - attr(False)| = "
        f"{r['diff']:.2e} (max |attr| {r['scale']:.2e})"
    )


# -- 4. tolerance ----------------------------------------------------------------------
def section_tolerance(args: argparse.Namespace, cnn: keras.Model, accuracy: float) -> dict:
    n = 32 if args.quick else 64
    batch = 512
    x = make_shapes(n, size=28, seed=3).images
    log(f"[tolerance] searching the smallest fixed steps, N={n}")
    fixed, search = None, {}
    steps = 2
    while steps <= MAX_STEPS:
        exp = keras_ig.explain(cnn, x, steps=steps, batch_size=batch, warn=False)
        ok = within_tolerance(exp.delta, exp.scores, exp.baseline_scores, TOLERANCE)
        search[steps] = (int(ok.sum()), float(np.max(exp.relative_delta)))
        log(f"  steps {steps:>4}: {int(ok.sum())}/{n} within, max rel delta {search[steps][1]:.2e}")
        if ok.all():
            fixed = steps
            break
        steps *= 2
    if fixed is None:
        raise RuntimeError(f"no fixed step count up to {MAX_STEPS} meets the tolerance")
    starts = [s for s in (4, 16, 64) if s <= fixed] or [fixed]
    results: dict[str, object] = {}

    def run_fixed() -> None:
        results["fixed"] = keras_ig.explain(cnn, x, steps=fixed, batch_size=batch, warn=False)

    def run_tol(start: int) -> Callable[[], None]:
        def run() -> None:
            results[start] = keras_ig.explain(
                cnn,
                x,
                steps=start,
                tolerance=TOLERANCE,
                max_steps=MAX_STEPS,
                batch_size=batch,
                warn=False,
            )

        return run

    arms = {"fixed": run_fixed} | {f"tol{s}": run_tol(s) for s in starts}
    log(f"[tolerance] timing fixed steps={fixed} against tolerance={TOLERANCE} from {starts}")
    times = alternate(arms, repeats(args, "tolerance"))
    tol_rows = []
    for s in starts:
        exp = results[s]
        used = exp.steps_used
        ok = within_tolerance(exp.delta, exp.scores, exp.baseline_scores, TOLERANCE)
        levels, counts = np.unique(used, return_counts=True)
        tol_rows.append(
            {
                "start": s,
                "time": times[f"tol{s}"],
                "sum_used": int(used.sum()),
                "rows_run": int(np.sum(2 * used - s)),
                "engine_calls": int(np.log2(used.max() / s)) + 1,
                "all_ok": bool(ok.all()),
                "converged": int(exp.converged.sum()),
                "hist": dict(zip(levels.tolist(), counts.tolist(), strict=True)),
            }
        )
    return {
        "n": n,
        "batch": batch,
        "epochs": args.epochs,
        "accuracy": accuracy,
        "fixed": fixed,
        "search": search,
        "fixed_time": times["fixed"],
        "tol": tol_rows,
    }


def print_tolerance(r: dict) -> None:
    n, fixed = r["n"], r["fixed"]
    print(
        f"\n4. tolerance={TOLERANCE} versus fixed steps, gausslegendre, N={n}, "
        f"batch_size={r['batch']}, max_steps={MAX_STEPS}; CNN 28x28x1 trained "
        f"{r['epochs']} epochs on make_shapes (train accuracy {r['accuracy']:.2f})"
    )
    print(
        "   fixed-steps search (inputs within tolerance / max relative delta): "
        + ", ".join(f"{s}: {ok}/{n} {d:.1e}" for s, (ok, d) in r["search"].items())
    )
    head = (
        f"{'run':<22} {'wall s':>7} {'wall/fix':>8} {'CPU/fix':>7} {'sum steps_used':>14} "
        f"{'/N*fix':>6} {'rows run':>8} {'/N*fix':>6} {'calls':>5} {'all ok':>6}"
    )
    print(head)
    print("-" * len(head))
    total = n * fixed
    fx = r["fixed_time"]
    print(
        f"{'fixed steps=' + str(fixed):<22} {fx['wall']:>7.3f} {1:>8.3f} {1:>7.3f} "
        f"{total:>14} {1:>6.3f} {total:>8} {1:>6.3f} {1:>5} {'yes':>6}"
    )
    for t in r["tol"]:
        label = f"tolerance, steps={t['start']}"
        print(
            f"{label:<22} {t['time']['wall']:>7.3f} {t['time']['wall'] / fx['wall']:>8.3f} "
            f"{t['time']['cpu'] / fx['cpu']:>7.3f} {t['sum_used']:>14} "
            f"{t['sum_used'] / total:>6.3f} {t['rows_run']:>8} {t['rows_run'] / total:>6.3f} "
            f"{t['engine_calls']:>5} {'yes' if t['all_ok'] else 'no':>6}"
        )
    for t in r["tol"]:
        print(
            f"steps_used histogram (start {t['start']}): "
            + ", ".join(f"{k}: {v}" for k, v in t["hist"].items())
        )
    print(
        "rows run: path rows computed (Gauss-Legendre does not nest: 2*s - start per input); "
        "calls: engine calls (refinement rounds + 1)"
    )


# -- main --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer inputs and repeats")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per arm")
    parser.add_argument("--epochs", type=int, default=3, help="CNN training epochs")
    parser.add_argument(
        "--memory-in-ram",
        action="store_true",
        help="also measure 1,000 inputs without out= (about a minute more)",
    )
    parser.add_argument("--_memory-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_out-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._memory_child is not None:
        memory_child(args._memory_child, args._out_dir)
        return
    split_cpu(2)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")

    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    cnn, accuracy = None, float("nan")
    if {"throughput", "xla", "tolerance"} & set(sections):
        cnn, accuracy = train_shapes_cnn(args.epochs)
    printers = []
    if "throughput" in sections:
        printers.append((print_throughput, section_throughput(args, cnn)))
    if "memory" in sections:
        printers.append((print_memory, section_memory(args)))
    if "xla" in sections:
        printers.append((print_xla, section_xla(args, cnn)))
    if "tolerance" in sections:
        printers.append((print_tolerance, section_tolerance(args, cnn, accuracy)))

    print(
        f"tf {tf.__version__}, keras {keras.__version__}, {os.cpu_count()} CPUs, "
        f"{'quick' if args.quick else 'full'} mode, medians; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    for printer, result in printers:
        printer(result)


if __name__ == "__main__":
    main()
