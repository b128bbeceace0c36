"""The picture of a comparison: one row per method, its maps of the first inputs.

Arrays in, a `PIL.Image.Image` out (`Comparison.save` writes it); it knows
nothing of the `Comparison` record. Image inputs (`[N, H, W, C]`) are drawn
as overlays (`keras_ig.render.overlay`, the mask outlined when given), other
inputs as bar charts of their flattened attributions (`render.bar_chart`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from keras_ig import render
from keras_ig.render import fonts

_MIN_SIZE = 96  # pixels on a map's short side: a 16x16 image is drawn 6x
_BAR_WIDTH = 240
_BAR_FEATURES = 10
_PAD = 4
_WHITE = (255, 255, 255)


def _is_image(inputs: np.ndarray) -> bool:
    return inputs.ndim == 4 and inputs.shape[-1] in (1, 3)


def _label(lines: list[str], width: int, height: int) -> Image.Image:
    font = fonts.font()
    line_h = fonts.text_height(font) + 2 * fonts.PAD_Y
    out = Image.new("RGB", (width, max(height, line_h * len(lines))), _WHITE)
    draw = ImageDraw.Draw(out)
    for i, text in enumerate(lines):
        text = fonts.fit_text(font, fonts.printable(text), width - fonts.MARGIN)
        draw.text((fonts.MARGIN, fonts.PAD_Y + i * line_h), text, font=font, fill=fonts.TEXT_DARK)
    return out


def _row(parts: list[Image.Image]) -> Image.Image:
    height = max(p.height for p in parts)
    width = sum(p.width for p in parts) + _PAD * (len(parts) - 1)
    out = Image.new("RGB", (width, height), _WHITE)
    x = 0
    for p in parts:
        out.paste(p.convert("RGB"), (x, (height - p.height) // 2))
        x += p.width + _PAD
    return out


def _probe(image: np.ndarray, size: tuple[int, int]) -> Image.Image:
    # Min-max per image: inputs need not lie in [0, 1].
    v = np.asarray(image, dtype=np.float64)
    span = v.max() - v.min()
    v = (v - v.min()) / span if span > 0 else np.zeros_like(v)
    rgb = np.repeat(v, 3, axis=-1) if v.shape[-1] == 1 else v
    picture = Image.fromarray((rgb * 255).round().astype(np.uint8), "RGB")
    return picture.resize(size, Image.NEAREST)


def comparison_picture(
    inputs: np.ndarray,
    maps: Mapping[str, np.ndarray],
    captions: Mapping[str, Sequence[str]],
    *,
    masks: np.ndarray | None = None,
    max_inputs: int = 4,
) -> Image.Image:
    """Draw each method's maps of the first `max_inputs` inputs, one row each.

    Args:
        inputs: `[N, ...]`, the inputs explained; images `[N, H, W, C]`
            (C = 1 or 3) get an extra first row showing them.
        maps: method name -> attributions `[N, ...]` shaped like `inputs`.
        captions: method name -> lines (e.g. its scores) drawn under its name.
        masks: `bool[N, H, W]` (or like `inputs`) outlined on the overlays.
        max_inputs: inputs drawn per row, `>= 1`.

    Returns:
        An RGB image, one row per method (plus the inputs' row for images).

    Raises:
        ValueError: naming `maps` or `max_inputs`.
    """
    if not maps:
        raise ValueError("maps must hold at least one method")
    if isinstance(max_inputs, bool) or not isinstance(max_inputs, int) or max_inputs < 1:
        raise ValueError(f"max_inputs must be an int >= 1, got {max_inputs!r}")
    inputs = np.asarray(inputs)
    k = min(max_inputs, len(inputs))
    image = _is_image(inputs)
    outline = None
    if image and masks is not None:
        m = np.asarray(masks, dtype=bool)
        outline = m if m.ndim == 3 else m.any(axis=-1)
    rows_parts: dict[str, list[Image.Image]] = {}
    for name, attributions in maps.items():
        a = np.asarray(attributions, dtype=np.float64)
        if image:
            parts = [
                render.overlay(
                    inputs[i],
                    a[i],
                    mask=None if outline is None else outline[i],
                    min_size=_MIN_SIZE,
                )
                for i in range(k)
            ]
        else:
            parts = [
                render.bar_chart(a[i].reshape(-1), max_features=_BAR_FEATURES, width=_BAR_WIDTH)
                for i in range(k)
            ]
        rows_parts[name] = parts
    font = fonts.font()
    texts = {name: [name, *captions.get(name, ())] for name in maps}
    label_w = 2 * fonts.MARGIN + max(
        fonts.text_width(font, t) for lines in texts.values() for t in lines
    )
    rows = []
    if image:
        first = next(iter(rows_parts.values()))[0]
        probes = [_probe(inputs[i], first.size) for i in range(k)]
        rows.append(_row([_label(["input"], label_w, first.height), *probes]))
    for name, parts in rows_parts.items():
        height = max(p.height for p in parts)
        rows.append(_row([_label(texts[name], label_w, height), *parts]))
    return render.grid(rows, cols=1, pad=_PAD)
