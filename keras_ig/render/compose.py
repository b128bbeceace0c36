"""Putting pictures together: grids, column titles and the colour scale."""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from keras_ig._numpy import checks as _checks
from keras_ig._numpy import colors
from keras_ig.render import fonts
from keras_ig.render.images import PANEL_GAP

_SCALE_BAR_H = 8
_MIN_SCALE_BAR_W, _MAX_SCALE_BAR_W = 24, 160
_SCALE_STEPS = 64


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
def header(part_width: int, columns: tuple[str, ...]) -> Image.Image:
    """Column titles over parts `part_width` wide, `PANEL_GAP` apart.

    Cached per panel size: the callback redraws the same panels every epoch.
    """
    font = fonts.font()
    width = len(columns) * part_width + (len(columns) - 1) * PANEL_GAP
    img = Image.new("RGB", (width, fonts.text_height(font) + 2 * fonts.PAD_Y), colors.WHITE_RGB)
    draw = ImageDraw.Draw(img)
    for i, title in enumerate(columns):
        text = fonts.fit_text(font, title, part_width)
        x = i * (part_width + PANEL_GAP) + (part_width - fonts.text_width(font, text)) // 2
        draw.text((x, fonts.PAD_Y), text, font=font, fill=fonts.TEXT_DARK)
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
        part_width: each part's width (parts `PANEL_GAP` apart); defaults
            to the picture's width split evenly.
        caption: one line drawn under the scale (e.g. target and F(x)).

    Returns:
        RGB image as wide as `picture`, taller by the header, scale and
        caption lines.
    """
    font = fonts.font()
    line_h = fonts.text_height(font) + 2 * fonts.PAD_Y
    top = None
    if columns:
        n = len(columns)
        part = part_width or (picture.width - (n - 1) * PANEL_GAP) // n
        top = header(part, tuple(columns))
    # The range must be readable: beside the bar where it fits, else on a
    # line of its own under it (a picture of a few tokens is narrow).
    range_text = scale_text(scale, signed)
    text_w = fonts.text_width(font, range_text)
    beside = picture.width >= _MIN_SCALE_BAR_W + fonts.MARGIN + text_w
    bar_w = (
        min(_MAX_SCALE_BAR_W, picture.width - text_w - fonts.MARGIN)
        if beside
        else min(_MAX_SCALE_BAR_W, picture.width)
    )
    lines = (1 if beside else 2) + (1 if caption else 0)
    extra = (top.height if top else 0) + _SCALE_BAR_H + line_h * lines
    out = Image.new("RGB", (picture.width, picture.height + extra), colors.WHITE_RGB)
    y = 0
    if top is not None:
        out.paste(top, (0, 0))
        y = top.height
    out.paste(picture.convert("RGB"), (0, y))
    y += picture.height
    out.paste(Image.fromarray(_scale_bar(bar_w, bool(signed))), (0, y))
    draw = ImageDraw.Draw(out)
    if beside:
        draw.text((bar_w + fonts.MARGIN, y - 2), range_text, font=font, fill=fonts.TEXT_DARK)
    else:
        y += line_h
        text = fonts.fit_text(font, range_text, picture.width)
        draw.text((0, y + _SCALE_BAR_H - line_h // 2), text, font=font, fill=fonts.TEXT_DARK)
    if caption:
        text = fonts.fit_text(font, fonts.printable(caption), picture.width)
        draw.text((0, y + _SCALE_BAR_H + line_h // 2), text, font=font, fill=fonts.TEXT_DARK)
    return out
