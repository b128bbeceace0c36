"""Baselines: the reference inputs x' that attributions are measured against.

Pure numpy, no TensorFlow. A baseline specification (a name, a number, an
array, or a `BaselineStack`) is resolved per input array into the rows the
engine interpolates from: `values[B, ...]` and, for every input row `n` and
baseline `k`, the index of its baseline row.

How an array is read, for `x` of shape `(N,) + S`:

* shape `S` or `(1,) + S`: one baseline shared by every input;
* shape `(N,) + S`: one baseline per input (also when you meant a stack of
  N baselines -- wrap it in `BaselineStack` to say so);
* shape `(K,) + S` with `K` not 1 and not N: a stack of K baselines, shared
  by every input, whose attributions are averaged;
* `BaselineStack(a)`: always a stack: `a.shape == (K,) + S` (shared by all
  inputs) or `(K, N) + S` (K baselines for each input).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from keras_ig._numpy import checks

GENERATED = ("uniform", "gaussian", "blur")
# Random baselines are drawn as one array of n_baselines copies of x: at most
# 2**28 values (1 GiB of float32), so a huge n_baselines fails before numpy does.
MAX_GENERATED_VALUES = 1 << 28
# Other names of a named baseline ("black" images are zeros).
ALIASES = {"black": "zeros"}
NAMED = ("zeros", *ALIASES, *GENERATED)


def canonical(spec: object) -> object:
    """A baseline spec with its alias resolved (`"black"` -> `"zeros"`); others unchanged."""
    return ALIASES.get(spec, spec) if isinstance(spec, str) else spec


class BaselineStack:
    """K baselines whose attributions are averaged (expected IG style).

    Args:
        values: `(K,) + S` (shared by all inputs) or `(K, N) + S` (K per input),
            where `S` is the shape of one input row.

    Example:
        >>> stack = BaselineStack(np.random.rand(16, 28, 28, 1))
        >>> # keras_ig.explain(model, x, baseline=stack)
    """

    def __init__(self, values: np.ndarray) -> None:
        values = np.asarray(values)
        if values.ndim < 1 or values.shape[0] < 1:
            raise ValueError(
                f"baseline: a BaselineStack needs at least one baseline, got shape {values.shape}"
            )
        self.values = values

    def __len__(self) -> int:
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        return f"BaselineStack(shape={self.values.shape})"


class InputBaseline:
    """A baseline given in the model's input space, for `layer=` attribution.

    Like Captum's LayerIntegratedGradients: `values` are run through the
    model up to the attribution layer, and that activation is the baseline
    in the layer's space (e.g. a `[PAD]` sequence of token ids for an
    `Embedding`). An integer-dtype baseline array with `layer=` is read the
    same way without this wrapper.

    Args:
        values: shaped like `x` (one baseline per input), like one input
            row `x.shape[1:]` or `(1,) + x.shape[1:]` (shared by all inputs);
            for a multi-input model a list/dict like `x`, each entry as
            above, None taking that input from x (e.g. an attention mask).

    Example:
        >>> pad = np.zeros_like(token_ids)  # the [PAD] id is 0
        >>> keras_ig.explain(model, token_ids, layer="emb", baseline=InputBaseline(pad))
    """

    def __init__(self, values: object) -> None:
        if values is None:
            raise ValueError("baseline: InputBaseline needs values, got None")
        self.values = values

    def __repr__(self) -> str:
        return f"InputBaseline({type(self.values).__name__})"


@dataclass(frozen=True)
class ResolvedBaseline:
    """One input's baselines in the form the engine consumes.

    Attributes:
        values: `float[B, ...]`, the distinct baseline rows.
        index: `int32[N, K]`, the row of `values` for input n and baseline k.
    """

    values: np.ndarray
    index: np.ndarray

    @property
    def k(self) -> int:
        return int(self.index.shape[1])


def _rng(seed: int | None) -> np.random.Generator:
    return np.random.default_rng(seed)


def uniform(
    x: np.ndarray,
    k: int = 8,
    *,
    low: float | None = None,
    high: float | None = None,
    seed: int | None = None,
) -> BaselineStack:
    """K uniform-noise baselines per input.

    Args:
        x: `float[N, ...]` inputs.
        k: baselines per input.
        low, high: noise range; default the smallest and largest value in `x`
            (so images scaled to [0, 1] get noise in [0, 1]).
        seed: for reproducible noise.

    Returns:
        `BaselineStack` of shape `(k, N) + x.shape[1:]`.
    """
    x = np.asarray(x)
    _check_count(k, x)
    lo = float(np.min(x)) if low is None else float(low)
    hi = float(np.max(x)) if high is None else float(high)
    if not hi >= lo:
        raise ValueError(f"baseline: uniform needs high >= low, got {lo}, {hi}")
    noise = _rng(seed).uniform(lo, hi, size=(k, *x.shape))
    return BaselineStack(noise.astype(x.dtype))


def gaussian(
    x: np.ndarray,
    k: int = 8,
    *,
    scale: float | None = None,
    seed: int | None = None,
) -> BaselineStack:
    """K baselines of gaussian noise centred on each input.

    The noisy copies are clipped to `[min(x), max(x)]`, so they stay in the
    input's valid range.

    Args:
        x: `float[N, ...]` inputs.
        k: baselines per input.
        scale: noise standard deviation; default a quarter of the range of `x`.
        seed: for reproducible noise.

    Returns:
        `BaselineStack` of shape `(k, N) + x.shape[1:]`.
    """
    x = np.asarray(x)
    _check_count(k, x)
    lo, hi = float(np.min(x)), float(np.max(x))
    sigma = 0.25 * (hi - lo) if scale is None else float(scale)
    if not sigma >= 0:
        raise ValueError(f"baseline: gaussian scale must be >= 0, got {scale}")
    noisy = x[None] + _rng(seed).normal(0.0, sigma, size=(k, *x.shape))
    return BaselineStack(np.clip(noisy, lo, hi).astype(x.dtype))


def blur(x: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """A blurred copy of each input image: edges and texture removed.

    Gaussian blur over the spatial axes of channels-last inputs
    `x[N, H, W, C]` (or `[N, L, C]`, `[N, D, H, W, C]`), with reflected edges.

    Args:
        x: `float[N, *spatial, C]`, at least one spatial axis.
        sigma: blur standard deviation in pixels; default a fifth of the
            smallest spatial side.

    Returns:
        `float[N, *spatial, C]`, one baseline per input.
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(
            "baseline: 'blur' needs channels-last inputs with spatial axes "
            f"(N, H, W, C); got x of shape {x.shape}"
        )
    spatial = x.shape[1:-1]
    sigma = 0.2 * min(spatial) if sigma is None else float(sigma)
    if not sigma >= 0:
        raise ValueError(f"baseline: blur sigma must be >= 0, got {sigma}")
    out = x.astype(np.float64)
    if sigma == 0:
        return out.astype(x.dtype)
    for axis in range(1, x.ndim - 1):
        out = _blur_axis(out, axis, sigma)
    return out.astype(x.dtype)


