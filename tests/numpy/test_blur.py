"""The blur matrices of Blur IG against scipy.ndimage.gaussian_filter (PAIR's blur)."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ig._numpy import blur

ndimage = pytest.importorskip("scipy.ndimage")


@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("sigma", [0.01, 0.3, 1.0, 2.7, 50.0])
def test_blur_matches_scipy_gaussian_filter(mode, sigma):
    # Spatial axes only (PAIR passes sigma=[s, s, 0]); a kernel wider than the image included.
    x = np.random.default_rng(1).uniform(size=(2, 9, 13, 3))
    ref = np.stack([ndimage.gaussian_filter(xi, sigma=[sigma, sigma, 0], mode=mode) for xi in x])
    np.testing.assert_allclose(blur.blur(x, sigma, mode), ref, rtol=0, atol=1e-12)


def test_sigma_zero_and_tiny_sigma_are_the_identity():
    # scipy's radius int(4 sigma + 0.5) is 0 below sigma = 0.125: the kernel is [1].
    np.testing.assert_array_equal(blur.blur_matrix(7, 0.0), np.eye(7))
    np.testing.assert_array_equal(blur.blur_matrix(7, 0.1), np.eye(7))
    assert blur.blur_matrix(7, 0.2)[3, 2] > 0


def test_reflect_rows_sum_to_one_and_constant_rows_lose_mass_at_the_edges():
    for n, sigma in [(5, 0.7), (6, 9.0)]:
        np.testing.assert_allclose(blur.blur_matrix(n, sigma, "reflect").sum(1), 1.0, atol=1e-12)
        rows = blur.blur_matrix(n, sigma, "constant").sum(1)
        assert np.all(rows <= 1.0 + 1e-12) and rows[0] < 1.0


def test_blur_path_points_and_weights():
    path = blur.blur_path(6, 5, max_sigma=3.0, steps=4, grad_step=0.01)
    np.testing.assert_allclose(path["sigmas"], [0.0, 0.75, 1.5, 2.25])
    np.testing.assert_allclose(path["weights"], -(3.0 / 4) / 0.01)
    assert path["h0"].shape == (4, 6, 6) and path["w1"].shape == (4, 5, 5)
    np.testing.assert_allclose(path["h0"][2] + path["dh"][2], blur.blur_matrix(6, 1.51))
    np.testing.assert_allclose(path["w1"][2], blur.blur_matrix(5, 1.51))
    # The step's matrices, differenced in float64 (not between two rounded blurs).
    step = blur.blur_matrix(6, 1.51) - blur.blur_matrix(6, 1.5)
    np.testing.assert_allclose(path["dh"][2], step, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(path["dw"][2], blur.blur_matrix(5, 1.51) - blur.blur_matrix(5, 1.5))
    np.testing.assert_allclose(path["w_end"], blur.blur_matrix(5, 3.0))


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match="mode"):
        blur.blur_matrix(4, 1.0, "wrap")
