"""Tokens as wrapped text, each on a background coloured by its attribution."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from keras_ig._numpy import checks as _checks
from keras_ig._numpy import colors
from keras_ig.render import fonts

_TOKEN_GAP = 4
_TEXT_LIGHT = (255, 255, 255)
# Above this |score| the background is dark enough that black text is hard
# to read on it.
_LIGHT_TEXT_ABOVE = 0.6


def _layout_tokens(
    labels: Sequence[str], font: fonts.FontType, max_width: int
) -> list[tuple[int, int, int, int]]:
    """Boxes `(x0, y0, x1, y1)`, end-exclusive, wrapping at `max_width`."""
    line_h = fonts.text_height(font) + 2 * fonts.PAD_Y
    boxes = []
    x, y = fonts.MARGIN, fonts.MARGIN
    for label in labels:
        w = max(fonts.text_width(font, label), 4) + 2 * fonts.PAD_X
        if x > fonts.MARGIN and x + w > max_width - fonts.MARGIN:
            x, y = fonts.MARGIN, y + line_h + _TOKEN_GAP
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
    s = colors.real_vector(scores, "scores")
    toks = _checks.strings(tokens, "tokens", s.size)
    v = colors.normalize(s[None, :], signed=True, clip_percentile=clip_percentile)
    v = v[0]
    backgrounds = colors.diverging(v)

    font = fonts.font()
    room = max_width - 2 * fonts.MARGIN - 2 * fonts.PAD_X
    labels = [fonts.fit_text(font, fonts.printable(t), room) for t in toks]
    boxes = _layout_tokens(labels, font, max_width)
    width = min(max_width, max(b[2] for b in boxes) + fonts.MARGIN)
    height = max(b[3] for b in boxes) + fonts.MARGIN

    img = Image.new("RGB", (width, height), colors.WHITE_RGB)
    draw = ImageDraw.Draw(img)
    for label, (x0, y0, x1, y1), bg, val in zip(labels, boxes, backgrounds, v, strict=True):
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=tuple(int(c) for c in bg))
        ink = _TEXT_LIGHT if abs(val) > _LIGHT_TEXT_ABOVE else fonts.TEXT_DARK
        draw.text((x0 + fonts.PAD_X, y0 + fonts.PAD_Y), label, font=font, fill=ink)
    return img
