"""`explain()`: validate on the host, run the compiled engine, build the result."""

from __future__ import annotations

import numbers
import os
import types
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ig import baselines as _baselines
from keras_ig import completeness
from keras_ig._api.explanation import Explanation, warn_if_incomplete
from keras_ig._api.stream import NpyWriter, check_out, explain_dataset
from keras_ig._engine.integral import Engine, Plan
from keras_ig._engine.job import Job
from keras_ig._engine.refine import refine
from keras_ig._engine.score import ScoreFunction, embedding_vocabularies
from keras_ig._numpy import checks
from keras_ig._numpy.quadrature import method_name, quadrature

# Rows of input (or layer activation) elements in one chunk when batch_size
# is None: about 16 MiB of float32 path points, enough to keep a CPU busy.
DEFAULT_CHUNK_ELEMENTS = 1 << 22


DEFAULT_STEPS = 64
# With tolerance=, steps is where refinement starts: small, doubled per input.
DEFAULT_TOLERANCE_STEPS = 8

# The engine counts rows in int32; chunks stay well below its limit.
MAX_CHUNK_ROWS = 1 << 30


def default_chunk_rows(z_shapes: Sequence[tuple]) -> int:
    """Rows per chunk when batch_size is None: about DEFAULT_CHUNK_ELEMENTS."""
    per_row = max(1, sum(int(np.prod(s)) for s in z_shapes))
    return max(1, DEFAULT_CHUNK_ELEMENTS // per_row)


def _names(structure: Any) -> tuple[str, ...]:
    if structure is None:
        return ("x",)
    paths = []

    def walk(node, prefix):
        if isinstance(node, dict):
            for key in sorted(node):
                walk(node[key], f"{prefix}[{key!r}]")
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f"{prefix}[{i}]")
        else:
            paths.append(prefix)

    walk(structure, "x")
    return tuple(paths)


def _model_inputs(model: Any) -> list | None:
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return list(inputs) if inputs else None


def _input_keys(model: Any) -> list | None:
    """The sorted input names of a functional model built on a dict, else None."""
    try:
        structure = model.input
    except (AttributeError, ValueError, TypeError):
        return None
    return sorted(structure) if isinstance(structure, dict) else None


def split_inputs(model: Any, x: Any) -> tuple[Any, list[Any]]:
    """`(structure, flat leaves)`; structure None for a single input."""
    n_inputs = len(_model_inputs(model) or [None])
    keys = _input_keys(model)
    if keys is not None and isinstance(x, (list, tuple)):
        # Keras would match a list to named inputs by position, or fail deep inside.
        raise ValueError(
            f"x: the model takes a dict of inputs with keys {keys}; pass x as a dict "
            f"{{{', '.join(f'{k!r}: ...' for k in keys)}}}, not a {type(x).__name__}"
        )
    if isinstance(x, dict) or (isinstance(x, (list, tuple)) and n_inputs > 1):
        if not x:
            raise ValueError("x must not be empty")
        flat = tf.nest.flatten(x)
        if n_inputs > 1 and len(flat) != n_inputs:
            raise ValueError(f"x has {len(flat)} arrays; the model takes {n_inputs} inputs")
        return tf.nest.map_structure(lambda _: 0, x), flat
    return None, [x]


def _as_array(leaf: Any, name: str) -> np.ndarray:
    if isinstance(leaf, tf.Tensor):
        return leaf.numpy()
    if isinstance(leaf, np.ndarray):
        return leaf
    try:
        arr = np.asarray(leaf)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} could not be read as an array: {err}") from None
    if arr.dtype == object:
        raise TypeError(f"{name} could not be read as a numeric array (ragged or mixed types?)")
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python floats: use Keras's float32
    return arr


def _check_leaves(leaves: list[np.ndarray], names: Sequence[str], model: Any) -> int:
    for arr, name in zip(leaves, names, strict=True):
        if arr.ndim < 1:
            raise ValueError(
                f"{name} must be batch-first with at least one dimension, got a scalar"
            )
        if arr.shape[0] < 1:
            raise ValueError(f"{name} is empty (batch of 0)")
    n = leaves[0].shape[0]
    for arr, name in zip(leaves, names, strict=True):
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} rows; {names[0]} has {n}")
    specs = _model_inputs(model)
    if specs and len(specs) == len(leaves) and len(leaves) == 1:
        _check_shape(leaves[0].shape, tuple(specs[0].shape), names[0])
    return n


