"""Pictures and HTML of text and generation explanations.

Tokens are drawn by `keras_ig.render.token_image` (blue negative, white
zero, red positive, scaled by the largest `|attribution|` of the text);
a generation is a matrix, generated tokens (rows) x the sequence's tokens
(columns), on the same colours, scaled by the largest `|attribution|` of
the matrix. Both carry the colour scale's range so that tiny attributions
cannot pass for large ones.
"""

from __future__ import annotations

import html
import os
import pathlib
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_ig import render
from keras_ig._numpy import checks, colors

_MARGIN = 6
_INK = (0, 0, 0)
_GRID = (200, 200, 200)
_MAX_LABEL = 16  # characters of a row/column label
# Word-start marks of byte-level BPE and SentencePiece, shown as a middle dot
# (PIL's built-in font has no glyph for them).
_SPACE_MARKS = str.maketrans({"\u0120": "\u00b7", "\u2581": "\u00b7"})


class TextRecord(Protocol):
    tokens: list[list[str]]
    attributions: list[np.ndarray]
    delta: np.ndarray
    scores: np.ndarray
    target: np.ndarray | None


class GenerationRecord(Protocol):
    prompt_tokens: list[str]
    generated_tokens: list[str]
    attributions: np.ndarray
    delta: np.ndarray
    scores: np.ndarray
    score: str


def _caption(exp: TextRecord, i: int) -> str:
    target = "" if exp.target is None else f"target {int(exp.target[i])}  "
    return f"{target}F(x) = {float(exp.scores[i]):.4g}  delta = {float(exp.delta[i]):.2g}"


def text_images(
    exp: TextRecord, *, max_width: int = 800, clip_percentile: float = 100.0
) -> list[Image.Image]:
    """One RGB picture per text: its tokens coloured, the scale and a caption."""
    pictures = []
    for i, (tokens, attr) in enumerate(zip(exp.tokens, exp.attributions, strict=True)):
        picture = render.token_image(
            [t.translate(_SPACE_MARKS) for t in tokens],
            attr,
            clip_percentile=clip_percentile,
            max_width=max_width,
        )
        scale = colors.full_colour_value(np.asarray(attr)[None], clip_percentile)
        pictures.append(render.labelled(picture, scale=scale, caption=_caption(exp, i)))
    return pictures


def _label(token: str) -> str:
    text = token.translate(_SPACE_MARKS).replace("\n", "\\n").replace("\t", "\\t")
    return text if len(text) <= _MAX_LABEL else text[: _MAX_LABEL - 1] + "\u2026"


