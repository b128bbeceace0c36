"""Per-epoch statistics of attribution maps. Pure numpy, no TensorFlow.

Every function takes maps as arrays (any shape; they are flattened) and
returns NaN where the statistic is undefined, so callers decide what to log.
"""

from __future__ import annotations

import numpy as np


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks `1..n` along the last axis, ties sharing their average rank.

    Args:
        values: `float[..., n]`; each row is ranked on its own.

    Returns:
        `float64[..., n]`; e.g. `[10, 20, 20, 5] -> [2, 3.5, 3.5, 1]`.
    """
    v = np.asarray(values, dtype=np.float64)
    shape = v.shape
    rows = v.reshape(-1, shape[-1]) if v.ndim else v.reshape(1, 1)
    n_rows, n = rows.shape
    order = np.argsort(rows, axis=1)  # ties get their average rank: any order will do
    ordered = np.take_along_axis(rows, order, axis=1)
    # Start of each run of equal values in sorted order; a row starts a run.
    new = np.ones((n_rows, n), dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    starts = np.flatnonzero(new)
    lengths = np.diff(np.r_[starts, n_rows * n])
    average = starts % n + (lengths + 1) / 2.0  # mean of ranks start+1 .. start+length
    ranks = np.empty_like(rows)
    np.put_along_axis(ranks, order, np.repeat(average, lengths).reshape(n_rows, n), axis=1)
    return ranks.reshape(shape)


def unit_ranks(values: np.ndarray) -> np.ndarray | None:
    """A map's ranks, centred and scaled to unit norm.

    The dot product of two such vectors is the maps' Spearman correlation,
    so a callback can rank each epoch's map once and compare it with the
    previous epoch's stored result.

    Args:
        values: `float[...]`, flattened.

    Returns:
        `float64[n]`; None when the map is constant, has fewer than 2
        elements or is not finite (no ordering to compare).
    """
    return unit_ranks_all([values])[0]


def unit_ranks_all(maps: list[np.ndarray]) -> list[np.ndarray | None]:
    """`unit_ranks` of each map; maps of one size are ranked in one pass.

    Args:
        maps: `float[...]` arrays, each flattened.

    Returns:
        One `float64[n]` or None per map, as `unit_ranks`.
    """
    flat = [np.asarray(m, dtype=np.float64).reshape(-1) for m in maps]
    if not flat:
        return []
    if len({m.size for m in flat}) > 1:
        return [unit_ranks(m) for m in flat]
    rows = np.stack(flat)  # [P, n]
    n = rows.shape[1]
    out: list[np.ndarray | None] = [None] * len(flat)
    ok = np.all(np.isfinite(rows), axis=1) if n >= 2 else np.zeros(len(flat), dtype=bool)
    if not ok.any():
        return out
    centred = rankdata(rows[ok]) - (n + 1) / 2.0
    norms = np.sqrt(np.einsum("ij,ij->i", centred, centred))
    for i, r, norm in zip(np.flatnonzero(ok), centred, norms, strict=True):
        out[i] = None if norm == 0.0 else r / norm
    return out


def correlation(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Spearman correlation from two `unit_ranks` results (NaN if either is None).

    Raises:
        ValueError: the maps have different sizes.
    """
    if a is None or b is None:
        return float("nan")
    if a.size != b.size:
        raise ValueError(f"maps have {a.size} and {b.size} elements; they must match")
    return float(np.clip(np.dot(a, b), -1.0, 1.0))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of the same size.

    The Pearson correlation of their (tie-averaged) ranks: 1 when the two
    maps order the features identically, -1 when reversed.

    Args:
        a: `float[...]`, flattened.
        b: `float[...]` with as many elements as `a`.

    Returns:
        A float in `[-1, 1]`; NaN if either map is constant or not finite
        (no ordering to compare).

    Raises:
        ValueError: the maps have different sizes.
    """
    if np.size(a) != np.size(b):
        raise ValueError(f"maps have {np.size(a)} and {np.size(b)} elements; they must match")
    return correlation(unit_ranks(a), unit_ranks(b))


def localization(scores: np.ndarray, mask: np.ndarray) -> float:
    """Share of the positive attribution mass that falls inside `mask`.

    `sum(max(s, 0)[mask]) / sum(max(s, 0))` on the channel-summed map `s`:
    1 when all positive evidence lies in the region, 0 when none does.

    Args:
        scores: `float[...]`, e.g. an image map `[H, W]` (channels summed).
        mask: `bool`, the shape of `scores`.

    Returns:
        A float in `[0, 1]`; NaN when the map has no positive mass or is not
        finite.

    Raises:
        ValueError: the shapes differ.
    """
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if s.shape != m.shape:
        raise ValueError(f"mask shape {m.shape} does not match the map's {s.shape}")
    if not np.all(np.isfinite(s)):
        return float("nan")
    positive = np.maximum(s, 0.0)
    total = positive.sum()
    if total <= 0.0:
        return float("nan")
    return float(positive[m].sum() / total)


def finite_mean(values: np.ndarray) -> float | None:
    """Mean of the finite entries; None when there are none."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def localization_scores(attributions: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """`localization` of every input, with its mask; 0 where a map has no positive mass.

    Args:
        attributions: `float[N, ...]`, one map per input.
        masks: `bool[N, ...]` shaped like `attributions`, or for images
            `[N, H, W, C]` also `[N, H, W]` (the map's channels are then
            summed first, as `localization` expects).

    Returns:
        `float64[N]` in `[0, 1]`; NaN for a map that is not finite.

    Raises:
        ValueError: naming `masks`, when its shape fits neither form.
    """
    a = np.asarray(attributions, dtype=np.float64)
    m = np.asarray(masks)
    if m.dtype != bool:
        raise ValueError(f"masks must be boolean, got dtype {m.dtype}")
    if a.ndim == 4 and m.shape == a.shape[:3]:
        a = a.sum(axis=-1)  # [N, H, W]: a pixel's channels count together
    elif m.shape != a.shape:
        allowed = f"{a.shape}" + (f" or {a.shape[:3]}" if a.ndim == 4 else "")
        raise ValueError(f"masks has shape {m.shape}; expected {allowed} (one mask per input)")
    out = np.array([localization(s, k) for s, k in zip(a, m, strict=True)])
    no_mass = np.isnan(out) & np.all(np.isfinite(a.reshape(len(a), -1)), axis=1)
    return np.where(no_mass, 0.0, out)
