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
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from PIL import Image

from keras_ig import render
from keras_ig._numpy import checks as _checks
from keras_ig._numpy import colors, nest


class Explanation(Protocol):
    """What is drawn of a result (`keras_ig.Explanation` is one).

    The renderer of explanations knows their fields, not their class, so
    results import it and not the other way round.
    """

    attributions: Any
    inputs: Any
    scores: np.ndarray
    target: np.ndarray | None

KINDS = ("image", "text", "tabular")


@dataclass(frozen=True)
class InputView:
    """One attributed input of one explained row, ready to draw.

    Attributes:
        kind: `"image"`, `"text"` or `"tabular"`.
        scores: `float64` map used for drawing and for statistics: `[H, W]`
            (channels summed) for images, `[T]` (summed over the embedding
            axis) for text, `[F]` for tabular rows.
        probe: `[H, W, C]` or `[H, W]` probe to draw under an image map, or
            None when it does not line up with the map.
        tokens: `T` strings for text, else None.
        length: how many leading tokens to draw (trailing padding cut).
    """

    kind: str
    scores: np.ndarray
    probe: np.ndarray | None = None
    tokens: list[str] | None = None
    length: int = 0


# --------------------------------------------------------------------------
# argument checks


def resolve_vocabulary(vocabulary: Any) -> list[str] | None:
    """Token strings indexed by id, from a list or a Keras lookup layer.

    Args:
        vocabulary: None, a sequence of str (id -> token), or an object with
            `get_vocabulary()` such as `keras.layers.StringLookup` or
            `keras.layers.TextVectorization`.

    Returns:
        A list of str, or None.

    Raises:
        TypeError: anything else, or entries that are not strings.
    """
    if vocabulary is None:
        return None
    getter = getattr(vocabulary, "get_vocabulary", None)
    if callable(getter):
        vocabulary = getter()
    if isinstance(vocabulary, str | bytes) or not isinstance(vocabulary, Sequence):
        raise TypeError(
            "vocabulary must be a sequence of str (index = token id) or a layer "
            f"with get_vocabulary(), got {type(vocabulary).__name__}"
        )
    out = []
    for i, token in enumerate(vocabulary):
        if isinstance(token, bytes):
            token = token.decode("utf-8", errors="replace")
        if not isinstance(token, str):
            raise TypeError(f"vocabulary[{i}] must be a str, got {type(token).__name__}")
        out.append(token)
    return out


def check_feature_names(feature_names: Any) -> list[str] | None:
    """`feature_names` as a list of str (None stays None)."""
    if feature_names is None:
        return None
    if isinstance(feature_names, str | bytes) or not isinstance(feature_names, Sequence):
        raise TypeError(
            f"feature_names must be a sequence of str, got {type(feature_names).__name__}"
        )
    out = list(feature_names)
    for i, name in enumerate(out):
        if not isinstance(name, str):
            raise TypeError(f"feature_names[{i}] must be a str, got {type(name).__name__}")
    return out


def _check_kind(kind: Any) -> str | None:
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be None or one of {list(KINDS)}, got {kind!r}")
    return kind


# --------------------------------------------------------------------------
# pairing attributions with inputs


def _array(value: Any) -> np.ndarray | None:
    return None if value is None else np.asarray(value)


def _pairs(exp: Explanation) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """`(attributions [N, ...], inputs [N, ...] or None)` per attributed input."""
    attrs = exp.attributions
    if isinstance(attrs, dict | list | tuple):
        flat_attr = nest.flatten(attrs)
        flat_in = nest.flatten(exp.inputs) if exp.inputs is not None else []
        if len(flat_in) != len(flat_attr):
            flat_in = [None] * len(flat_attr)
        return [
            (np.asarray(a), _array(x))
            for a, x in zip(flat_attr, flat_in, strict=True)
            if a is not None
        ]
    a = np.asarray(attrs)
    if exp.inputs is None:
        return [(a, None)]
    leaves = [np.asarray(x) for x in nest.flatten(exp.inputs)]
    if len(leaves) == 1:
        return [(a, leaves[0])]
    # Layer attribution of a multi-input model: the input it lines up with
    # (token ids [N, T] under an embedding's [N, T, D]), if exactly one does.
    fits = [x for x in leaves if x.ndim >= 2 and a.shape[: x.ndim] == x.shape]
    ids = [x for x in fits if x.dtype.kind in "iu"]
    chosen = ids if len(ids) == 1 else fits
    return [(a, chosen[0] if len(chosen) == 1 else None)]


