"""Baselines in input space with `layer=`: run up to the layer, take its output.

`keras_ig.InputBaseline(values)`, or an integer-dtype baseline (token ids
such as a `[PAD]` sequence), is given in the model's input space; the
layer-space baseline is the attribution layer's output when the model runs
on those values (Captum's LayerIntegratedGradients reads baselines so).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig._engine import inputs
from keras_ig._engine.score import ScoreFunction
from keras_ig.baselines import InputBaseline

# Rows per eager model call while computing the layer's output at the baseline.
CHUNK = 256


def input_space_values(baseline: Any) -> Any:
    """The input-space values of `baseline`, or None if it is in the layer's space.

    An `InputBaseline`, or an integer-dtype array (a list/dict of them for a
    multi-input model, None entries allowed), is in input space.
    """
    if isinstance(baseline, InputBaseline):
        return baseline.values
    leaves = [v for v in tf.nest.flatten(baseline) if v is not None]
    if not leaves or isinstance(baseline, (str, int, float)):
        return None
    integer = [
        isinstance(v, (np.ndarray, tf.Tensor)) and tf.as_dtype(v.dtype).is_integer for v in leaves
    ]
    return baseline if all(integer) else None


def layer_baseline(
    score_fn: ScoreFunction,
    values: Any,
    structure: Any,
    leaves: list[np.ndarray],
    names: tuple[str, ...],
    check_ids: Any,
    *,
    background: bool = False,
) -> np.ndarray:
    """The attribution layer's output at the input-space baseline `values`.

    Args:
        score_fn: F, with its `layer`.
        values: in x's structure (see `keras_ig.InputBaseline`).
        structure, leaves, names: x's structure, flat inputs `[N, ...]`, names.
        check_ids: `(leaves, names) -> None`, refusing ids outside a vocabulary.
        background: the values are a background `[B, ...]` of any B (every
            input given, none taken from x), as for Expected Gradients.

    Returns:
        `[1, ...]` (one shared baseline) or `[N, ...]` (one per input), in
        the layer's output dtype.

    Raises:
        ValueError, TypeError: naming `baseline`, for values of the wrong
            structure or shape.
    """
    specs = inputs.baseline_specs(values, structure, names, len(leaves))
    n = leaves[0].shape[0]
    rows = []
    for spec, leaf, name in zip(specs, leaves, names, strict=True):
        where = inputs.baseline_name(name)
        if spec is None and background:
            raise ValueError(f"{where}: a background needs every input (None given)")
        if spec is None:  # taken from x
            rows.append(leaf)
            continue
        try:
            arr = np.asarray(spec.numpy() if isinstance(spec, tf.Tensor) else spec)
            arr = arr.astype(leaf.dtype, casting="same_kind" if arr.dtype.kind == "f" else "unsafe")
        except (TypeError, ValueError) as err:
            raise TypeError(f"{where} could not be read as a {leaf.dtype} array: {err}") from None
        if arr.shape == leaf.shape[1:] and not background:
            arr = arr[None]
        if arr.shape[1:] != leaf.shape[1:] or (arr.shape[0] not in (1, n) and not background):
            raise ValueError(
                f"{where} has shape {arr.shape}; an input-space baseline is shaped like "
                f"{name} {leaf.shape}, like one of its rows {leaf.shape[1:]}, or (1,) + that"
            )
        if inputs.is_floating(arr.dtype) and not np.all(np.isfinite(arr)):
            raise ValueError(f"{where} contains NaN or inf")
        rows.append(arr)
    count = max(a.shape[0] for a in rows)
    if background and any(a.shape[0] != count for a in rows):
        raise ValueError("background: every input needs the same number of rows")
    rows = [np.broadcast_to(a, (count, *a.shape[1:])) for a in rows]
    check_ids(rows, tuple(inputs.baseline_name(nm) for nm in names))
    outs = []
    for start in range(0, count, CHUNK):
        chunk = [tf.convert_to_tensor(a[start : start + CHUNK]) for a in rows]
        batch = chunk[0] if structure is None else tf.nest.pack_sequence_as(structure, chunk)
        _, calls = score_fn.outputs(batch)
        outs.append(np.asarray(calls[0]))
    return np.concatenate(outs)
