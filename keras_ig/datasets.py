"""Synthetic datasets with known ground truth, for demos, examples and tests.

Pure numpy (importing this module never imports TensorFlow) and never
downloads anything. Every generator is deterministic in its `seed` and
returns, next to the data, what an attribution *should* highlight: the
object's pixels, the sentiment keywords, the coefficients of the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from keras_ig._numpy import checks

SHAPE_CLASSES: tuple[str, ...] = ("square", "disc", "triangle", "cross")

# The watermark patch sits flush in a corner; objects keep one extra pixel of
# clearance so the two masks never touch, which keeps "mass on the watermark"
# unambiguous when an example measures it.
_PATCH = 3
_KEEP_OUT = _PATCH + 1
_BACKGROUND = 0.2
_CROSS_ARM = 0.4
# Fraction of its bounding box each shape fills; used to give every class the
# same area for a given scale, so area is no shortcut for the label.
_FILL = {"square": 1.0, "disc": math.pi / 4, "triangle": 0.5,
         "cross": 2 * _CROSS_ARM - _CROSS_ARM**2}  # fmt: skip

_FILLERS = (
    "the", "a", "this", "that", "movie", "film", "story", "plot", "actor",
    "scene", "was", "is", "very", "quite", "really", "and", "but", "with",
    "of", "in", "it", "we", "i", "they", "saw", "watched", "found", "felt",
    "ending", "music", "cast", "script", "today", "again", "overall", "so",
    "at", "on", "for", "about",
)  # fmt: skip
POSITIVE_WORDS: tuple[str, ...] = (
    "great", "excellent", "wonderful", "superb", "brilliant", "delightful",
    "amazing", "lovely",
)  # fmt: skip
NEGATIVE_WORDS: tuple[str, ...] = (
    "awful", "terrible", "boring", "dreadful", "horrible", "dull",
    "disappointing", "poor",
)  # fmt: skip
VOCABULARY: tuple[str, ...] = ("<pad>", "<unk>", *_FILLERS, *NEGATIVE_WORDS,
                               *POSITIVE_WORDS)  # fmt: skip
assert len(POSITIVE_WORDS) == len(NEGATIVE_WORDS)
_FIRST_NEG = 2 + len(_FILLERS)
_FIRST_POS = _FIRST_NEG + len(NEGATIVE_WORDS)

_FEATURE_NAMES = (
    "age", "income", "tenure", "debt", "visits", "rating", "distance",
    "savings", "height", "weight", "children", "rooms", "score", "hours",
    "temperature", "humidity",
)  # fmt: skip
# Zeros at fixed positions give features the target provably ignores.
_COEF_PATTERN = (1.5, -1.0, 0.75, 0.0, 0.5, 0.0, -0.25, 0.0)
_INTERCEPT = 0.3
_INTERACTION = (0, 1, 0.5)


@dataclass(frozen=True, eq=False)
class ShapesData:
    """Images of one shape on a noisy background (see `make_shapes`).

    Attributes:
        images: `float32[n, size, size, 1]` in [0, 1].
        labels: `int64[n]`, index into `class_names`.
        masks: `bool[n, size, size]`, exactly the object's pixels.
        watermark_masks: `bool[n, size, size]`, the watermark patch's pixels
            (all False without a watermark); never overlaps `masks`.
        class_names: `SHAPE_CLASSES`.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    watermark_masks: np.ndarray
    class_names: tuple[str, ...]

    @property
    def mask_fractions(self) -> np.ndarray:
        """`float64[n]`: fraction of each image covered by its object."""
        return self.masks.mean(axis=(1, 2))


@dataclass(frozen=True, eq=False)
class SentencesData:
    """Token sequences for sentiment with known keywords (see `make_sentences`).

    Attributes:
        token_ids: `int32[n, length]`, 0-padded at the end.
        labels: `int64[n]`, 1 positive, 0 negative.
        keyword_mask: `bool[n, length]`, True exactly at sentiment keywords.
        lengths: `int64[n]`, number of non-padding tokens.
        vocabulary: token id -> word; `VOCABULARY`.
        class_names: `("negative", "positive")`.
    """

    token_ids: np.ndarray
    labels: np.ndarray
    keyword_mask: np.ndarray
    lengths: np.ndarray
    vocabulary: tuple[str, ...]
    class_names: tuple[str, ...] = ("negative", "positive")


@dataclass(frozen=True, eq=False)
class TabularData:
    """Regression data with a known generating function (`make_regression`).

    `targets = features @ coefficients + intercept + c * x_i * x_j + noise`
    with `(i, j, c) = interaction`.

    Attributes:
        features: `float32[n, n_features]`, standard normal.
        targets: `float32[n]`.
        feature_names: readable names, one per feature.
        coefficients: `float64[n_features]`, the linear weights.
        irrelevant: indices of features with no effect on the target at all.
        intercept: the constant term.
        interaction: `(i, j, c)`, the one pairwise term `c * x_i * x_j`.
    """

    features: np.ndarray
    targets: np.ndarray
    feature_names: tuple[str, ...]
    coefficients: np.ndarray
    irrelevant: tuple[int, ...]
    intercept: float = _INTERCEPT
    interaction: tuple[int, int, float] = _INTERACTION


