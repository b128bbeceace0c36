"""Localization by hand."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ig import metrics


def test_share_of_positive_attribution_inside_the_mask():
    a = np.array([[3.0, -5.0, 1.0, 0.0], [0.0, -1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    masks = np.array([[True, True, False, False], [True] * 4, [False] * 4])
    # Row 0: positive mass 3 + 1, inside 3. Row 1: none positive -> 0. Row 2: none inside.
    np.testing.assert_allclose(metrics.localization(a, masks), [0.75, 0.0, 0.0])


def test_image_masks_without_the_channel_axis_sum_the_channels_first():
    a = np.zeros((1, 2, 2, 2))
    a[0, 0, 0] = [2.0, -1.0]  # pixel sum 1, inside
    a[0, 1, 1] = [-1.0, 4.0]  # pixel sum 3, outside
    mask = np.array([[[True, False], [False, False]]])
    np.testing.assert_allclose(metrics.localization(a, mask), [0.25])
    # Shaped like the map, each element counts on its own: 2 of 2 + 4.
    full = np.broadcast_to(mask[..., None], a.shape)
    np.testing.assert_allclose(metrics.localization(a, full), [2 / 6])


def test_bad_masks_are_named():
    with pytest.raises(ValueError, match="masks has shape"):
        metrics.localization(np.ones((2, 3)), np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="masks must be boolean"):
        metrics.localization(np.ones((2, 3)), np.ones((2, 3)))
