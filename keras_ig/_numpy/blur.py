"""Gaussian blur as matrices, and the Blur IG path's points. Pure numpy.

A separable Gaussian blur of an image `[H, W, C]` is `B_H @ image @ B_W.T`
per channel, where `B_n` (`[n, n]`) is the 1-D filter with its boundary
handling folded in. Written as matrices, the blur of every path point is two
batched matmuls on device, whatever the kernel's width (at `sigma = 50` the
kernel has 401 taps, wider than most images). The kernel is
`scipy.ndimage.gaussian_filter`'s (truncated at `truncate * sigma`, radius
`int(truncate * sigma + 0.5)`, normalised to sum 1), so Blur IG agrees with
PAIR saliency's `BlurIG`, which blurs with scipy.
"""

from __future__ import annotations

import numpy as np

# scipy.ndimage.gaussian_filter's default kernel extent, in sigmas.
TRUNCATE = 4.0
MODES = ("constant", "reflect")


def kernel1d(sigma: float, truncate: float = TRUNCATE) -> np.ndarray:
    """The 1-D Gaussian kernel `float64[2 r + 1]` of scipy, `r = int(truncate * sigma + 0.5)`."""
    radius = int(truncate * float(sigma) + 0.5)
    if sigma <= 0 or radius == 0:
        return np.ones(1)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (float(sigma) ** 2) * taps**2)
    return phi / phi.sum()


def _fold(index: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Source index of each (possibly out-of-range) tap; -1 where it reads zero."""
    if mode == "constant":
        return np.where((index >= 0) & (index < n), index, -1)
    # 'reflect' (scipy's, half-sample symmetric: d c b a | a b c d | d c b a),
    # periodic with period 2n, so taps wider than the image fold repeatedly.
    period = np.mod(index, 2 * n)
    return np.where(period < n, period, 2 * n - 1 - period)


def blur_matrix(n: int, sigma: float, mode: str = "constant") -> np.ndarray:
    """`float64[n, n]` `B` with `(B @ v)[i]` the Gaussian blur of `v[n]` at `i`.

    Args:
        n: the length of the axis blurred.
        sigma: the kernel's standard deviation, in pixels; 0 is the identity.
        mode: `"constant"` (zeros outside, PAIR's choice) or `"reflect"`.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    weights = kernel1d(sigma)
    radius = weights.shape[0] // 2
    rows = np.repeat(np.arange(n), weights.shape[0])  # [n * taps]
    taps = np.tile(np.arange(-radius, radius + 1), n)
    source = _fold(rows + taps, n, mode)
    matrix = np.zeros((n, n))
    keep = source >= 0
    np.add.at(matrix, (rows[keep], source[keep]), np.tile(weights, n)[keep])
    return matrix


def blur_path(
    height: int,
    width: int,
    max_sigma: float,
    steps: int,
    grad_step: float,
    mode: str = "constant",
) -> dict[str, np.ndarray]:
    """The blur matrices and weights of Blur IG's path (Xu et al. 2020, as PAIR).

    The path is `L(sigma) = blur(x, sigma)` for `sigma` from `max_sigma`
    down to 0. Its integral is the left Riemann sum over
    `sigma_k = k * max_sigma / steps`, `k = 0 .. steps - 1`, with
    `dL/dsigma` taken as the forward difference
    `(L(sigma_k + grad_step) - L(sigma_k)) / grad_step`; the attribution is
    `sum_k w_k * dF/dx(L(sigma_k)) * (L(sigma_k + grad_step) - L(sigma_k))`
    with `w_k = -(max_sigma / steps) / grad_step` (the minus sign: the path
    runs toward smaller sigma). Its attributions sum to about
    `F(x) - F(blur(x, max_sigma))`.

    Returns:
        `h0, h1`: `float64[steps, H, H]`, the row blurs at `sigma_k` and at
        `sigma_k + grad_step`; `w0, w1`: the same for columns `[steps, W, W]`;
        `h_end, w_end`: `[H, H]`, `[W, W]` at `max_sigma`; `weights`:
        `float64[steps]`; `sigmas`: `float64[steps]`.
    """
    sigmas = np.arange(steps, dtype=np.float64) * float(max_sigma) / steps

    def stack(n: int, shift: float) -> np.ndarray:
        return np.stack([blur_matrix(n, s + shift, mode) for s in sigmas])

    return {
        "h0": stack(height, 0.0),
        "h1": stack(height, grad_step),
        "w0": stack(width, 0.0),
        "w1": stack(width, grad_step),
        "h_end": blur_matrix(height, max_sigma, mode),
        "w_end": blur_matrix(width, max_sigma, mode),
        "weights": np.full(steps, -(float(max_sigma) / steps) / grad_step),
        "sigmas": sigmas,
    }


def blur(images: np.ndarray, sigma: float, mode: str = "constant") -> np.ndarray:
    """Gaussian blur of `images` `[N, H, W, C]` over H and W (for tests and baselines)."""
    h = blur_matrix(images.shape[1], sigma, mode)
    w = blur_matrix(images.shape[2], sigma, mode)
    out = np.einsum("hi,nijc,wj->nhwc", h, images.astype(np.float64), w)
    return out.astype(images.dtype)