def _check_shape(got: tuple, expected: tuple, name: str) -> None:
    """`got` fits the model's `expected` input shape (batch axis first)."""

    def fits(shape: tuple, spec: tuple) -> bool:
        return len(shape) == len(spec) and all(
            e is None or e == g for e, g in zip(spec, shape, strict=True)
        )

    if fits(got[1:], expected[1:]):
        return
    hint = ""
    if fits(got, expected[1:]):  # one input row without its batch axis
        hint = f": it looks like one input without its batch axis; pass {name}[None]"
    raise ValueError(f"{name} has shape {got}; the model expects {expected}{hint}")


def is_floating(dtype: np.dtype) -> bool:
    """Any float dtype, bfloat16 (an ml_dtypes type numpy does not class as floating) included."""
    try:
        return tf.as_dtype(dtype).is_floating
    except TypeError:
        return False


def resolve_targets(target: Any, n: int) -> np.ndarray:
    """Index targets `int32[N]`: -1 for the predicted class (and for a callable).

    Raises:
        TypeError, ValueError: a target of the wrong kind, length or sign.
    """
    if target is None or callable(target):
        return np.full(n, -1, np.int32)
    if isinstance(target, bool):
        raise TypeError("target must be None, an int, a sequence of ints or a callable; got a bool")
    if isinstance(target, numbers.Integral):
        if target < 0:
            raise ValueError(f"target must be >= 0, got {target}")
        return np.full(n, int(target), np.int32)
    if isinstance(target, tf.Tensor):
        target = target.numpy()
    try:
        arr = np.asarray(target)
    except (TypeError, ValueError):
        arr = np.asarray([], dtype=object)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(
            "target must be None, an int, a 1-D sequence of ints (one per input) or a "
            f"callable; got {type(target).__name__}"
            + (f" of dtype {arr.dtype} and shape {arr.shape}" if arr.dtype != object else "")
        )
    if arr.shape[0] != n:
        raise ValueError(f"target has {arr.shape[0]} entries for {n} inputs")
    if np.any(arr < 0):
        raise ValueError(f"target must be >= 0, got {int(arr.min())}")
    return arr.astype(np.int32)


def check_target_range(targets: np.ndarray, units: int | None) -> None:
    """Index targets (`-1`: predicted) are below the model's `units`.

    Raises:
        ValueError: naming `target`, for a unit the model does not have.
    """
    if units is not None and np.any(targets >= units):
        raise ValueError(
            f"target {int(targets.max())} is out of range for a model with {units} output "
            f"unit{'s' if units != 1 else ''} (valid: 0 .. {units - 1})"
        )


