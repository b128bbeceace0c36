"""Colour maps and value normalisation for rendering attributions.

Pure numpy, no PIL and no TensorFlow, so the maths behind every picture can
be tested without an imaging library. Colours are returned as `uint8` RGB.

Conventions:

- A *signed* normalised map lies in `[-1, 1]`: negative evidence is blue,
  positive evidence red, zero white (`diverging`).
- An *unsigned* normalised map lies in `[0, 1]`: it is the magnitude only and
  uses a black - red - yellow - white ramp (`sequential`).
"""

from __future__ import annotations

import numpy as np

from keras_ig._numpy import checks

# ColorBrewer RdBu end points: saturated but not neon, and still clearly red
# and blue when printed or seen by most colour-blind readers.
NEGATIVE_RGB = (33, 102, 172)
POSITIVE_RGB = (178, 24, 43)
WHITE_RGB = (255, 255, 255)


def as_real_array(x: object, name: str) -> np.ndarray:
    """`x` as a finite `float64` array of its shape.

    Raises:
        TypeError: naming `name`, for a non-numeric dtype.
        ValueError: naming `name`, for NaN or inf.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def real_vector(x: object, name: str) -> np.ndarray:
    """`x` as a non-empty, finite, 1-D `float64` array (see `as_real_array`)."""
    arr = as_real_array(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def normalize(
    attr: np.ndarray, *, signed: bool = True, clip_percentile: float = 99.0
) -> np.ndarray:
    """Scale an attribution map into a fixed display range.

    The scale is the `clip_percentile`-th percentile of `|attr|`, so a handful
    of extreme values cannot make the rest of the map invisible; values
    beyond it saturate. If that percentile is 0 (a map that is zero almost
    everywhere) the maximum of `|attr|` is used instead, so sparse evidence
    is still shown.

    Args:
        attr: `float[H, W]` attribution map.
        signed: if True keep the sign and return values in `[-1, 1]`;
            otherwise return the magnitude `|attr|` scaled into `[0, 1]`.
        clip_percentile: percentile of `|attr|` that maps to 1, in `(0, 100]`.
            100 means plain max-abs scaling.

    Returns:
        `float32[H, W]` in `[-1, 1]` (signed) or `[0, 1]` (unsigned). An
        all-zero map gives all zeros.

    Raises:
        TypeError: `attr` is not numeric or `clip_percentile` is not a number.
        ValueError: `attr` is not 2-D or not finite, or `clip_percentile` is
            outside `(0, 100]`.
    """
    pct = checks.percentile(clip_percentile)
    arr = as_real_array(attr, "attr")
    if arr.ndim != 2:
        raise ValueError(f"attr must be 2-D [H, W], got shape {arr.shape}")
    magnitude = np.abs(arr)
    if magnitude.size == 0:
        return np.zeros(arr.shape, dtype=np.float32)
    scale = _scale(magnitude, pct)
    if scale <= 0.0:
        return np.zeros(arr.shape, dtype=np.float32)
    if signed:
        out = np.clip(arr / scale, -1.0, 1.0)
    else:
        out = np.clip(magnitude / scale, 0.0, 1.0)
    return out.astype(np.float32)


def _scale(magnitude: np.ndarray, pct: float) -> float:
    """The `|attr|` drawn at full colour (see `normalize`); 0 for a zero map."""
    scale = _percentile(magnitude.reshape(-1), pct)
    return scale if scale > 0.0 else float(magnitude.max())


def full_colour_value(attr: np.ndarray, clip_percentile: float = 99.0) -> float:
    """The `|attr|` that `normalize` maps to full colour, for a colour scale.

    Args:
        attr: `float[H, W]` (or any shape) attribution values, finite.
        clip_percentile: as in `normalize`.

    Returns:
        A float >= 0; 0 only for an all-zero map.
    """
    pct = checks.percentile(clip_percentile)
    magnitude = np.abs(as_real_array(attr, "attr"))
    return 0.0 if magnitude.size == 0 else _scale(magnitude, pct)


def _percentile(values: np.ndarray, q: float) -> float:
    """`np.percentile(values, q)` (linear interpolation) of a flat array.

    Two order statistics by partial sort: a callback draws a map per probe
    per epoch, and the full percentile machinery costs several times more.
    """
    position = q / 100.0 * (values.size - 1)
    lo = int(np.floor(position))
    hi = min(lo + 1, values.size - 1)
    part = np.partition(values, (lo, hi))
    return float(part[lo] + (part[hi] - part[lo]) * (position - lo))


def diverging(v: np.ndarray) -> np.ndarray:
    """Blue - white - red colours for signed values.

    Linear in RGB from white at 0 to `POSITIVE_RGB` (red) at +1 and to
    `NEGATIVE_RGB` (blue) at -1. Values outside `[-1, 1]` are clipped.

    Args:
        v: `float[...]`, normally the output of `normalize(..., signed=True)`.

    Returns:
        `uint8[..., 3]` RGB colours.
    """
    v = np.clip(as_real_array(v, "v"), -1.0, 1.0)
    white = np.asarray(WHITE_RGB, dtype=np.float64)
    ends = np.asarray([NEGATIVE_RGB, POSITIVE_RGB], dtype=np.float64) - white
    rgb = white + np.abs(v)[..., None] * ends[(v >= 0).astype(np.intp)]
    return np.rint(rgb).astype(np.uint8)


def sequential(v: np.ndarray) -> np.ndarray:
    """Black - red - yellow - white colours for magnitudes.

    A "hot" ramp: red rises over `[0, 1/3]`, green over `[1/3, 2/3]` and blue
    over `[2/3, 1]`, so 0 is black, 1/3 red, 2/3 yellow and 1 white. Values
    outside `[0, 1]` are clipped.

    Args:
        v: `float[...]`, normally the output of `normalize(..., signed=False)`.

    Returns:
        `uint8[..., 3]` RGB colours.
    """
    v = np.clip(as_real_array(v, "v"), 0.0, 1.0)
    channels = [np.clip(3.0 * v - k, 0.0, 1.0) for k in (0.0, 1.0, 2.0)]
    return np.rint(np.stack(channels, axis=-1) * 255.0).astype(np.uint8)


def to_display(image: np.ndarray) -> np.ndarray:
    """Bring a probe image into `[0, 1]` RGB for display.

    The value range decides the scaling, whatever the dtype:

    1. all values within `[0, 1]`: kept as they are;
    2. otherwise all within `[0, 255]`: divided by 255;
    3. otherwise (e.g. mean-centred or standardised inputs): min-max scaled
       to `[0, 1]`; a constant image becomes all zeros.

    Greyscale inputs are repeated into three channels.

    Args:
        image: `[H, W]`, `[H, W, 1]` or `[H, W, 3]` real array.

    Returns:
        `float32[H, W, 3]` in `[0, 1]`.

    Raises:
        TypeError: `image` is not numeric.
        ValueError: `image` has another shape or non-finite values.
    """
    arr = as_real_array(image, "image")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ValueError(
            "image must be [H, W], [H, W, 1] or [H, W, 3] (no batch axis), "
            f"got shape {np.shape(image)}"
        )
    if arr.size:
        lo, hi = float(arr.min()), float(arr.max())
        if lo >= 0.0 and hi <= 1.0:
            pass
        elif lo >= 0.0 and hi <= 255.0:
            arr = arr / 255.0
        elif hi > lo:
            arr = (arr - lo) / (hi - lo)
        else:
            arr = np.zeros_like(arr)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return arr.astype(np.float32)


def reduce_channels(attr: np.ndarray) -> np.ndarray:
    """Collapse per-channel attributions to one value per pixel.

    Summing (rather than averaging or taking abs) keeps completeness: the
    pixel values still add up to the total attribution.

    Args:
        attr: `float[H, W]` (returned as is) or `float[H, W, C]`.

    Returns:
        `float64[H, W]`.

    Raises:
        TypeError: `attr` is not numeric.
        ValueError: `attr` is not 2-D or 3-D, or has non-finite values.
    """
    arr = as_real_array(attr, "attr")
    if arr.ndim == 3:
        return arr.sum(axis=-1)
    if arr.ndim == 2:
        return arr
    raise ValueError(f"attr must be [H, W] or [H, W, C] (no batch axis), got shape {arr.shape}")
