"""The picture's text: PIL's built-in font, measured, fitted and made printable.

PIL's default font ships with Pillow, so nothing is downloaded.
"""

from __future__ import annotations

import functools
import math

from PIL import ImageFont

FontType = ImageFont.ImageFont | ImageFont.FreeTypeFont

MARGIN = 6
"""Pixels around a token picture's or bar chart's content."""
PAD_X = 3
PAD_Y = 2
"""Padding around a line of text (a token's box, a header line)."""
TEXT_DARK = (0, 0, 0)
_ELLIPSIS = "..."


@functools.lru_cache(maxsize=1)
def font() -> FontType:
    """PIL's built-in default font (loaded once)."""
    return ImageFont.load_default()


def text_width(font: FontType, text: str) -> int:
    """Pixels `text` takes in `font`."""
    if not text:
        return 0
    left, _, right, _ = font.getbbox(text)
    return math.ceil(max(right, font.getlength(text)) - min(left, 0))


def text_height(font: FontType) -> int:
    """One line's height in `font`, the same for every line."""
    # Measured on a string with ascenders and descenders so every line gets
    # the same height whatever its words.
    return math.ceil(font.getbbox("Ahgjy|")[3])


def fit_text(font: FontType, text: str, max_px: int) -> str:
    """`text`, cut short with "..." to fit `max_px`."""
    if text_width(font, text) <= max_px:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(font, text[:mid] + _ELLIPSIS) <= max_px:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + _ELLIPSIS


def printable(token: str) -> str:
    """`token` with newlines and tabs written as escapes."""
    # Control characters would make PIL start a new line or draw nothing.
    return token.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
