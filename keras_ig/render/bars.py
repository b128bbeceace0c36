"""Per-feature attributions as a horizontal bar chart."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from keras_ig._numpy import checks as _checks
from keras_ig._numpy import colors
from keras_ig.render import fonts

_BAR_ROW_PAD = 3
_ZERO_LINE_RGB = (64, 64, 64)


def select_features(scores: np.ndarray, max_features: int) -> np.ndarray:
    """Indices of the `max_features` largest `|scores|`, largest first.

    A stable sort, so ties keep the original feature order.
    """
    order = np.argsort(-np.abs(scores), kind="stable")
    return order[:max_features]


def bar_row_height(font: fonts.FontType) -> int:
    return fonts.text_height(font) + 2 * _BAR_ROW_PAD


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
    s = colors.real_vector(scores, "scores")
    if feature_names is None:
        names = [f"f{i}" for i in range(s.size)]
    else:
        names = _checks.strings(feature_names, "feature_names", s.size)
    max_features = _checks.integer(max_features, "max_features", 1)
    width = _checks.integer(width, "width", 160)

    font = fonts.font()
    chosen = select_features(s, max_features)
    values = s[chosen]
    value_texts = [f"{x:+.3g}" for x in values]
    label_room = int(width * 0.35)
    labels = [fonts.fit_text(font, names[i], label_room) for i in chosen]

    label_w = max(fonts.text_width(font, t) for t in labels)
    value_w = max(fonts.text_width(font, t) for t in value_texts)
    bar_x0 = fonts.MARGIN + label_w + fonts.MARGIN
    bar_x1 = width - fonts.MARGIN - value_w - fonts.MARGIN
    bar_w = bar_x1 - bar_x0
    if bar_w < 16:
        raise ValueError(f"width={width} leaves no room for bars; use a larger width")

    pos_max = max(float(values.max()), 0.0)
    neg_max = max(-float(values.min()), 0.0)
    span = pos_max + neg_max
    zero_x = bar_x0 + (round(bar_w * neg_max / span) if span > 0 else 0)

    row_h = bar_row_height(font)
    text_h = fonts.text_height(font)
    height = 2 * fonts.MARGIN + row_h * len(chosen)
    img = Image.new("RGB", (width, height), colors.WHITE_RGB)
    draw = ImageDraw.Draw(img)
    for row, (label, value, text) in enumerate(zip(labels, values, value_texts, strict=True)):
        top = fonts.MARGIN + row * row_h
        text_y = top + _BAR_ROW_PAD
        draw.text((fonts.MARGIN, text_y), label, font=font, fill=fonts.TEXT_DARK)
        draw.text((bar_x1 + fonts.MARGIN, text_y), text, font=font, fill=fonts.TEXT_DARK)
        length = round(bar_w * abs(value) / span) if span > 0 else 0
        if length == 0:
            continue
        if value > 0:
            x0, x1, color = zero_x, zero_x + length, colors.POSITIVE_RGB
        else:
            x0, x1, color = zero_x - length, zero_x, colors.NEGATIVE_RGB
        draw.rectangle((x0, text_y, x1 - 1, text_y + text_h - 1), fill=color)
    draw.line((zero_x, fonts.MARGIN, zero_x, height - fonts.MARGIN - 1), fill=_ZERO_LINE_RGB)
    return img
