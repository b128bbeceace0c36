"""`IGCallback` in a two-worker `MultiWorkerMirroredStrategy` fit: per-worker cost.

Run by hand from the repository root, in the project's venv:

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_multiworker.py [--rounds 6] [--epochs 3]
                                           [--probes 8] [--steps 32]

Workload: two worker processes on 127.0.0.1 (`TF_CONFIG`, one CPU device
each) train a small CNN (two conv layers, global average pooling, 4 logits)
on 1,024 `make_shapes` images of 32x32, global batch 64, with
`keras_ig.MultiWorkerStrategy`. The callback arm adds `IGCallback` on
`--probes` images with their labels and masks, `--steps` Gauss-Legendre
points, its default output (pictures, histograms): the chief
explains and writes, the other worker does nothing for IG. Two callback
arms: `sync` (`background_ig=False`: the chief explains inside
`on_epoch_end`) and `bg` (the default on a multi-worker chief: it copies the
weights and explains a clone on its writer thread while training goes on).

Method. Each worker runs the three arms in alternating order (ABC, CBA, ...),
`--rounds` times each, one `model.fit(epochs=--epochs)` per arm and round, on
the same model. An epoch is timed from its `on_epoch_begin` to the next
one's (training plus every callback, the chief's IG included); the first
epoch of each fit is left out (it holds the fit's set-up). The script
prints, per worker, the median epoch time of each arm, the callback arms'
ratios to no callback, and on the chief the median time its
`IGCallback.on_epoch_end` held the training loop in each arm. Synchronous
training makes the other worker wait at the next step's all-reduce for that
time, so both workers' ratios should be close; with `bg` the hold is the
weight copy (plus waiting for the previous epoch's IG if it is still
running), and the IG competes with training for the chief's CPU instead.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap

WORKER = """
import json, os, statistics, sys, time
import numpy as np
import tensorflow as tf
import keras
import keras_ig
from keras_ig import datasets
from keras_ig.callbacks import IGCallback

rounds, epochs, probes, steps, shared = (
    int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
strategy = keras_ig.MultiWorkerStrategy()
data = datasets.make_shapes(1024 + probes, size=32, seed=0)
train = tf.data.Dataset.from_tensor_slices(
    (data.images[:1024], data.labels[:1024])).batch(64)
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((32, 32, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4),
    ])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))


class Timer(keras.callbacks.Callback):
    def __init__(self):
        self.begins = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begins.append(time.perf_counter())

    def on_train_end(self, logs=None):
        self.begins.append(time.perf_counter())


class Held(IGCallback):
    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        super().on_epoch_end(epoch, logs)
        self.held.append(time.perf_counter() - start)


def held(background_ig, arm):
    cb = Held(data.images[1024:], os.path.join(shared, "logs", arm), target=data.labels[1024:],
              masks=data.masks[1024:], steps=steps, background_ig=background_ig)
    cb.held = []
    return cb


callbacks = {"none": None, "sync": held(False, "sync"), "bg": held(None, "bg")}
model.fit(train, epochs=1, verbose=0)  # warm-up: traces the train step
times = {arm: [] for arm in callbacks}
arms = list(callbacks)
for r in range(rounds):
    for arm in arms if r % 2 == 0 else arms[::-1]:  # no order bias
        timer = Timer()
        extra = [] if callbacks[arm] is None else [callbacks[arm]]
        model.fit(train, epochs=epochs, verbose=0, callbacks=[timer] + extra)
        times[arm] += list(np.diff(timer.begins)[1:])
med = {arm: statistics.median(t) for arm, t in times.items()}
row = {"worker": index}
for arm in arms:
    row[arm + "_s"] = med[arm]
for arm in ("sync", "bg"):
    cb = callbacks[arm]
    row[arm + "_ratio"] = med[arm] / med["none"]
    row[arm + "_held_s"] = statistics.median(cb.held) if cb.history else None
    row[arm + "_history"] = len(cb.history)
print(json.dumps(row), flush=True)
"""


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--probes", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as shared:
        script = os.path.join(shared, "worker.py")
        with open(script, "w") as f:
            f.write(textwrap.dedent(WORKER))
        cluster = {"worker": [f"127.0.0.1:{p}" for p in _ports(2)]}
        procs = []
        for i in range(2):
            task = {"type": "worker", "index": i}
            env = {
                **os.environ,
                "CUDA_VISIBLE_DEVICES": "",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "TF_CONFIG": json.dumps({"cluster": cluster, "task": task}),
            }
            argv = [str(a) for a in (args.rounds, args.epochs, args.probes, args.steps, shared)]
            procs.append(
                subprocess.Popen(
                    [sys.executable, script, *argv], env=env, stdout=subprocess.PIPE, text=True
                )
            )
        rows = []
        for p in procs:
            out, _ = p.communicate(timeout=1800)
            if p.returncode:
                sys.exit(f"a worker failed (exit {p.returncode})")
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"{'worker':>6} {'arm':>5} {'epoch':>9} {'ratio to no IG':>15} "
        f"{'on_epoch_end held loop':>23} {'history':>8}"
    )
    for r in sorted(rows, key=lambda r: r["worker"]):
        print(f"{r['worker']:>6} {'none':>5} {r['none_s'] * 1e3:>6.0f} ms")
        for arm in ("sync", "bg"):
            held = r[arm + "_held_s"]
            held = "-" if held is None else f"{held * 1e3:.1f} ms"
            print(
                f"{r['worker']:>6} {arm:>5} {r[arm + '_s'] * 1e3:>6.0f} ms "
                f"{r[arm + '_ratio']:>15.2f} {held:>23} {r[arm + '_history']:>8}"
            )


if __name__ == "__main__":
    main()
