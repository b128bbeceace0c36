"""One epoch's statistics of the probes' maps: finiteness, localization, stability.

Pure numpy over the drawn views (`keras_ig._io.pictures.views`): the hooks
compute the explanation, this module reduces it, the writer writes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig._numpy import metrics as _metrics


@dataclass(frozen=True)
class EpochStatistics:
    """Per-probe statistics of one logged epoch.

    Attributes:
        finite: `bool[P]`: the probe's map and completeness gap are finite
            (the others are skipped in pictures and statistics).
        localization: `float[P]` share of positive attribution inside each
            mask (NaN where not finite), or None without masks.
        stability: `float[P]` Spearman correlation with the probe's previous
            logged map (NaN where there is none or a map is not finite).
    """

    finite: np.ndarray
    localization: np.ndarray | None
    stability: np.ndarray


def of_epoch(
    delta: np.ndarray,
    rows: list | None,
    n: int,
    masks: np.ndarray | None,
    previous: list[Any],
) -> EpochStatistics:
    """The statistics of `n` probes' views `rows` (None if they could not be read).

    Args:
        delta: `float[P]` completeness gaps.
        rows: per probe, its list of views (one per attributed input).
        n: the number of probes P.
        masks: `bool[P, ...]` one mask per probe, or None.
        previous: per probe, the unit ranks of its last logged map (or None);
            updated in place with this epoch's ranks, so each map is ranked once.
    """
    maps = [
        np.concatenate([view.scores.reshape(-1) for view in row]) if rows else None
        for row in (rows or [None] * n)
    ]
    finite = np.array([m is not None and bool(np.all(np.isfinite(m))) for m in maps])
    finite &= np.isfinite(delta)
    localization = None
    if masks is not None and rows:
        localization = np.array(
            [
                _metrics.localization(rows[i][0].scores, masks[i]) if finite[i] else np.nan
                for i in range(n)
            ]
        )
    stability = np.full(n, np.nan)
    kept = np.flatnonzero(finite)
    for i, now in zip(kept, _metrics.unit_ranks_all([maps[i] for i in kept]), strict=True):
        before = previous[i]
        if before is not None and now is not None and before.size == now.size:
            stability[i] = _metrics.correlation(before, now)
        previous[i] = now
    return EpochStatistics(finite=finite, localization=localization, stability=stability)
