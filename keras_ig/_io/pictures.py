"""Pictures of an `Explanation`: one per explained input.

This module sits between an `Explanation` (arrays) and the pure renderers of
`keras_ig.render`. It decides, from the shapes and dtypes alone, what each
input is and which picture suits it:

- image, attributions `[H, W, C]` (or `[H, W]` for a grey probe of the same
  shape): `render.image_panel`, probe | map | overlay; the map alone when
  the attributions come from a layer whose spatial size differs from the
  probe's;
- text, integer token ids `[T]` with attributions `[T, D]` at an embedding
  (or `[T]`): `render.token_image`, one score per token (summed over `D`);
- tabular, attributions `[F]`: `render.bar_chart`.

A multi-input explanation gives one picture per input row too: the pictures
of its attributed inputs side by side. Like `keras_ig.render`, this module
imports no TensorFlow (tensors are read with `np.asarray`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from keras_ig import render
from keras_ig._io.input_views import (
    KINDS,
    Explanation,
    InputView,
    check_feature_names,
    resolve_vocabulary,
    views,
)
from keras_ig._numpy import checks as _checks
from keras_ig._numpy import colors

__all__ = [
    "KINDS",
    "Explanation",
    "InputView",
    "check_feature_names",
    "check_masks",
    "draw",
    "resolve_vocabulary",
    "save",
    "side_by_side",
    "to_images",
    "views",
]


# --------------------------------------------------------------------------
# drawing


def draw(
    view: InputView,
    *,
    feature_names: list[str] | None = None,
    mask: np.ndarray | None = None,
    signed: bool = True,
    clip_percentile: float = 99.0,
    min_size: int = 128,
    max_width: int = 800,
    chart_width: int = 480,
    max_features: int = 30,
    cache: dict | None = None,
    caption: str = "",
) -> Image.Image:
    """The picture of one `InputView` (see `to_images` for the options).

    `cache`: an empty dict the first time, then the same dict for later
    views with the same probe and `mask`, `min_size` (new attributions,
    e.g. one probe at every epoch of a training): an image panel keeps its
    probe-only parts there (the enlarged probe, the overlay's grey base and
    the mask outline) and draws only the attribution's parts next time.

    Image pictures get column titles (`render.PANEL_TITLES`), a colour scale
    with the `|attr|` drawn at full colour, and `caption` (e.g. the target
    and F(x)) under it.
    """
    if view.kind == "image":
        picture, columns = _draw_image(view, mask, signed, clip_percentile, min_size, cache)
        scale = colors.full_colour_value(view.scores, clip_percentile)
        return render.labelled(
            picture, scale=scale, signed=signed, columns=columns, caption=caption
        )
    return _draw_other(view, feature_names, mask, clip_percentile, max_width, chart_width,
                       max_features)  # fmt: skip


def _draw_image(
    view: InputView,
    mask: np.ndarray | None,
    signed: bool,
    clip_percentile: float,
    min_size: int,
    cache: dict | None,
) -> tuple[Image.Image, tuple[str, ...]]:
    """The unlabelled image picture of `view` and its column titles."""
    if view.probe is None:
        if mask is not None:
            raise ValueError(
                "mask: the attribution map does not line up with the probe "
                "image, so there is no overlay to outline on"
            )
        picture = render.attribution_map(
            view.scores,
            signed=signed,
            clip_percentile=clip_percentile,
            min_size=min_size,
        )
        return picture, render.PANEL_TITLES[1:2]
    if cache is None:
        picture = render.image_panel(
            view.probe,
            view.scores,
            signed=signed,
            clip_percentile=clip_percentile,
            mask=mask,
            min_size=min_size,
        )
        return picture, render.PANEL_TITLES
    base = cache.get("panel")
    if base is None:
        signed = _checks.boolean(signed, "signed")
        min_size = _checks.integer(min_size, "min_size", 0)
        base = render.panel_base(view.probe, view.scores.shape, mask, min_size)
        cache["panel"] = base
    picture = render.draw_panel(base, view.scores, signed=signed, clip_percentile=clip_percentile)
    return picture, render.PANEL_TITLES


def _draw_other(
    view: InputView,
    feature_names: list[str] | None,
    mask: np.ndarray | None,
    clip_percentile: float,
    max_width: int,
    chart_width: int,
    max_features: int,
) -> Image.Image:
    """The token picture or bar chart of a text or tabular `view`."""
    if mask is not None:
        raise ValueError(f"mask is only drawn on image inputs, not {view.kind} ones")
    if view.kind == "text":
        n = view.length
        picture = render.token_image(
            (view.tokens or [])[:n],
            view.scores[:n],
            clip_percentile=clip_percentile,
            max_width=max_width,
        )
        # The colour scale with its range, as under image panels: tokens
        # coloured by 1e-13 must not look like tokens coloured by 1.
        scale = colors.full_colour_value(view.scores[:n], clip_percentile)
        return render.labelled(picture, scale=scale, signed=True)
    return render.bar_chart(
        view.scores, feature_names, max_features=max_features, width=chart_width
    )


def side_by_side(pictures: list[Image.Image], gap: int = 4) -> Image.Image:
    """The pictures of one row's inputs, left to right, `gap` white pixels apart.

    A single picture is returned as is. Otherwise the result is
    `sum(widths) + gap * (len - 1)` wide and as tall as the tallest picture;
    shorter ones sit at the top.
    """
    if len(pictures) == 1:
        return pictures[0]
    width = sum(p.width for p in pictures) + gap * (len(pictures) - 1)
    out = Image.new("RGB", (width, max(p.height for p in pictures)), (255, 255, 255))
    x = 0
    for picture in pictures:
        out.paste(picture.convert("RGB"), (x, 0))
        x += picture.width + gap
    return out


def to_images(
    exp: Explanation,
    *,
    kind: str | None = None,
    vocabulary: Any = None,
    feature_names: Sequence[str] | None = None,
    masks: Any = None,
    signed: bool = True,
    clip_percentile: float = 99.0,
    min_size: int = 128,
    max_width: int = 800,
    chart_width: int = 480,
    max_features: int = 30,
    pad_id: int | None = 0,
) -> list[Image.Image]:
    """One picture per explained input; see `Explanation.to_images`."""
    names = check_feature_names(feature_names)
    rows = views(exp, kind=kind, vocabulary=vocabulary, pad_id=pad_id)
    mask_rows = check_masks(masks, len(rows))
    out = []
    for i, row in enumerate(rows):
        mask = None if mask_rows is None else mask_rows[i]
        if mask is not None and len(row) != 1:
            raise ValueError("masks are supported for single-input explanations only")
        out.append(
            side_by_side(
                [
                    draw(
                        view,
                        feature_names=names,
                        mask=mask,
                        signed=signed,
                        clip_percentile=clip_percentile,
                        min_size=min_size,
                        max_width=max_width,
                        chart_width=chart_width,
                        max_features=max_features,
                        caption=_caption(exp, i),
                    )
                    for view in row
                ]
            )
        )
    return out


def _caption(exp: Explanation, i: int) -> str:
    """`"target 3 · F(x) = 2.1"` for row `i`, from what the explanation knows."""
    parts = []
    target = getattr(exp, "target", None)
    if target is not None and np.ndim(target) >= 1 and len(target) > i:
        parts.append(f"target {np.asarray(target)[i]}")
    scores = getattr(exp, "scores", None)
    if scores is not None and np.ndim(scores) >= 1 and len(scores) > i:
        parts.append(f"F(x) = {float(np.asarray(scores)[i]):.3g}")
    return " \u00b7 ".join(parts)


def check_masks(masks: Any, n: int) -> np.ndarray | None:
    """`masks` as `bool[N, H, W]` (one per input or probe), or None."""
    if masks is None:
        return None
    arr = _checks.boolean_array(masks, "masks")
    if arr.ndim < 2 or arr.shape[0] != n:
        raise ValueError(
            f"masks must be [N, H, W] with one mask per input (N={n}), got shape {arr.shape}"
        )
    return arr


def save(
    exp: Explanation,
    path: str | os.PathLike,
    *,
    grid: bool = True,
    cols: int | None = None,
    **options: Any,
) -> list[pathlib.Path]:
    """Write the pictures as PNG; see `Explanation.save`."""
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    _checks.boolean(grid, "grid")
    target = pathlib.Path(path)
    if target.suffix.lower() not in ("", ".png"):
        raise ValueError(f"path must name a .png file, got {str(path)!r}")
    target = target.with_suffix(".png")
    pictures = to_images(exp, **options)
    target.parent.mkdir(parents=True, exist_ok=True)
    if grid:
        render.grid(pictures, cols=cols).save(target, format="PNG")
        return [target]
    written = []
    for i, picture in enumerate(pictures):
        file = target.with_name(f"{target.stem}_{i}.png")
        picture.save(file, format="PNG")
        written.append(file)
    return written
