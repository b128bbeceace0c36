"""The path methods beyond plain IG: `keras_ig.idgi`, `keras_ig.expected_gradients`.

Faces only: each checks its own options, picks the cached `Explainer` for
the model and the (target, layer, output) settings, and hands the call to
the engine of its method (`Explainer.engine_for`, `keras_ig._engine.expected`).
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow as tf

from keras_ig._api.cache import explainer_for
from keras_ig._api.explanation import Explanation
from keras_ig._numpy.noise import Noise


def idgi(
    model: Any,
    x: Any,
    *,
    target: Any = None,
    baseline: Any = "zeros",
    steps: int = 64,
    batch_size: int | None = None,
    layer: Any = None,
    output: Any = None,
    n_baselines: int = 8,
    seed: int | None = None,
    strategy: tf.distribute.Strategy | None = None,
    out: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    warn: bool = True,
    noise: Noise | None = None,
) -> Explanation:
    """IDGI (Yang et al., CVPR 2023) on the straight path from x' to x.

    At the points `x_k = x' + (k / steps) (x - x')`, `k = 0 .. steps - 1`,
    step k adds `g_k**2 / sum(g_k**2) * (F(x_{k+1}) - F(x_k))` to the
    attributions (`g_k = dF/dx` at `x_k`, the sum over every attributed
    feature; `x_steps = x`), so they sum to `F(x) - F(x')` exactly: only
    the gradient's important directions take a share of each step's change
    of F, where IG also credits the noise in the gradient. F at the points
    comes from the same forward passes as the gradients (`steps` forward
    and backward passes per input and baseline). A point whose gradient is
    zero everywhere contributes nothing.

    Args:
        model, x, target, baseline, batch_size, layer, output, n_baselines,
        seed, strategy, out, verbose, warn, noise: as in `keras_ig.explain`.
        steps: points on the path, `>= 1`.

    Returns:
        An `Explanation` (method `"idgi"`) with `attributions` shaped like
        `x` (like the layer's output with `layer=`), `delta[N]` its
        completeness gap (float32 rounding only), `scores`,
        `baseline_scores`, `target`.

    Raises:
        ValueError, TypeError: bad input, named, before any heavy work.

    Example:
        >>> exp = keras_ig.idgi(model, images, target=3, steps=32)
        >>> np.abs(exp.delta).max() < 1e-4
        True
    """
    explainer = explainer_for(model, target=target, layer=layer, output=output)
    return explainer.explain(
        x,
        target=target,
        baseline=baseline,
        steps=steps,
        method="riemann_left",
        batch_size=batch_size,
        n_baselines=n_baselines,
        seed=seed,
        strategy=strategy,
        out=out,
        verbose=verbose,
        warn=warn,
        noise=noise,
        path="idgi",
    )


def expected_gradients(
    model: Any,
    x: Any,
    background: Any,
    *,
    samples: int = 32,
    stdev: float = 0.0,
    seed: int | None = None,
    target: Any = None,
    batch_size: int | None = None,
    layer: Any = None,
    output: Any = None,
    strategy: tf.distribute.Strategy | None = None,
    out: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    warn: bool = True,
    noise: Noise | None = None,
) -> Explanation:
    """Expected Gradients (Erion et al.); GradientSHAP with `stdev > 0`.

    Each of `samples` draws per input picks a background row `b` (uniform)
    and `alpha ~ U(0, 1)`, on device with a stateless RNG; the attribution
    is the mean over the draws of `(x - b) * dF/dx(b + alpha (x - b))`
    (with `stdev > 0`, `x` is `x + N(0, stdev**2)` per draw). In
    expectation the attributions sum to `F(x) - mean_b F(b)`, and that is
    what `delta` is measured against: `baseline_scores` is F averaged over
    the whole background (forward passes over `N * B` rows), so `delta`
    is the Monte-Carlo error, which falls like `1 / sqrt(samples)`. One
    compiled graph serves every background size and `samples`.

    Args:
        model, target, batch_size, layer, output, strategy, out, verbose,
        warn, noise: as in `keras_ig.explain`.
        x: `[N, ...]`, a list/dict for a multi-input model, or a dataset.
        background: `[B, ...]` rows shaped like x's rows (a list/dict like x
            for a multi-input model, None to hold an input fixed); with
            `layer=`, rows of the layer's output, or input-space rows (token
            ids, or a `keras_ig.InputBaseline`) run up to the layer.
        samples: draws per input, `>= 1`.
        stdev: noise added to x per draw (absolute, input units; the layer's
            output with `layer=`), `>= 0`.
        seed: seed of the draws (a non-negative int; None: fresh draws).
            The same seed gives the same draws whatever `batch_size`; each
            batch of a dataset reuses it, and with `strategy=` each
            replica draws for its own slice of the inputs.

    Returns:
        An `Explanation` (method `"expected_gradients"`, `steps == samples`)
        whose `baseline` holds the background rows drawn, `[N, samples, ...]`
        (`[N, ...]` for one sample).

    Raises:
        ValueError, TypeError: bad input, named, before any heavy work.

    Example:
        >>> exp = keras_ig.expected_gradients(model, images, train_images[:100],
        ...                                   samples=64, seed=0)
    """
    explainer = explainer_for(model, target=target, layer=layer, output=output)
    return explainer.explain(
        x,
        target=target,
        baseline=background,
        steps=1,
        batch_size=batch_size,
        seed=seed,
        strategy=strategy,
        out=out,
        verbose=verbose,
        warn=warn,
        noise=noise,
        path="expected",
        samples=samples,
        stdev=stdev,
    )
