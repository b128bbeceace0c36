"""`keras_ig.blur_ig` and `keras_ig.guided_ig`: path methods whose path is not a line.

Both take `explain`'s keywords where they make sense, validate through the
same `JobBuilder`, run their own compiled engine
(`keras_ig._engine.blur`, `keras_ig._engine.guided`) and return the same
`Explanation`, whose `delta` is the method's own completeness gap. With
`strategy=` each batch's inputs are split over the local replicas
(`keras_ig._engine.devices.run_graph`); `noise=` smooths each batch, of an
array or of a dataset.
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
from keras_ig._api.noise import smoothed
from keras_ig._api.stream import check_one_tensor, check_out, explain_dataset
from keras_ig._engine import devices, workers
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


def _common(
    x: Any, steps: Any, batch_size: Any, out: Any, layer_ok: bool, layer: Any, strategy: Any
) -> tuple[Any, Any, Any]:
    """Shared checks; returns `(x, strategy, out)` for this worker.

    Under a `MultiWorkerMirroredStrategy` on several workers that is this
    worker's shard of the dataset `x`, its local strategy and its own `out=`
    file (`workers.for_this_worker`), as `keras_ig.explain` does.
    """
    checks.integer(steps, "steps", 1)
    checks.integer(batch_size, "batch_size", 1, optional=True)
    if not layer_ok and layer is not None:
        raise ValueError(
            "layer: blur_ig blurs the input image, so it cannot attribute at a layer; "
            "use keras_ig.guided_ig or keras_ig.explain with layer="
        )
    if out is not None:
        check_out(out)
    devices.check_strategy(strategy)
    if workers.is_multi_worker(strategy):
        return workers.for_this_worker(x, strategy, out)
    return x, strategy, out


def _over_x(
    run: Any,
    x: Any,
    explainer: Explainer,
    *,
    target: Any,
    baseline: Any,
    noise: Noise | None,
    out: Any,
    verbose: Any,
    warn: bool,
) -> Explanation:
    """`run(batch, target, baseline, out) -> Explanation` over an array or a dataset `x`.

    With `noise` each batch (the array, or each of the dataset's) is
    smoothed on its own, as `keras_ig.explain` does.
    """

    def one(batch: Any, out_: Any) -> Explanation:
        if noise is None:
            return run(batch, target, baseline, out_)
        return smoothed(
            lambda copies, t, b: run(copies, t, b, None),
            batch,
            explainer=explainer,
            target=target,
            baseline=baseline,
            noise=noise,
            out=out_,
        )

    if isinstance(x, tf.data.Dataset):
        return explain_dataset(
            lambda batch: one(batch, None),
            x,
            model=explainer.model,
            out=out,
            verbose=verbose,
            warn=warn,
        )
    exp = one(x, out)
    if warn:
        warn_if_incomplete(exp, completeness.TOLERANCE)
    return exp


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
    strategy: tf.distribute.Strategy | None = None,
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
        strategy: a `tf.distribute.Strategy` whose replicas are in this
            process (e.g. a `MirroredStrategy`): each batch's images are
            split across its replicas; None runs on the default device. A
            `MultiWorkerMirroredStrategy` on several workers takes a dataset:
            each worker explains its shard (and writes its own `out=` file,
            `attr.worker-i-of-n.npy`), as `keras_ig.explain` does.
        out, verbose, warn, noise: as in `keras_ig.explain` (`noise`:
            SmoothGrad over Blur IG, for an array `x` or each batch of a
            dataset).

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
    x, strategy, out = _common(x, steps, batch_size, out, False, layer, strategy)
    max_sigma = _real(max_sigma, "max_sigma", 0.0, open_low=True)
    grad_step = _real(grad_step, "grad_step", 0.0, open_low=True)
    noise = check_noise(noise)
    explainer = explainer_for(model, target=target, layer=None, output=output)
    engine = _engine(explainer, BlurEngine)

    def run(batch: Any, target_: Any, _: Any, out_: Any) -> Explanation:
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
        rows = np.int32(chunk_rows(job.plan.z_shapes, batch_size, job.n * steps))
        raw = devices.run_graph(
            engine.compiled(images.shape[1:], dtype),
            lambda: engine.replicated(images.shape[1:], dtype),
            job,
            lambda part: (part.leaves[0], mats, part.targets, rows),
            1,
            strategy,
        )
        # The path's start is its baseline: one per image.
        job = dataclasses.replace(
            job,
            base_values=[raw.pop("blurred")],
            base_index=[np.arange(job.n, dtype=np.int32)[:, None]],
        )
        return explainer.build(job, raw, steps, "blur_ig", out=out_)

    return _over_x(
        run,
        x,
        explainer,
        target=target,
        baseline="zeros",
        noise=noise,
        out=out,
        verbose=verbose,
        warn=warn,
    )


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
    strategy: tf.distribute.Strategy | None = None,
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
            call; `noise`: SmoothGrad over Guided IG, for an array `x` or each
            batch of a dataset).
        strategy: as in `keras_ig.blur_ig`: each batch's inputs (with their
            baselines' paths) split across the replicas of this process.

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
    x, strategy, out = _common(x, steps, batch_size, out, True, layer, strategy)
    fraction = _real(fraction, "fraction", 0.0, 1.0, open_low=True)
    max_dist = _real(max_dist, "max_dist", 0.0, 1.0, open_low=False)
    noise = check_noise(noise)
    explainer = explainer_for(model, target=target, layer=layer, output=output)
    engine = _engine(explainer, GuidedEngine)

    def run(batch: Any, target_: Any, baseline_: Any, out_: Any) -> Explanation:
        job = explainer.prepare(
            batch, target=target_, baseline=baseline_, n_baselines=n_baselines, seed=seed
        )
        check_one_tensor(out_, len(job.base_values))
        plan = job.plan
        features = sum(math.prod(shape) for shape in plan.z_shapes)
        # numpy's quantile(q, method="lower") is the floor(q (F - 1))-th smallest.
        rank = math.floor(fraction * (features - 1))
        rows = chunk_rows(plan.z_shapes, batch_size, job.n * job.k)

        def args_of(part: Job) -> tuple:
            return (
                list(part.leaves),
                np.repeat(np.arange(part.n, dtype=np.int32), part.k),  # row r = n * K + k
                [
                    values[index.reshape(-1)].astype(dtype.as_numpy_dtype)
                    for values, index, dtype in zip(
                        part.base_values, part.base_index, plan.z_dtypes, strict=True
                    )
                ],
                part.targets,
                np.int32(steps),
                np.int32(rank),
                np.float64(max_dist),
                np.int32(rows),
            )

        raw = devices.run_graph(
            engine.compiled(plan), lambda: engine.replicated(plan), job, args_of, job.k, strategy
        )
        return explainer.build(job, raw, steps, "guided_ig", out=out_)

    return _over_x(
        run,
        x,
        explainer,
        target=target,
        baseline=baseline,
        noise=noise,
        out=out,
        verbose=verbose,
        warn=warn,
    )
