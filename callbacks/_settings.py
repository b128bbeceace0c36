"""`IGCallback`'s argument checks: pure, nothing here touches the model or the disk.

They run in `IGCallback.__init__`, so a wrong argument fails where it was
written, before `fit` starts.
"""

from __future__ import annotations

import numbers
import os
import re
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ig._api.explain import resolve_targets


def leaf(value: Any, name: str) -> np.ndarray:
    """`value` as a numeric, finite, batch-first numpy copy (`[P, ...]`), named `name` in errors."""
    if isinstance(value, tf.Tensor | tf.Variable):
        value = value.numpy()
    try:
        arr = np.array(value)  # a copy: later edits by the caller do not leak in
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} could not be read as an array: {err}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(f"{name} must be batch-first with at least one row, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    if arr.dtype == np.float64 and keras.config.floatx() != "float64":
        arr = arr.astype(keras.config.floatx())
    return arr


def as_probes(probes: Any) -> tuple[Any, int]:
    """Probes as numpy (a dict or list of arrays for multi-input models) and P.

    A non-empty list or tuple of str is texts for a KerasHub classifier
    (`callbacks/_text_probes.py`), kept as a list of str.
    """
    if isinstance(probes, list | tuple) and probes and all(isinstance(p, str) for p in probes):
        return list(probes), len(probes)
    if isinstance(probes, dict):
        if not probes:
            raise ValueError("probes must not be empty")
        out: Any = {key: leaf(v, f"probes[{key!r}]") for key, v in probes.items()}
        leaves = list(out.values())
    elif (
        isinstance(probes, list | tuple)
        and probes
        and all(isinstance(v, np.ndarray | tf.Tensor | tf.Variable) for v in probes)
    ):
        leaves = [leaf(v, f"probes[{i}]") for i, v in enumerate(probes)]
        out = type(probes)(leaves)
    else:
        out = leaf(probes, "probes")
        leaves = [out]
    n = leaves[0].shape[0]
    for i, one in enumerate(leaves):
        if one.shape[0] != n:
            raise ValueError(f"probes: input {i} has {one.shape[0]} rows, input 0 has {n}")
    return out, n


def check_target(target: Any, n: int) -> Any:
    """`target` checked against `n` probes (as `keras_ig.explain` would), before any model work."""
    if target is None or callable(target):
        return target
    resolve_targets(target, n)  # raises a TypeError/ValueError naming `target`
    return target if isinstance(target, numbers.Integral) else np.array(target)


def check_log_dir(log_dir: Any) -> str:
    """`log_dir` as a non-empty path string."""
    if not isinstance(log_dir, str | os.PathLike):
        raise TypeError(f"log_dir must be a str or os.PathLike, got {type(log_dir).__name__}")
    path = os.fspath(log_dir)
    if not path:
        raise ValueError("log_dir must not be empty")
    return path


def for_probes(message: str) -> str:
    """Engine messages name the inputs `x`; the callback's user passed `probes`."""
    return re.sub(r"^x(?=[\[\s])", "probes", message)
