"""`keras_ig.blur_ig` and `keras_ig.guided_ig`: path methods whose path is not a line.

Both take `explain`'s keywords where they make sense, validate through the
same `JobBuilder`, run their own compiled engine
(`keras_ig._engine.blur`, `keras_ig._engine.guided`) and return the same
`Explanation`, whose `delta` is the method's own completeness gap.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import weakref
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig import completeness
from keras_ig._api.cache import explainer_for
from keras_ig._api.explainer import Explainer
from keras_ig._api.explanation import Explanation, warn_if_incomplete
from keras_ig._api.noise import with_noise
from keras_ig._api.results import write_out
from keras_ig._api.stream import check_out, explain_dataset
from keras_ig._engine.blur import MATRICES, BlurEngine, work_dtype
from keras_ig._engine.guided import GuidedEngine
from keras_ig._engine.job import Job, chunk_rows
from keras_ig._numpy import checks
from keras_ig._numpy.blur import blur_path
from keras_ig._numpy.noise import Noise, check_noise

__all__ = ["blur_ig", "guided_ig"]

# One engine per explainer (so per model and target/output/layer), held weakly.
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _engine(explainer: Explainer, kind: type) -> Any:
    engines = _ENGINES.setdefault(explainer, {})
    if kind not in engines:
        engines[kind] = kind(explainer.score_fn)
    return engines[kind]


def _real(value: Any, name: str, low: float, high: float = math.inf, *, open_low: bool) -> float:
    """A finite real number in `(low, high]` (`[low, high]` if not `open_low`)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    below = v <= low if open_low else v < low
    if not math.isfinite(v) or below or v > high:
        bracket = "(" if open_low else "["
        top = "inf)" if high == math.inf else f"{high:g}]"
        raise ValueError(f"{name} must be in {bracket}{low:g}, {top}, got {value}")
    return v


def _common(steps: Any, batch_size: Any, out: Any, layer_ok: bool, layer: Any) -> None:
    checks.integer(steps, "steps", 1)
    checks.integer(batch_size, "batch_size", 1, optional=True)
    if not layer_ok and layer is not None:
        raise ValueError(
            "layer: blur_ig blurs the input image, so it cannot attribute at a layer; "
            "use keras_ig.guided_ig or keras_ig.explain with layer="
        )
    if out is not None:
        check_out(out)


def _check_job(job: Job, out: Any) -> None:
    if out is not None and len(job.base_values) != 1:
        raise ValueError("out= needs a single attributed tensor (one input, or layer=)")


def _finish(explainer: Explainer, job: Job, raw: dict, steps: int, method: str, out, warn):
    exp = explainer.build(job, raw, steps, method, out=out)
    if warn:
        warn_if_incomplete(exp, completeness.TOLERANCE)
    return exp


def _smoothed(
    run, x: Any, explainer: Explainer, target: Any, baseline: Any, noise: Noise, out, warn
) -> Explanation:
    """`run` over noisy copies of x, combined by `noise` (`keras_ig._api.noise`)."""
    if isinstance(x, tf.data.Dataset):
        raise ValueError("noise: pass an array x (noise over a dataset is explain's and idgi's)")
    exp = with_noise(
        lambda copies, t, b: run(copies, None, False, t, b),
        x,
        model=explainer.model,
        target=target,
        baseline=baseline,
        noise=noise,
        predict=lambda batch: explainer.predict(batch, target),
    )
    exp = write_out(exp, out)
    if warn:
        warn_if_incomplete(exp, completeness.TOLERANCE)
    return exp


def _dataset(run, x: tf.data.Dataset, explainer: Explainer, out, verbose, warn) -> Explanation:
    return explain_dataset(
        lambda batch: run(batch, None, False),
        x,
        model=explainer.model,
        out=out,
        verbose=verbose,
        warn=warn,
    )


