"""Host-side reading and checking of what the user passed: x, target, baseline.

Everything here runs before any graph is built: each function either
returns the value in the form the engine wants or raises a `ValueError` /
`TypeError` naming the argument.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf


def model_inputs(model: Any) -> list | None:
    """The symbolic inputs of a built model, None for a subclassed model never called."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        return None
    return list(inputs) if inputs else None


def input_keys(model: Any) -> list | None:
    """The sorted input names of a functional model built on a dict, else None."""
    try:
        structure = model.input
    except (AttributeError, ValueError, TypeError):
        return None
    return sorted(structure) if isinstance(structure, dict) else None


def split_inputs(model: Any, x: Any) -> tuple[Any, list[Any]]:
    """`(structure, flat leaves)`; structure None for a single input."""
    n_inputs = len(model_inputs(model) or [None])
    keys = input_keys(model)
    if keys is not None and isinstance(x, (list, tuple)):
        # Keras would match a list to named inputs by position, or fail deep inside.
        raise ValueError(
            f"x: the model takes a dict of inputs with keys {keys}; pass x as a dict "
            f"{{{', '.join(f'{k!r}: ...' for k in keys)}}}, not a {type(x).__name__}"
        )
    if isinstance(x, dict) or (isinstance(x, (list, tuple)) and n_inputs > 1):
        if not x:
            raise ValueError("x must not be empty")
        flat = tf.nest.flatten(x)
        if n_inputs > 1 and len(flat) != n_inputs:
            raise ValueError(f"x has {len(flat)} arrays; the model takes {n_inputs} inputs")
        return tf.nest.map_structure(lambda _: 0, x), flat
    return None, [x]


def as_array(leaf: Any, name: str) -> np.ndarray:
    """One input `[N, ...]` as numpy; Python floats as float32.

    Raises:
        TypeError: naming `name`, for ragged or non-numeric data.
    """
    if isinstance(leaf, tf.Tensor):
        return leaf.numpy()
    if isinstance(leaf, np.ndarray):
        return leaf
    try:
        arr = np.asarray(leaf)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} could not be read as an array: {err}") from None
    if arr.dtype == object:
        raise TypeError(f"{name} could not be read as a numeric array (ragged or mixed types?)")
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)  # Python floats: use Keras's float32
    return arr


def check_leaves(leaves: list[np.ndarray], names: Sequence[str], model: Any) -> int:
    """`N`, the rows every input shares; batch-first, non-empty, fitting the model.

    Raises:
        ValueError: naming the input.
    """
    for arr, name in zip(leaves, names, strict=True):
        if arr.ndim < 1:
            raise ValueError(
                f"{name} must be batch-first with at least one dimension, got a scalar"
            )
        if arr.shape[0] < 1:
            raise ValueError(f"{name} is empty (batch of 0)")
    n = leaves[0].shape[0]
    for arr, name in zip(leaves, names, strict=True):
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} rows; {names[0]} has {n}")
    specs = model_inputs(model)
    if specs and len(specs) == len(leaves) and len(leaves) == 1:
        check_shape(leaves[0].shape, tuple(specs[0].shape), names[0])
    return n


def check_shape(got: tuple, expected: tuple, name: str) -> None:
    """`got` fits the model's `expected` input shape (batch axis first)."""

    def fits(shape: tuple, spec: tuple) -> bool:
        return len(shape) == len(spec) and all(
            e is None or e == g for e, g in zip(spec, shape, strict=True)
        )

    if fits(got[1:], expected[1:]):
        return
    hint = ""
    if fits(got, expected[1:]):  # one input row without its batch axis
        hint = f": it looks like one input without its batch axis; pass {name}[None]"
    raise ValueError(f"{name} has shape {got}; the model expects {expected}{hint}")


def is_floating(dtype: np.dtype) -> bool:
    """Any float dtype, bfloat16 (an ml_dtypes type numpy does not class as floating) included."""
    try:
        return tf.as_dtype(dtype).is_floating
    except TypeError:
        return False


