"""The scalar options of `explain` and their defaults, checked in one place."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from keras_ig._engine.devices import check_strategy
from keras_ig._numpy import checks

DEFAULT_STEPS = 64
# With tolerance=, steps is where refinement starts: small, doubled per input.
DEFAULT_TOLERANCE_STEPS = 8


def default_steps(steps: int | None, tolerance: float | None) -> int:
    """`steps`, or its default: 64, or 8 with `tolerance=` (a start, refined up)."""
    if steps is not None:
        return steps
    return DEFAULT_STEPS if tolerance is None else DEFAULT_TOLERANCE_STEPS


def check_options(
    batch_size: Any,
    n_baselines: Any,
    seed: Any,
    tolerance: Any,
    steps: int,
    max_steps: Any,
    strategy: Any,
) -> None:
    """The scalar options of `explain`, checked before any input is read."""
    checks.integer(batch_size, "batch_size", 1, optional=True)
    checks.integer(n_baselines, "n_baselines", 1)
    checks.integer(seed, "seed", 0, optional=True)
    check_tolerance(tolerance, steps, max_steps)
    check_strategy(strategy)


def check_tolerance(tolerance: Any, steps: int, max_steps: Any) -> None:
    """`tolerance` None or a positive number, and `max_steps >= steps`."""
    if tolerance is None:
        return
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise TypeError(f"tolerance must be a positive number, got {type(tolerance).__name__}")
    if not (np.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    if checks.integer(max_steps, "max_steps") < steps:
        raise ValueError(f"max_steps ({max_steps}) must be >= steps ({steps})")