class Explainer:
    """Host side of `explain`: one `ScoreFunction`, one `Engine`, many calls."""

    def __init__(
        self,
        model: Any,
        *,
        target_fn: Callable | None = None,
        layer: Any = None,
        output: Any = None,
        jit_compile: bool = False,
        weak: bool = False,
    ) -> None:
        self.score_fn = ScoreFunction(
            model, target_fn=target_fn, layer=layer, output=output, weak=weak
        )
        self.engine = Engine(self.score_fn, jit_compile=jit_compile)
        self._probes: dict[tuple, dict] = {}

    @property
    def model(self) -> Any:
        return self.score_fn.model

    def _probe(self, structure: Any, leaves: list[np.ndarray], names: tuple[str, ...]) -> dict:
        """Run the model eagerly on one row: output shape and layer output."""
        key = (repr(structure), tuple((a.shape[1:], a.dtype.str) for a in leaves))
        if key in self._probes:
            return self._probes[key]
        first = [a[:1] for a in leaves]
        batch = first[0] if structure is None else tf.nest.pack_sequence_as(structure, first)
        try:
            outputs, calls = self.score_fn.outputs(batch)
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as err:
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"x does not fit the model: {msg}") from None
        info: dict = {"outputs": outputs}
        if self.score_fn.layer is not None:
            if len(calls) != 1:
                raise ValueError(
                    f"layer: {self.score_fn.layer.name!r} ran {len(calls)} times in one "
                    "forward pass; attribution needs a layer that runs exactly once"
                )
            act = calls[0]
            if not isinstance(act, tf.Tensor):
                raise ValueError(f"layer: {self.score_fn.layer.name!r} must return one tensor")
            if not act.dtype.is_floating:
                raise TypeError(
                    f"layer: {self.score_fn.layer.name!r} outputs {act.dtype.name}, not floats"
                )
            info["act_shape"] = tuple(act.shape[1:])
            info["act_dtype"] = act.dtype
        self._probes[key] = info
        return info

    def _check_token_ids(self, leaves: list[np.ndarray], names: tuple[str, ...]) -> None:
        """Every row's ids inside the vocabulary of the Embedding they feed."""
        sizes = embedding_vocabularies(self.model, self.score_fn.layer, len(leaves))
        for arr, name, size in zip(leaves, names, sizes, strict=True):
            if size is not None and np.issubdtype(arr.dtype, np.integer):
                checks.token_ids(arr, size, name)

    def _output_units(self, outputs: Any) -> int | None:
        """Units of a rank-2 single output, None if F is not index-based."""
        if isinstance(outputs, (list, tuple, dict)):
            return None
        shape = outputs.shape
        if len(shape) == 2:
            return int(shape[1])
        if len(shape) == 1:  # one score per row: a single unit, target 0
            return 1
        return None

    def prepare(
        self,
        x: Any,
        *,
        target: Any = None,
        baseline: Any = "zeros",
        n_baselines: int = 8,
        seed: int | None = None,
    ) -> Job:
        """Validate `x`, `target`, `baseline` and resolve them into a `Job`.

        Everything a user can get wrong is checked here, before any graph is
        built or run (the one eager forward pass is on a single row).
        """
        structure, raw = split_inputs(self.model, x)
        names = _names(structure)
        leaves = [_as_array(leaf, name) for leaf, name in zip(raw, names, strict=True)]
        n = _check_leaves(leaves, names, self.model)
        if callable(target) and self.score_fn.target_fn is None:
            raise TypeError("target: a callable target must be given when the explainer is built")
        index_targets = resolve_targets(None if self.score_fn.target_fn else target, n)
        layer_mode = self.score_fn.layer is not None

        # Which inputs are interpolated, and their baselines.
        specs = self._baseline_specs(baseline, structure, names, len(leaves))
        interpolated = []
        for i, (arr, name, spec) in enumerate(zip(leaves, names, specs, strict=True)):
            floating = is_floating(arr.dtype)
            if floating and not np.all(np.isfinite(arr)):
                raise ValueError(f"{name} contains NaN or inf")
            if layer_mode or spec is None:
                continue
            if not floating:
                raise TypeError(
                    f"{name} has dtype {arr.dtype}: integer inputs (token ids) have no "
                    "gradient; pass layer=<the Embedding layer> to attribute at its output"
                    + (", or baseline None for this input to hold it fixed" if structure else "")
                )
            interpolated.append(i)
        if not layer_mode and not interpolated:
            raise ValueError("baseline: every input is held fixed (None); nothing to attribute")

        self._check_token_ids(leaves, names)
        info = self._probe(structure, leaves, names)
        units = self._output_units(info["outputs"])
        if self.score_fn.target_fn is None:
            if units is None and (
                isinstance(info["outputs"], (list, tuple, dict)) or len(info["outputs"].shape) > 2
            ):
                raise ValueError(
                    "target: the model's output is not one [N, classes] tensor "
                    f"(got {_describe(info['outputs'])}); pass a callable target "
                    "`f(outputs) -> [N]` saying which score to explain"
                )
            check_target_range(index_targets, units)

        # Resolve baselines into rows and per-(input, k) indices.
        if layer_mode:
            act_shape, act_dtype = info["act_shape"], info["act_dtype"]
            spec = "zeros" if isinstance(baseline, str) and baseline == "black" else baseline
            if isinstance(spec, str) and spec in _baselines.GENERATED:
                raise ValueError(
                    f"baseline {spec!r} is generated from the inputs and cannot be used "
                    "with layer=; give zeros, a number or an array shaped like the layer output"
                )
            # Interpolate in float32 even under a float16/bfloat16 policy.
            z_dtype = tf.float32 if act_dtype.size < 4 else act_dtype
            fake = np.broadcast_to(np.zeros((), z_dtype.as_numpy_dtype), (n, *act_shape))
            resolved = [_baselines.resolve(spec, fake, name="baseline")]
            z_shapes, z_dtypes = (act_shape,), (z_dtype,)
        else:
            resolved = [
                _baselines.resolve(
                    specs[i],
                    leaves[i],
                    name=_bname(names[i]),
                    n_baselines=n_baselines,
                    seed=seed,
                )
                for i in interpolated
            ]
            z_shapes = tuple(leaves[i].shape[1:] for i in interpolated)
            z_dtypes = tuple(tf.as_dtype(leaves[i].dtype) for i in interpolated)
        k = _baselines.common_k(rb.k for rb in resolved)
        plan = Plan(
            structure=structure,
            names=names,
            interpolated=tuple(interpolated),
            row_shapes=tuple(a.shape[1:] for a in leaves),
            dtypes=tuple(tf.as_dtype(a.dtype) for a in leaves),
            z_shapes=z_shapes,
            z_dtypes=z_dtypes,
        )
        return Job(
            plan=plan,
            inputs=x,
            leaves=leaves,
            base_values=[rb.values for rb in resolved],
            base_index=[np.broadcast_to(rb.index, (n, k)).astype(np.int32) for rb in resolved],
            targets=index_targets,
        )

    def integrate(
        self,
        job: Job,
        alphas: np.ndarray,
        weights: np.ndarray,
        batch_size: int | None,
        strategy: tf.distribute.Strategy | None = None,
    ) -> dict[str, Any]:
        """Run the engine on `job`; numpy results per (input, baseline) row.

        Returns:
            `attributions`: list of `float32[N * K, ...]`; `scores[N]`,
            `baseline_scores[N * K]`, `targets[N]`.
        """
        batch_size = _chunk_rows(job, len(alphas), batch_size)
        fn = self.engine.compiled(job.plan, batch_size)
        consts = (alphas.astype(np.float32), weights.astype(np.float32), np.int32(batch_size))
        if strategy is None:
            return _numpy(fn(*job.args(*consts)))
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
                tf.convert_to_tensor, parts[ctx.replica_id_in_sync_group].args(*consts)
            )
        )
        out = strategy.run(self.engine.replicated(job.plan, batch_size), args=tuple(per_replica))
        local = [_numpy(r) for r in _local_results(strategy, out)]
        k = job.k

        def gather(key: str, rows_per_input: int, j: int | None = None) -> np.ndarray:
            blocks = [r[key] if j is None else r[key][j] for r in local]
            return np.concatenate(
                [b[: size * rows_per_input] for b, size in zip(blocks, sizes, strict=True)]
            )

        return {
            "attributions": [gather("attributions", k, j) for j in range(len(job.base_values))],
            "scores": gather("scores", 1),
            "baseline_scores": gather("baseline_scores", k),
            "targets": gather("targets", 1),
        }

    def runner(
        self, job: Job, steps: int, method: str, batch_size: int | None = None
    ) -> Callable[[], Explanation]:
        """A reusable engine call on a fixed `job`, e.g. a callback's probes.

        The arguments become tensors and the concrete graph is looked up once;
        each call then only runs the graph and builds the `Explanation`, with
        whatever weights the model has at that moment. For repeated calls on
        the same inputs this saves the host work of `explain` (validation,
        baselines, argument conversion, function dispatch: about 2 ms a call).

        Args:
            job: from `prepare`.
            steps: quadrature points.
            method: quadrature rule.
            batch_size: most rows per model call; None for the default.

        Returns:
            A function of no arguments returning an `Explanation` of `job`.
        """
        alphas, weights = quadrature(method, steps)
        batch_size = _chunk_rows(job, len(alphas), batch_size)
        consts = (alphas.astype(np.float32), weights.astype(np.float32), np.int32(batch_size))
        args = tf.nest.map_structure(tf.convert_to_tensor, job.args(*consts))
        graph = self.engine.compiled(job.plan, batch_size).get_concrete_function(*args)

        def run() -> Explanation:
            return self._build(job, _numpy(graph(*args)), steps, method)

        return run

    def explain(
        self,
        x: Any,
        *,
        target: Any = None,
        baseline: Any = "zeros",
        steps: int | None = None,
        method: str = "gausslegendre",
        batch_size: int | None = None,
        n_baselines: int = 8,
        seed: int | None = None,
        tolerance: float | None = None,
        max_steps: int = 1024,
        strategy: tf.distribute.Strategy | None = None,
        out: str | os.PathLike | None = None,
        verbose: int | str = "auto",
        warn: bool = True,
    ) -> Explanation:
        """See `keras_ig.explain`."""
        # Aliases ("trapezoid") resolved once: results and refinement see the rule's name.
        method = method_name(method)
        steps = default_steps(steps, tolerance)
        alphas, weights = quadrature(method, steps)
        _check_options(batch_size, n_baselines, seed, tolerance, steps, max_steps, strategy)
        if out is not None:
            check_out(out)
        options = {
            "target": target,
            "baseline": baseline,
            "steps": steps,
            "method": method,
            "batch_size": batch_size,
            "n_baselines": n_baselines,
            "seed": seed,
            "max_steps": max_steps,
            "strategy": strategy,
        }
        if isinstance(x, tf.data.Dataset):
            return explain_dataset(
                self, x, out=out, verbose=verbose, warn=warn, tolerance=tolerance, **options
            )
        job = self.prepare(x, target=target, baseline=baseline, n_baselines=n_baselines, seed=seed)
        if out is not None and len(job.base_values) != 1:
            raise ValueError("out= needs a single attributed tensor (one input, or layer=)")
        if tolerance is None:
            result = self.integrate(job, alphas, weights, batch_size, strategy)
            exp = self._build(job, result, steps, method)
        else:
            exp = refine(self, job, method, steps, max_steps, tolerance, batch_size, strategy)
        if out is not None:
            writer = NpyWriter(out)
            writer.write(exp.attributions)
            exp.attributions = writer.close()
        if warn:
            warn_if_incomplete(exp, completeness.TOLERANCE if tolerance is None else tolerance)
        return exp

    @staticmethod
    def _baseline_specs(baseline: Any, structure: Any, names: tuple[str, ...], count: int) -> list:
        """One baseline spec per flat input (None: held fixed).

        For a multi-input model a list follows the inputs entry by entry,
        whatever its entries are (`[0.0, 1.0]` is 0.0 for input 0 and 1.0 for
        input 1, never one shared array); a dict must have x's keys.
        """
        if structure is None:
            if baseline is None:
                raise ValueError("baseline must not be None for a single-input model")
            return [baseline]
        if isinstance(baseline, dict):
            _check_baseline_keys(baseline, structure)
        elif isinstance(baseline, (list, tuple)):
            if isinstance(structure, dict):
                raise ValueError(
                    f"baseline: x is a dict with keys {sorted(structure)}; give the baseline "
                    "as a dict with those keys (None to hold an input fixed) or one "
                    "name/number for all inputs"
                )
            if len(baseline) != len(structure):
                raise ValueError(
                    f"baseline must have the structure of x: it has {len(baseline)} entries "
                    f"and the model takes {len(structure)} inputs (one entry per input, None "
                    "to hold an input fixed)"
                )
        else:
            return [baseline] * count
        try:
            tf.nest.assert_same_structure(structure, baseline, check_types=False)
        except (ValueError, TypeError):
            raise ValueError(
                "baseline must have the structure of x (one entry per input, None to hold "
                "an input fixed) or be one name/number for all inputs"
            ) from None
        return tf.nest.flatten(baseline)

    def _build(self, job: Job, out: dict, steps: int, method: str) -> Explanation:
        """Average over baselines, compute the completeness gap, pack like x.

        Every input is marked as integrated with `steps` points
        (`tolerance=` refinement then sets its own counts).
        """
        n, k, plan = job.n, job.k, job.plan
        scores = out["scores"]
        base = out["baseline_scores"].reshape(n, k).mean(axis=1)
        attrs = [a.reshape((n, k, *a.shape[1:])).mean(axis=1) for a in out["attributions"]]
        delta = completeness.gap(attrs, scores, base)
        attributions = self._like_x(plan, attrs)
        baselines = self._like_x(plan, [_baseline_rows(job, j) for j in range(len(attrs))])
        target = None if self.score_fn.target_fn is not None else out["targets"]
        return Explanation(
            attributions=attributions,
            delta=delta,
            scores=scores,
            baseline_scores=base.astype(np.float32),
            target=target,
            steps=steps,
            method=method,
            inputs=job.inputs,
            baseline=baselines,
            steps_used=np.full(n, steps, np.int64),
        )

    def _like_x(self, plan: Plan, per_z: list) -> Any:
        """Per attributed tensor values, packed like x (None for fixed inputs)."""
        if self.score_fn.layer is not None or plan.structure is None:
            return per_z[0]
        flat: list = [None] * len(plan.names)
        for i, value in zip(plan.interpolated, per_z, strict=True):
            flat[i] = value
        return _pack_with_none(plan.structure, flat)