def _blur_axis(a: np.ndarray, axis: int, sigma: float) -> np.ndarray:
    radius = max(1, int(np.ceil(3.0 * sigma)))
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    n = a.shape[axis]
    # 'symmetric' reflection repeats the edge pixel, so a flat image stays flat.
    pad = [(0, 0)] * a.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(a, pad, mode="symmetric" if radius <= n else "edge")
    if padded.shape[axis] != n + 2 * radius:  # symmetric pad shorter than radius
        padded = np.pad(a, pad, mode="edge")
    out = np.zeros_like(a)
    for i, w in enumerate(kernel):
        out += w * np.take(padded, np.arange(i, i + n), axis=axis)
    return out


def _check_count(k: object, x: np.ndarray) -> None:
    """`n_baselines` is a positive int whose noise array fits `MAX_GENERATED_VALUES`."""
    checks.integer(k, "n_baselines", 1)
    if k * x.size > MAX_GENERATED_VALUES:
        raise ValueError(
            f"n_baselines={k} would draw {k * x.size} random values for x of shape {x.shape} "
            f"(at most {MAX_GENERATED_VALUES}); use fewer baselines or smaller batches"
        )


def common_k(ks: Iterable[int]) -> int:
    """The number of baselines shared by several inputs (1 combines with any)."""
    distinct = set(ks)
    if len(distinct - {1}) > 1:
        raise ValueError(f"baseline: inputs have different numbers of baselines {sorted(distinct)}")
    return max(distinct)


