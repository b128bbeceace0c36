"""SmoothGrad over any method: run it on noisy copies of x, combine per input.

`with_noise` is the one place a method meets `keras_ig.Noise`: it takes the
method as a per-batch callable `(x_noisy, target) -> Explanation`, so every
path method (IG, IDGI, Expected Gradients, and others written later) is
wrapped the same way. The copies are rows of one batch, so they go through
the method's engine with the rest, in chunks of at most `batch_size` rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from keras_ig._api.explanation import Explanation
from keras_ig._api.results import write_out
from keras_ig._engine import inputs
from keras_ig._numpy import nest
from keras_ig._numpy import noise as _noise
from keras_ig.baselines import BaselineStack, InputBaseline

# (x_noisy, target, baseline) -> the method's Explanation of the `N * samples`
# copies; target and baseline are x's, their per-input rows repeated per copy.
Method = Callable[[Any, Any, Any], Explanation]


def repeat_per_input(baseline: Any, n: int, samples: int, ndim: int) -> Any:
    """`baseline` for the copies: per-input rows repeated `samples` times.

    An array with at least x's rank whose first axis has the N inputs is
    per input (`keras_ig.baselines`); a `BaselineStack` of `(K, N) + S`
    likewise along its second axis; anything else is shared and kept.
    """
    if n == 1 or baseline is None or isinstance(baseline, (str, int, float)):
        return baseline
    if isinstance(baseline, dict):
        return {k: repeat_per_input(v, n, samples, ndim) for k, v in baseline.items()}
    if isinstance(baseline, (list, tuple)):
        return type(baseline)(repeat_per_input(v, n, samples, ndim) for v in baseline)
    if isinstance(baseline, BaselineStack):
        values = baseline.values
        if values.ndim > ndim and values.shape[1] == n:
            return BaselineStack(np.repeat(values, samples, axis=1))
        return baseline
    if isinstance(baseline, InputBaseline):
        return InputBaseline(repeat_per_input(baseline.values, n, samples, ndim))
    values = np.asarray(baseline)
    if values.ndim >= ndim and values.shape[0] == n:
        return np.repeat(values, samples, axis=0)
    return baseline


def with_noise(
    method: Method,
    x: Any,
    *,
    model: Any,
    target: Any,
    baseline: Any,
    noise: _noise.Noise,
    predict: Callable[[Any], np.ndarray | None],
) -> Explanation:
    """The method's `Explanation` of x, smoothed by `noise`.

    Args:
        method: runs the method on a batch of copies; `target` and
            `baseline` are given per copy.
        x: `[N, ...]`, or the structure of the model's inputs.
        model: the model (to read x's structure).
        target: as the user gave it; None is resolved at the clean x first
            (`predict`), so every copy explains the same class.
        baseline: the method's baseline (or background); inputs it holds
            fixed (None) and non-float inputs get no noise.
        noise: the settings.
        predict: `x -> int32[N]`, the class predicted at x (None for a
            callable target).

    Returns:
        An `Explanation` of the N inputs: attributions combined by
        `noise.kind` (`keras_ig._numpy.noise.combine`); `scores`,
        `baseline_scores` and `delta` the means over each input's copies
        (for "smoothgrad" that mean `delta` is exactly the gap of the
        averaged attributions; for the other kinds the copies' mean gap).

    Raises:
        ValueError: naming `noise`, when x has no float input to add it to.
    """
    structure, raw = inputs.split_inputs(model, x)
    names = nest.paths(structure)
    leaves = [inputs.as_array(leaf, name) for leaf, name in zip(raw, names, strict=True)]
    n = inputs.check_leaves(leaves, names, model)
    specs = inputs.baseline_specs(baseline, structure, names, len(leaves))
    noised = [
        inputs.is_floating(a.dtype) and s is not None for a, s in zip(leaves, specs, strict=True)
    ]
    if not any(noised):
        raise ValueError(
            "noise: x has no float input on the path to add noise to (token ids are "
            "integers: smooth at the embedding with explain's other options instead)"
        )
    samples = noise.samples
    if target is None:
        target = predict(x)  # None when F is the explainer's callable target
    if target is not None and not callable(target) and not isinstance(target, (int, np.integer)):
        target = np.repeat(inputs.resolve_targets(target, n), samples)
    copies = _noise.noisy_copies(leaves, noised, noise)
    batch = copies[0] if structure is None else nest.pack(structure, copies)
    exp = method(batch, target, repeat_per_input(baseline, n, samples, leaves[0].ndim))

    def combine(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dict):
            return {key: combine(v) for key, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(combine(v) for v in value)
        return _noise.combine(np.asarray(value), samples, noise.kind)

    def first(value: Any) -> Any:  # one copy's value per input (baselines, targets)
        if value is None:
            return None
        if isinstance(value, dict):
            return {key: first(v) for key, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(first(v) for v in value)
        return np.asarray(value)[::samples]

    return dataclasses.replace(
        exp,
        attributions=combine(exp.attributions),
        delta=_noise.mean_of_copies(exp.delta, samples),
        scores=_noise.mean_of_copies(exp.scores, samples),
        baseline_scores=_noise.mean_of_copies(exp.baseline_scores, samples),
        target=first(exp.target),
        inputs=x,
        baseline=first(exp.baseline),
        steps_used=first(exp.steps_used),
        converged=first(exp.converged),
    )


def smoothed(
    method: Method,
    x: Any,
    *,
    explainer: Any,
    target: Any,
    baseline: Any,
    noise: _noise.Noise,
    out: Any = None,
) -> Explanation:
    """`with_noise` of a method of `explainer`'s model, written to `out` (a `.npy` path or None).

    The one finishing of SmoothGrad over a method: `explainer` (an
    `Explainer`: its `model`, and `predict(x, target)` for the class at the
    clean x when `target` is None) is the method's; no completeness warning
    here (the caller's tolerance decides).
    """
    exp = with_noise(
        method,
        x,
        model=explainer.model,
        target=target,
        baseline=baseline,
        noise=noise,
        predict=lambda batch: explainer.predict(batch, target),
    )
    return write_out(exp, out)
