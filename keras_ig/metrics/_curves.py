"""Deletion and insertion curves (Petsiuk et al., RISE, 2018).

Features are moved in the order of their attribution, most important
first: deletion replaces them by the baseline and watches F fall (a
faithful map makes it fall fast: a small area), insertion puts them back
into the baseline and watches F rise (fast: a large area).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig._numpy import checks, faithfulness
from keras_ig.metrics._setup import prepare


@dataclass(frozen=True)
class Curves:
    """The result of `deletion` or `insertion`.

    Attributes:
        scores: `float64[N]`, the trapezoid area under each curve.
        curves: `float64[N, steps + 1]`, F after each step (step 0: nothing
            moved yet).
        fractions: `float64[steps + 1]`, `0, 1/steps, ..., 1`: the share of
            features moved at each point.
        targets: `int32[N]`, the output unit F read for each input (the
            class predicted at x for `target=None`; 0 for a callable target,
            which reads the outputs itself).
    """

    scores: np.ndarray
    curves: np.ndarray
    fractions: np.ndarray
    targets: np.ndarray


def _run(
    insertion: bool,
    model: Any,
    x: Any,
    attributions: Any,
    target: Any,
    output: Any,
    baseline: Any,
    steps: Any,
    batch_size: Any,
) -> Curves:
    steps = checks.integer(steps, "steps", 1)
    p = prepare(
        model,
        x,
        attributions,
        target=target,
        output=output,
        baseline=baseline,
        batch_size=batch_size,
        rows_per_input=steps + 1,
    )
    counts = faithfulness.step_counts(faithfulness.n_features(p.x.shape), steps)
    curves, resolved = p.curves.run(
        p.x,
        p.base_values,
        p.base_row,
        p.attributions,
        counts,
        p.targets,
        tf.constant(p.batch_size, tf.int32),
        insertion=insertion,
    )
    curves = curves.numpy().astype(np.float64)
    fractions = faithfulness.fractions(steps)
    return Curves(
        scores=faithfulness.trapezoid_area(curves, fractions),
        curves=curves,
        fractions=fractions,
        targets=resolved.numpy(),
    )


_ARGS_DOC = """
    Args:
        model: a Keras model (or a callable on batches) with one input.
        x: `[N, ...]` inputs; for images `[N, H, W, C]`.
        attributions: `[N, ...]`, one map per input, shaped like `x`. For
            images a pixel's channels move together, ranked by their summed
            attribution (channels added left to right, in float64);
            otherwise every element is a feature. Ties keep index order
            (row-major).
        target, output: what F is, as in `keras_ig.explain` (None: the class
            predicted at x).
        baseline: what a removed feature becomes: `"zeros"`, a number, an
            array like one input or like `x` (one baseline per input).
        steps: points on the curve after the start, `>= 1`; after step k
            the top `round(k / steps * n_features)` features have moved.
        batch_size: most perturbed rows per model call (None: about 4M input
            elements); never changes the results.

    Returns:
        `Curves` with `scores[N]` (area under the curve), `curves[N, steps + 1]`,
        `fractions[steps + 1]` and `targets[N]`.

    Raises:
        TypeError, ValueError: bad input, naming the argument, before any
            graph is built.
"""


def deletion(
    model: Any,
    x: Any,
    attributions: Any,
    *,
    target: Any = None,
    output: Any = None,
    baseline: Any = "zeros",
    steps: int = 20,
    batch_size: int | None = None,
) -> Curves:
    """The deletion curve: F as the most important features become the baseline.

    Starts at F(x); at step k the top `round(k / steps * n)` features of each
    input are set to the baseline. A faithful map removes the evidence
    first, so F falls fast: lower `scores` are better.
    {args}
    Example:
        >>> exp = keras_ig.explain(model, images)
        >>> metrics.deletion(model, images, exp.attributions).scores.mean()
    """
    return _run(False, model, x, attributions, target, output, baseline, steps, batch_size)


def insertion(
    model: Any,
    x: Any,
    attributions: Any,
    *,
    target: Any = None,
    output: Any = None,
    baseline: Any = "zeros",
    steps: int = 20,
    batch_size: int | None = None,
) -> Curves:
    """The insertion curve: F as the most important features return into the baseline.

    Starts at F(baseline); at step k the top `round(k / steps * n)` features
    of each input are set back to x. A faithful map restores the evidence
    first, so F rises fast: higher `scores` are better.
    {args}
    Example:
        >>> exp = keras_ig.explain(model, images)
        >>> metrics.insertion(model, images, exp.attributions).scores.mean()
    """
    return _run(True, model, x, attributions, target, output, baseline, steps, batch_size)


deletion.__doc__ = deletion.__doc__.replace("{args}", _ARGS_DOC)
insertion.__doc__ = insertion.__doc__.replace("{args}", _ARGS_DOC)
