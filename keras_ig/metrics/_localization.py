"""Localization: how much of a map's positive evidence lies inside a known region."""

from __future__ import annotations

from typing import Any

import numpy as np

from keras_ig._numpy import metrics as rank_metrics


def localization(attributions: Any, masks: Any) -> np.ndarray:
    """Per input, the share of its positive attribution inside its mask.

    `sum(max(a, 0)[mask]) / sum(max(a, 0))`: 1 when all positive evidence
    lies in the region (e.g. the object), 0 when none does; a map with no
    positive attribution scores 0.

    Args:
        attributions: `float[N, ...]`, one map per input.
        masks: `bool[N, ...]` shaped like `attributions`, or for images
            (`[N, H, W, C]`) `bool[N, H, W]`: a pixel's channels are then
            summed before the positive part is taken.

    Returns:
        `float64[N]` in `[0, 1]`; NaN for a map that is not finite.

    Raises:
        ValueError: naming `masks`, for a shape or dtype that does not fit.

    Example:
        >>> data = keras_ig.datasets.make_shapes(8)
        >>> exp = keras_ig.explain(model, data.images)
        >>> metrics.localization(exp.attributions, data.masks).mean()
    """
    return rank_metrics.localization_scores(np.asarray(attributions), np.asarray(masks))
