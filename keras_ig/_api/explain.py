"""`keras_ig.explain`: Integrated Gradients for a batch (or a dataset) of inputs.

The public entry point only: it picks the cached `Explainer` for the
settings and hands the call to it. `Explainer`, `explainer_for` and
`resolve_targets` are importable from here for the callback.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from keras_ig._api.cache import explainer_for
from keras_ig._api.explainer import Explainer
from keras_ig._api.explanation import Explanation
from keras_ig._engine.inputs import resolve_targets
from keras_ig._numpy.noise import Noise

__all__ = ["Explainer", "explain", "explainer_for", "resolve_targets"]


def explain(
    model: Any,
    x: Any,
    *,
    target: Any = None,
    baseline: Any = "zeros",
    steps: int | None = None,
    method: str = "gausslegendre",
    batch_size: int | None = None,
    layer: Any = None,
    output: Any = None,
    n_baselines: int = 8,
    seed: int | None = None,
    tolerance: float | None = None,
    max_steps: int = 1024,
    strategy: tf.distribute.Strategy | None = None,
    jit_compile: bool = False,
    out: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    warn: bool = True,
    multiply_by_inputs: bool = True,
    noise: Noise | None = None,
) -> Explanation:
    """Integrated Gradients attributions of F(x) for a batch of inputs.

    `IG_i(x) = (x_i - x'_i) * integral_0^1 dF(x' + a (x - x')) / dx_i da`,
    approximated with `steps` quadrature points of `method`.

    Args:
        model: a Keras 3 model (Sequential, functional, subclassed), or any
            callable mapping a batch of tensors to outputs.
        x: `[N, ...]` array-like or `tf.Tensor`; a list or dict of them for a
            multi-input model (the structure of `model.inputs`); or a batched
            `tf.data.Dataset` yielding `x`, `(x, y)` or `(x, y, w)`.
        target: what F is. None: the only output unit, else the class the
            model predicts at x; an int: that unit for every input; `int[N]`:
            one unit per input; a callable `f(outputs) -> [N]`: any
            differentiable score (e.g. `lambda y: y[:, 3] - y[:, 5]`). The
            compiled graph is reused for the same function, and for an inline
            lambda written at one place whose closure and globals hold only
            numbers, strings, modules or functions; otherwise define the
            function once (`score = lambda y: ...`) and pass `score` each time.
        baseline: x'. `"zeros"`/`"black"`, a number, an array shaped like one
            input (shared), like `x` (one per input) or `(K,) + x.shape[1:]`
            (K != N: a stack, attributions averaged), a
            `keras_ig.BaselineStack` (always a stack, also when K == N), or
            `"uniform"`, `"gaussian"`, `"blur"` (generated, see
            `keras_ig.baselines`); not finite in x's dtype is refused. For
            multi-input models, the structure of `x`, with None to hold an
            input fixed; a list always follows the inputs entry by entry
            (`[0.0, 1.0]`: 0.0 for input 0, 1.0 for input 1). With `layer=`:
            applies to the layer's output (zeros by default).
        steps: quadrature points on the path, `>= 1`; default 64. With
            `tolerance` it is the starting point of the refinement (default
            8 there).
        method: `"gausslegendre"` (default; exact for polynomials of degree
            `2 * steps - 1`; above 256 points a composite rule of panels of
            at most 256, see `keras_ig._numpy.quadrature.gausslegendre`),
            `"riemann_left"`, `"riemann_right"`, `"riemann_middle"`,
            `"riemann_trapezoid"`; or their short names `"left"`, `"right"`,
            `"middle"`, `"trapezoid"`.
        batch_size: most rows sent through the model at once (path points,
            F(x) and F(baseline) alike; capped at the rows there are). None:
            about 4M input elements.
        layer: a layer (or its name) of `model`; attribute at its output, e.g.
            an `Embedding` for text.
        output: None for what the model outputs (probabilities for a
            softmax head, which saturate: logits are usually the better F);
            `"logits"` to explain the pre-softmax/sigmoid values of a model
            whose last layer squashes;
            or a layer (or name) whose output is taken as the model output.
        n_baselines: how many random baselines `"uniform"`/`"gaussian"` draw
            (at most 2**28 random values in all).
        seed: seed of the random baselines, a non-negative int or None.
        tolerance: if set, steps are chosen per input: refined (doubling,
            from `steps`) until `|delta| <= tolerance * scale` or
            `max_steps`, where `scale` is `|F(x) - F(baseline)|` but at
            least 1% of `max(|F(x)|, |F(baseline)|)`
            (`keras_ig.completeness`); `Explanation.steps_used` and
            `.converged` report it.
        max_steps: the most steps `tolerance` may use.
        strategy: a `tf.distribute.Strategy`; each batch is split across its
            replicas and gathered back in input order. A
            `MultiWorkerMirroredStrategy` on several workers (`TF_CONFIG`)
            needs a dataset `x`, and each worker explains its shard of it on
            its own devices, without collectives: with B batches and W
            workers, worker w (0-based, the chief first) takes the contiguous
            batches `[B*w//W, B*(w+1)//W)` (so the workers' results in worker
            order are the dataset's); with an unknown B, batches w, w+W, ...
            (`dataset.shard(W, w)`); a dataset whose
            `options().experimental_distribute.auto_shard_policy` is `OFF` is
            explained whole on every worker. Arrays raise a ValueError.
            `ParameterServerStrategy` is refused.
        jit_compile: compile the engine with XLA (one graph per batch_size).
        out: a `.npy` path: attributions are written there as they are
            computed and returned memory-mapped (for datasets of any size).
            On several workers each writes its own file, the worker's index
            and count before the extension: `attr.npy` ->
            `attr.worker-0-of-2.npy`, `attr.worker-1-of-2.npy`.
        verbose: progress bar for datasets ("auto", 1 or 0).
        warn: warn (`CompletenessWarning`) when any |delta| exceeds 5%
            (`keras_ig.completeness.TOLERANCE`, or `tolerance`) of that
            scale, or is not finite.
        multiply_by_inputs: False returns the integrated gradient without
            the `(x - x')` factor, `integral_0^1 dF/dx_i da` (Captum's
            option): on a linear model F = w.x + b it is w. `delta` is then
            still the gap of the multiplied attributions,
            `sum((x - x') * attributions) - (F(x) - F(x'))`, so it measures
            the quadrature error as before. Not with `tolerance`.
        noise: a `keras_ig.Noise`: SmoothGrad (mean), SmoothGrad² or VarGrad
            over `noise.samples` noisy copies of x, run through the engine as
            extra rows (see `keras_ig.Noise`); a None target is resolved at
            the clean x. Not with `tolerance`.

    Returns:
        An `Explanation` with `attributions` shaped like `x`, `delta[N]`,
        `scores[N]`, `baseline_scores[N]`, `target[N]`, `steps`, `method`,
        and `baseline`, the baselines used (`[N, ...]`, or `[N, K, ...]`
        for a stack of K). On several workers, the Explanation of this
        worker's shard only (its `attributions` memory-mapped from its own
        `out=` file).

    Raises:
        ValueError, TypeError: bad input, named, before any heavy work.

    Example:
        >>> exp = keras_ig.explain(model, images, target=3, steps=32)
        >>> exp.attributions.shape == images.shape
        True
    """
    explainer = explainer_for(
        model, target=target, layer=layer, output=output, jit_compile=jit_compile
    )
    return explainer.explain(
        x,
        target=target,
        baseline=baseline,
        steps=steps,
        method=method,
        batch_size=batch_size,
        n_baselines=n_baselines,
        seed=seed,
        tolerance=tolerance,
        max_steps=max_steps,
        strategy=strategy,
        out=out,
        verbose=verbose,
        warn=warn,
        multiply_by_inputs=multiply_by_inputs,
        noise=noise,
    )
