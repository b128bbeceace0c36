"""What each explained input is, read from shapes and dtypes alone.

An `Explanation`'s rows become `InputView`s, one per attributed input:

- image, attributions `[H, W, C]` (or `[H, W]` for a grey probe of the same
  shape): the map summed over channels, with its probe when they line up;
- text, integer token ids `[T]` with attributions `[T, D]` at an embedding
  (or `[T]`): one score per token (summed over `D`) and the token strings;
- tabular, attributions `[F]`: one score per feature.

Like `keras_ig.render`, this module imports no TensorFlow (tensors are read
with `np.asarray`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from keras_ig._numpy import checks as _checks
from keras_ig._numpy import nest


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
