"""Explaining a `tf.data.Dataset`: batch by batch, results streamed.

The dataset is read one batch at a time; each batch goes through the same
compiled engine (split across replicas with `strategy=`). Per-input scores
and gaps are small and kept in memory; attributions are kept in memory, or
with `out=` appended to a `.npy` file on disk as they are computed and
returned memory-mapped, so a dataset of any size never sits in RAM.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ig import completeness
from keras_ig._api.explanation import Explanation, warn_if_incomplete
from keras_ig._numpy.npy import NpyWriter


def features(element: Any) -> Any:
    """`x` of a dataset element, read as Keras reads `fit` data.

    A tuple of length 2 or 3 is `(x, y)` or `(x, y, sample_weight)`; a
    1-tuple is `(x,)`; anything else (a tensor, a dict) is `x` itself. So a
    two-input model's dataset must yield `((a, b), y)` or a dict, as for `fit`.
    """
    if isinstance(element, tuple) and len(element) in (1, 2, 3):
        return element[0]
    return element


# An `out=` file holds one `[N, ...]` array: one input's attributions, or the layer's.
ONE_TENSOR = "out= needs a single attributed tensor (one input, or layer=)"


def check_one_tensor(out: object, tensors: int) -> None:
    """Refuse `out=` before any work where `tensors` (attributed tensors) is not 1.

    Raises:
        ValueError: naming `out`, when `out` is set and `tensors != 1`.
    """
    if out is not None and tensors != 1:
        raise ValueError(f"{ONE_TENSOR}; got {tensors}")


def check_one_array(attributions: Any) -> None:
    """Refuse to write `attributions` to `out=` unless it is one array (not a structure).

    Raises:
        ValueError: naming `out`, for a list, tuple or dict of attributions.
    """
    if isinstance(attributions, (list, tuple, dict)):
        raise ValueError(ONE_TENSOR)


def check_out(out: object) -> str:
    """`out` as a `.npy` path that can be written, checked before any work.

    Raises:
        TypeError: not a path.
        ValueError: naming `out`: a folder, under a file, or not writable.
    """
    try:
        path = os.fsdecode(os.fspath(out))
    except TypeError:
        raise TypeError(
            f"out must be a path (str or os.PathLike), got {type(out).__name__}"
        ) from None
    if os.path.isdir(path):
        raise ValueError(f"out: {path!r} is a folder; give a .npy file path")
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(existing):  # the folders NpyWriter would create
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"out: cannot write {path!r}: {existing!r} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK) or (
        os.path.exists(path) and not os.access(path, os.W_OK)
    ):
        raise ValueError(f"out: {path!r} is not writable")
    return path


def explain_dataset(
    explain_batch: Callable[[Any], Explanation],
    dataset: tf.data.Dataset,
    *,
    model: Any,
    out: str | os.PathLike | None = None,
    verbose: int | str = "auto",
    warn: bool = True,
    tolerance: float | None = None,
) -> Explanation:
    """See `keras_ig.explain` with a dataset `x`.

    Args:
        explain_batch: `x -> Explanation` for one batch, without warnings.
        dataset: batched; elements `x`, `(x, y)` or `(x, y, w)`.
        model: the model explained, to check the element spec up front.
        out, verbose, warn, tolerance: as in `keras_ig.explain`.

    Returns:
        One `Explanation` of every input, in dataset order.
    """
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError("x: the dataset is infinite; use dataset.take(n)")
    _check_element_spec(model, dataset.element_spec)
    show = verbose == "auto" or bool(verbose)
    progbar = None
    done, batches, started = 0, 0, time.perf_counter()
    writer = NpyWriter(out) if out is not None else None
    keys = ("attr", "baseline", "delta", "scores", "base", "target", "used")
    parts: dict[str, list] = {k: [] for k in keys}
    conv: list = []
    exp = None
    if dataset.options().autotune.enabled is None:
        # Each element feeds seconds of model work, so autotuning gains little;
        # its doubling wake-up period can stall the iterator's teardown for
        # seconds. Honour an explicit choice by the user.
        options = tf.data.Options()
        options.autotune.enabled = False
        dataset = dataset.with_options(options)
    for element in dataset:
        x = features(element)
        exp = explain_batch(x)
        if writer is not None:
            check_one_array(exp.attributions)
            writer.write(exp.attributions)
        else:  # with out=, baselines would hold as much memory as attributions
            parts["attr"].append(exp.attributions)
            parts["baseline"].append(exp.baseline)
        parts["delta"].append(exp.delta)
        parts["scores"].append(exp.scores)
        parts["base"].append(exp.baseline_scores)
        parts["target"].append(exp.target)
        parts["used"].append(exp.steps_used)
        conv.append(exp.converged)
        done, batches = done + len(exp), batches + 1
        if show:
            if progbar is None:
                progbar = keras.utils.Progbar(
                    cardinality if cardinality > 0 else None,
                    unit_name="batch",
                    stateful_metrics=("inputs", "inputs/s"),
                )
            rate = done / max(time.perf_counter() - started, 1e-9)
            progbar.update(batches, values=[("inputs", done), ("inputs/s", rate)])
    if exp is None:
        raise ValueError("x: the dataset is empty")
    if writer is not None:
        attributions = writer.close()
    else:
        attributions = _concat(parts["attr"])
    steps_used = np.concatenate(parts["used"])
    result = Explanation(
        attributions=attributions,
        delta=np.concatenate(parts["delta"]),
        scores=np.concatenate(parts["scores"]),
        baseline_scores=np.concatenate(parts["base"]),
        target=None if parts["target"][0] is None else np.concatenate(parts["target"]),
        steps=int(steps_used.max()),
        method=exp.method,
        inputs=None,
        baseline=None if writer is not None else _concat(parts["baseline"]),
        steps_used=steps_used,
        converged=None if conv[0] is None else np.concatenate(conv),
    )
    if warn:
        warn_if_incomplete(
            result, tolerance=completeness.TOLERANCE if tolerance is None else tolerance
        )
    return result


def _concat(blocks: list) -> Any:
    first = blocks[0]
    if isinstance(first, dict):
        return {k: _concat([b[k] for b in blocks]) for k in first}
    if isinstance(first, (list, tuple)):
        return type(first)(_concat([b[i] for b in blocks]) for i in range(len(first)))
    if first is None:
        return None
    return np.concatenate(blocks)


def _check_element_spec(model: Any, spec: Any) -> None:
    """Fail on a dataset whose elements cannot fit the model, before any work."""
    x_spec = features(spec)
    try:
        inputs = model.inputs if isinstance(model, keras.Model) else None
    except (AttributeError, ValueError):  # a subclassed model never called
        inputs = None
    if not isinstance(x_spec, tf.TensorSpec) or not inputs or len(inputs) != 1:
        return
    expected = tuple(inputs[0].shape)
    got = tuple(x_spec.shape)
    if len(got) != len(expected) or any(
        e is not None and g is not None and e != g
        for e, g in zip(expected[1:], got[1:], strict=True)
    ):
        raise ValueError(
            f"x: the dataset's elements have shape {got}; the model expects {expected} "
            "(batch the dataset, e.g. dataset.batch(32), and check the element structure)"
        )
