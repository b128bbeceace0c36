"""Infidelity and max-sensitivity (Yeh et al., NeurIPS 2019), as Captum defines them."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ig._api.explain import explain
from keras_ig._numpy import checks, faithfulness
from keras_ig.metrics._setup import prepare


def _positional_count(fn: Callable) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in kinds for p in params)


def _real(value: Any, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not float(value) >= minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return float(value)


def infidelity(
    model: Any,
    x: Any,
    attributions: Any,
    *,
    baseline: Any = "zeros",
    target: Any = None,
    output: Any = None,
    perturb: Callable | None = None,
    samples: int = 10,
    stdev: float = 0.1,
    normalize: bool = True,
    seed: int | None = None,
    batch_size: int | None = None,
) -> np.ndarray:
    """Captum's infidelity: how badly `I . a` predicts what perturbations do to F.

    `E[(beta I . a - (F(x) - F(x - I)))**2]` over perturbations `I`; with
    `normalize` (the default) `beta` is the least-squares factor
    `E[(I . a)(F(x) - F(x - I))] / E[(I . a)**2]`, so the score does not
    depend on the attributions' scale; without it `beta = 1`. Lower is better.

    Args:
        model: a Keras model (or a callable on batches) with one input.
        x: `[N, ...]` inputs.
        attributions: `[N, ...]`, one map per input, shaped like `x`.
        baseline: resolved like `explain`'s; handed to a `perturb` that takes
            two arguments, `perturb(x, baseline)` (Captum passes baselines
            the same way); unused by the Gaussian perturbations.
        target, output: what F is, as in `keras_ig.explain`.
        perturb: a callable `x -> (I, x - I)` returning numpy arrays shaped
            like `x` (called `samples` times), or None for Gaussian `I` of
            standard deviation `stdev`.
        samples: perturbations per input, `>= 1`.
        stdev: the Gaussian perturbations' standard deviation, `>= 0`.
        normalize: scale the attributions by `beta` first (Captum's option).
        seed: seed of the Gaussian perturbations
            (`numpy.random.default_rng(seed)`, one draw shaped like `x` per
            sample).
        batch_size: most rows per model call (None: about 4M input elements).

    Returns:
        `float64[N]`, the infidelity of each input's map.

    Raises:
        TypeError, ValueError: bad input, naming the argument.

    Example:
        >>> exp = keras_ig.explain(model, x)
        >>> metrics.infidelity(model, x, exp.attributions, seed=0)
    """
    samples = checks.integer(samples, "samples", 1)
    stdev = _real(stdev, "stdev", 0.0)
    normalize = checks.boolean(normalize, "normalize")
    seed = checks.integer(seed, "seed", 0, optional=True)
    if perturb is not None and not callable(perturb):
        raise TypeError(f"perturb must be None or a callable, got {type(perturb).__name__}")
    p = prepare(
        model,
        x,
        attributions,
        target=target,
        output=output,
        baseline=baseline,
        batch_size=batch_size,
        rows_per_input=1,
    )
    fx, targets = p.engine.scores(tf.convert_to_tensor(p.x), tf.constant(p.targets), p.batch_size)
    rng = np.random.default_rng(seed)
    with_base = perturb is not None and _positional_count(perturb) >= 2
    base = p.base if with_base else None  # [N, ...], built once
    dots, diffs = [], []
    for _ in range(samples):
        if perturb is None:
            noise = rng.normal(0.0, stdev, size=p.x.shape).astype(p.x.dtype)
            moved = p.x - noise
        else:
            got = perturb(p.x, base) if with_base else perturb(p.x)
            noise, moved = _check_perturbation(got, p.x)
        f_moved, _ = p.engine.scores(tf.convert_to_tensor(moved), targets, p.batch_size)
        noise64 = np.asarray(noise, np.float64).reshape(len(p.x), -1)
        dots.append(np.einsum("nf,nf->n", noise64, p.attributions.reshape(len(p.x), -1)))
        diffs.append(fx.numpy().astype(np.float64) - f_moved.numpy())
    return faithfulness.infidelity(np.stack(dots), np.stack(diffs), normalize=normalize)


def _check_perturbation(got: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(got, tuple) or len(got) != 2:
        raise TypeError("perturb must return a pair (I, x - I) of arrays shaped like x")
    noise, moved = (np.asarray(v) for v in got)
    for value, what in ((noise, "I"), (moved, "x - I")):
        if value.shape != x.shape:
            raise ValueError(f"perturb returned {what} of shape {value.shape}; x has {x.shape}")
    return noise, moved.astype(x.dtype)


def _attributions_of(result: Any) -> np.ndarray:
    return np.asarray(getattr(result, "attributions", result), dtype=np.float64)


def sensitivity_max(
    explain_fn: Any,
    x: Any,
    *,
    radius: float = 0.02,
    samples: int = 10,
    seed: int | None = None,
) -> np.ndarray:
    """Captum's max-sensitivity: how much the map moves when x moves a little.

    The largest `||e(x + d) - e(x)|| / ||e(x)||` (Frobenius norms per input)
    over `samples` perturbations `d` drawn uniformly in `[-radius, radius]`
    per element. Lower is better (a stable explanation).

    Args:
        explain_fn: `e`: a callable `x -> attributions` (`[N, ...]`, or an
            `Explanation`, whose `.attributions` is used); or a Keras model,
            read as `keras_ig.explain(model, x)` with its defaults.
        x: `[N, ...]` float inputs.
        radius: half-width of the uniform perturbations, `>= 0`.
        samples: perturbations, `>= 1`.
        seed: seed of the perturbations (`numpy.random.default_rng(seed)`,
            one draw shaped like `x` per sample).

    Returns:
        `float64[N]`; 0 where neither map moved, inf where `e(x)` is 0 and
        `e(x + d)` is not.

    Raises:
        TypeError, ValueError: bad input, naming the argument.

    Example:
        >>> metrics.sensitivity_max(model, x, seed=0)  # IG with explain's defaults
    """
    radius = _real(radius, "radius", 0.0)
    samples = checks.integer(samples, "samples", 1)
    seed = checks.integer(seed, "seed", 0, optional=True)
    if isinstance(explain_fn, keras.Model):
        model = explain_fn

        def explain_fn(batch):
            return explain(model, batch, warn=False).attributions

    elif not callable(explain_fn):
        raise TypeError(
            f"explain_fn must be a callable x -> attributions or a keras.Model, "
            f"got {type(explain_fn).__name__}"
        )
    xs = np.asarray(x)
    if xs.ndim < 1 or not np.issubdtype(xs.dtype, np.floating):
        raise TypeError(f"x must be a float array [N, ...], got dtype {xs.dtype}")
    original = _attributions_of(explain_fn(xs))
    if original.shape != xs.shape:
        raise ValueError(
            f"explain_fn returned attributions of shape {original.shape}; x has {xs.shape}"
        )
    rng = np.random.default_rng(seed)
    worst = np.zeros(len(xs))
    for _ in range(samples):
        d = rng.uniform(-radius, radius, size=xs.shape).astype(xs.dtype)
        ratio = faithfulness.sensitivity_ratio(_attributions_of(explain_fn(xs + d)), original)
        worst = np.maximum(worst, ratio)
    return worst
