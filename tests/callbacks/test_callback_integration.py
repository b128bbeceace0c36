"""`IGCallback` with the outside world: a real TensorBoard server, and
`tf.distribute.MirroredStrategy` on two logical CPUs (in a subprocess, since
devices must be configured before TensorFlow initialises)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import keras
import numpy as np
import pytest

from keras_ig import datasets
from keras_ig.callbacks import IGCallback
from keras_ig.callbacks._ig_callback import TAG

# A TensorBoard server and a strategy in subprocesses: slow, run by default.
pytestmark = pytest.mark.slow

TIMEOUT_S = 90.0


def _env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


def test_tensorboard_serves_our_images_and_scalars(tmp_path):
    data = datasets.make_shapes(16, size=16, seed=1)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(2, 3, activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = IGCallback(data.images[:2], tmp_path, target=data.labels[:2], masks=data.masks[:2])
    board = keras.callbacks.TensorBoard(tmp_path, write_graph=False, profile_batch=0)
    model.fit(data.images, data.labels, epochs=1, verbose=0, callbacks=[board, cb])

    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(tmp_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--reload_interval",
        "1",
    ]
    server = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}/data/plugin"
    images = scalars = None
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"tensorboard exited: {server.stderr.read().decode()[-2000:]}")
            images = _get_json(f"{base}/images/tags")
            scalars = _get_json(f"{base}/scalars/tags")
            if images and TAG in images and scalars and TAG in scalars:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"tensorboard served no {TAG!r} run within {TIMEOUT_S} s: {images}")
        assert {f"{TAG}/probe_0", f"{TAG}/probe_1"} <= set(images[TAG])
        assert f"{TAG}/completeness_gap/max_abs" in scalars[TAG]
        assert f"{TAG}/localization/mean" in scalars[TAG]
        assert "train" in scalars  # keras.callbacks.TensorBoard's run, side by side
        run_tag = f"run={TAG}&tag={TAG}/probe_0&sample=0"
        samples = _get_json(f"{base}/images/images?{run_tag}")
        assert samples and samples[0]["step"] == 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


_MIRRORED = textwrap.dedent(
    """
    import json, sys, warnings
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    import numpy as np
    import keras_ig
    from keras_ig import datasets
    from keras_ig.callbacks import IGCallback, IGCallbackWarning

    warnings.simplefilter("error", IGCallbackWarning)
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    data = datasets.make_shapes(32, size=16, seed=0)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(3, 3, activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
        ])
        model.compile(
            keras.optimizers.Adam(0.05),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    probes, labels = data.images[:3], data.labels[:3]
    cb = IGCallback(probes, sys.argv[1], target=labels, masks=data.masks[:3])
    model.fit(data.images, data.labels, epochs=2, batch_size=16, verbose=0,
              callbacks=[cb])
    exp = keras_ig.explain(model, probes, target=labels, steps=32, warn=False)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "epochs": [h["epoch"] for h in cb.history],
        "delta": cb.history[-1]["delta"].tolist(),
        "explain_delta": exp.delta.tolist(),
        "localization": cb.history[-1]["localization"].tolist(),
        "traces": cb._explainer.engine.traces,
    }))
    """
)


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    from tests.helpers.events import read_events

    result = subprocess.run(
        [sys.executable, "-c", _MIRRORED, str(tmp_path)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    assert out["epochs"] == [0, 1]
    assert out["traces"] == 1
    np.testing.assert_allclose(out["delta"], out["explain_delta"], rtol=1e-4, atol=1e-7)
    assert all(0.0 <= v <= 1.0 for v in out["localization"])
    events = read_events(tmp_path / TAG)
    for i in range(3):
        assert sorted(events["images"][f"{TAG}/probe_{i}"]) == [0, 1]
