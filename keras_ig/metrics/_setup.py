"""What the model-based metrics share: checked inputs and a per-model cache.

`prepare` turns `(model, x, attributions, target, output, baseline)` into
host arrays the compiled graphs consume (`PerturbEngine` for infidelity,
`CurveGraphs` for deletion and insertion), reusing the engine's `JobBuilder`
(so x, target and baseline are read and refused exactly as `explain` reads
them). The graphs for a model are cached like explainers are
(`keras_ig._api.cache`): calling a metric again on the same model, e.g. once
per epoch from a callback, reuses the compiled graphs.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from keras_ig._api.cache import target_key
from keras_ig._engine.curves import CurveGraphs
from keras_ig._engine.job import JobBuilder, chunk_rows
from keras_ig._engine.perturb import PerturbEngine
from keras_ig._engine.score import ScoreFunction
from keras_ig._numpy import checks

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_SIZE = 8


@dataclass(frozen=True)
class Prepared:
    """One metric call's inputs, checked.

    Attributes:
        engine: the cached engine of the model and settings (chunked F).
        curves: the cached deletion / insertion graphs of the same.
        x: `[N, ...]` the inputs.
        base_values: `[B, ...]` the baseline rows, in x's dtype;
            `base_row`: `int32[N]`, the one of each input.
        attributions: `float64[N, ...]`, shaped like `x`.
        targets: `int32[N]`, -1 where the predicted class is wanted (0 for
            a callable target, which ignores them).
        batch_size: rows per model call.
    """

    engine: PerturbEngine
    curves: CurveGraphs
    x: np.ndarray
    base_values: np.ndarray
    base_row: np.ndarray
    attributions: np.ndarray
    targets: np.ndarray
    batch_size: int

    @property
    def base(self) -> np.ndarray:
        """`[N, ...]`: each input's baseline."""
        return self.base_values[self.base_row]


def _engine_for(
    model: Any, target: Any, output: Any
) -> tuple[PerturbEngine, JobBuilder, CurveGraphs]:
    target_fn = target if callable(target) else None
    key = (id(output) if isinstance(output, keras.layers.Layer) else output, target_key(target_fn))

    def build(weak: bool) -> tuple[PerturbEngine, JobBuilder, CurveGraphs]:
        score_fn = ScoreFunction(model, target_fn=target_fn, output=output, weak=weak)
        return PerturbEngine(score_fn), JobBuilder(score_fn), CurveGraphs(score_fn)

    try:
        per_model = _CACHE.setdefault(model, OrderedDict())
    except TypeError:  # not weak-referenceable: no cache
        return build(weak=False)
    if key not in per_model:
        per_model[key] = build(weak=True)
        while len(per_model) > _CACHE_SIZE:
            per_model.popitem(last=False)
    per_model.move_to_end(key)
    return per_model[key]


def attributions_like(attributions: Any, x: np.ndarray) -> np.ndarray:
    """`attributions` as `float64`, shaped like `x` and finite.

    Raises:
        TypeError, ValueError: naming `attributions`.
    """
    try:
        a = np.asarray(attributions, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"attributions must be a numeric array, got {type(attributions).__name__}"
        ) from None
    if a.shape != x.shape:
        raise ValueError(f"attributions has shape {a.shape}; it must match x's {x.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("attributions contains NaN or inf")
    return a


def prepare(
    model: Any,
    x: Any,
    attributions: Any,
    *,
    target: Any,
    output: Any,
    baseline: Any,
    batch_size: Any,
    rows_per_input: int,
) -> Prepared:
    """Check a metric's arguments and resolve them (one eager row through the model).

    Args:
        model, x, target, output, baseline: as in `keras_ig.explain`; x one
            tensor `[N, ...]` and one baseline per input (no stacks).
        attributions: one map per input, shaped like `x`.
        batch_size: most rows per model call, or None.
        rows_per_input: perturbed rows the metric sends per input (for the
            default chunk size).

    Raises:
        TypeError, ValueError: naming the argument, before any graph is built.
    """
    batch_size = checks.integer(batch_size, "batch_size", 1, optional=True)
    if isinstance(x, (list, tuple, dict)):
        raise TypeError("x: the metrics take one input tensor [N, ...], not a list or dict")
    engine, builder, curves = _engine_for(model, target, output)
    job = builder.build(x, target=target, baseline=baseline, n_baselines=1)
    if job.plan.structure is not None:
        raise TypeError("x: the metrics take models with one input tensor [N, ...]")
    if job.k != 1:
        raise ValueError(
            f"baseline: the metrics need one baseline per input, got a stack of {job.k}"
        )
    xs = job.leaves[0]
    a = attributions_like(attributions, xs)
    base_values = job.base_values[0].astype(xs.dtype, copy=False)  # [B, ...]
    targets = job.targets if engine.score_fn.target_fn is None else np.zeros_like(job.targets)
    rows = chunk_rows([xs.shape[1:]], batch_size, job.n * rows_per_input)
    return Prepared(engine, curves, xs, base_values, job.base_index[0][:, 0], a, targets, rows)