def generation_image(
    gen: GenerationRecord, *, cell: int = 18, clip_percentile: float = 100.0
) -> Image.Image:
    """The `[G, P + G]` attribution matrix as an RGB picture.

    Rows are labelled with the generated tokens (left), columns with all
    tokens (written upwards, on top); cells at and after a token's own
    position are zero and drawn white. A scale and the score kind are below.

    Args:
        gen: a `GenerationExplanation`.
        cell: pixels per matrix cell, `>= 4`.
        clip_percentile: percentile of `|attributions|` drawn at full colour.
    """
    cell = checks.integer(cell, "cell", 4)
    a = np.asarray(gen.attributions, np.float64)
    v = colors.normalize(a, signed=True, clip_percentile=clip_percentile)
    rgb = colors.diverging(v)  # [G, L, 3]
    g, length = a.shape
    font = ImageFont.load_default()
    cols = [_label(t) for t in (*gen.prompt_tokens, *gen.generated_tokens)]
    rows = [_label(t) for t in gen.generated_tokens]
    text_w = max(int(font.getlength(s)) for s in cols + rows) + 2
    text_h = int(sum(font.getbbox("Ag")[1::2])) + 2
    left, top = text_w + _MARGIN, text_w + _MARGIN
    width, height = left + length * cell + _MARGIN, top + g * cell + _MARGIN
    img = Image.new("RGB", (width, height), colors.WHITE_RGB)
    cells = np.kron(rgb, np.ones((cell, cell, 1), np.uint8)).astype(np.uint8)
    img.paste(Image.fromarray(cells), (left, top))
    draw = ImageDraw.Draw(img)
    for j in range(length + 1):
        draw.line([(left + j * cell, top), (left + j * cell, top + g * cell)], fill=_GRID)
    for r in range(g + 1):
        draw.line([(left, top + r * cell), (left + length * cell, top + r * cell)], fill=_GRID)
    for r, label in enumerate(rows):
        w = int(font.getlength(label))
        draw.text(
            (left - w - 3, top + r * cell + (cell - text_h) // 2), label, font=font, fill=_INK
        )
    for j, label in enumerate(cols):
        strip = Image.new("RGB", (text_w, text_h), colors.WHITE_RGB)
        ImageDraw.Draw(strip).text(
            (text_w - int(font.getlength(label)) - 1, 0), label, font=font, fill=_INK
        )
        up = strip.rotate(90, expand=True)
        img.paste(up, (left + j * cell + (cell - text_h) // 2, top - text_w - 3))
    scale = colors.full_colour_value(a, clip_percentile)
    caption = f"{gen.score}: generated (rows) x context (columns)"
    return render.labelled(img, scale=scale, caption=caption)


def save(pictures: list[Image.Image], path: str | os.PathLike) -> pathlib.Path:
    """Stack `pictures` top to bottom into one PNG at `path` (`.png` added if missing)."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    target = pathlib.Path(path)
    if target.suffix.lower() not in ("", ".png"):
        raise ValueError(f"path must name a .png file, got {str(path)!r}")
    target = target.with_suffix(".png")
    target.parent.mkdir(parents=True, exist_ok=True)
    picture = pictures[0] if len(pictures) == 1 else render.grid(pictures, cols=1)
    picture.save(target, format="PNG")
    return target


def _css(value: float) -> str:
    r, g, b = (int(c) for c in colors.diverging(np.asarray([value]))[0])
    return f"rgb({r},{g},{b})"


def _spans(tokens: list[str], attr: np.ndarray) -> str:
    a = np.asarray(attr, np.float64)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    v = a / scale if scale > 0 else np.zeros_like(a)
    return "".join(
        f'<span title="{x:.3g}" style="background:{_css(val)};padding:1px 3px;'
        f'margin:1px;border-radius:3px">{html.escape(t)}</span>'
        for t, x, val in zip(tokens, a, v, strict=True)
    )


def text_html(exp: TextRecord) -> str:
    """The texts as coloured token spans (attribution on hover), one line each."""
    lines = [
        f"<div style='margin:4px 0'>{_spans(t, a)} "
        f"<small>{html.escape(_caption(exp, i))}</small></div>"
        for i, (t, a) in enumerate(zip(exp.tokens, exp.attributions, strict=True))
    ]
    return "<div style='font-family:monospace'>" + "".join(lines) + "</div>"


def generation_html(gen: GenerationRecord) -> str:
    """The matrix as an HTML table: one row per generated token."""
    a = np.asarray(gen.attributions, np.float64)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    v = a / scale if scale > 0 else np.zeros_like(a)
    head = "".join(
        f"<th style='writing-mode:vertical-rl'>{html.escape(t)}</th>"
        for t in (*gen.prompt_tokens, *gen.generated_tokens)
    )
    body = []
    for r, token in enumerate(gen.generated_tokens):
        cells = "".join(
            f"<td title='{a[r, j]:.3g}' style='background:{_css(v[r, j])};width:14px'></td>"
            for j in range(a.shape[1])
        )
        body.append(f"<tr><th>{html.escape(token)}</th>{cells}</tr>")
    return (
        "<table style='border-collapse:collapse;font-family:monospace'>"
        f"<tr><th>{html.escape(gen.score)}</th>{head}</tr>{''.join(body)}</table>"
    )
