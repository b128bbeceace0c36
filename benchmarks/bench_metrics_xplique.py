"""`metrics.deletion` / `metrics.insertion` against xplique's `Deletion` / `Insertion`.

xplique 2.0 runs on TensorFlow <= 2.20, so this runs in its own venv, with
keras-ig installed into it (not the project's venv):

    python3.11 -m venv /tmp/xq-venv
    /tmp/xq-venv/bin/pip install "tensorflow==2.20.*" "xplique==2.0.2"
    /tmp/xq-venv/bin/pip install --no-deps .
    export TF_CPP_MIN_LOG_LEVEL=2
    (cd /tmp && /tmp/xq-venv/bin/python "$OLDPWD/benchmarks/bench_metrics_xplique.py")

Workload: as `bench_metrics.py` (the demo CNN, `--inputs` 32x32x1 shapes
images, their IG maps, `--steps` 20), both at `batch_size` 64 (xplique's
default) and on the softmax outputs of the class predicted at x, the CNN
trained first as the demo trains it (3,000 images, `--train-epochs` 8). Each arm
is one full evaluation as a user writes it (xplique: build the metric, then
`evaluate`; keras-ig: one call); every arm runs once before timing, then
`--repeats` interleaved rounds in random order; medians side by side.

The scores differ slightly by definition, not by error: xplique moves
`floor(k / steps * n)` features at step k (keras-ig rounds), ranks by the
channel mean with an unstable sort (ties in reverse index order), and
reports the mean over inputs of the area; the printed scores show how close
they are.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf
import xplique
from xplique.metrics import Deletion, Insertion

from keras_ig import explain, metrics
from keras_ig._io.demo import DEFAULT, build_model
from keras_ig.datasets import make_shapes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-epochs", type=int, default=DEFAULT.epochs)
    args = parser.parse_args()

    keras.utils.set_random_seed(0)
    model = build_model(DEFAULT.size, 4, DEFAULT.filters)
    if args.train_epochs:  # trained a little, so that the curves (and scores) mean something
        data = make_shapes(DEFAULT.train, size=DEFAULT.size, seed=0)
        model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
        model.fit(
            data.images,
            data.labels,
            epochs=args.train_epochs,
            batch_size=DEFAULT.batch_size,
            verbose=0,
        )
    x = make_shapes(args.inputs, size=DEFAULT.size, seed=1).images
    exp = explain(model, x, steps=32, warn=False)
    a, targets = exp.attributions, exp.target
    one_hot = np.eye(4, dtype=np.float32)[targets]
    common = {"steps": args.steps, "batch_size": args.batch_size}

    def xplique_run(cls):
        return cls(model, x, one_hot, **common).evaluate(a)

    def ours(fn):
        return float(fn(model, x, a, target=targets, **common).scores.mean())

    arms = {
        "deletion keras-ig": functools.partial(ours, metrics.deletion),
        "deletion xplique": functools.partial(xplique_run, Deletion),
        "insertion keras-ig": functools.partial(ours, metrics.insertion),
        "insertion xplique": functools.partial(xplique_run, Insertion),
    }
    scores = {name: fn() for name, fn in arms.items()}  # also traces
    times: dict[str, list[float]] = {name: [] for name in arms}
    rng = random.Random(0)
    for _ in range(args.repeats):
        names = list(arms)
        rng.shuffle(names)
        for name in names:
            t0 = time.perf_counter()
            arms[name]()
            times[name].append(time.perf_counter() - t0)
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, xplique {xplique.__version__}; "
        f"demo CNN, {args.inputs} inputs, steps={args.steps}, batch_size={args.batch_size}, "
        f"medians of {args.repeats} interleaved rounds"
    )
    print(f"{'metric':<10} {'keras-ig ms':>12} {'xplique ms':>11} {'speed-up':>9} {'scores':>20}")
    for metric in ("deletion", "insertion"):
        ours_t = statistics.median(times[f"{metric} keras-ig"])
        theirs_t = statistics.median(times[f"{metric} xplique"])
        s_ours, s_theirs = scores[f"{metric} keras-ig"], scores[f"{metric} xplique"]
        print(
            f"{metric:<10} {ours_t * 1e3:12.1f} {theirs_t * 1e3:11.1f} {theirs_t / ours_t:8.1f}x "
            f"{s_ours:9.4f} / {s_theirs:.4f}"
        )


if __name__ == "__main__":
    main()