def blur_ig(
    model: Any,
    x: Any,
    *,
    max_sigma: float = 50.0,
    steps: int = 64,
    grad_step: float = 0.01,
    target: Any = None,
    output: Any = None,
    layer: Any = None,
    batch_size: int | None = None,
    out: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    warn: bool = True,
    noise: Noise | None = None,
) -> Explanation:
    """Blur IG attributions (Xu et al., CVPR 2020), as PAIR saliency's `BlurIG`.

    The path runs from `x` blurred at `max_sigma` (a Gaussian over the two
    spatial axes, zeros beyond the edges, scipy's kernel truncated at 4
    sigma) down to `x` itself; the attribution is the left Riemann sum
    `-sum_k (max_sigma / steps) dF/dx(L(sigma_k)) * dL/dsigma(sigma_k)`,
    `sigma_k = k max_sigma / steps`, with `dL/dsigma` a forward difference
    of `grad_step`. The blurring happens on device, in the chunks of the
    gradients, in one compiled graph.

    Args:
        model: a Keras model (or callable) on images `[N, H, W, C]`.
        x: float images `[N, H, W, C]`, or a batched `tf.data.Dataset` of them.
        max_sigma: the blur at the path's start, in pixels, `> 0`.
        steps: points on the path, `>= 1`.
        grad_step: the sigma step of the path's direction, `> 0`.
        target, output: what F is, as in `keras_ig.explain`.
        layer: not supported (the path lives in input space); must be None.
        batch_size: most rows (path points) per model call; None: about 4M
            input elements.
        out, verbose, warn, noise: as in `keras_ig.explain` (`noise`:
            SmoothGrad over Blur IG, for an array `x`).

    Returns:
        An `Explanation`: `attributions` `[N, H, W, C]`, `baseline` the fully
        blurred images `[N, H, W, C]`, `baseline_scores` F there, and
        `delta = sum(attributions) - (F(x) - F(blur(x, max_sigma)))`;
        `method` is `"blur_ig"`.

    Raises:
        ValueError, TypeError: bad input, named, before any heavy work.

    Example:
        >>> exp = keras_ig.blur_ig(model, images, target=3, max_sigma=20.0)
        >>> exp.attributions.shape == images.shape
        True
    """
    _common(steps, batch_size, out, False, layer)
    max_sigma = _real(max_sigma, "max_sigma", 0.0, open_low=True)
    grad_step = _real(grad_step, "grad_step", 0.0, open_low=True)
    noise = check_noise(noise)
    explainer = explainer_for(model, target=target, layer=None, output=output)
    engine = _engine(explainer, BlurEngine)

    def run(
        batch: Any, out_: Any, warn_: bool, target_: Any = target, _: Any = None
    ) -> Explanation:
        job = explainer.prepare(batch, target=target_, baseline="zeros")
        if job.plan.structure is not None:
            # Blurring one input of several has no agreed meaning (nor a PAIR reference).
            raise ValueError(
                f"x: blur_ig explains a single-input image model; got {len(job.leaves)} "
                "inputs (guided_ig and explain take multi-input models)"
            )
        images = job.leaves[0]
        if images.ndim != 4:
            raise ValueError(f"x: blur_ig needs images [N, H, W, C]; got shape {images.shape}")
        dtype = tf.as_dtype(images.dtype)
        work = work_dtype(dtype).as_numpy_dtype
        path = blur_path(images.shape[1], images.shape[2], max_sigma, steps, grad_step, dtype=work)
        mats = {k: path[k] for k in MATRICES}
        rows = chunk_rows(job.plan.z_shapes, batch_size, job.n * steps)
        fn = engine.compiled(images.shape[1:], dtype)
        result = fn(images, mats, job.targets, np.int32(rows))
        raw = {k: v.numpy() for k, v in result.items() if k != "attributions"}
        raw["attributions"] = [result["attributions"][0].numpy()]
        # The path's start is its baseline: one per image.
        job = dataclasses.replace(
            job,
            base_values=[raw.pop("blurred")],
            base_index=[np.arange(job.n, dtype=np.int32)[:, None]],
        )
        return _finish(explainer, job, raw, steps, "blur_ig", out_, warn_)

    if noise is not None:
        return _smoothed(run, x, explainer, target, "zeros", noise, out, warn)
    if isinstance(x, tf.data.Dataset):
        return _dataset(run, x, explainer, out, verbose, warn)
    return run(x, out, warn)