def resolve(
    spec: object,
    x: np.ndarray,
    *,
    name: str = "baseline",
    n_baselines: int = 8,
    seed: int | None = None,
) -> ResolvedBaseline:
    """Resolve a baseline specification for one input array.

    Args:
        spec: `"zeros"`/`"black"`, a number, `"uniform"`, `"gaussian"`,
            `"blur"`, an array (see the module docstring) or a
            `BaselineStack`.
        x: `float[N, ...]`, the inputs.
        name: how the argument is named in error messages.
        n_baselines: K for the random baselines.
        seed: seed of the random baselines.

    Returns:
        The `ResolvedBaseline`, with `values` in the dtype of `x`.

    Raises:
        ValueError: unknown name, shape that fits no reading, NaN/inf.
        TypeError: a spec of an unsupported type.
    """
    n, row = x.shape[0], x.shape[1:]
    if isinstance(spec, str):
        if canonical(spec) == "zeros":
            return _shared(np.zeros((1, *row), x.dtype), n)
        if spec == "uniform":
            return resolve(uniform(x, n_baselines, seed=seed), x, name=name)
        if spec == "gaussian":
            return resolve(gaussian(x, n_baselines, seed=seed), x, name=name)
        if spec == "blur":
            return _per_input(blur(x), n)
        raise ValueError(f"{name} must be one of {list(NAMED)}, a number or an array; got {spec!r}")
    if isinstance(spec, bool):
        raise TypeError(f"{name} must be a name, number or array, got a bool")
    if isinstance(spec, numbers.Real):
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.full((1, *row), spec, x.dtype)
        if not np.all(np.isfinite(values)):
            raise ValueError(
                f"{name} must be finite in the input dtype {np.dtype(x.dtype).name}, got {spec}"
            )
        return _shared(values, n)
    if isinstance(spec, BaselineStack):
        values = _as_float(spec.values, x.dtype, name)
        if values.shape[1:] == row:
            k = values.shape[0]
            return ResolvedBaseline(values, np.tile(np.arange(k), (n, 1)).astype(np.int32))
        if values.shape[1:] == x.shape:
            k = values.shape[0]
            # (K, N, ...) -> rows ordered input-major: row n * K + k.
            flat = np.swapaxes(values, 0, 1).reshape((n * k, *row))
            return ResolvedBaseline(flat, np.arange(n * k, dtype=np.int32).reshape(n, k))
        raise ValueError(
            f"{name}: a BaselineStack must have shape (K,) + {row} or "
            f"(K, {n}) + {row}, got {values.shape}"
        )
    if hasattr(spec, "__array__") or isinstance(spec, (list, tuple)):
        values = _as_float(spec, x.dtype, name)
        if values.shape == row:
            return _shared(values[None], n)
        if values.shape[1:] == row:
            b = values.shape[0]
            if b == 1:
                return _shared(values, n)
            if b == n:
                return _per_input(values, n)
            return resolve(BaselineStack(values), x, name=name)
        raise ValueError(
            f"{name} has shape {values.shape}; expected {row} or (K,) + {row} "
            f"for inputs of shape {x.shape}"
        )
    raise TypeError(
        f"{name} must be a name, a number, an array or a BaselineStack, got {type(spec).__name__}"
    )


def _as_float(values: object, dtype: np.dtype, name: str) -> np.ndarray:
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} could not be read as a {dtype} array: {err}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name} contains NaN or inf (or values too large for {np.dtype(dtype).name})"
        )
    return arr


def _shared(values: np.ndarray, n: int) -> ResolvedBaseline:
    return ResolvedBaseline(values, np.zeros((n, 1), np.int32))


def _per_input(values: np.ndarray, n: int) -> ResolvedBaseline:
    return ResolvedBaseline(values, np.arange(n, dtype=np.int32)[:, None])