def _as_float(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    # Written so NaN fails too; inf is never a sensible scale or noise level.
    if not (low <= value <= high and math.isfinite(value)):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def _template(shape: str, side: int) -> np.ndarray:
    # Sample the continuous shape at pixel centres in unit coordinates.
    c = (np.arange(side) + 0.5) / side - 0.5
    y, x = c[:, None], c[None, :]
    if shape == "square":
        return np.ones((side, side), dtype=bool)
    if shape == "disc":
        return x**2 + y**2 <= 0.25
    if shape == "triangle":  # apex at top centre, base along the bottom
        return np.abs(x) <= (y + 0.5) / 2
    half = _CROSS_ARM / 2
    return (np.abs(x) <= half) | (np.abs(y) <= half)


def make_shapes(
    n: int,
    *,
    size: int = 32,
    seed: int = 0,
    noise: float = 0.15,
    min_scale: float = 0.25,
    max_scale: float = 0.45,
    watermark: str | None = None,
) -> ShapesData:
    """Grey-scale images of one shape (square, disc, triangle, cross) each.

    The object has a random position, scale and intensity (0.6 to 1.0) over a
    background of 0.2 plus gaussian noise; everything is clipped to [0, 1].
    `scale` is the side, as a fraction of `size`, of a square with the
    object's area, so all classes have the same area distribution; the
    object's bounding box is shrunk if needed so it stays clear of the four
    corners where a watermark may go. With the defaults each object covers
    about 4% to 21% of the image. Labels cycle through the classes and are
    then shuffled, so each class has `n // 4` or `n // 4 + 1` images.

    Args:
        n: number of images.
        size: side of the square images in pixels, >= 16.
        seed: seed of `np.random.default_rng`.
        noise: standard deviation of the pixel noise, in [0, 1].
        min_scale: smallest object scale, in (0, 0.5].
        max_scale: largest object scale, in [min_scale, 0.5].
        watermark: `None`; `"label"` for a bright 3x3 patch in corner
            `label % 4` (a shortcut perfectly correlated with the label); or
            `"random"` for the same patch in a random corner. Objects are
            drawn identically whatever `watermark` is.

    Returns:
        A `ShapesData`; `images` is `float32[n, size, size, 1]`.
    """
    n = checks.integer(n, "n", 1)
    size = checks.integer(size, "size", 16)
    seed = checks.integer(seed, "seed", 0)
    noise = _as_float("noise", noise, 0.0, 1.0)
    min_scale = _as_float("min_scale", min_scale, 1e-9, 0.5)
    max_scale = _as_float("max_scale", max_scale, min_scale, 0.5)
    if watermark not in (None, "label", "random"):
        raise ValueError(f"watermark must be None, 'label' or 'random', got {watermark!r}")

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPE_CLASSES)).astype(np.int64)
    scales = rng.uniform(min_scale, max_scale, n)
    intensity = rng.uniform(0.6, 1.0, n)
    fill = np.array([_FILL[s] for s in SHAPE_CLASSES])[labels]
    # A box wider than size - 2 * keep-out would have to touch some corner.
    sides = np.rint(scales * size / np.sqrt(fill)).astype(int)
    sides = np.clip(sides, 3, size - 2 * _KEEP_OUT)

    # Rejection-sample top-left corners: keep a box only if it misses every
    # corner square, i.e. it lies in the central rows or the central columns.
    rows, cols, todo = np.zeros(n, int), np.zeros(n, int), np.arange(n)
    hi = size - _KEEP_OUT
    while todo.size:
        s, span = sides[todo], size - sides[todo] + 1
        r = rows[todo] = (rng.random(todo.size) * span).astype(int)
        c = cols[todo] = (rng.random(todo.size) * span).astype(int)
        ok = ((r >= _KEEP_OUT) & (r + s <= hi)) | ((c >= _KEEP_OUT) & (c + s <= hi))
        todo = todo[~ok]

    masks = np.zeros((n, size, size), dtype=bool)
    cache: dict[tuple[int, int], np.ndarray] = {}
    for i in range(n):
        key = (int(labels[i]), int(sides[i]))
        if key not in cache:
            cache[key] = _template(SHAPE_CLASSES[key[0]], key[1])
        masks[i, rows[i] : rows[i] + key[1], cols[i] : cols[i] + key[1]] = cache[key]

    base = np.where(masks, intensity[:, None, None], _BACKGROUND)
    images = np.clip(base + rng.normal(0.0, noise, masks.shape), 0.0, 1.0)

    # Drawn last so the objects and noise don't depend on the watermark mode.
    watermark_masks = np.zeros_like(masks)
    if watermark is not None:
        corners = labels % 4 if watermark == "label" else rng.integers(0, 4, n)
        near, far = slice(0, _PATCH), slice(size - _PATCH, size)
        for k in range(4):  # 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right
            r, c = (near if k < 2 else far), (far if k % 2 else near)
            watermark_masks[corners == k, r, c] = True
        images[watermark_masks] = 1.0

    return ShapesData(
        images=images.astype(np.float32)[..., None],
        labels=labels,
        masks=masks,
        watermark_masks=watermark_masks,
        class_names=SHAPE_CLASSES,
    )


