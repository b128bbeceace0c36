"""Render attributions as pictures: numpy arrays in, `PIL.Image.Image` out.

Nothing here imports TensorFlow, so pictures can be made from attributions
saved to disk. Anything array-like (numpy arrays, eager tensors) is accepted
and read with `np.asarray`.

Colours (see `keras_ig._numpy.colors`):

- signed maps: blue negative, white zero, red positive, after scaling by the
  `clip_percentile`-th percentile of `|attr|` (values beyond saturate);
- unsigned maps (`signed=False`): `|attr|` on a black - red - yellow - white
  ramp.

Small inputs (e.g. 28x28) are enlarged by a whole-number factor with
nearest-neighbour resampling, so each input pixel stays a crisp square block
and the picture never suggests detail the model did not see.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_ig._numpy import checks as _checks
from keras_ig._numpy import colors

__all__ = [
    "attribution_map",
    "overlay",
    "image_panel",
    "token_image",
    "bar_chart",
    "grid",
    "labelled",
]

OUTLINE_RGB = (0, 255, 0)
"""Mask outline colour: pure green never occurs in either colour map."""

_PANEL_GAP = 4
_MARGIN = 6
_TOKEN_PAD_X = 3
_TOKEN_PAD_Y = 2
_TOKEN_GAP = 4
_BAR_ROW_PAD = 3
_ZERO_LINE_RGB = (64, 64, 64)
_TEXT_DARK = (0, 0, 0)
_TEXT_LIGHT = (255, 255, 255)
# Above this |score| the background is dark enough that black text is hard
# to read on it.
_LIGHT_TEXT_ABOVE = 0.6
_ELLIPSIS = "..."
PANEL_TITLES = ("input", "attribution", "overlay")
"""Column headers of an `image_panel`, left to right."""
_SCALE_BAR_H = 8
_MIN_SCALE_BAR_W, _MAX_SCALE_BAR_W = 24, 160
_SCALE_STEPS = 64

_FontType = ImageFont.ImageFont | ImageFont.FreeTypeFont


# --------------------------------------------------------------------------
# argument checks


def _attr_2d(attr: object) -> np.ndarray:
    arr = colors.reduce_channels(attr)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"attr must not be empty, got shape {np.shape(attr)}")
    return arr


def _check_mask(mask: object, shape: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"mask shape {arr.shape} does not match the attribution's [H, W] {shape}")
    return arr


def _check_scores_1d(scores: object, name: str) -> np.ndarray:
    arr = colors.as_real_array(scores, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def _check_strings(values: object, name: str, length: int) -> list[str]:
    # A bare string is a Sequence too; treating it as one label per character
    # is never what the caller meant.
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of str, got {type(values).__name__}")
    out = list(values)
    for i, v in enumerate(out):
        if not isinstance(v, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(v).__name__}")
    if len(out) != length:
        raise ValueError(f"{name} has {len(out)} entries but scores has {length}; they must match")
    return out


# --------------------------------------------------------------------------
# image helpers


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
    canvas = np.full((height, 3 * width + 2 * _PANEL_GAP, 3), 255, dtype=np.uint8)
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
    panel[:, width + _PANEL_GAP : 2 * width + _PANEL_GAP] = _enlarge(rgb, factor)
    mixed = panel[:, 2 * (width + _PANEL_GAP) :]
    mixed[...] = _enlarge(_blend(base.grey, v, rgb), factor)
    if base.outline is not None:
        mixed[base.outline] = OUTLINE_RGB
    return Image.fromarray(panel)


@functools.lru_cache(maxsize=1)
def _font() -> _FontType:
    return ImageFont.load_default()


def _text_width(font: _FontType, text: str) -> int:
    if not text:
        return 0
    left, _, right, _ = font.getbbox(text)
    return math.ceil(max(right, font.getlength(text)) - min(left, 0))


def _text_height(font: _FontType) -> int:
    # Measured on a string with ascenders and descenders so every line gets
    # the same height whatever its words.
    return math.ceil(font.getbbox("Ahgjy|")[3])


def _fit_text(font: _FontType, text: str, max_px: int) -> str:
    if _text_width(font, text) <= max_px:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _text_width(font, text[:mid] + _ELLIPSIS) <= max_px:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + _ELLIPSIS


def _printable(token: str) -> str:
    # Control characters would make PIL start a new line or draw nothing.
    return token.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


# --------------------------------------------------------------------------
# public API


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


def _layout_tokens(
    labels: Sequence[str], font: _FontType, max_width: int
) -> list[tuple[int, int, int, int]]:
    """Boxes `(x0, y0, x1, y1)`, end-exclusive, wrapping at `max_width`."""
    line_h = _text_height(font) + 2 * _TOKEN_PAD_Y
    boxes = []
    x, y = _MARGIN, _MARGIN
    for label in labels:
        w = max(_text_width(font, label), 4) + 2 * _TOKEN_PAD_X
        if x > _MARGIN and x + w > max_width - _MARGIN:
            x, y = _MARGIN, y + line_h + _TOKEN_GAP
        boxes.append((x, y, x + w, y + line_h))
        x += w + _TOKEN_GAP
    return boxes


def token_image(
    tokens: Sequence[str],
    scores: np.ndarray,
    *,
    clip_percentile: float = 100.0,
    max_width: int = 800,
) -> Image.Image:
    """Draw tokens as wrapped text, each on a background coloured by score.

    Scores are normalised like a signed map (scaled by the
    `clip_percentile`-th percentile of `|scores|`), then coloured blue
    (negative) - white (zero) - red (positive). Text uses PIL's built-in
    default font, so nothing is downloaded. Tokens too long for a line are
    cut short with "..."; newlines and tabs inside a token are shown as
    `\\n` and `\\t`.

    Args:
        tokens: `T` strings.
        scores: `float[T]`, one attribution per token.
        clip_percentile: in `(0, 100]`; 100 (default) scales by the largest
            `|score|`.
        max_width: maximum picture width in pixels (at least 64); lines wrap
            to fit it.

    Returns:
        RGB image at most `max_width` wide and as tall as the lines need.

    Raises:
        TypeError: `tokens` is not a sequence of str, or `scores` is not
            numeric.
        ValueError: `tokens` is empty, its length differs from `scores`, or
            an argument is out of range.
    """
    max_width = _checks.integer(max_width, "max_width", 64)
    s = _check_scores_1d(scores, "scores")
    toks = _check_strings(tokens, "tokens", s.size)
    v = colors.normalize(s[None, :], signed=True, clip_percentile=clip_percentile)
    v = v[0]
    backgrounds = colors.diverging(v)

    font = _font()
    room = max_width - 2 * _MARGIN - 2 * _TOKEN_PAD_X
    labels = [_fit_text(font, _printable(t), room) for t in toks]
    boxes = _layout_tokens(labels, font, max_width)
    width = min(max_width, max(b[2] for b in boxes) + _MARGIN)
    height = max(b[3] for b in boxes) + _MARGIN

    img = Image.new("RGB", (width, height), colors.WHITE_RGB)
    draw = ImageDraw.Draw(img)
    for label, (x0, y0, x1, y1), bg, val in zip(labels, boxes, backgrounds, v, strict=True):
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=tuple(int(c) for c in bg))
        ink = _TEXT_LIGHT if abs(val) > _LIGHT_TEXT_ABOVE else _TEXT_DARK
        draw.text((x0 + _TOKEN_PAD_X, y0 + _TOKEN_PAD_Y), label, font=font, fill=ink)
    return img


def _select_features(scores: np.ndarray, max_features: int) -> np.ndarray:
    """Indices of the `max_features` largest `|scores|`, largest first.

    A stable sort, so ties keep the original feature order.
    """
    order = np.argsort(-np.abs(scores), kind="stable")
    return order[:max_features]


def _bar_row_height(font: _FontType) -> int:
    return _text_height(font) + 2 * _BAR_ROW_PAD


def bar_chart(
    scores: np.ndarray,
    feature_names: Sequence[str] | None = None,
    *,
    max_features: int = 30,
    width: int = 480,
) -> Image.Image:
    """Horizontal bar chart of per-feature attributions.

    One row per feature: its name on the left, a bar from a vertical zero
    line (red to the right for positive, blue to the left for negative) and
    the value on the right. Bars share one scale, the span from the most
    negative to the most positive shown score, so the zero line sits where
    that span puts it (the left edge when no score is negative).

    Rows are sorted by `|score|`, largest at the top. If there are more
    than `max_features` features only the `max_features` largest `|score|`
    ones are shown (ties go to the lower index); the rest are left out.

    Args:
        scores: `float[F]`, one attribution per feature.
        feature_names: `F` names; defaults to `f0, f1, ...`. Long names are
            cut short with "...".
        max_features: most rows to draw, at least 1.
        width: picture width in pixels, at least 160.

    Returns:
        RGB image `width` wide, one text line plus padding per row.

    Raises:
        TypeError: `feature_names` is not a sequence of str, or `scores` is
            not numeric.
        ValueError: `scores` is not 1-D or is empty, `feature_names` has the
            wrong length, or an argument is out of range.
    """
    s = _check_scores_1d(scores, "scores")
    if feature_names is None:
        names = [f"f{i}" for i in range(s.size)]
    else:
        names = _check_strings(feature_names, "feature_names", s.size)
    max_features = _checks.integer(max_features, "max_features", 1)
    width = _checks.integer(width, "width", 160)

    font = _font()
    chosen = _select_features(s, max_features)
    values = s[chosen]
    value_texts = [f"{x:+.3g}" for x in values]
    label_room = int(width * 0.35)
    labels = [_fit_text(font, names[i], label_room) for i in chosen]

    label_w = max(_text_width(font, t) for t in labels)
    value_w = max(_text_width(font, t) for t in value_texts)
    bar_x0 = _MARGIN + label_w + _MARGIN
    bar_x1 = width - _MARGIN - value_w - _MARGIN
    bar_w = bar_x1 - bar_x0
    if bar_w < 16:
        raise ValueError(f"width={width} leaves no room for bars; use a larger width")

    pos_max = max(float(values.max()), 0.0)
    neg_max = max(-float(values.min()), 0.0)
    span = pos_max + neg_max
    zero_x = bar_x0 + (round(bar_w * neg_max / span) if span > 0 else 0)

    row_h = _bar_row_height(font)
    text_h = _text_height(font)
    height = 2 * _MARGIN + row_h * len(chosen)
    img = Image.new("RGB", (width, height), colors.WHITE_RGB)
    draw = ImageDraw.Draw(img)
    for row, (label, value, text) in enumerate(zip(labels, values, value_texts, strict=True)):
        top = _MARGIN + row * row_h
        text_y = top + _BAR_ROW_PAD
        draw.text((_MARGIN, text_y), label, font=font, fill=_TEXT_DARK)
        draw.text((bar_x1 + _MARGIN, text_y), text, font=font, fill=_TEXT_DARK)
        length = round(bar_w * abs(value) / span) if span > 0 else 0
        if length == 0:
            continue
        if value > 0:
            x0, x1, color = zero_x, zero_x + length, colors.POSITIVE_RGB
        else:
            x0, x1, color = zero_x - length, zero_x, colors.NEGATIVE_RGB
        draw.rectangle((x0, text_y, x1 - 1, text_y + text_h - 1), fill=color)
    draw.line((zero_x, _MARGIN, zero_x, height - _MARGIN - 1), fill=_ZERO_LINE_RGB)
    return img


def _check_background(background: object) -> tuple[int, int, int]:
    if isinstance(background, str) or not isinstance(background, Sequence):
        raise TypeError(
            f"background must be an (r, g, b) tuple of ints, got {type(background).__name__}"
        )
    if len(background) != 3:
        raise ValueError(f"background must have 3 values, got {len(background)}")
    out = []
    for c in background:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise TypeError(f"background values must be ints, got {c!r}")
        if not 0 <= c <= 255:
            raise ValueError(f"background values must be in [0, 255], got {c}")
        out.append(int(c))
    return out[0], out[1], out[2]


def grid(
    images: Sequence[Image.Image],
    *,
    cols: int | None = None,
    pad: int = 4,
    background: tuple[int, int, int] = (255, 255, 255),
) -> Image.Image:
    """Tile pictures into a grid, row by row.

    Every cell is as large as the largest picture; smaller pictures are
    centred in their cell. `pad` pixels separate the cells and also frame
    the grid. Transparent pictures are composited onto `background`.

    Args:
        images: one or more `PIL.Image.Image`.
        cols: number of columns; defaults to `ceil(sqrt(len(images)))` and
            is capped at `len(images)`.
        pad: gap in pixels, at least 0.
        background: RGB fill colour, ints in `[0, 255]`.

    Returns:
        RGB image of size `(cols * cell_w + (cols + 1) * pad,
        rows * cell_h + (rows + 1) * pad)`.

    Raises:
        TypeError: `images` is not a sequence of images, or a wrongly typed
            argument.
        ValueError: `images` is empty, or an argument is out of range.
    """
    if not isinstance(images, Sequence):
        raise TypeError(f"images must be a sequence of PIL images, got {type(images).__name__}")
    pictures = list(images)
    if not pictures:
        raise ValueError("images must not be empty")
    for i, im in enumerate(pictures):
        if not isinstance(im, Image.Image):
            raise TypeError(f"images[{i}] must be a PIL.Image.Image, got {type(im).__name__}")
    n = len(pictures)
    cols = math.ceil(math.sqrt(n)) if cols is None else _checks.integer(cols, "cols", 1)
    cols = min(cols, n)
    pad = _checks.integer(pad, "pad", 0)
    fill = _check_background(background)

    rows = math.ceil(n / cols)
    cell_w = max(im.width for im in pictures)
    cell_h = max(im.height for im in pictures)
    out = Image.new(
        "RGB",
        (cols * cell_w + (cols + 1) * pad, rows * cell_h + (rows + 1) * pad),
        fill,
    )
    for i, im in enumerate(pictures):
        r, c = divmod(i, cols)
        x = pad + c * (cell_w + pad) + (cell_w - im.width) // 2
        y = pad + r * (cell_h + pad) + (cell_h - im.height) // 2
        if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
            rgba = im.convert("RGBA")
            out.paste(rgba, (x, y), rgba)
        else:
            out.paste(im.convert("RGB"), (x, y))
    return out


@functools.lru_cache(maxsize=32)
def _header(part_width: int, columns: tuple[str, ...]) -> Image.Image:
    """Column titles over parts `part_width` wide, `_PANEL_GAP` apart.

    Cached per panel size: the callback redraws the same panels every epoch.
    """
    font = _font()
    width = len(columns) * part_width + (len(columns) - 1) * _PANEL_GAP
    img = Image.new("RGB", (width, _text_height(font) + 2 * _TOKEN_PAD_Y), colors.WHITE_RGB)
    draw = ImageDraw.Draw(img)
    for i, title in enumerate(columns):
        text = _fit_text(font, title, part_width)
        x = i * (part_width + _PANEL_GAP) + (part_width - _text_width(font, text)) // 2
        draw.text((x, _TOKEN_PAD_Y), text, font=font, fill=_TEXT_DARK)
    return img


@functools.lru_cache(maxsize=8)
def _scale_bar(width: int, signed: bool) -> np.ndarray:
    """`uint8[_SCALE_BAR_H, width, 3]`: the colour map from -1 (or 0) to 1."""
    v = np.linspace(-1.0 if signed else 0.0, 1.0, _SCALE_STEPS, dtype=np.float32)
    rgb = (colors.diverging(v[None, :]) if signed else colors.sequential(v[None, :]))[0]
    cols = rgb[np.minimum(np.arange(width) * _SCALE_STEPS // max(width, 1), _SCALE_STEPS - 1)]
    return np.ascontiguousarray(np.broadcast_to(cols, (_SCALE_BAR_H, width, 3)), dtype=np.uint8)


def scale_text(scale: float, signed: bool) -> str:
    """The colour scale's range as printed under a picture, e.g. `"±1.3e-13"`."""
    return f"\u00b1{scale:.2g}" if signed else f"0 .. {scale:.2g}"