def _baseline_rows(job: Job, j: int) -> np.ndarray:
    """Attributed tensor j's baselines: `[N, ...]` for one each, `[N, K, ...]` for K."""
    values, index = job.base_values[j], job.base_index[j]  # [B, ...], int32[N, K]
    if job.k > 1:
        return values[index]
    if values.shape[0] == 1:  # shared: a view, not N copies
        view = np.broadcast_to(values[0], (job.n, *values.shape[1:]))
        return view
    return values[index[:, 0]]


def _chunk_rows(job: Job, steps: int, batch_size: int | None) -> int:
    """Rows per model call: `batch_size`, or all pairs up to the default chunk.

    Never more than the job's (input, baseline, step) pairs: a chunk cannot
    use more rows than there are, and the graph's int32 chunk arithmetic
    must not overflow for a `batch_size` near `2**31`.
    """
    pairs = job.n * job.k * steps
    if batch_size is None:
        return min(pairs, default_chunk_rows(job.plan.z_shapes))
    return int(min(batch_size, pairs, MAX_CHUNK_ROWS))


def _numpy(out: dict) -> dict:
    return {
        "attributions": [a.numpy() for a in out["attributions"]],
        "scores": out["scores"].numpy(),
        "baseline_scores": out["baseline_scores"].numpy(),
        "targets": out["targets"].numpy(),
    }


