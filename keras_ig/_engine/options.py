"""The keyword options of `explain` and their defaults, checked in one place.

`Options` is the one home of the keywords that `keras_ig.explain`,
`Explainer.explain` and `IntegratedGradients.explain` share; the public
signatures spell them out for their readers and hand them over here.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig._engine.devices import check_strategy
from keras_ig._numpy import checks
from keras_ig._numpy.noise import check_noise
from keras_ig._numpy.quadrature import method_name, quadrature

DEFAULT_STEPS = 64
# With tolerance=, steps is where refinement starts: small, doubled per input.
DEFAULT_TOLERANCE_STEPS = 8
# The straight-line path methods `Options.path` names: Integrated Gradients
# (weights of a quadrature rule) and IDGI (weights from the path's scores).
# "expected": Expected Gradients (draws from a background, `keras_ig.expected_gradients`).
PATHS = ("straight", "idgi", "expected")


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


@dataclass(frozen=True)
class Options:
    """The options of one `explain` call; see `keras_ig.explain` for each.

    Attributes:
        target, baseline, steps, method, batch_size, n_baselines, seed:
            what F is, x', and the quadrature (per batch).
        tolerance, max_steps: per-input refinement (None: fixed steps).
        strategy: a `tf.distribute.Strategy`, or None.
        out, verbose, warn: where attributions go, progress, warnings.
        multiply_by_inputs: False drops IG's `(x - x')` factor.
        noise: a `keras_ig.Noise` (SmoothGrad over the method), or None.
        path: which path method, one of `PATHS` (set by `keras_ig.idgi` and
            `keras_ig.expected_gradients`).
        samples, stdev: Expected Gradients' draws per input and input noise.
    """

    target: Any = None
    baseline: Any = "zeros"
    steps: int | None = None
    method: str = "gausslegendre"
    batch_size: int | None = None
    n_baselines: int = 8
    seed: int | None = None
    tolerance: float | None = None
    max_steps: int = 1024
    strategy: Any = None
    out: str | os.PathLike | None = None
    verbose: int | str = "auto"
    warn: bool = True
    multiply_by_inputs: bool = True
    noise: Any = None
    path: str = "straight"
    samples: int = 32
    stdev: float = 0.0

    def checked(self) -> Options:
        """These options validated, the rule's alias and the default steps resolved.

        Raises:
            ValueError, TypeError: naming the option, before any input is read.
        """
        # Aliases ("trapezoid") resolved once: results and refinement see the rule's name.
        method = method_name(self.method)
        steps = default_steps(self.steps, self.tolerance)
        quadrature(method, steps)  # steps >= 1 (>= 2 for the trapezoid rule)
        check_options(
            self.batch_size,
            self.n_baselines,
            self.seed,
            self.tolerance,
            steps,
            self.max_steps,
            self.strategy,
        )
        checks.boolean(self.multiply_by_inputs, "multiply_by_inputs")
        check_noise(self.noise)
        checks.integer(self.samples, "samples", 1)
        checks.non_negative(self.stdev, "stdev")
        if self.path not in PATHS:
            raise ValueError(f"path must be one of {PATHS}, got {self.path!r}")
        plain = self.multiply_by_inputs and self.path == "straight" and self.noise is None
        if self.tolerance is not None and not plain:
            raise ValueError(
                "tolerance: refinement needs Integrated Gradients' own attributions; "
                "it cannot be combined with multiply_by_inputs=False, noise or idgi"
            )
        return dataclasses.replace(self, method=method, steps=steps)


# Every keyword `Options` takes.
OPTION_NAMES = frozenset(f.name for f in dataclasses.fields(Options))
