"""`keras_ig._engine.workers` on one process: every rule is the identity.

The multi-worker rules themselves run on two real workers in
`tests/api/test_multiworker.py`; here, strategies confined to this process
must see one worker, index 0, the chief, the path and the dataset unchanged.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._engine import workers
from keras_ig._engine.devices import check_strategy


@pytest.mark.parametrize(
    "strategy",
    [None, tf.distribute.get_strategy(), tf.distribute.OneDeviceStrategy("/cpu:0")],
    ids=["none", "default", "one-device"],
)
def test_one_process_is_one_worker_and_the_chief(strategy, tmp_path):
    assert workers.num_workers(strategy) == 1
    assert workers.worker_index(strategy) == 0
    assert workers.is_chief(strategy) and not workers.is_multi_worker(strategy)
    path = str(tmp_path / "attr.npy")
    assert workers.worker_path(path, strategy) == path
    ds = tf.data.Dataset.range(7).batch(2)
    assert workers.shard(ds, strategy) is ds
    check_strategy(strategy)  # accepted


@pytest.mark.parametrize("strategy", [tf.distribute.get_strategy(), None], ids=["default", "none"])
def test_single_process_explain_is_unchanged_by_the_worker_rules(strategy):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
    got = keras_ig.explain(model, ds, target=1, steps=4, strategy=strategy, verbose=0)
    # A linear model: IG is exactly (x - 0) * w[:, 1], for every row.
    w = model.get_weights()[0][:, 1]
    np.testing.assert_allclose(got.attributions, x * w, rtol=1e-5, atol=1e-6)


WORKERS = ["h0:1", "h1:1", "h2:1"]


@pytest.mark.parametrize(
    ("cluster", "task", "expected"),
    [
        ({"worker": WORKERS}, ("worker", 0), (0, 3)),
        ({"worker": WORKERS}, ("worker", 2), (2, 3)),
        # A chief task comes first; the workers follow it.
        ({"chief": ["c:1"], "worker": WORKERS}, ("chief", 0), (0, 4)),
        ({"chief": ["c:1"], "worker": WORKERS}, ("worker", 0), (1, 4)),
        ({"chief": ["c:1"], "worker": WORKERS}, ("worker", 2), (3, 4)),
        # Parameter servers and the evaluator are not workers.
        ({"worker": WORKERS[:2], "ps": ["p:1"]}, ("worker", 1), (1, 2)),
        ({"worker": WORKERS, "evaluator": ["e:1"]}, ("evaluator", 0), (0, 1)),
        ({}, (None, None), (0, 1)),
        ({"worker": WORKERS[:1]}, ("worker", 0), (0, 1)),
    ],
)
def test_position_of_a_task_among_the_workers(cluster, task, expected):
    assert workers.position(cluster, *task) == expected