def _local_results(strategy: tf.distribute.Strategy, out: dict) -> list[dict]:
    """Per-replica results, in replica order (which is input order)."""
    per_leaf = [strategy.experimental_local_results(v) for v in tf.nest.flatten(out)]
    return [
        tf.nest.pack_sequence_as(out, [values[i] for values in per_leaf])
        for i in range(strategy.num_replicas_in_sync)
    ]


def default_steps(steps: int | None, tolerance: float | None) -> int:
    """`steps`, or its default: 64, or 8 with `tolerance=` (a start, refined up)."""
    if steps is not None:
        return steps
    return DEFAULT_STEPS if tolerance is None else DEFAULT_TOLERANCE_STEPS


def _check_options(
    batch_size: Any,
    n_baselines: Any,
    seed: Any,
    tolerance: Any,
    steps: int,
    max_steps: Any,
    strategy: Any,
) -> None:
    """The scalar options of `explain`, checked before any input is read."""
    checks.integer(batch_size, "batch_size", 1, optional=True)
    checks.integer(n_baselines, "n_baselines", 1)
    checks.integer(seed, "seed", 0, optional=True)
    _check_tolerance(tolerance, steps, max_steps)
    _check_strategy(strategy)


def _check_strategy(strategy: Any) -> None:
    if strategy is None:
        return
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"strategy must be a tf.distribute.Strategy, got {type(strategy).__name__}")
    local = len(strategy.extended.worker_devices)
    if strategy.num_replicas_in_sync != local:
        # Results are gathered from this process's replicas only.
        raise ValueError(
            f"strategy has {strategy.num_replicas_in_sync} replicas but {local} in this "
            "process: explain splits batches over local replicas; on several workers, "
            "run it per worker on that worker's shard with a local MirroredStrategy"
        )


