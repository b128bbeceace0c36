"""Running the engine on this process's devices, one or several replicas.

With a `tf.distribute.Strategy` the inputs are split into contiguous
slices, one per local replica, and the results gathered back in input
order; without one the compiled graph runs as it is.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig._engine import workers
from keras_ig._engine.integral import Engine
from keras_ig._engine.job import Job, chunk_rows


def run(
    engine: Engine,
    job: Job,
    alphas: np.ndarray,
    weights: np.ndarray,
    batch_size: int | None,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, Any]:
    """Run the engine on `job`; numpy results per (input, baseline) row.

    Args:
        engine: the compiled path integral.
        job: the validated batch.
        alphas, weights: `[S]` quadrature nodes and weights.
        batch_size: most rows per model call; None for the default chunk.
        strategy: None, or a strategy whose local replicas share the inputs.

    Returns:
        `attributions`: list of `float32[N * K, ...]`; `scores[N]`,
        `baseline_scores[N * K]`, `targets[N]`; with the engine's "gradient"
        finish also `totals[N * K]`.
    """
    batch_size = chunk_rows(job.plan.z_shapes, batch_size, job.n * job.k * len(alphas))
    alphas, weights = alphas.astype(np.float32), weights.astype(np.float32)
    consts: tuple = (alphas, weights, np.int32(batch_size))
    if strategy is None:  # replicas make their own tensors, on their devices
        consts = constants(alphas.tobytes(), weights.tobytes(), batch_size)
    return run_graph(
        engine.compiled(job.plan, batch_size),
        lambda: engine.replicated(job.plan, batch_size),
        job,
        lambda part: part.args(*consts),
        job.k,
        strategy,
    )


@functools.lru_cache(maxsize=64)
def constants(alphas: bytes, weights: bytes, batch_size: int) -> tuple[tf.Tensor, ...]:
    """The engine's per-rule arguments as tensors, converted once per rule.

    Args:
        alphas, weights: the bytes of the `float32[S]` nodes and weights.
        batch_size: rows per model call.

    Returns:
        `(alphas float32[S], weights float32[S], batch_size int32[])`.
    """
    return (
        tf.constant(np.frombuffer(alphas, np.float32)),
        tf.constant(np.frombuffer(weights, np.float32)),
        tf.constant(batch_size, tf.int32),
    )


# Results with one row per input; every other result has `k` rows per input.
PER_INPUT = ("scores", "targets")


def run_graph(
    fn: Callable,
    replicated: Callable[[], Callable],
    job: Job,
    args_of: Callable[[Job], tuple],
    k: int,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, Any]:
    """Run a compiled graph on `job`, split over `strategy`'s local replicas.

    Args:
        fn: the compiled graph, returning a dict of tensors (`attributions`
            a list of them) with one row per input (`PER_INPUT`) or `k`.
        replicated: builds the graph for `strategy.run` (see `Engine.replicated`).
        job: the validated batch; `args_of(job)` the graph's arguments.
        k: rows per input of the per-row results.
        strategy: None, or a strategy whose local replicas share the inputs.

    Returns:
        The graph's results as numpy, in input order.
    """
    if strategy is None:
        return to_numpy(call(fn, args_of(job)))
    replicas = strategy.num_replicas_in_sync
    # Contiguous slices of the inputs, one per replica, gathered in order.
    bounds = np.linspace(0, job.n, replicas + 1).astype(int)
    sizes = np.diff(bounds)
    # A replica with no inputs gets a copy of input 0, dropped afterwards.
    parts = [
        job.subset(np.arange(a, a + size) if size else np.arange(1))
        for a, size in zip(bounds[:-1], sizes, strict=True)
    ]
    per_replica = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.nest.map_structure(
            tf.convert_to_tensor, args_of(parts[ctx.replica_id_in_sync_group])
        )
    )
    out = strategy.run(replicated(), args=tuple(per_replica))
    local = [to_numpy(r) for r in local_results(strategy, out)]

    def gather(blocks: list[np.ndarray], rows_per_input: int) -> np.ndarray:
        return np.concatenate(
            [b[: size * rows_per_input] for b, size in zip(blocks, sizes, strict=True)]
        )

    gathered: dict[str, Any] = {}
    for key in local[0]:
        if key == "attributions":
            gathered[key] = [
                gather([r[key][j] for r in local], k) for j in range(len(local[0][key]))
            ]
        else:
            gathered[key] = gather([r[key] for r in local], 1 if key in PER_INPUT else k)
    return gathered


# Per compiled graph, its concrete function and input signature. Weak keys:
# an entry lives as long as the engine holding the `tf.function` does.
_CONCRETE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def call(fn: Callable, args: Sequence[Any]) -> Any:
    """`fn(*args)` for a compiled graph, through its concrete function.

    A `tf.function` with an input signature has exactly one concrete
    function; calling it directly, with the arguments already tensors of
    the signature's dtypes, skips the polymorphic call's binding of the
    arguments to the signature and its cache lookup (most of the host's
    dispatch cost of one engine call). The concrete function is looked up
    once per graph, so the graph is traced when it first runs, as with
    `fn(*args)`. A function without an input signature, or arguments not
    nested like the signature, go through `fn(*args)` as they are (and
    fail there, with TensorFlow's message, if they do not fit).

    Args:
        fn: a `tf.function`, usually with an `input_signature`.
        args: its arguments (numpy arrays, tensors, lists or dicts of
            them), in order.
    """
    entry = _CONCRETE.get(fn)
    if entry is None:
        signature = getattr(fn, "input_signature", None)
        if signature is None:
            return fn(*args)
        entry = (fn.get_concrete_function(), tuple(signature))
        _CONCRETE[fn] = entry
    concrete, signature = entry
    try:
        tensors = as_tensors(args, signature)
    except _NotNested:
        return fn(*args)
    return concrete(*tensors)


class _NotNested(Exception):
    """Arguments not nested like the signature (`as_tensors`)."""


def as_tensors(values: Any, specs: Any) -> Any:
    """`values` as tensors of the dtypes of `specs` (`TensorSpec`s in lists/dicts).

    What a polymorphic call converts its arguments to, without `tf.nest`'s
    per-leaf work (the engines' signatures nest only lists and dicts).

    Raises:
        _NotNested: `values` is not nested like `specs`.
    """
    if isinstance(specs, tf.TensorSpec):
        if isinstance(values, tf.Tensor):
            return values
        if isinstance(values, (list, tuple, dict)):
            raise _NotNested
        return tf.constant(values, specs.dtype)
    if isinstance(specs, (list, tuple)):
        if not isinstance(values, (list, tuple)) or len(values) != len(specs):
            raise _NotNested
        return [as_tensors(v, s) for v, s in zip(values, specs, strict=True)]
    if isinstance(specs, dict):
        if not isinstance(values, dict) or values.keys() != specs.keys():
            raise _NotNested
        return {key: as_tensors(values[key], s) for key, s in specs.items()}
    raise _NotNested


def for_strategy_run(inner: Callable) -> Callable:
    """The graph for `strategy.run` around a compiled graph `inner`.

    `strategy.run` re-traces a `tf.function` it is given with per-replica
    values, which a fixed input signature refuses; this wrapper has none
    (and relaxes shapes instead), and calls `inner` inside.
    """
    return tf.function(lambda *args: inner(*args), reduce_retracing=True, autograph=False)


def to_numpy(out: dict) -> dict:
    """The engine's tensors as numpy arrays (`attributions` a list, the rest arrays)."""
    return {
        key: [a.numpy() for a in value] if key == "attributions" else value.numpy()
        for key, value in out.items()
    }


def local_results(strategy: tf.distribute.Strategy, out: dict) -> list[dict]:
    """Per-replica results, in replica order (which is input order)."""
    per_leaf = [strategy.experimental_local_results(v) for v in tf.nest.flatten(out)]
    return [
        tf.nest.pack_sequence_as(out, [values[i] for values in per_leaf])
        for i in range(strategy.num_replicas_in_sync)
    ]


def check_strategy(strategy: Any) -> None:
    """None, a strategy whose replicas are all in this process, or a multi-worker one.

    A `MultiWorkerMirroredStrategy` on several workers is accepted: each
    worker explains its shard of a dataset on its own devices (see
    `keras_ig._engine.workers`). Any other strategy with replicas outside
    this process (e.g. `ParameterServerStrategy`) is refused.

    Raises:
        TypeError, ValueError: naming `strategy`.
    """
    if strategy is None:
        return
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"strategy must be a tf.distribute.Strategy, got {type(strategy).__name__}")
    if workers.is_multi_worker(strategy):
        return
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        # Its functions run on remote workers, scheduled by a ClusterCoordinator.
        raise ValueError(
            "strategy: ParameterServerStrategy runs functions on remote workers through a "
            "ClusterCoordinator; explain needs replicas in this process. Explain with "
            "strategy=None or a MirroredStrategy (e.g. on the chief, after training)"
        )
    try:
        local = len(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy (no scope): one replica, here
        local = 1
    if strategy.num_replicas_in_sync != local:
        # Results are gathered from this process's replicas only.
        raise ValueError(
            f"strategy: {type(strategy).__name__} has {strategy.num_replicas_in_sync} "
            f"replicas but {local} in this process; explain splits batches over local "
            "replicas, or, with a MultiWorkerMirroredStrategy, gives each worker its shard "
            "of a dataset. Use one of those, or run explain per worker on that worker's "
            "shard with a local MirroredStrategy"
        )