def _infer_kind(a: np.ndarray, x: np.ndarray | None) -> str:
    """What a batch of attributions `a [N, ...]` with inputs `x` shows."""
    integer_ids = x is not None and x.dtype.kind in "iu" and x.ndim == 2
    if integer_ids and a.shape[:2] == x.shape and a.ndim in (2, 3):
        return "text"
    if a.ndim == 2:
        return "tabular"
    if a.ndim == 4:
        return "image"
    if a.ndim == 3:
        if x is not None and x.shape == a.shape and x.dtype.kind == "f":
            return "image"  # grey images without a channel axis
        return "text"  # a sequence of vectors: one score per position
    raise ValueError(
        f"cannot tell how to draw attributions of shape {a.shape}; pass kind="
        f"one of {list(KINDS)} (supported rows: [H, W, C], [H, W], [T, D], [T], [F])"
    )


def _token(ids: np.ndarray, t: int, vocab: list[str] | None) -> str:
    i = int(ids[t])
    if vocab is None:
        return str(i)
    return vocab[i] if 0 <= i < len(vocab) else f"<{i}?>"


def views(
    exp: Explanation,
    *,
    kind: str | None = None,
    vocabulary: Any = None,
    pad_id: int | None = 0,
) -> list[list[InputView]]:
    """Per explained row, one `InputView` per attributed input.

    Args:
        exp: the explanation.
        kind: None to infer from shapes, or force `"image"`, `"text"` or
            `"tabular"` for every attributed input.
        vocabulary: token strings by id (see `resolve_vocabulary`); without
            it, token ids are shown as numbers.
        pad_id: trailing tokens with this id are not drawn (their scores
            stay in `scores`); None draws every token.

    Returns:
        `N` lists of views.

    Raises:
        ValueError, TypeError: attributions that cannot be drawn, a bad
            argument.
    """
    kind = _check_kind(kind)
    pad_id = _checks.integer(pad_id, "pad_id", optional=True)
    vocab = resolve_vocabulary(vocabulary)
    n = len(exp)
    per_input = []
    for a, x in _pairs(exp):
        if a.shape[0] != n:
            raise ValueError(f"attributions have {a.shape[0]} rows for {n} inputs")
        k = kind or _infer_kind(a, x)
        per_input.append([_view(k, a[i], None if x is None else x[i], vocab, pad_id)
                          for i in range(n)])  # fmt: skip
    return [list(row) for row in zip(*per_input, strict=True)] if per_input else []


def _view(
    kind: str,
    a: np.ndarray,
    x: np.ndarray | None,
    vocab: list[str] | None,
    pad_id: int | None,
) -> InputView:
    a = a.astype(np.float64, copy=False)
    if kind == "tabular":
        return InputView("tabular", a.reshape(-1))
    if kind == "image":
        if a.ndim == 3:
            scores = a.sum(axis=-1)
        elif a.ndim == 2:
            scores = a
        else:
            raise ValueError(
                f"kind='image' needs attribution rows [H, W, C] or [H, W], got {a.shape}"
            )
        probe = None
        if (
            x is not None
            and x.dtype.kind in "biuf"
            and x.ndim in (2, 3)
            and x.shape[:2] == scores.shape
            and (x.ndim == 2 or x.shape[-1] in (1, 3))
        ):
            probe = x
        return InputView("image", scores, probe=probe)
    # text: one score per position
    if a.ndim == 2:
        scores = a.sum(axis=-1)
    elif a.ndim == 1:
        scores = a
    else:
        raise ValueError(f"kind='text' needs attribution rows [T, D] or [T], got {a.shape}")
    t_len = scores.shape[0]
    ids = None
    if x is not None and x.dtype.kind in "iu" and x.shape[:1] == (t_len,):
        ids = x.reshape(t_len, -1)[:, 0]
    if ids is None:
        tokens = [str(t) for t in range(t_len)]
        length = t_len
    else:
        tokens = [_token(ids, t, vocab) for t in range(t_len)]
        length = t_len
        if pad_id is not None:
            while length > 1 and int(ids[length - 1]) == pad_id:
                length -= 1
    return InputView("text", scores, tokens=tokens, length=length)


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