def resolve_targets(target: Any, n: int) -> np.ndarray:
    """Index targets `int32[N]`: -1 for the predicted class (and for a callable).

    Raises:
        TypeError, ValueError: a target of the wrong kind, length or sign.
    """
    if target is None or callable(target):
        return np.full(n, -1, np.int32)
    if isinstance(target, bool):
        raise TypeError("target must be None, an int, a sequence of ints or a callable; got a bool")
    if isinstance(target, numbers.Integral):
        if target < 0:
            raise ValueError(f"target must be >= 0, got {target}")
        return np.full(n, int(target), np.int32)
    if isinstance(target, tf.Tensor):
        target = target.numpy()
    try:
        arr = np.asarray(target)
    except (TypeError, ValueError):
        arr = np.asarray([], dtype=object)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(
            "target must be None, an int, a 1-D sequence of ints (one per input) or a "
            f"callable; got {type(target).__name__}"
            + (f" of dtype {arr.dtype} and shape {arr.shape}" if arr.dtype != object else "")
        )
    if arr.shape[0] != n:
        raise ValueError(f"target has {arr.shape[0]} entries for {n} inputs")
    if np.any(arr < 0):
        raise ValueError(f"target must be >= 0, got {int(arr.min())}")
    return arr.astype(np.int32)


def check_target_range(targets: np.ndarray, units: int | None) -> None:
    """Index targets (`-1`: predicted) are below the model's `units`.

    Raises:
        ValueError: naming `target`, for a unit the model does not have.
    """
    if units is not None and np.any(targets >= units):
        raise ValueError(
            f"target {int(targets.max())} is out of range for a model with {units} output "
            f"unit{'s' if units != 1 else ''} (valid: 0 .. {units - 1})"
        )


def baseline_specs(baseline: Any, structure: Any, names: tuple[str, ...], count: int) -> list:
    """One baseline spec per flat input (None: held fixed).

    For a multi-input model a list follows the inputs entry by entry,
    whatever its entries are (`[0.0, 1.0]` is 0.0 for input 0 and 1.0 for
    input 1, never one shared array); a dict must have x's keys.
    """
    if structure is None:
        if baseline is None:
            raise ValueError("baseline must not be None for a single-input model")
        return [baseline]
    if isinstance(baseline, dict):
        check_baseline_keys(baseline, structure)
    elif isinstance(baseline, (list, tuple)):
        if isinstance(structure, dict):
            raise ValueError(
                f"baseline: x is a dict with keys {sorted(structure)}; give the baseline "
                "as a dict with those keys (None to hold an input fixed) or one "
                "name/number for all inputs"
            )
        if len(baseline) != len(structure):
            raise ValueError(
                f"baseline must have the structure of x: it has {len(baseline)} entries "
                f"and the model takes {len(structure)} inputs (one entry per input, None "
                "to hold an input fixed)"
            )
    else:
        return [baseline] * count
    try:
        tf.nest.assert_same_structure(structure, baseline, check_types=False)
    except (ValueError, TypeError):
        raise ValueError(
            "baseline must have the structure of x (one entry per input, None to hold "
            "an input fixed) or be one name/number for all inputs"
        ) from None
    return tf.nest.flatten(baseline)


def check_baseline_keys(baseline: dict, structure: Any) -> None:
    """A dict baseline has exactly x's keys; name the first one that differs."""
    if not isinstance(structure, dict):
        raise ValueError("baseline is a dict but x is not; give one entry per input, in order")
    missing = sorted(set(structure) - set(baseline), key=repr)
    if missing:
        raise ValueError(
            f"baseline has no entry for input {missing[0]!r} (x has keys {sorted(structure)}); "
            "give None to hold an input fixed"
        )
    extra = sorted(set(baseline) - set(structure), key=repr)
    if extra:
        raise ValueError(f"baseline has key {extra[0]!r}, which x does not have")


def baseline_name(name: str) -> str:
    """`baseline[...]` for the input named `x[...]`, for error messages."""
    return "baseline" + name[1:]


def describe(outputs: Any) -> str:
    """The model's outputs in words, for error messages."""
    if isinstance(outputs, (list, tuple)):
        return f"{len(outputs)} outputs"
    if isinstance(outputs, dict):
        return f"outputs {sorted(outputs)}"
    return f"shape {tuple(outputs.shape)}"
