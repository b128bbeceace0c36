"""Argument checks shared by every entry point. Pure Python, no TensorFlow.

Each raises `TypeError` for a value of the wrong kind and `ValueError` for
one out of range, naming the argument, before any heavy work starts.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np


def integer(
    value: object, name: str, minimum: int | None = None, *, optional: bool = False
) -> int | None:
    """`value` as an int (numpy integers included, bools refused).

    Args:
        value: the argument.
        name: how messages name it.
        minimum: smallest allowed value, or None for no bound.
        optional: accept None (and return it).

    Raises:
        TypeError: not an integer (or None when `optional`).
        ValueError: below `minimum`.
    """
    if value is None and optional:
        return None
    # bool is an int subclass; True as a count is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = "None or an int" if optional else "an int"
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def non_negative(value: object, name: str) -> float:
    """`value` as a finite float `>= 0` (bools refused).

    Raises:
        TypeError: not a real number.
        ValueError: negative, NaN or infinite.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def boolean(value: object, name: str) -> bool:
    """`value` as a bool (numpy bools included).

    Raises:
        TypeError: not a bool.
    """
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def percentile(value: object, name: str = "clip_percentile") -> float:
    """A percentile in `(0, 100]` as a float.

    Raises:
        TypeError: not a real number.
        ValueError: outside `(0, 100]` (or NaN).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    result = float(value)
    if math.isnan(result) or not 0.0 < result <= 100.0:
        raise ValueError(f"{name} must be in (0, 100], got {value}")
    return result


def token_ids(ids: np.ndarray, vocabulary: int, name: str) -> None:
    """Refuse ids outside `[0, vocabulary)` in any row of `ids` (`[N, ...]` ints).

    TensorFlow would raise a raw `InvalidArgumentError` on CPU (and silently
    read zeros on GPU), so every row is checked on the host.

    Raises:
        ValueError: naming `name`, the first bad row and its id.
    """
    bad = (ids < 0) | (ids >= vocabulary)
    if bad.any():
        where = tuple(np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: row {where[0]} holds token id {int(ids[where])}, outside the "
            f"embedding's vocabulary [0, {vocabulary})"
        )


def boolean_array(value: object, name: str) -> np.ndarray:
    """`value` as a numpy array of dtype bool (an eager tensor is read too).

    Raises:
        TypeError: naming `name`, for any other dtype.
    """
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array, got dtype {arr.dtype}")
    return arr


def strings(values: object, name: str, length: int) -> list[str]:
    """`values` as a list of `length` str.

    Raises:
        TypeError: naming `name`, for a bare string or a non-str entry (a
            bare string is a Sequence too, but one label per character is
            never what the caller meant).
        ValueError: naming `name`, for the wrong length.
    """
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of str, got {type(values).__name__}")
    out = list(values)
    for i, v in enumerate(out):
        if not isinstance(v, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(v).__name__}")
    if len(out) != length:
        raise ValueError(f"{name} has {len(out)} entries but scores has {length}; they must match")
    return out
