"""Two `MultiWorkerMirroredStrategy` workers on 127.0.0.1, as subprocesses.

One cluster run (a module fixture: starting TensorFlow twice costs most of
the time) trains with `IGCallback` under `keras_ig.MultiWorkerStrategy` and
then explains datasets with `out=` on both workers; the tests check what it
left on disk against single-process `keras_ig.explain` in this process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_ig
from tests.helpers.events import read_events

pytestmark = pytest.mark.slow

TIMEOUT_S = 150.0
N_ROWS, BATCH, STEPS = 10, 3, 16  # 4 batches: 3, 3, 3, 1 rows
PROBE_TARGETS = [0, 1, 2, 0]

# Shared by the workers and the single-process reference below.
MODEL = """
def build_model():
    keras.utils.set_random_seed(7)
    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(6, activation="tanh"),
        keras.layers.Dense(3),
    ])


def build_image_model():
    keras.utils.set_random_seed(8)
    return keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(2, 3, activation="tanh"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
"""

WORKER = (
    MODEL
    + """
import json, os, sys, threading
import numpy as np
import tensorflow as tf
import keras
import keras_ig
from keras_ig.callbacks import IGCallback

shared = sys.argv[1]
strategy = keras_ig.MultiWorkerStrategy()
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 4)).astype("float32")
y = rng.normal(size=(32, 3)).astype("float32")
with strategy.scope():
    model = build_model()
    model.compile("sgd", "mse")
cb = IGCallback(x[:4], os.path.join(shared, "logs"), target=%(targets)s, steps=%(steps)d)
train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
returned = [threading.Event() for _ in range(2)]
seen = []  # per chief epoch: its IG started only after its on_epoch_end had returned