def make_sentences(n: int, *, length: int = 12, seed: int = 0) -> SentencesData:
    """Filler sentences with 1 or 2 sentiment keywords of the label's polarity.

    Each sentence has a true length drawn uniformly in `[length // 2, length]`
    and is padded with id 0 after it. Its keywords sit at random positions
    among neutral filler words, so the keywords alone decide the label.
    Labels alternate and are then shuffled, so the classes are balanced.

    Args:
        n: number of sentences.
        length: padded length, >= 4.
        seed: seed of `np.random.default_rng`.

    Returns:
        A `SentencesData`; `token_ids` is `int32[n, length]`.
    """
    n = checks.integer(n, "n", 1)
    length = checks.integer(length, "length", 4)
    seed = checks.integer(seed, "seed", 0)

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2).astype(np.int64)
    lengths = rng.integers(length // 2, length + 1, n)
    n_keys = rng.integers(1, 3, n)
    tokens = rng.integers(2, _FIRST_NEG, (n, length))
    first = np.where(labels == 1, _FIRST_POS, _FIRST_NEG)
    # Both polarities have the same number of words, so one offset draw fits.
    keywords = first[:, None] + rng.integers(0, len(POSITIVE_WORDS), (n, length))

    # Random keys, +inf past the end: the k smallest are k distinct random
    # positions inside the sentence.
    pos = np.arange(length)
    keys = np.where(pos < lengths[:, None], rng.random((n, length)), np.inf)
    rank = np.argsort(np.argsort(keys, axis=1), axis=1)
    keyword_mask = rank < n_keys[:, None]
    tokens = np.where(keyword_mask, keywords, tokens)
    tokens[pos >= lengths[:, None]] = 0

    return SentencesData(
        token_ids=tokens.astype(np.int32),
        labels=labels,
        keyword_mask=keyword_mask,
        lengths=lengths.astype(np.int64),
        vocabulary=VOCABULARY,
    )


def decode(token_ids: np.ndarray, vocabulary: tuple[str, ...] = VOCABULARY) -> list[str]:
    """Words of one row of token ids, padding (id 0) dropped.

    Ids outside the vocabulary decode to `"<unk>"`.
    """
    ids = np.asarray(token_ids).reshape(-1)
    return [vocabulary[i] if 0 < i < len(vocabulary) else "<unk>" for i in ids.tolist() if i != 0]


def make_regression(
    n: int, *, n_features: int = 8, seed: int = 0, noise: float = 0.05
) -> TabularData:
    """Tabular regression with fixed, known coefficients and one interaction.

    `y = X @ w + b + 0.5 * x0 * x1 + N(0, noise)` with `X ~ N(0, 1)`. The
    weights `w` repeat `(1.5, -1.0, 0.75, 0, 0.5, 0, -0.25, 0)` and do not
    depend on `seed`; the features with a zero weight are `irrelevant`
    (x0 and x1 never are, through the interaction).

    Args:
        n: number of rows.
        n_features: number of features, >= 2.
        seed: seed of `np.random.default_rng`.
        noise: standard deviation of the target noise, >= 0.

    Returns:
        A `TabularData`; `features` is `float32[n, n_features]`.
    """
    n = checks.integer(n, "n", 1)
    n_features = checks.integer(n_features, "n_features", 2)
    seed = checks.integer(seed, "seed", 0)
    noise = _as_float("noise", noise, 0.0, math.inf)

    rng = np.random.default_rng(seed)
    coefficients = np.resize(np.array(_COEF_PATTERN, dtype=np.float64), n_features)
    # Round to float32 first so the documented formula holds on `features`.
    x = rng.standard_normal((n, n_features)).astype(np.float32).astype(np.float64)
    i, j, c = _INTERACTION
    y = x @ coefficients + _INTERCEPT + c * x[:, i] * x[:, j]
    y = y + rng.normal(0.0, noise, n)
    names = tuple(
        _FEATURE_NAMES[k] if k < len(_FEATURE_NAMES) else f"feature_{k}" for k in range(n_features)
    )
    return TabularData(
        features=x.astype(np.float32),
        targets=y.astype(np.float32),
        feature_names=names,
        coefficients=coefficients,
        irrelevant=tuple(int(k) for k in np.flatnonzero(coefficients == 0)),
    )
