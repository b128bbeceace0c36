"""The completeness check of Integrated Gradients, in one place. Pure numpy.

Completeness says the attributions of an input sum to `F(x) - F(x')`; the
gap `delta = sum(attributions) - (F(x) - F(x'))` measures the quadrature
error. Whether a gap is small is judged against a *scale*:

    scale = max(|F(x) - F(x')|, FLAT_FRACTION * max(|F(x)|, |F(x')|), EPS)

Against `|F(x) - F(x')|` alone, an input where F barely moves (an untrained
model, a probability stuck at 1) gets an exploding relative gap that more
steps cannot fix; the scores' own magnitude bounds the scale from below.
Such inputs are *flat*: there is little to attribute.

`explain`, `tolerance=` refinement, the CLI and the callback all import
`TOLERANCE`, `relative_gap` and `within_tolerance` from here.

Example:
    >>> relative_gap(np.array([0.01]), np.array([1.0]), np.array([0.0]))
    array([0.01])
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 0.05  # default: warn when |delta| exceeds 5% of the scale
FLAT_FRACTION = 0.01  # F(x) ~ F(x') when they differ by under 1% of |F|
EPS = 1e-6  # below this, differences of float32 scores are noise


def gap(attrs: list[np.ndarray], scores: np.ndarray, base: np.ndarray) -> np.ndarray:
    """`float32[N]`: sum of all attributions minus `scores - base`, in float64.

    Args:
        attrs: per attributed tensor, `[N, ...]`.
        scores: `[N]`, F(x).
        base: `[N]`, F(x').
    """
    n = scores.shape[0]
    total = sum(a.reshape(n, -1).sum(axis=1, dtype=np.float64) for a in attrs)
    return (total - (scores.astype(np.float64) - base)).astype(np.float32)


def scale(scores: np.ndarray, baseline_scores: np.ndarray) -> np.ndarray:
    """`float64[N]`: what a gap is measured against (see the module docstring).

    NaN where a score is not finite.
    """
    s = np.asarray(scores, np.float64)
    b = np.asarray(baseline_scores, np.float64)
    with np.errstate(invalid="ignore"):
        out = np.maximum(np.abs(s - b), FLAT_FRACTION * np.maximum(np.abs(s), np.abs(b)))
        out = np.maximum(out, EPS)
    return np.where(np.isfinite(s) & np.isfinite(b), out, np.nan)


def relative_gap(delta: np.ndarray, scores: np.ndarray, baseline_scores: np.ndarray) -> np.ndarray:
    """`float64[N]`: `|delta| / scale`; NaN where delta or a score is not finite."""
    err = np.abs(np.asarray(delta, np.float64))
    with np.errstate(invalid="ignore"):
        rel = err / scale(scores, baseline_scores)
    return np.where(np.isfinite(err), rel, np.nan)


def flat(scores: np.ndarray, baseline_scores: np.ndarray) -> np.ndarray:
    """`bool[N]`: F(x) ~ F(x'), so there is little to attribute."""
    s = np.asarray(scores, np.float64)
    b = np.asarray(baseline_scores, np.float64)
    return np.abs(s - b) < scale(s, b)


def within_tolerance(
    delta: np.ndarray, scores: np.ndarray, baseline_scores: np.ndarray, tolerance: float
) -> np.ndarray:
    """`bool[N]`: `|delta| <= tolerance * scale`, up to float32 noise; False if not finite."""
    s = np.asarray(scores, np.float64)
    b = np.asarray(baseline_scores, np.float64)
    # float32 rounding of the scores themselves is not a quadrature error.
    slack = 1e-5 * (np.abs(s) + np.abs(b)) + 1e-6
    with np.errstate(invalid="ignore"):
        ok = np.abs(np.asarray(delta, np.float64)) <= tolerance * scale(s, b) + slack
    return ok & np.isfinite(delta)
