"""Steps chosen per input to meet a completeness tolerance.

Start at `steps` points and refine only the inputs whose completeness gap is
still above `tolerance` times its scale (`keras_ig.completeness`), until
`max_steps`. The rules and how each refines (nested doubling or a fresh
rule) live in `keras_ig._numpy.quadrature.refinement`; this loop only runs
them through the `integrate` function it is given, so it never knows who
called it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig import completeness
from keras_ig._engine.job import Job
from keras_ig._numpy.quadrature import quadrature, refinement

# (job, alphas, weights) -> the engine's numpy results: `attributions` (list
# of `[N * K, ...]`), `scores[N]`, `baseline_scores[N * K]`, `targets[N]`.
Integrate = Callable[[Job, np.ndarray, np.ndarray], dict[str, Any]]


@dataclass(frozen=True)
class Refined:
    """What `refine` found.

    Attributes:
        job: the job, its targets fixed to the classes predicted at the start.
        raw: the engine's results for every input at its own steps.
        steps_used: `int64[N]`, the points each input used.
        converged: `bool[N]`, whether each met the tolerance.
    """

    job: Job
    raw: dict[str, Any]
    steps_used: np.ndarray
    converged: np.ndarray


def refine(
    integrate: Integrate,
    job: Job,
    method: str,
    steps: int,
    max_steps: int,
    tolerance: float,
) -> Refined:
    """Integrated Gradients with per-input steps; see `keras_ig.explain`.

    Args:
        integrate: runs the engine on a job at given `alphas` and `weights`.
        job: the validated batch.
        method: the rule's full name.
        steps: the points every input starts with.
        max_steps: no input goes beyond this.
        tolerance: the relative completeness gap to reach.

    Returns:
        A `Refined` with raw results averaged by the caller's builder.
    """
    alphas, weights = quadrature(method, steps)
    out = integrate(job, alphas, weights)
    job = job.with_targets(out["targets"])  # the predicted class stays fixed
    n, k = job.n, job.k
    attrs = out["attributions"]  # each [N * K, ...], updated in place below
    base_mean = out["baseline_scores"].reshape(n, k).mean(axis=1)

    def gaps(rows: np.ndarray) -> np.ndarray:
        parts = [a.reshape((n, k, *a.shape[1:]))[rows].mean(axis=1) for a in attrs]
        return completeness.gap(parts, out["scores"][rows], base_mean[rows])

    steps_used = np.full(n, steps, np.int64)
    everyone = np.arange(n)
    ok = completeness.within_tolerance(gaps(everyone), out["scores"], base_mean, tolerance)
    active = everyone[~ok]
    current = steps
    while active.size:
        following, alphas, weights, nested = refinement(method, current)
        if following > max_steps:
            break
        new = integrate(job.subset(active), alphas, weights)
        rows = (active[:, None] * k + np.arange(k)).reshape(-1)  # their N*K rows
        for a, fresh in zip(attrs, new["attributions"], strict=True):
            a[rows] = a[rows] / 2 + fresh if nested else fresh
        steps_used[active] = following
        current = following
        ok_now = completeness.within_tolerance(
            gaps(active), out["scores"][active], base_mean[active], tolerance
        )
        active = active[~ok_now]

    converged = np.ones(n, bool)
    converged[active] = False
    return Refined(job=job, raw=out, steps_used=steps_used, converged=converged)
