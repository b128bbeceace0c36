"""Image pictures: attribution maps, overlays and probe | map | overlay panels."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from keras_ig._numpy import checks as _checks
from keras_ig._numpy import colors

OUTLINE_RGB = (0, 255, 0)
"""Mask outline colour: pure green never occurs in either colour map."""
PANEL_GAP = 4
"""White pixels between the parts of a panel."""
PANEL_TITLES = ("input", "attribution", "overlay")
"""Column headers of an `image_panel`, left to right."""


def _attr_2d(attr: object) -> np.ndarray:
    arr = colors.reduce_channels(attr)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"attr must not be empty, got shape {np.shape(attr)}")
    return arr


def _check_mask(mask: object, shape: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    arr = _checks.boolean_array(mask, "mask")
    if arr.shape != shape:
        raise ValueError(f"mask shape {arr.shape} does not match the attribution's [H, W] {shape}")
    return arr


def _scale_factor(height: int, width: int, min_size: int) -> int:
    return max(1, math.ceil(min_size / min(height, width)))


def _upscale(rgb: np.ndarray, factor: int) -> Image.Image:
    img = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    if factor == 1:
        return img
    size = (img.width * factor, img.height * factor)
    return img.resize(size, Image.Resampling.NEAREST)


def _color_map(
    attr2d: np.ndarray, signed: bool, clip_percentile: float
) -> tuple[np.ndarray, np.ndarray]:
    v = colors.normalize(attr2d, signed=signed, clip_percentile=clip_percentile)
    rgb = colors.diverging(v) if signed else colors.sequential(v)
    return v, rgb


def _probe_rgb(image: object, shape: tuple[int, int]) -> np.ndarray:
    rgb = colors.to_display(image)
    if rgb.shape[:2] != shape:
        raise ValueError(
            f"image [H, W] {rgb.shape[:2]} does not match the attribution's [H, W] {shape}"
        )
    return rgb


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _outer_boundary(mask: np.ndarray) -> np.ndarray:
    """`bool[H, W]`: the 1-pixel ring just outside `mask`.

    The outline is drawn outside the object so that it never covers the
    object's own (often strongest) attributions; where the object touches
    the image border there is no outside, and its border pixels close it.
    """
    p = np.pad(mask, 1, constant_values=False)
    near = p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    edge = np.zeros_like(mask)
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    return (near & ~mask) | (mask & edge)


def _enlarge(rgb: np.ndarray, factor: int) -> np.ndarray:
    """`uint8[H, W, 3]` enlarged `factor` times, nearest neighbour (= `_upscale`)."""
    if factor == 1:
        return rgb
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def _grey_base(probe: np.ndarray) -> np.ndarray:
    """The overlay's background: the probe's luminance mapped into [0.25, 0.75]."""
    luminance = probe @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.repeat((0.25 + 0.5 * luminance)[..., None], 3, axis=-1)


def _blend(base: np.ndarray, v: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Map colours `rgb` over `base` with opacity `|v|`, as `uint8`."""
    alpha = np.abs(v)[..., None]
    return _to_uint8((1.0 - alpha) * base + alpha * (rgb / 255.0))


def _outline(mask: np.ndarray, factor: int) -> tuple[np.ndarray, ...]:
    """Indices of the outline pixels around the enlarged mask (see `_outer_boundary`)."""
    big = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    return np.nonzero(_outer_boundary(big))


class PanelBase:
    """What an image panel owes to its probe and mask alone, drawn once.

    The callback keeps one per probe and reuses it at every epoch: the
    enlarged probe (the panel's left part, already on the white canvas), the
    overlay's grey background and the outline's pixels.
    """

    __slots__ = ("canvas", "factor", "grey", "outline", "shape")

    def __init__(
        self,
        shape: tuple[int, int],
        factor: int,
        canvas: np.ndarray,
        grey: np.ndarray,
        outline: tuple[np.ndarray, ...] | None,
    ) -> None:
        self.shape = shape
        self.factor = factor
        self.canvas = canvas
        self.grey = grey
        self.outline = outline


def panel_base(image: object, shape: tuple[int, int], mask: object, min_size: int) -> PanelBase:
    """The per-probe part of `image_panel` (checks `image` and `mask`)."""
    probe = _probe_rgb(image, shape)
    m = _check_mask(mask, shape)
    factor = _scale_factor(*shape, min_size)
    height, width = shape[0] * factor, shape[1] * factor
    canvas = np.full((height, 3 * width + 2 * PANEL_GAP, 3), 255, dtype=np.uint8)
    canvas[:, :width] = _enlarge(_to_uint8(probe), factor)
    outline = _outline(m, factor) if m is not None and m.any() else None
    return PanelBase(shape, factor, canvas, _grey_base(probe), outline)


