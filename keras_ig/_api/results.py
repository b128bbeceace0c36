"""The one builder of an `Explanation` from the engine's raw results.

The record is complete when it is made (steps per input, convergence, the
attributions already on disk with `out=`) and is not patched afterwards.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from keras_ig import completeness
from keras_ig._api.explanation import Explanation
from keras_ig._api.stream import check_one_array
from keras_ig._engine.job import Job
from keras_ig._numpy import nest
from keras_ig._numpy.npy import NpyWriter


def build_explanation(
    job: Job,
    raw: dict[str, Any],
    *,
    steps: int,
    method: str,
    indexed: bool,
    layer_mode: bool,
    steps_used: np.ndarray | None = None,
    converged: np.ndarray | None = None,
    out: str | os.PathLike | None = None,
) -> Explanation:
    """Average over baselines, compute the completeness gap, pack like x.

    Args:
        job: the batch integrated.
        raw: the engine's numpy results (`attributions` list of
            `[N * K, ...]`, `scores[N]`, `baseline_scores[N * K]`,
            `targets[N]`; `totals[N * K]`, the sums of the multiplied
            attributions, when they are not multiplied by `x - x'`).
        steps: points used; `method`: the rule's name.
        indexed: the target is an output unit (else a callable: no `target`).
        layer_mode: attributions are at a layer's output, not packed like x.
        steps_used: `int64[N]`; default every input at `steps`.
        converged: `bool[N]` with `tolerance=`, else None.
        out: a `.npy` path the (single) attributions are written to and
            returned memory-mapped from.

    Returns:
        The `Explanation`.
    """
    n, k, plan = job.n, job.k, job.plan
    scores = raw["scores"]
    base = raw["baseline_scores"].reshape(n, k).mean(axis=1)
    attrs = [a.reshape((n, k, *a.shape[1:])).mean(axis=1) for a in raw["attributions"]]
    if "totals" in raw:
        # Without the (x - x') factor the attributions need not sum to
        # F(x) - F(x'); the gap is that of the multiplied ones, so it still
        # measures the quadrature error.
        totals = raw["totals"].reshape(n, k).mean(axis=1)
        delta = completeness.gap([totals], scores, base)
    else:
        delta = completeness.gap(attrs, scores, base)
    attributions = write_attributions(_like_x(plan, attrs, layer_mode), out)
    baselines = _like_x(plan, [_baseline_rows(job, j) for j in range(len(attrs))], layer_mode)
    return Explanation(
        attributions=attributions,
        delta=delta,
        scores=scores,
        baseline_scores=base.astype(np.float32),
        target=raw["targets"] if indexed else None,
        steps=steps,
        method=method,
        inputs=job.inputs,
        baseline=baselines,
        steps_used=np.full(n, steps, np.int64) if steps_used is None else steps_used,
        converged=converged,
    )


def write_attributions(attributions: Any, out: str | os.PathLike | None) -> Any:
    """`attributions`, or with `out` a `.npy` path, written there and memory-mapped back."""
    if out is None:
        return attributions
    writer = NpyWriter(out)
    writer.write(attributions)
    return writer.close()


def write_out(exp: Explanation, out: str | os.PathLike | None) -> Explanation:
    """`exp` with its attributions written to `out` (a new record; `exp` if None)."""
    if out is None:
        return exp
    check_one_array(exp.attributions)
    return dataclasses.replace(exp, attributions=write_attributions(exp.attributions, out))


def _like_x(plan: Any, per_z: list, layer_mode: bool) -> Any:
    """Per attributed tensor values, packed like x (None for fixed inputs)."""
    if layer_mode or plan.structure is None:
        return per_z[0]
    flat: list = [None] * len(plan.names)
    for i, value in zip(plan.interpolated, per_z, strict=True):
        flat[i] = value
    return nest.pack(plan.structure, flat)


def _baseline_rows(job: Job, j: int) -> np.ndarray:
    """Attributed tensor j's baselines: `[N, ...]` for one each, `[N, K, ...]` for K."""
    values, index = job.base_values[j], job.base_index[j]  # [B, ...], int32[N, K]
    if job.k > 1:
        return values[index]
    if values.shape[0] == 1:  # shared: a view, not N copies
        view = np.broadcast_to(values[0], (job.n, *values.shape[1:]))
        return view
    return values[index[:, 0]]
