"""Max-pooling CNNs in a loop: oneDNN's pooling backward, or Eigen's, process by process.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_pool_kernels.py [--processes 6] [--n 32] [--steps 64]
                                            [--batch-size 128] [--methods ...]

Inside a `tf.while_loop` TensorFlow runs a cyclic dataflow graph, and
oneDNN's layout pass visits its ops in an order that changes from one process
to the next: when it meets a `MaxPoolGrad` before that op's `MaxPool` it keeps
Eigen's kernel, several times slower. keras-ig runs each chunk's forward and
backward as a graph of their own (`keras_ig._engine.chunks.isolated`), where
the pass visits the ops in dataflow order. This benchmark shows both:

* `isolated`: keras-ig as it is;
* `inlined`: the same engines with the chunk's forward and backward inlined
  into the loop (`chunks.isolated` replaced by the identity in that process).

Each arm runs in `--processes` fresh processes, alternated; in each, every
method (on the bench CNN of `bench_methods_pair.py`: 32 x 32 x 3 images,
two max-pooling layers, random weights seeded the same) is warmed up, timed
three times (the median is kept), and profiled once to read which kernel
ran its `MaxPoolGrad` ops. The table gives, per method and arm, how many
processes ran Eigen's kernel, the mean and the slowest time over processes
(what a user can expect, and gets in an unlucky process), and the ratios
inlined/isolated of both.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.helpers.kernels reads the profiler's trace
sys.path.insert(0, str(ROOT / "benchmarks"))

METHODS = ("explain", "idgi", "blur_ig", "guided_ig")


def child(arm: str, args: argparse.Namespace) -> dict:
    """One fresh process: each method's median seconds and `MaxPoolGrad` kernels."""
    import keras
    import numpy as np
    from bench_methods_pair import cnn

    import keras_ig
    from keras_ig._engine import chunks
    from tests.helpers.kernels import kernels_run

    if arm == "inlined":
        chunks.isolated = lambda fn, score_fn: fn
    keras.utils.set_random_seed(0)
    model = cnn(32)
    x = np.random.default_rng(0).uniform(0, 1, (args.n, 32, 32, 3)).astype(np.float32)
    out = {}
    for method in args.methods.split(","):
        fn = getattr(keras_ig, method)

        def call(fn=fn):
            return fn(model, x, target=0, steps=args.steps, batch_size=args.batch_size, warn=False)

        call()
        call()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        kernels = kernels_run(call, "MaxPoolGrad")
        out[method] = {"s": statistics.median(times), "kernels": sorted(kernels)}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--_child", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        print(json.dumps(child(args._child, args)))
        return
    passed = [f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items() if k != "_child"]
    runs: dict[str, list[dict]] = {"isolated": [], "inlined": []}
    for _ in range(args.processes):
        for arm, got in runs.items():
            out = subprocess.run(
                [sys.executable, __file__, f"--_child={arm}", *passed],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            got.append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"{args.processes} fresh processes per arm; {args.n} images 32x32x3, "
        f"steps={args.steps}, batch_size={args.batch_size}"
    )
    print(
        f"{'method':<10} {'arm':<9} {'Eigen in':>9} {'mean s':>8} {'slowest s':>10} "
        f"{'mean ratio':>11} {'slowest ratio':>14}"
    )
    for method in args.methods.split(","):
        mean, slow = {}, {}
        for arm, got in runs.items():
            secs = [g[method]["s"] for g in got]
            eigen = sum("MaxPoolGrad" in g[method]["kernels"] for g in got)
            mean[arm], slow[arm] = statistics.mean(secs), max(secs)
            ratios = (
                f"{mean[arm] / mean['isolated']:>11.2f} {slow[arm] / slow['isolated']:>14.2f}"
                if arm == "inlined"
                else ""
            )
            print(
                f"{method:<10} {arm:<9} {eigen:>5}/{len(got):<3} {mean[arm]:>8.4f} "
                f"{slow[arm]:>10.4f} {ratios}"
            )


if __name__ == "__main__":
    main()