def _check_tolerance(tolerance: Any, steps: int, max_steps: Any) -> None:
    if tolerance is None:
        return
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise TypeError(f"tolerance must be a positive number, got {type(tolerance).__name__}")
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if checks.integer(max_steps, "max_steps") < steps:
        raise ValueError(f"max_steps ({max_steps}) must be >= steps ({steps})")


def _pack_with_none(structure: Any, flat: list) -> Any:
    it = iter(flat)

    def build(node):
        if isinstance(node, dict):
            return {key: build(node[key]) for key in sorted(node)}
        if isinstance(node, (list, tuple)):
            return type(node)(build(v) for v in node)
        return next(it)

    return build(structure)


def _check_baseline_keys(baseline: dict, structure: Any) -> None:
    """A dict baseline has exactly x's keys; name the first one that differs."""
    if not isinstance(structure, dict):
        raise ValueError("baseline is a dict but x is not; give one entry per input, in order")
    missing = sorted(set(structure) - set(baseline), key=repr)
    if missing:
        raise ValueError(
            f"baseline has no entry for input {missing[0]!r} (x has keys {sorted(structure)}); "
            "give None to hold an input fixed"
        )
    extra = sorted(set(baseline) - set(structure), key=repr)
    if extra:
        raise ValueError(f"baseline has key {extra[0]!r}, which x does not have")


