"""The maths of attribution-quality metrics. Pure numpy, no TensorFlow.

Feature ranking for deletion / insertion curves (the reference the
compiled graph's ranking, `keras_ig._engine.curves`, is tested
against), their step counts and trapezoid areas, Captum's infidelity (with
its `normalize` factor) and the ratio behind `sensitivity_max`. The model
runs elsewhere; everything here works on arrays, so it is tested against
hand-computed answers.
"""

from __future__ import annotations

import numpy as np


def is_image(shape: tuple) -> bool:
    """True for rank-4 `[N, H, W, C]` batches, whose features are pixels."""
    return len(shape) == 4


def n_features(shape: tuple) -> int:
    """Features in one row of a batch of `shape`: `H * W` for images, else all elements."""
    row = shape[1:-1] if is_image(shape) else shape[1:]
    return int(np.prod(row, dtype=np.int64))


def feature_scores(attributions: np.ndarray) -> np.ndarray:
    """What ranks the features of each row: pixels for images, else elements.

    A pixel's score is the sum of its channels added left to right
    (`((a_0 + a_1) + a_2) + ...`, numpy's own order for fewer than 8
    channels), an order the compiled graph reproduces exactly, so both rank
    ties the same way.

    Args:
        attributions: `float[N, ...]`. Rank 4 (`[N, H, W, C]`) is read as
            images: a pixel's channels move together, scored by their sum.

    Returns:
        `float64[N, H, W]` for images, else `float64[N, ...]` (a copy).
    """
    a = np.asarray(attributions, dtype=np.float64)
    if not is_image(a.shape):
        return a.copy()
    total = a[..., 0].copy()
    for c in range(1, a.shape[-1]):
        total += a[..., c]
    return total


def feature_positions(scores: np.ndarray) -> np.ndarray:
    """Each feature's place in its row's order, highest score first.

    Ties keep index order (a stable sort on the flattened row), so the
    order never depends on the sorting algorithm.

    Args:
        scores: `float[N, ...]` feature scores (see `feature_scores`).

    Returns:
        `int32[N, ...]` shaped like `scores`: 0 for the top feature of the
        row, `n_features - 1` for the last. E.g. `[[1, 3, 3, 0]] -> [[2, 0, 1, 3]]`.
    """
    s = np.asarray(scores, dtype=np.float64)
    flat = s.reshape(s.shape[0], -1)  # [N, n_features]
    order = np.argsort(-flat, axis=1, kind="stable")
    positions = np.empty_like(order)
    np.put_along_axis(positions, order, np.arange(flat.shape[1])[None, :], axis=1)
    return positions.reshape(s.shape).astype(np.int32)


def step_counts(n_features: int, steps: int) -> np.ndarray:
    """Features moved after step k of `steps`: `round(k / steps * n_features)`.

    Rounded half to even (as Python's `round`), from exact integer ratios.

    Returns:
        `int32[steps + 1]`, from 0 to `n_features`.
    """
    k = np.arange(steps + 1, dtype=np.float64)
    return np.round(k * n_features / steps).astype(np.int32)


def fractions(steps: int) -> np.ndarray:
    """`float64[steps + 1]`: `0, 1/steps, ..., 1`."""
    return np.arange(steps + 1, dtype=np.float64) / steps


def trapezoid_area(curves: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trapezoid area under each curve.

    Args:
        curves: `float[N, P]`, one curve per row.
        x: `float[P]`, the abscissae shared by all curves.

    Returns:
        `float64[N]`.
    """
    c = np.asarray(curves, dtype=np.float64)
    dx = np.diff(np.asarray(x, dtype=np.float64))
    return ((c[:, 1:] + c[:, :-1]) * 0.5 * dx).sum(axis=1)


def infidelity(dots: np.ndarray, differences: np.ndarray, *, normalize: bool = True) -> np.ndarray:
    """Captum's infidelity from the per-sample terms.

    `E[(beta I . a - (F(x) - F(x - I)))**2]` over the samples, where `beta`
    is 1, or with `normalize` the least-squares factor
    `E[(I . a) (F(x) - F(x - I))] / E[(I . a)**2]` (Captum's `normalize`;
    0 when every `I . a` is 0).

    Args:
        dots: `float[S, N]`: `I . a` for sample s and input n.
        differences: `float[S, N]`: `F(x) - F(x - I)`, same layout.
        normalize: scale the attributions by `beta` first.

    Returns:
        `float64[N]`.
    """
    d = np.asarray(dots, dtype=np.float64)
    f = np.asarray(differences, dtype=np.float64)
    if normalize:
        num = (d * f).mean(axis=0)
        den = (d * d).mean(axis=0)
        beta = np.divide(num, den, out=np.zeros_like(num), where=den != 0)
        d = d * beta
    return ((d - f) ** 2).mean(axis=0)


def sensitivity_ratio(perturbed: np.ndarray, original: np.ndarray) -> np.ndarray:
    """`||e(x + d) - e(x)|| / ||e(x)||` per row (Frobenius norms).

    Args:
        perturbed: `float[N, ...]`, the explanations at `x + d`.
        original: `float[N, ...]`, the explanations at `x`.

    Returns:
        `float64[N]`; 0 where both norms are 0, inf where only `e(x)`'s is.
    """
    p = np.asarray(perturbed, dtype=np.float64).reshape(len(perturbed), -1)
    o = np.asarray(original, dtype=np.float64).reshape(len(original), -1)
    num = np.linalg.norm(p - o, axis=1)
    den = np.linalg.norm(o, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    return np.where(num == 0, 0.0, ratio)