class Gate(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        inner = cb._run  # None on the other worker: it explains nothing
        if inner is not None:
            def run():
                seen.append(returned[len(seen)].wait(60.0))
                return inner()
            cb._run = run

    def on_epoch_end(self, epoch, logs=None):
        returned[epoch].set()  # after cb.on_epoch_end has returned


model.fit(train, epochs=2, verbose=0, callbacks=[cb, Gate()])
last = cb.last_explanation

xe = np.load(os.path.join(shared, "xe.npy"))
ds = tf.data.Dataset.from_tensor_slices(xe).batch(%(batch)d)
kw = dict(target=1, steps=%(steps)d, strategy=strategy, verbose=0, warn=False)
exp = keras_ig.explain(model, ds, out=os.path.join(shared, "attr.npy"), **kw)
mem = keras_ig.explain(model, ds, **kw)  # no out=: this worker's shard in memory
off = tf.data.Options()
off.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
whole = keras_ig.explain(model, ds.with_options(off), **kw)  # sharded by the user: all of it
# Unknown cardinality: round robin over batches.
rr = keras_ig.explain(model, ds.filter(lambda v: True), out=os.path.join(shared, "rr.npy"), **kw)
# The adaptive paths shard a dataset the same way, one out= file per worker.
gig = keras_ig.guided_ig(model, ds, out=os.path.join(shared, "gig.npy"), **kw)
xi = np.load(os.path.join(shared, "xi.npy"))
dsi = tf.data.Dataset.from_tensor_slices(xi).batch(%(batch)d)
big = keras_ig.blur_ig(build_image_model(), dsi, out=os.path.join(shared, "big.npy"), **kw)
try:
    keras_ig.explain(model, xe, **kw)
    refusal = ""
except ValueError as err:
    refusal = str(err)
np.savez(
    os.path.join(shared, f"worker{index}.npz"),
    **{f"weight{j}": w for j, w in enumerate(model.get_weights())},
    history=len(cb.history),
    background=cb._replica is not None,
    seen=np.array(seen, bool),
    last=np.zeros(0) if last is None else last.attributions,
    delta=exp.delta,
    scores=exp.scores,
    rr_delta=rr.delta,
    gig_delta=gig.delta,
    big_delta=big.delta,
    mem=mem.attributions,
    whole=whole.attributions,
    refusal=refusal,
)
print("done", index, flush=True)
"""
)


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_cluster(script: Path, shared: Path, workers: int = 2) -> None:
    """Run `script shared` on `workers` MWMS workers; fail (killing all) on error."""
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(workers)]}
    procs = []
    for i in range(workers):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        }
        log = open(shared / f"worker{i}.log", "w")
        procs.append(
            (
                subprocess.Popen(
                    [sys.executable, str(script), str(shared)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=Path(__file__).resolve().parents[2],
                ),
                log,
            )
        )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while any(p.poll() is None for p, _ in procs):
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p, _ in procs):
                break
            time.sleep(0.2)
    finally:
        for p, log in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            log.close()
    if any(p.returncode != 0 for p, _ in procs):
        tails = [(shared / f"worker{i}.log").read_text()[-3000:] for i in range(workers)]
        pytest.fail("a worker failed or timed out:\n" + "\n=====\n".join(tails))


def _reference_model(weights: list) -> keras.Model:
    scope: dict = {"keras": keras}
    exec(MODEL, scope)  # the very definition the workers used
    model = scope["build_model"]()
    model.set_weights(list(weights))
    return model


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Path:
    shared = tmp_path_factory.mktemp("mwms")
    xe = np.random.default_rng(1).normal(size=(N_ROWS, 4)).astype("float32")
    np.save(shared / "xe.npy", xe)
    xi = np.random.default_rng(2).uniform(size=(N_ROWS, 6, 6, 1)).astype("float32")
    np.save(shared / "xi.npy", xi)
    script = shared / "worker.py"
    script.write_text(
        textwrap.dedent(WORKER % {"targets": PROBE_TARGETS, "steps": STEPS, "batch": BATCH})
    )
    _run_cluster(script, shared)
    return shared


def _load(shared: Path, i: int) -> dict:
    with np.load(shared / f"worker{i}.npz") as f:
        out = {k: f[k] for k in f.files}
    n = sum(k.startswith("weight") for k in out)
    out["weights"] = [out.pop(f"weight{j}") for j in range(n)]
    return out


def test_fit_with_igcallback_writes_one_event_stream_from_the_chief(cluster):
    w0, w1 = _load(cluster, 0), _load(cluster, 1)
    # Training ran in sync on both workers: the same final weights.
    for a, b in zip(w0["weights"], w1["weights"], strict=True):
        np.testing.assert_array_equal(a, b)
    # Only the chief explained: worker 1 has no history and no explanation.
    assert int(w0["history"]) == 2 and int(w1["history"]) == 0
    assert w1["last"].size == 0
    # The chief explained a clone on its writer thread: each epoch's IG began
    # only once its on_epoch_end had returned, so no worker waited for it.
    assert bool(w0["background"]) and not bool(w1["background"])
    assert w0["seen"].tolist() == [True, True] and w1["seen"].size == 0
    files = list((cluster / "logs" / "integrated_gradients").glob("events.out.tfevents.*"))
    assert len(files) == 1, files
    scalars = read_events(files[0].parent)["scalars"]
    assert set(scalars["integrated_gradients/completeness_gap/max_abs"]) == {0, 1}
    # The chief's last attributions are IG of the trained model.
    model = _reference_model(w0["weights"])
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    ref = keras_ig.explain(model, x[:4], target=PROBE_TARGETS, steps=STEPS, warn=False)
    np.testing.assert_allclose(w0["last"], ref.attributions, rtol=1e-4, atol=1e-6)


def test_worker_out_shards_together_equal_the_single_process_result(cluster):
    w0, w1 = _load(cluster, 0), _load(cluster, 1)
    xe = np.load(cluster / "xe.npy")
    model = _reference_model(w0["weights"])
    ref = keras_ig.explain(model, xe, target=1, steps=STEPS, warn=False)
    parts = [np.load(cluster / f"attr.worker-{i}-of-2.npy") for i in range(2)]
    # Contiguous batches: worker 0 has batches 0-1 (6 rows), worker 1 batches 2-3.
    assert [len(p) for p in parts] == [6, 4]
    np.testing.assert_allclose(np.concatenate(parts), ref.attributions, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        np.concatenate([w0["delta"], w1["delta"]]), ref.delta, rtol=1e-3, atol=1e-5
    )
    np.testing.assert_allclose(
        np.concatenate([w0["scores"], w1["scores"]]), ref.scores, rtol=1e-5, atol=1e-6
    )
    assert not (cluster / "attr.npy").exists()  # only per-worker files
    # Without out=, each worker's Explanation holds the same shard in memory.
    for i, w in enumerate((w0, w1)):
        np.testing.assert_array_equal(w["mem"], parts[i])


def test_blur_and_guided_ig_shard_a_dataset_per_worker(cluster):
    w0, w1 = _load(cluster, 0), _load(cluster, 1)
    model = _reference_model(w0["weights"])
    scope: dict = {"keras": keras}
    exec(MODEL, scope)
    xe, xi = np.load(cluster / "xe.npy"), np.load(cluster / "xi.npy")
    kw = {"target": 1, "steps": STEPS, "warn": False}
    cases = {
        "gig": keras_ig.guided_ig(model, xe, **kw),
        "big": keras_ig.blur_ig(scope["build_image_model"](), xi, **kw),
    }
    for name, ref in cases.items():
        parts = [np.load(cluster / f"{name}.worker-{i}-of-2.npy") for i in range(2)]
        assert [len(p) for p in parts] == [6, 4]  # contiguous batches, as explain's
        np.testing.assert_allclose(np.concatenate(parts), ref.attributions, rtol=1e-4, atol=1e-6)
        delta = np.concatenate([w0[f"{name}_delta"], w1[f"{name}_delta"]])
        np.testing.assert_allclose(delta, ref.delta, rtol=1e-3, atol=1e-5)
        assert not (cluster / f"{name}.npy").exists()


def test_unknown_cardinality_is_sharded_round_robin_by_batch(cluster):
    xe = np.load(cluster / "xe.npy")
    model = _reference_model(_load(cluster, 0)["weights"])
    ref = keras_ig.explain(model, xe, target=1, steps=STEPS, warn=False)
    rows = [np.arange(i, min(i + BATCH, N_ROWS)) for i in range(0, N_ROWS, BATCH)]
    for i in range(2):
        mine = np.concatenate(rows[i::2])  # the rows of batches i, i + 2, ...
        got = np.load(cluster / f"rr.worker-{i}-of-2.npy")
        np.testing.assert_allclose(got, ref.attributions[mine], rtol=1e-4, atol=1e-6)
        delta = _load(cluster, i)["rr_delta"]
        np.testing.assert_allclose(delta, ref.delta[mine], rtol=1e-3, atol=1e-5)


def test_auto_shard_policy_off_is_explained_whole_on_every_worker(cluster):
    xe = np.load(cluster / "xe.npy")
    model = _reference_model(_load(cluster, 0)["weights"])
    ref = keras_ig.explain(model, xe, target=1, steps=STEPS, warn=False)
    for i in range(2):
        got = _load(cluster, i)["whole"]
        np.testing.assert_allclose(got, ref.attributions, rtol=1e-4, atol=1e-6)


def test_arrays_under_multi_worker_are_refused_naming_strategy(cluster):
    for i in range(2):
        message = str(_load(cluster, i)["refusal"])
        assert message.startswith("strategy:") and "tf.data.Dataset" in message


PSS = """
import os, socket
import tensorflow as tf
import keras, keras_ig

def port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

spec = tf.train.ClusterSpec({"worker": [f"localhost:{port()}"], "ps": [f"localhost:{port()}"]})
for job in ("worker", "ps"):
    tf.distribute.Server(spec, job_name=job, task_index=0, protocol="grpc", start=True)
resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(spec, rpc_layer="grpc")
strategy = tf.distribute.experimental.ParameterServerStrategy(resolver)
model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
try:
    keras_ig.explain(model, [[1.0, 2.0]], strategy=strategy)
except ValueError as err:
    print("REFUSED", err)
"""


def test_parameter_server_strategy_is_refused_naming_strategy(tmp_path):
    script = tmp_path / "pss.py"
    script.write_text(PSS)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "REFUSED strategy: ParameterServerStrategy" in done.stdout, done.stderr[-2000:]
