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

import functools

import numpy as np

# scipy.ndimage.gaussian_filter's default kernel extent, in sigmas.
TRUNCATE = 4.0
MODES = ("constant", "reflect")


def blur_matrices(n: int, sigmas: np.ndarray, mode: str = "constant") -> np.ndarray:
    """`float64[S, n, n]`: `B[s]` with `(B[s] @ v)[i]` the blur of `v[n]` at `i`, sigma `sigmas[s]`.

    Args:
        n: the length of the axis blurred.
        sigmas: `[S]` standard deviations in pixels; 0 is the identity.
        mode: `"constant"` (zeros outside, PAIR's choice) or `"reflect"`
            (scipy's half-sample symmetric `d c b a | a b c d | d c b a`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    sigmas = np.asarray(sigmas, np.float64).reshape(-1)
    radii = np.array([int(TRUNCATE * float(sd) + 0.5) if sd > 0 else 0 for sd in sigmas])
    top = int(radii.max(initial=0))
    taps = np.arange(-top, top + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        # scipy's arithmetic: exp(-0.5 / sigma**2 * x**2) over |x| <= radius, normalised.
        phi = np.exp((-0.5 / sigmas[:, None] ** 2) * taps**2)
    phi = np.where(np.abs(taps) <= radii[:, None], phi, 0.0)
    phi[radii == 0] = (taps == 0).astype(np.float64)  # radius 0: the kernel [1]
    phi /= phi.sum(1, keepdims=True)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]

    def taps_onto(unfolded: np.ndarray) -> np.ndarray:
        """`[S, n, n]`: the tap reading position `unfolded[i, j]` from output `i`."""
        offset = unfolded - i
        inside = np.abs(offset) <= top
        return np.where(inside, phi[:, np.clip(offset + top, 0, 2 * top)], 0.0)

    if mode == "constant":
        return taps_onto(np.broadcast_to(j, (n, n)))
    # Reflection is periodic with period 2n: pixel j is read at j + 2 n m and
    # at 2 n m - 1 - j; a kernel wider than the image folds onto it repeatedly.
    out = np.zeros((sigmas.shape[0], n, n))
    reach = top // (2 * n) + 1
    for m in range(-reach, reach + 1):
        out += taps_onto(j + 2 * n * m) + taps_onto(2 * n * m - 1 - j)
    return out


def blur_matrix(n: int, sigma: float, mode: str = "constant") -> np.ndarray:
    """`float64[n, n]`: `blur_matrices` for one sigma."""
    return blur_matrices(n, np.array([sigma]), mode)[0]


@functools.lru_cache(maxsize=8)
def blur_path(
    height: int,
    width: int,
    max_sigma: float,
    steps: int,
    grad_step: float,
    mode: str = "constant",
    dtype: type = np.float64,
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

    Args:
        height, width: the image's spatial size.
        max_sigma, steps, grad_step: as in `keras_ig.blur_ig`.
        mode: the blur's boundary (see `blur_matrices`).
        dtype: the matrices' and weights' dtype (`sigmas` stay float64).

    Returns:
        `h0`: `[steps, H, H]`, the row blurs at `sigma_k`, and `dh`: the
        row blurs at `sigma_k + grad_step` minus `h0` (formed in float64, so
        the path's step needs no difference of two rounded blurs); `w0, dw`:
        the same for columns `[steps, W, W]`, and `w1 = w0 + dw` (the step's
        `dH x W1'` term needs it);
        `h_end, w_end`: `[H, H]`, `[W, W]` at `max_sigma`; `weights`:
        `[steps]`; `sigmas`: `float64[steps]`. Cached (the same
        path serves every batch), so the arrays are read-only.
    """
    sigmas = np.arange(steps, dtype=np.float64) * float(max_sigma) / steps
    ends = np.concatenate([sigmas, sigmas + grad_step, [max_sigma]])
    rows = blur_matrices(height, ends, mode)
    cols = rows if width == height else blur_matrices(width, ends, mode)
    path = {
        "h0": rows[:steps],
        "w0": cols[:steps],
        "w1": cols[steps:-1],
        "dh": rows[steps:-1] - rows[:steps],
        "dw": cols[steps:-1] - cols[:steps],
        "h_end": rows[-1],
        "w_end": cols[-1],
        "weights": np.full(steps, -(float(max_sigma) / steps) / grad_step),
        "sigmas": sigmas,
    }
    for key, value in path.items():
        if key != "sigmas":
            path[key] = value = value.astype(dtype)
        value.flags.writeable = False
    return path


def blur(images: np.ndarray, sigma: float, mode: str = "constant") -> np.ndarray:
    """Gaussian blur of `images` `[N, H, W, C]` over H and W (for tests and baselines)."""
    h = blur_matrix(images.shape[1], sigma, mode)
    w = blur_matrix(images.shape[2], sigma, mode)
    out = np.einsum("hi,nijc,wj->nhwc", h, images.astype(np.float64), w)
    return out.astype(images.dtype)