def draw_panel(
    base: PanelBase, attr: np.ndarray, *, signed: bool, clip_percentile: float
) -> Image.Image:
    """`image_panel` of `attr [H, W]` (float64, finite) over a drawn `base`."""
    if attr.shape != base.shape:
        raise ValueError(f"attr shape {attr.shape} does not match the panel's {base.shape}")
    v, rgb = _color_map(attr, signed, clip_percentile)
    panel = base.canvas.copy()
    factor = base.factor
    width = base.shape[1] * factor
    panel[:, width + PANEL_GAP : 2 * width + PANEL_GAP] = _enlarge(rgb, factor)
    mixed = panel[:, 2 * (width + PANEL_GAP) :]
    mixed[...] = _enlarge(_blend(base.grey, v, rgb), factor)
    if base.outline is not None:
        mixed[base.outline] = OUTLINE_RGB
    return Image.fromarray(panel)


def attribution_map(
    attr: np.ndarray,
    *,
    signed: bool = True,
    clip_percentile: float = 99.0,
    min_size: int = 128,
) -> Image.Image:
    """Draw an attribution map on its own.

    Args:
        attr: `float[H, W]` or `float[H, W, C]`; channels are summed.
        signed: blue/white/red by sign if True, else `|attr|` on the
            black - red - yellow - white ramp.
        clip_percentile: percentile of `|attr|` that maps to full colour, in
            `(0, 100]`; larger values saturate.
        min_size: the picture is enlarged by the smallest whole factor `k`
            that makes its short side `>= min_size` (nearest neighbour).
            `0` or a small value keeps the input size.

    Returns:
        RGB image of size `(W * k, H * k)`.

    Raises:
        TypeError: a wrongly typed argument.
        ValueError: `attr` is not `[H, W]` / `[H, W, C]` or is empty, or an
            argument is out of range.
    """
    signed = _checks.boolean(signed, "signed")
    min_size = _checks.integer(min_size, "min_size", 0)
    a = _attr_2d(attr)
    _, rgb = _color_map(a, signed, clip_percentile)
    return _upscale(rgb, _scale_factor(*a.shape, min_size))


def overlay(
    image: np.ndarray,
    attr: np.ndarray,
    *,
    signed: bool = True,
    clip_percentile: float = 99.0,
    mask: np.ndarray | None = None,
    min_size: int = 128,
) -> Image.Image:
    """Blend the attribution colours over a dimmed greyscale probe.

    The probe is shown as its luminance mapped into `[0.25, 0.75]`, so that
    neither white nor black areas hide the colours. Each pixel's colour is
    blended on top with opacity `|v|`, where `v` is the normalised
    attribution (see `attribution_map`): zero attribution leaves the probe
    visible, saturated attribution shows pure colour.

    Args:
        image: the probe, `[H, W]`, `[H, W, 1]` or `[H, W, 3]`, in `[0, 1]`,
            `[0, 255]` or any range (see `keras_ig._numpy.colors.to_display`).
        attr: `float[H, W]` or `float[H, W, C]`; channels are summed.
        signed: as in `attribution_map`.
        clip_percentile: as in `attribution_map`.
        mask: optional `bool[H, W]`; outlined one display pixel wide in
            `OUTLINE_RGB` after enlarging, on the ring of pixels just outside
            the object (so it never hides the object's attributions), and on
            the object's own pixels where it touches the image edge.
        min_size: as in `attribution_map`.

    Returns:
        RGB image of size `(W * k, H * k)`.

    Raises:
        TypeError: a wrongly typed argument (e.g. a non-boolean mask).
        ValueError: shapes of `image`, `attr` and `mask` disagree, or an
            argument is out of range.
    """
    signed = _checks.boolean(signed, "signed")
    min_size = _checks.integer(min_size, "min_size", 0)
    a = _attr_2d(attr)
    shape = (a.shape[0], a.shape[1])
    probe = _probe_rgb(image, shape)
    m = _check_mask(mask, shape)
    v, rgb = _color_map(a, signed, clip_percentile)

    factor = _scale_factor(*shape, min_size)
    out = _upscale(_blend(_grey_base(probe), v, rgb), factor)
    if m is None or not m.any():
        return out
    pixels = np.array(out)
    pixels[_outline(m, factor)] = OUTLINE_RGB
    return Image.fromarray(pixels)


def image_panel(
    image: np.ndarray,
    attr: np.ndarray,
    *,
    signed: bool = True,
    clip_percentile: float = 99.0,
    mask: np.ndarray | None = None,
    min_size: int = 128,
) -> Image.Image:
    """Probe, attribution map and overlay side by side.

    All three parts are enlarged by the same factor `k` (see
    `attribution_map`) and separated by a 4-pixel white gap.

    Args:
        image: the probe, as in `overlay`.
        attr: `float[H, W]` or `float[H, W, C]`; channels are summed.
        signed: as in `attribution_map`.
        clip_percentile: as in `attribution_map`.
        mask: optional `bool[H, W]`, outlined on the overlay only.
        min_size: as in `attribution_map`.

    Returns:
        RGB image of size `(3 * W * k + 2 * 4, H * k)`.

    Raises:
        TypeError, ValueError: as for `overlay`.
    """
    min_size = _checks.integer(min_size, "min_size", 0)
    a = _attr_2d(attr)
    shape = (a.shape[0], a.shape[1])
    probe = _probe_rgb(image, shape)
    signed = _checks.boolean(signed, "signed")
    base = panel_base(probe, shape, mask, min_size)
    return draw_panel(base, a, signed=signed, clip_percentile=clip_percentile)
