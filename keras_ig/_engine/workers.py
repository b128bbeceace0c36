"""Several workers of one `tf.distribute.MultiWorkerMirroredStrategy`.

The one home of "which worker am I": the worker count, this worker's index
and whether it is the chief, read from the strategy's cluster resolver (which
reads `TF_CONFIG`); the shard of a dataset and the `out=` file each worker of
a multi-worker `explain` uses; and `MultiWorkerStrategy`, the strategy with
the reduce that Keras 3's `fit` needs on several workers.

Explaining never runs inside a collective: each worker explains its own shard
on its own devices, so a worker never waits for another.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import tensorflow as tf

_MWMS = tf.distribute.MultiWorkerMirroredStrategy
_OFF = tf.data.experimental.AutoShardPolicy.OFF
# One local strategy per multi-worker strategy: the engine's replicated
# graphs are traced per strategy, so a fresh one per call would retrace.
_LOCAL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def position(cluster: dict, task_type: str | None, task_id: int | None) -> tuple[int, int]:
    """`(index, count)` of a task among the workers of a `TF_CONFIG` cluster.

    The workers are the `chief` task (if any) then the `worker` tasks: the
    chief is index 0, `worker` i is index i + (1 if there is a chief else 0).
    A cluster with no such task (or no cluster), or a task of another type
    (an `evaluator`, which TensorFlow runs outside the collective cluster),
    is one worker, index 0.

    Args:
        cluster: `{"chief": [...], "worker": [...], ...}`, as in `TF_CONFIG`.
        task_type, task_id: this task (`TF_CONFIG["task"]`).
    """
    chiefs = len(cluster.get("chief", ()))
    count = chiefs + len(cluster.get("worker", ()))
    if task_type not in ("chief", "worker"):
        return 0, 1
    if count <= 1 or task_type == "chief":
        return 0, max(count, 1)
    return chiefs + int(task_id or 0), count


def num_workers(strategy: Any) -> int:
    """How many workers (chief included) run `strategy`; 1 for any other strategy."""
    return _position(strategy)[1]


def worker_index(strategy: Any) -> int:
    """This worker's index in `[0, num_workers)` (see `position`)."""
    return _position(strategy)[0]


def is_chief(strategy: Any) -> bool:
    """Whether this process writes for the cluster: the chief, else worker 0."""
    return worker_index(strategy) == 0


def is_multi_worker(strategy: Any) -> bool:
    """A `MultiWorkerMirroredStrategy` with replicas on more than this worker."""
    return num_workers(strategy) > 1


def worker_path(path: str | os.PathLike, strategy: Any) -> str:
    """This worker's `out=` file: `attr.npy` -> `attr.worker-1-of-2.npy`.

    The index is `worker_index` (0-based, the chief first) and the count
    `num_workers`; on one worker the path is returned as given.
    """
    path = os.fsdecode(os.fspath(path))
    if not is_multi_worker(strategy):
        return path
    root, ext = os.path.splitext(path)
    return f"{root}.worker-{worker_index(strategy)}-of-{num_workers(strategy)}{ext}"


def shard(dataset: tf.data.Dataset, strategy: Any) -> tf.data.Dataset:
    """This worker's batches of a batched `dataset`.

    With a known number of batches B, worker w takes the contiguous batches
    `[B * w // W, B * (w + 1) // W)` of W workers, so the workers' results
    concatenated in worker order are the dataset's, in order. With an unknown
    number, `dataset.shard(W, w)`: batches w, w + W, w + 2W, ... A dataset
    whose `options().experimental_distribute.auto_shard_policy` is `OFF` is
    taken as already sharded by the user and explained whole on every worker.

    Raises:
        ValueError: naming `x`: fewer batches than workers.
    """
    workers, index = num_workers(strategy), worker_index(strategy)
    if workers == 1 or dataset.options().experimental_distribute.auto_shard_policy == _OFF:
        return dataset
    batches = int(dataset.cardinality())
    if batches < 0:  # unknown (a filter, say): round robin over batches
        return dataset.shard(workers, index)
    if batches < workers:
        raise ValueError(
            f"x: the dataset has {batches} batches for {workers} workers; each worker "
            "explains whole batches, so batch it smaller (e.g. dataset.unbatch().batch(n))"
        )
    start, stop = batches * index // workers, batches * (index + 1) // workers
    return dataset.skip(start).take(stop - start)


def local_strategy(strategy: Any) -> tf.distribute.Strategy | None:
    """A strategy over this worker's devices only, for its shard; None for one device."""
    devices = list(strategy.extended.worker_devices)
    if len(devices) == 1:
        return None
    if strategy not in _LOCAL:
        _LOCAL[strategy] = tf.distribute.MirroredStrategy(devices)
    return _LOCAL[strategy]


def for_this_worker(
    x: Any, strategy: Any, out: str | os.PathLike | None
) -> tuple[Any, tf.distribute.Strategy | None, str | None]:
    """`(this worker's shard of x, its local strategy, its out= file)`.

    Under a `MultiWorkerMirroredStrategy` on several workers each worker
    explains its shard of the dataset (`shard`) on its own devices, never
    inside a collective, and writes its own `worker_path`.

    Raises:
        ValueError: naming `strategy`, for arrays (a dataset is needed).
    """
    if not isinstance(x, tf.data.Dataset):
        raise ValueError(
            f"strategy: a MultiWorkerMirroredStrategy on {num_workers(strategy)} "
            "workers explains a tf.data.Dataset, each worker its shard; arrays would be "
            "explained whole on every worker. Pass tf.data.Dataset.from_tensor_slices(x)"
            ".batch(n) (with out= for one file per worker), or slice x per worker and "
            "pass strategy=None"
        )
    path = None if out is None else worker_path(out, strategy)
    return shard(x, strategy), local_strategy(strategy), path


def _position(strategy: Any) -> tuple[int, int]:
    if not isinstance(strategy, _MWMS):
        return 0, 1
    resolver = strategy.cluster_resolver  # reads TF_CONFIG by default
    return position(resolver.cluster_spec().as_dict(), resolver.task_type, resolver.task_id)


class MultiWorkerStrategy(_MWMS):
    """`tf.distribute.MultiWorkerMirroredStrategy` that Keras 3 can `fit` with.

    On several workers, Keras 3's `fit` (3.15 with TensorFlow 2.21) calls
    `strategy.reduce` on the first batch's `(x, y)` pair, and on each step's
    scalar losses and metrics with `axis=0`; the collective strategy takes one
    tensor per call and no axis on a scalar, so `fit` fails before training
    (TensorFlow issue 72388, Keras issue 20585). This strategy reduces one
    tensor at a time, and a scalar across replicas (its `axis` is moot). It
    is otherwise `MultiWorkerMirroredStrategy`: same arguments, `TF_CONFIG`,
    collectives and results (every reduced value equals what one tensor at a
    time gives).

    Example:
        >>> strategy = keras_ig.MultiWorkerStrategy()  # reads TF_CONFIG
        >>> with strategy.scope():
        ...     model = build_and_compile()
        >>> model.fit(dataset, epochs=3, callbacks=[IGCallback(probes, "logs")])
    """

    def reduce(self, reduce_op: Any, value: Any, axis: int | None) -> Any:
        """`MultiWorkerMirroredStrategy.reduce` of each tensor of the nest `value`."""

        def one(v: Any) -> Any:
            rank = getattr(getattr(v, "shape", None), "rank", None)
            return super(MultiWorkerStrategy, self).reduce(
                reduce_op, v, axis=None if rank == 0 else axis
            )

        return tf.nest.map_structure(one, value)