def _bname(name: str) -> str:
    return "baseline" + name[1:]


def _describe(outputs: Any) -> str:
    if isinstance(outputs, (list, tuple)):
        return f"{len(outputs)} outputs"
    if isinstance(outputs, dict):
        return f"outputs {sorted(outputs)}"
    return f"shape {tuple(outputs.shape)}"


# A per-model cache, so repeated explain() calls reuse the compiled graph.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_SIZE = 8


# Values a target function may read (closure, defaults, globals) that cannot
# change behind a cache key: an equal value means equal behaviour.
_FROZEN = (
    int,
    float,
    complex,
    str,
    bytes,
    bool,
    type(None),
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    type,
)


def _frozen(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_frozen(v) for v in value)
    return isinstance(value, _FROZEN)


def _target_key(fn: Any) -> Any:
    """Cache key of a target: equal for two spellings of the same function.

    An inline `target=lambda y: y[:, 3]` is a new object on every call; keyed
    by identity it would build (and trace) a new graph each time. A plain
    function is keyed by its code and by the values it reads (closure cells,
    defaults, the globals it names) when all of those are immutable; anything
    else keeps the identity key, so a changed value can never reuse a graph.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    code = fn.__code__
    try:
        cells = tuple(c.cell_contents for c in fn.__closure__ or ())
    except ValueError:  # an empty cell
        return fn
    names = tuple((n, fn.__globals__[n]) for n in _global_names(code) if n in fn.__globals__)
    read = (cells, fn.__defaults__ or (), tuple(v for _, v in names))
    if not _frozen(read) or fn.__kwdefaults__:
        return fn
    return ("code", code, id(fn.__globals__), cells, fn.__defaults__, names)


def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """Names a code object (and the code nested in it) may look up globally."""
    nested = (c for c in code.co_consts if isinstance(c, types.CodeType))
    return code.co_names + tuple(n for c in nested for n in _global_names(c))


def explainer_for(
    model: Any, *, target: Any, layer: Any, output: Any, jit_compile: bool = False
) -> Explainer:
    """The cached `Explainer` for these settings (built on first use)."""
    target_fn = target if callable(target) else None
    key = (
        id(layer) if isinstance(layer, keras.layers.Layer) else layer,
        id(output) if isinstance(output, keras.layers.Layer) else output,
        _target_key(target_fn),
        jit_compile,
    )
    settings = {
        "target_fn": target_fn,
        "layer": layer,
        "output": output,
        "jit_compile": jit_compile,
    }
    try:
        per_model = _CACHE.setdefault(model, OrderedDict())
    except TypeError:  # not weak-referenceable: no cache
        return Explainer(model, **settings)
    if key in per_model:
        per_model.move_to_end(key)
        return per_model[key]
    # Held weakly: the cache must not keep a model alive that the user dropped.
    explainer = Explainer(model, weak=True, **settings)
    per_model[key] = explainer
    while len(per_model) > _CACHE_SIZE:
        per_model.popitem(last=False)
    return explainer


def explain(
    model: Any,
    x: Any,
    *,
    target: Any = None,
    baseline: Any = "zeros",
    steps: int | None = None,
    method: str = "gausslegendre",
    batch_size: int | None = None,
    layer: Any = None,
    output: Any = None,
    n_baselines: int = 8,
    seed: int | None = None,
    tolerance: float | None = None,
    max_steps: int = 1024,
    strategy: tf.distribute.Strategy | None = None,
    jit_compile: bool = False,
    out: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    warn: bool = True,
) -> Explanation:
    """Integrated Gradients attributions of F(x) for a batch of inputs.

    `IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x')) / dx_i da`,
    approximated with `steps` quadrature points of `method`.

    Args:
        model: a Keras 3 model (Sequential, functional, subclassed), or any
            callable mapping a batch of tensors to outputs.
        x: `[N, ...]` array-like or `tf.Tensor`; a list or dict of them for a
            multi-input model (the structure of `model.inputs`); or a batched
            `tf.data.Dataset` yielding `x`, `(x, y)` or `(x, y, w)`.
        target: what F is. None: the only output unit, else the class the
            model predicts at x; an int: that unit for every input; `int[N]`:
            one unit per input; a callable `f(outputs) -> [N]`: any
            differentiable score (e.g. `lambda y: y[:, 3] - y[:, 5]`). The
            compiled graph is reused for the same function, and for an inline
            lambda written at one place whose closure and globals hold only
            numbers, strings, modules or functions; otherwise define the
            function once (`score = lambda y: ...`) and pass `score` each time.
        baseline: x'. `"zeros"`/`"black"`, a number, an array shaped like one
            input (shared), like `x` (one per input) or `(K,) + x.shape[1:]`
            (K != N: a stack, attributions averaged), a
            `keras_ig.BaselineStack` (always a stack, also when K == N), or
            `"uniform"`, `"gaussian"`, `"blur"` (generated, see
            `keras_ig.baselines`); not finite in x's dtype is refused. For
            multi-input models, the structure of `x`, with None to hold an
            input fixed; a list always follows the inputs entry by entry
            (`[0.0, 1.0]`: 0.0 for input 0, 1.0 for input 1). With `layer=`:
            applies to the layer's output (zeros by default).
        steps: quadrature points on the path, `>= 1`; default 64. With
            `tolerance` it is the starting point of the refinement (default
            8 there).
        method: `"gausslegendre"` (default; exact for polynomials of degree
            `2 * steps - 1`; above 256 points a composite rule of panels of
            at most 256, see `keras_ig._numpy.quadrature.gausslegendre`),
            `"riemann_left"`, `"riemann_right"`, `"riemann_middle"`,
            `"riemann_trapezoid"`; or their short names `"left"`, `"right"`,
            `"middle"`, `"trapezoid"`.
        batch_size: most rows sent through the model at once (path points,
            F(x) and F(baseline) alike; capped at the rows there are). None:
            about 4M input elements.
        layer: a layer (or its name) of `model`; attribute at its output, e.g.
            an `Embedding` for text.
        output: None for what the model outputs (probabilities for a
            softmax head, which saturate: logits are usually the better F);
            `"logits"` to explain the pre-softmax/sigmoid values of a model
            whose last layer squashes;
            or a layer (or name) whose output is taken as the model output.
        n_baselines: how many random baselines `"uniform"`/`"gaussian"` draw
            (at most 2**28 random values in all).
        seed: seed of the random baselines, a non-negative int or None.
        tolerance: if set, steps are chosen per input: refined (doubling,
            from `steps`) until `|delta| <= tolerance * scale` or
            `max_steps`, where `scale` is `|F(x) - F(baseline)|` but at
            least 1% of `max(|F(x)|, |F(baseline)|)`
            (`keras_ig.completeness`); `Explanation.steps_used` and
            `.converged` report it.
        max_steps: the most steps `tolerance` may use.
        strategy: a `tf.distribute.Strategy`; each batch is split across its
            replicas and gathered back in input order.
        jit_compile: compile the engine with XLA (one graph per batch_size).
        out: a `.npy` path: attributions are written there as they are
            computed and returned memory-mapped (for datasets of any size).
        verbose: progress bar for datasets ("auto", 1 or 0).
        warn: warn (`CompletenessWarning`) when any |delta| exceeds 5%
            (`keras_ig.completeness.TOLERANCE`, or `tolerance`) of that
            scale, or is not finite.

    Returns:
        An `Explanation` with `attributions` shaped like `x`, `delta[N]`,
        `scores[N]`, `baseline_scores[N]`, `target[N]`, `steps`, `method`,
        and `baseline`, the baselines used (`[N, ...]`, or `[N, K, ...]`
        for a stack of K).

    Raises:
        ValueError, TypeError: bad input, named, before any heavy work.

    Example:
        >>> exp = keras_ig.explain(model, images, target=3, steps=32)
        >>> exp.attributions.shape == images.shape
        True
    """
    explainer = explainer_for(
        model, target=target, layer=layer, output=output, jit_compile=jit_compile
    )
    return explainer.explain(
        x,
        target=target,
        baseline=baseline,
        steps=steps,
        method=method,
        batch_size=batch_size,
        n_baselines=n_baselines,
        seed=seed,
        tolerance=tolerance,
        max_steps=max_steps,
        strategy=strategy,
        out=out,
        verbose=verbose,
        warn=warn,
    )
