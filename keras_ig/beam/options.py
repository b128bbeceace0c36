"""The `explain` options an `IGModelHandler` takes, checked when it is built.

A Beam job validates nothing until a worker runs it, minutes later and far
from the user; so every option is checked here, in the launcher, with the
messages `keras_ig.explain` uses. What needs the model (a target out of
range, a layer name it lacks) can only be checked once a worker loads it.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from keras_ig import baselines
from keras_ig._api.explain import explain
from keras_ig._engine.inputs import resolve_targets
from keras_ig._engine.options import OPTION_NAMES, Options
from keras_ig._numpy import checks

# Options of `explain` that a pipeline decides for itself: devices are the
# runner's, files are the sinks', and a worker has no terminal to warn on.
NOT_IN_A_PIPELINE = {
    "strategy": "the runner places the work; give the runner's options instead",
    "out": "results are PredictionResults; write them with a sink",
    "verbose": "a worker has no progress bar",
}
# Every keyword of `explain` but the data and the ones above, so an option
# added to `explain` passes through without touching this module.
EXPLAIN_OPTIONS = (
    frozenset(inspect.signature(explain).parameters) - {"model", "x"} - set(NOT_IN_A_PIPELINE)
)


def check_explain_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """`options` checked for use on every batch of a pipeline.

    Args:
        options: keywords of `keras_ig.explain` (not `model`, `x`,
            `strategy`, `out`, `verbose`).

    Returns:
        A new dict: `options` with `method` resolved to its rule's name.

    Raises:
        TypeError, ValueError: naming the option, e.g. an unknown keyword,
            `steps=0`, an unknown `method`, a per-input `target`.
    """
    for name in options:
        if name in NOT_IN_A_PIPELINE:
            raise ValueError(f"{name}= is not an option in a pipeline: {NOT_IN_A_PIPELINE[name]}")
        if name not in EXPLAIN_OPTIONS:
            raise TypeError(
                f"unknown explain option {name!r}; expected one of {sorted(EXPLAIN_OPTIONS)}"
            )
    checked = Options(**{k: v for k, v in options.items() if k in OPTION_NAMES}).checked()
    _check_target(options.get("target"))
    _check_baseline(options.get("baseline", "zeros"), "baseline")
    for name in ("layer", "output"):
        _check_layer_name(options.get(name), name)
    for name in ("jit_compile", "warn"):
        if name in options:
            checks.boolean(options[name], name)
    result = dict(options)
    if "method" in options:
        result["method"] = checked.method
    return result


def _check_target(target: Any) -> None:
    """An int, a callable or None: what means the same for any batch."""
    if target is None or callable(target):
        return
    if isinstance(target, numbers.Integral) and not isinstance(target, bool):
        resolve_targets(target, 1)  # the sign check of explain
        return
    if isinstance(target, (list, tuple, np.ndarray)):
        raise ValueError(
            "target: one target per input cannot follow Beam's batches; give an int, "
            "a callable of the outputs, or None (the predicted class)"
        )
    raise TypeError(f"target must be None, an int or a callable; got {type(target).__name__}")


def _check_baseline(spec: Any, name: str) -> None:
    """A baseline that makes sense for every batch (names, numbers, rows, stacks)."""
    if spec is None and name != "baseline":
        return  # an input held fixed in a multi-input model
    if isinstance(spec, Mapping):
        for key, value in spec.items():
            _check_baseline(value, f"{name}[{key!r}]")
        return
    if isinstance(spec, (list, tuple)) and not _numeric(spec):
        for i, value in enumerate(spec):
            _check_baseline(value, f"{name}[{i}]")
        return
    if isinstance(spec, str):
        if spec not in baselines.NAMED:
            raise ValueError(
                f"{name} must be one of {list(baselines.NAMED)}, a number or an array; got {spec!r}"
            )
        return
    if isinstance(spec, bool):
        raise TypeError(f"{name} must be a name, number or array, got a bool")
    values = spec.values if isinstance(spec, baselines.BaselineStack) else spec
    if isinstance(values, numbers.Real) or hasattr(values, "__array__") or _numeric(values):
        arr = np.asarray(values)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} contains NaN or inf")
        return
    raise TypeError(
        f"{name} must be a name, a number, an array or a BaselineStack, got {type(spec).__name__}"
    )


def _numeric(values: Any) -> bool:
    """A (nested) list of numbers, i.e. an array written as a list."""
    if not isinstance(values, (list, tuple)):
        return False
    try:
        return np.asarray(values).dtype.kind in "biuf"
    except ValueError:  # ragged
        return False


def _check_layer_name(value: Any, name: str) -> None:
    """None or a name: a layer object belongs to a model no worker has."""
    if value is None or isinstance(value, str):
        return
    raise TypeError(
        f"{name} must be a layer's name (a str) or None, got {type(value).__name__}: each "
        "worker loads its own copy of the model, so a layer object of yours is not in it"
    )
