"""`IGCallback(metrics=...)`: attribution-quality scores of the probes per epoch.

Each logged epoch, the probes' fresh attributions are scored with
`keras_ig.metrics` against the model's current weights; the mean over the
probes is written as `integrated_gradients/metrics/<name>`. Only the
metrics that need no re-explanation are offered (`deletion`, `insertion`,
`infidelity`): each costs a few forward passes per probe and compiles once
per `fit` (the metrics cache their graph per model), so they stay within
the callback's budget; `sensitivity_max` and `randomization` re-run IG
many times and belong in an evaluation, not in every epoch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_ig import metrics as _quality_metrics
from keras_ig._api.explanation import Explanation
from keras_ig._numpy import metrics as _metrics

NAMES = ("deletion", "insertion", "infidelity")
"""The metrics `IGCallback` can log each epoch."""

STEPS = 20
"""Steps of the deletion and insertion curves (the metrics' default)."""


def check(metrics: Any) -> tuple[str, ...]:
    """`metrics` as a tuple of distinct names from `NAMES`.

    Raises:
        TypeError, ValueError: naming `metrics`.
    """
    if metrics is None:
        return ()
    if isinstance(metrics, str):
        metrics = (metrics,)
    if not isinstance(metrics, Sequence):
        raise TypeError(
            f"metrics must be a sequence of names from {list(NAMES)}, got {type(metrics).__name__}"
        )
    out: list[str] = []
    for name in metrics:
        if not isinstance(name, str):
            raise TypeError(f"metrics entries must be str, got {type(name).__name__}")
        if name not in NAMES:
            raise ValueError(
                f"metrics: {name!r} cannot be logged per epoch; choose from {list(NAMES)} "
                "(sensitivity_max and randomization re-explain many times: run them "
                "after training with keras_ig.metrics)"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def check_usable(names: tuple[str, ...], layer: Any) -> None:
    """Refuse metrics the callback's settings cannot score (at construction).

    Raises:
        ValueError: naming `metrics`.
    """
    if names and layer is not None:
        raise ValueError(
            "metrics: deletion, insertion and infidelity perturb the model's inputs, "
            "but with layer= the attributions are in the layer's space; drop metrics "
            "or layer"
        )


def metric_baseline(baseline: Any) -> Any:
    """The value features are replaced by: the callback's constant baseline, else zeros."""
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        return float(baseline)
    return "zeros"


def epoch_scores(
    names: tuple[str, ...],
    model: Any,
    probes: Any,
    exp: Explanation,
    *,
    target: Any,
    output: Any,
    baseline: Any,
    batch_size: int | None,
    seed: int | None,
) -> dict[str, float]:
    """Mean score over the probes of each metric in `names` (NaN if none finite).

    Args:
        names: from `check`.
        model: the model being trained.
        probes: the callback's probes `[P, ...]`.
        exp: this epoch's `Explanation` of the probes.
        target: the callback's target (used when `exp.target` is None).
        output, batch_size: as in the callback.
        baseline: the callback's baseline (see `metric_baseline`).
        seed: infidelity's perturbations (the same each epoch).

    Raises:
        Exception: whatever the metric raises; the callback warns and goes on.
    """
    used = exp.target if exp.target is not None else target
    common = {"target": used, "output": output, "batch_size": batch_size}
    base = metric_baseline(baseline)
    out: dict[str, float] = {}
    for name in names:
        if name in ("deletion", "insertion"):
            run = getattr(_quality_metrics, name)
            values = run(
                model, probes, exp.attributions, baseline=base, steps=STEPS, **common
            ).scores
        else:
            values = _quality_metrics.infidelity(
                model, probes, exp.attributions, baseline=base, seed=seed, **common
            )
        mean = _metrics.finite_mean(np.asarray(values, np.float64))
        out[name] = float("nan") if mean is None else float(mean)
    return out