def guided_ig(
    model: Any,
    x: Any,
    *,
    baseline: Any = "zeros",
    steps: int = 64,
    fraction: float = 0.25,
    max_dist: float = 0.02,
    target: Any = None,
    output: Any = None,
    layer: Any = None,
    batch_size: int | None = None,
    n_baselines: int = 8,
    seed: int | None = None,
    out: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    warn: bool = True,
    noise: Noise | None = None,
) -> Explanation:
    """Guided IG attributions (Kapishnikov et al., CVPR 2021), as PAIR saliency's `GuidedIG`.

    An adaptive path from the baseline to `x`: at step s the path's L1
    distance to `x` shrinks to `1 - (s + 1) / steps` of the total, moving
    first the `fraction` of features with the smallest `|dF/dz|`, each kept
    within `max_dist` (in alpha) of the straight line's
    `alpha = (s + 1) / steps`. Attributions are
    `sum_s (z_{s+1} - z_s) * dF/dz(z_s)`; every input (and baseline) of the
    batch walks its own path in one compiled `tf.while_loop`.

    For a multi-input model the path, the band and the `fraction` run over
    the features of all attributed inputs together.

    Args:
        model: a Keras model (or callable).
        x: `[N, ...]` floats, a list or dict of them for a multi-input model
            (token ids with `layer=`), or a batched `tf.data.Dataset`.
        baseline: as in `keras_ig.explain` (a stack of K baselines runs K
            paths per input, averaged; None holds an input of several fixed).
        steps: gradient evaluations along the path, `>= 1`.
        fraction: share of features moved per selection round, in `(0, 1]`.
        max_dist: the furthest (in alpha) a feature may get from the
            straight line, in `[0, 1]`; 0 is Integrated Gradients' line with
            the left Riemann rule, 1 the unbounded Guided IG.
        target, output, layer, batch_size, n_baselines, seed, out, verbose,
            warn, noise: as in `keras_ig.explain` (`batch_size`: rows per model
            call; `noise`: SmoothGrad over Guided IG, for an array `x`).

    Returns:
        An `Explanation` with `delta = sum(attributions) - (F(x) - F(baseline))`
        (small, shrinking with `steps`); `method` is `"guided_ig"`.

    Raises:
        ValueError, TypeError: bad input, named, before any heavy work.

    Example:
        >>> exp = keras_ig.guided_ig(model, images, target=3, steps=128)
        >>> exp.attributions.shape == images.shape
        True
    """
    _common(steps, batch_size, out, True, layer)
    fraction = _real(fraction, "fraction", 0.0, 1.0, open_low=True)
    max_dist = _real(max_dist, "max_dist", 0.0, 1.0, open_low=False)
    noise = check_noise(noise)
    explainer = explainer_for(model, target=target, layer=layer, output=output)
    engine = _engine(explainer, GuidedEngine)

    def run(
        batch: Any, out_: Any, warn_: bool, target_: Any = target, baseline_: Any = baseline
    ) -> Explanation:
        job = explainer.prepare(
            batch, target=target_, baseline=baseline_, n_baselines=n_baselines, seed=seed
        )
        _check_job(job, out_)
        plan = job.plan
        features = sum(math.prod(shape) for shape in plan.z_shapes)
        # numpy's quantile(q, method="lower") is the floor(q (F - 1))-th smallest.
        rank = math.floor(fraction * (features - 1))
        rows = chunk_rows(plan.z_shapes, batch_size, job.n * job.k)
        result = engine.compiled(plan)(
            list(job.leaves),
            np.repeat(np.arange(job.n, dtype=np.int32), job.k),  # row r = n * K + k
            [
                values[index.reshape(-1)].astype(dtype.as_numpy_dtype)
                for values, index, dtype in zip(
                    job.base_values, job.base_index, plan.z_dtypes, strict=True
                )
            ],
            job.targets,
            np.int32(steps),
            np.int32(rank),
            np.float64(max_dist),
            np.int32(rows),
        )
        raw = {k: v.numpy() for k, v in result.items() if k != "attributions"}
        raw["attributions"] = [a.numpy() for a in result["attributions"]]
        return _finish(explainer, job, raw, steps, "guided_ig", out_, warn_)

    if noise is not None:
        return _smoothed(run, x, explainer, target, baseline, noise, out, warn)
    if isinstance(x, tf.data.Dataset):
        return _dataset(run, x, explainer, out, verbose, warn)
    return run(x, out, warn)
