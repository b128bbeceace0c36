"""`Job`: one batch, validated and resolved, ready for the engine; its builder.

`JobBuilder.build` is the one place where x, target and baseline become a
`Job` (explain, the layer's `.explain()` and the callback all go through
it); `make_plan` the one place a `Plan` is made and `chunk_rows` the one
rule for rows per model call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig import baselines as _baselines
from keras_ig._engine import inputs
from keras_ig._engine.input_baseline import input_space_values, layer_baseline
from keras_ig._engine.plan import Plan
from keras_ig._engine.score import ScoreFunction, embedding_vocabularies
from keras_ig._numpy import checks, nest

# Rows of input (or layer activation) elements in one chunk when batch_size
# is None: about 16 MiB of float32 path points, enough to keep a CPU busy.
DEFAULT_CHUNK_ELEMENTS = 1 << 22

# The engine counts rows in int32; chunks stay well below its limit.
MAX_CHUNK_ROWS = 1 << 30


def default_chunk_rows(z_shapes: Sequence[tuple]) -> int:
    """Rows per chunk when batch_size is None: about DEFAULT_CHUNK_ELEMENTS."""
    per_row = max(1, sum(int(np.prod(s)) for s in z_shapes))
    return max(1, DEFAULT_CHUNK_ELEMENTS // per_row)


def chunk_rows(z_shapes: Sequence[tuple], batch_size: int | None, pairs: int | None = None) -> int:
    """Rows per model call: `batch_size`, or the default chunk.

    Never more than `pairs`, the job's (input, baseline, step) rows when
    known (a chunk cannot use more rows than there are), nor than
    `MAX_CHUNK_ROWS`: the graph's int32 chunk arithmetic must not overflow
    for a `batch_size` near `2**31`.

    Args:
        z_shapes: per attributed tensor, the shape of one row.
        batch_size: the user's `batch_size`, or None.
        pairs: `N * K * steps`, or None inside a graph of unknown `N`.
    """
    rows = min(batch_size or default_chunk_rows(z_shapes), MAX_CHUNK_ROWS)
    return int(rows if pairs is None else min(rows, pairs))


def make_plan(
    structure: Any,
    names: tuple[str, ...],
    interpolated: Sequence[int],
    leaves: Sequence[Any],
    z_shapes: tuple[tuple, ...],
    z_dtypes: tuple[tf.DType, ...],
) -> Plan:
    """The graph signature of a batch.

    Args:
        structure: x's nesting (None for one input); `names` its leaves'.
        interpolated: indices of the inputs on the path.
        leaves: the flat inputs `[N, ...]` (arrays or tensors).
        z_shapes, z_dtypes: per attributed tensor, one row's shape and dtype.
    """
    return Plan(
        structure=structure,
        names=names,
        interpolated=tuple(interpolated),
        row_shapes=tuple(tuple(a.shape[1:]) for a in leaves),
        dtypes=tuple(tf.as_dtype(a.dtype) for a in leaves),
        z_shapes=z_shapes,
        z_dtypes=z_dtypes,
    )


@dataclass(frozen=True)
class Job:
    """Host arrays for one engine call.

    Attributes:
        plan: the graph signature.
        inputs: what the user passed as `x` (kept for rendering).
        leaves: the flat inputs, each `[N, ...]`.
        base_values: per attributed tensor, its baseline rows `[B, ...]`.
        base_index: per attributed tensor, `int32[N, K]`: baseline row of
            input n, baseline k.
        targets: `int32[N]`, -1 where the predicted class is wanted.
    """

    plan: Plan
    inputs: Any
    leaves: list[np.ndarray]
    base_values: list[np.ndarray]
    base_index: list[np.ndarray]
    targets: np.ndarray

    @property
    def n(self) -> int:
        return int(self.targets.shape[0])

    @property
    def k(self) -> int:
        return int(self.base_index[0].shape[1])

    def args(self, alphas: np.ndarray, weights: np.ndarray, batch_size: np.int32) -> tuple:
        """The engine's arguments, in its signature's order."""
        x_index = np.repeat(np.arange(self.n, dtype=np.int32), self.k)  # row r = n * K + k
        return (
            list(self.leaves),
            list(self.base_values),
            [bi.reshape(-1) for bi in self.base_index],
            x_index,
            alphas,
            weights,
            self.targets,
            batch_size,
        )

    def subset(self, rows: np.ndarray) -> Job:
        """The job for inputs `rows` only, keeping just the baselines they use."""
        values, index = [], []
        for v, bi in zip(self.base_values, self.base_index, strict=True):
            idx = bi[rows]
            used, inverse = np.unique(idx, return_inverse=True)
            values.append(v[used])
            index.append(inverse.reshape(idx.shape).astype(np.int32))
        return dataclasses.replace(
            self,
            inputs=None,
            leaves=[leaf[rows] for leaf in self.leaves],
            base_values=values,
            base_index=index,
            targets=self.targets[rows],
        )

    def with_targets(self, targets: np.ndarray) -> Job:
        return dataclasses.replace(self, targets=np.asarray(targets, np.int32))


class JobBuilder:
    """Validates batches for one `ScoreFunction` into `Job`s.

    Holds the probe cache: the one eager forward pass on one row, per input
    signature, that tells the output's shape and the layer's.
    """

    def __init__(self, score_fn: ScoreFunction) -> None:
        self.score_fn = score_fn
        self._probes: dict[tuple, dict] = {}

    @property
    def model(self) -> Any:
        return self.score_fn.model

    def probe(self, structure: Any, leaves: list[np.ndarray], names: tuple[str, ...]) -> dict:
        """Run the model eagerly on one row: its outputs, and the layer's output.

        Returns:
            `{"outputs": ...}`, with `act_shape` and `act_dtype` of the layer's
            output row under `layer=`. Cached per input signature.

        Raises:
            ValueError, TypeError: x does not fit the model, or the layer
                does not run exactly once or return one float tensor.
        """
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
            self.score_fn.check_calls(calls)
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

    def check_token_ids(self, leaves: list[np.ndarray], names: tuple[str, ...]) -> None:
        """Every row's ids inside the vocabulary of the Embedding they feed."""
        if not any(np.issubdtype(arr.dtype, np.integer) for arr in leaves):
            return  # only integer inputs are ids: skip walking the model's layers
        sizes = embedding_vocabularies(self.model, self.score_fn.layer, len(leaves))
        for arr, name, size in zip(leaves, names, sizes, strict=True):
            if size is not None and np.issubdtype(arr.dtype, np.integer):
                checks.token_ids(arr, size, name)

    def output_units(self, outputs: Any) -> int | None:
        """Units of a rank-2 single output, None if F is not index-based."""
        if isinstance(outputs, (list, tuple, dict)):
            return None
        shape = outputs.shape
        if len(shape) == 2:
            return int(shape[1])
        if len(shape) == 1:  # one score per row: a single unit, target 0
            return 1
        return None

    def build(
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

        Args:
            x: `[N, ...]`, or the structure of the model's inputs.
            target, baseline, n_baselines, seed: as in `keras_ig.explain`.

        Returns:
            The `Job` for the engine.
        """
        structure, raw = inputs.split_inputs(self.model, x)
        names = nest.paths(structure)
        leaves = [inputs.as_array(leaf, name) for leaf, name in zip(raw, names, strict=True)]
        n = inputs.check_leaves(leaves, names, self.model)
        if callable(target) and self.score_fn.target_fn is None:
            raise TypeError("target: a callable target must be given when the explainer is built")
        index_targets = inputs.resolve_targets(None if self.score_fn.target_fn else target, n)
        layer_mode = self.score_fn.layer is not None

        # Which inputs are interpolated, and their baselines.
        specs = inputs.baseline_specs(baseline, structure, names, len(leaves))
        interpolated = []
        for i, (arr, name, spec) in enumerate(zip(leaves, names, specs, strict=True)):
            floating = inputs.is_floating(arr.dtype)
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

        self.check_token_ids(leaves, names)
        info = self.probe(structure, leaves, names)
        units = self.output_units(info["outputs"])
        if self.score_fn.target_fn is None:
            if units is None and (
                isinstance(info["outputs"], (list, tuple, dict)) or len(info["outputs"].shape) > 2
            ):
                raise ValueError(
                    "target: the model's output is not one [N, classes] tensor "
                    f"(got {inputs.describe(info['outputs'])}); pass a callable target "
                    "`f(outputs) -> [N]` saying which score to explain"
                )
            inputs.check_target_range(index_targets, units)

        # Resolve baselines into rows and per-(input, k) indices.
        if layer_mode:
            act_shape, act_dtype = info["act_shape"], info["act_dtype"]
            spec = _baselines.canonical(baseline)
            source = input_space_values(spec)
            if source is not None:  # token ids etc.: the layer's output there
                spec = layer_baseline(
                    self.score_fn, source, structure, leaves, names, self.check_token_ids
                )
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
                    name=inputs.baseline_name(names[i]),
                    n_baselines=n_baselines,
                    seed=seed,
                )
                for i in interpolated
            ]
            z_shapes = tuple(leaves[i].shape[1:] for i in interpolated)
            z_dtypes = tuple(tf.as_dtype(leaves[i].dtype) for i in interpolated)
        k = _baselines.common_k(rb.k for rb in resolved)
        plan = make_plan(structure, names, interpolated, leaves, z_shapes, z_dtypes)
        return Job(
            plan=plan,
            inputs=x,
            leaves=leaves,
            base_values=[rb.values for rb in resolved],
            base_index=[np.broadcast_to(rb.index, (n, k)).astype(np.int32) for rb in resolved],
            targets=index_targets,
        )
