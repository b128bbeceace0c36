"""Steps chosen per input to meet a completeness tolerance.

Start at `steps` points and refine only the inputs whose completeness gap is
still above `tolerance * |F(x) - F(baseline)|`, until `max_steps`. Rules
whose points nest under doubling reuse every gradient already computed:
left and right Riemann sums (n -> 2n) and the trapezoid rule (n -> 2n - 1)
add only the new midpoints, `new = old / 2 + midpoint sum`. Gauss-Legendre
and the midpoint rule do not nest, so each round recomputes at twice the
points; Gauss-Legendre still usually wins by converging in far fewer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from keras_ig import completeness
from keras_ig._api.explanation import Explanation
from keras_ig._numpy.quadrature import quadrature

if TYPE_CHECKING:
    from keras_ig._api.explain import Explainer
    from keras_ig._engine.job import Job

# rule -> (next point count, nodes and weights of the points it adds)
_NESTED = {
    "riemann_left": lambda n: (2 * n, _midpoints(n, 1.0 / n)),
    "riemann_right": lambda n: (2 * n, _midpoints(n, 1.0 / n)),
    "riemann_trapezoid": lambda n: (2 * n - 1, _midpoints(n - 1, 1.0 / (n - 1))),
}


def _midpoints(intervals: int, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The midpoints of `intervals` cells of width `h`, each weighing `h / 2`."""
    return (np.arange(intervals) + 0.5) * h, np.full(intervals, h / 2)


def refine(
    explainer: Explainer,
    job: Job,
    method: str,
    steps: int,
    max_steps: int,
    tolerance: float,
    batch_size: int | None,
    strategy: Any,
) -> Explanation:
    """Integrated Gradients with per-input steps; see `keras_ig.explain`."""
    alphas, weights = quadrature(method, steps)
    out = explainer.integrate(job, alphas, weights, batch_size, strategy)
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
        nested = _NESTED.get(method)
        if nested is not None:
            following, (alphas, weights) = nested(current)
        else:
            following = 2 * current
            alphas, weights = quadrature(method, following)
        if following > max_steps:
            break
        sub = job.subset(active)
        new = explainer.integrate(sub, alphas, weights, batch_size, strategy)
        rows = (active[:, None] * k + np.arange(k)).reshape(-1)  # their N*K rows
        for a, fresh in zip(attrs, new["attributions"], strict=True):
            a[rows] = a[rows] / 2 + fresh if nested is not None else fresh
        steps_used[active] = following
        current = following
        ok_now = completeness.within_tolerance(
            gaps(active), out["scores"][active], base_mean[active], tolerance
        )
        active = active[~ok_now]

    exp = explainer._build(job, out, int(steps_used.max()), method)
    exp.inputs = job.inputs
    exp.steps_used = steps_used
    exp.converged = np.ones(n, bool)
    exp.converged[active] = False
    return exp