def labelled(
    picture: Image.Image,
    *,
    scale: float,
    signed: bool = True,
    columns: Sequence[str] = (),
    part_width: int | None = None,
    caption: str = "",
) -> Image.Image:
    """A picture with column titles above and a colour scale below.

    Args:
        picture: e.g. an `image_panel` or `attribution_map`.
        scale: the `|attr|` drawn at full colour
            (`keras_ig._numpy.colors.full_colour_value`), printed on the scale so a
            map of 1e-13 cannot pass for a real one.
        signed: the colour map the picture uses.
        columns: titles over parts of the picture (e.g. `PANEL_TITLES`).
        part_width: each part's width (parts `_PANEL_GAP` apart); defaults
            to the picture's width split evenly.
        caption: one line drawn under the scale (e.g. target and F(x)).

    Returns:
        RGB image as wide as `picture`, taller by the header, scale and
        caption lines.
    """
    font = _font()
    line_h = _text_height(font) + 2 * _TOKEN_PAD_Y
    header = None
    if columns:
        n = len(columns)
        part = part_width or (picture.width - (n - 1) * _PANEL_GAP) // n
        header = _header(part, tuple(columns))
    # The range must be readable: beside the bar where it fits, else on a
    # line of its own under it (a picture of a few tokens is narrow).
    range_text = scale_text(scale, signed)
    text_w = _text_width(font, range_text)
    beside = picture.width >= _MIN_SCALE_BAR_W + _MARGIN + text_w
    bar_w = (
        min(_MAX_SCALE_BAR_W, picture.width - text_w - _MARGIN)
        if beside
        else min(_MAX_SCALE_BAR_W, picture.width)
    )
    lines = (1 if beside else 2) + (1 if caption else 0)
    extra = (header.height if header else 0) + _SCALE_BAR_H + line_h * lines
    out = Image.new("RGB", (picture.width, picture.height + extra), colors.WHITE_RGB)
    y = 0
    if header is not None:
        out.paste(header, (0, 0))
        y = header.height
    out.paste(picture.convert("RGB"), (0, y))
    y += picture.height
    out.paste(Image.fromarray(_scale_bar(bar_w, bool(signed))), (0, y))
    draw = ImageDraw.Draw(out)
    if beside:
        draw.text((bar_w + _MARGIN, y - 2), range_text, font=font, fill=_TEXT_DARK)
    else:
        y += line_h
        text = _fit_text(font, range_text, picture.width)
        draw.text((0, y + _SCALE_BAR_H - line_h // 2), text, font=font, fill=_TEXT_DARK)
    if caption:
        text = _fit_text(font, _printable(caption), picture.width)
        draw.text((0, y + _SCALE_BAR_H + line_h // 2), text, font=font, fill=_TEXT_DARK)
    return out
