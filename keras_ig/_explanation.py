"""`Explanation`: what `explain` returns."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np


class CompletenessWarning(UserWarning):
    """Attributions miss F(x) - F(baseline) by more than the tolerance."""


@dataclass
class Explanation:
    """Integrated Gradients attributions for a batch, with their checks.

    Attributes:
        attributions: `float32` array shaped like `x` (like the layer's output
            with `layer=`); a list/dict like `x` for multi-input models, with
            `None` for inputs held fixed.
        delta: `float32[N]`, the completeness gap
            `sum(attributions) - (scores - baseline_scores)`.
        scores: `float32[N]`, F(x).
        baseline_scores: `float32[N]`, F(baseline) (averaged over a stack).
        target: `int32[N]`, the output unit explained per input; None for a
            callable target.
        steps: quadrature points used.
        method: quadrature rule used.
        inputs: the inputs explained (the structure of `x`), for rendering.
    """

    attributions: Any
    delta: np.ndarray
    scores: np.ndarray
    baseline_scores: np.ndarray
    target: np.ndarray | None
    steps: int
    method: str
    inputs: Any = None

    @property
    def relative_delta(self) -> np.ndarray:
        """`float[N]`: `|delta| / |F(x) - F(baseline)|` (0 where both are 0)."""
        gap = np.abs(self.scores - self.baseline_scores).astype(np.float64)
        err = np.abs(self.delta).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(gap > 0, err / gap, np.where(err > 0, np.inf, 0.0))
        return rel

    def __len__(self) -> int:
        return int(self.delta.shape[0])

    def __repr__(self) -> str:
        shapes = _shapes(self.attributions)
        worst = float(np.max(self.relative_delta)) if len(self) else 0.0
        return (
            f"Explanation(n={len(self)}, attributions={shapes}, method={self.method!r}, "
            f"steps={self.steps}, max relative delta={worst:.2e})"
        )


def _shapes(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _shapes(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_shapes(v) for v in tree]
    return None if tree is None else tuple(tree.shape)


def warn_if_incomplete(exp: Explanation, tolerance: float = 0.05) -> None:
    """Warn when any |delta| exceeds `tolerance` of |F(x) - F(baseline)|."""
    gap = np.abs(exp.scores - exp.baseline_scores)
    # float32 rounding of the scores themselves is not a quadrature error.
    slack = 1e-5 * (np.abs(exp.scores) + np.abs(exp.baseline_scores)) + 1e-6
    bad = np.abs(exp.delta) > tolerance * gap + slack
    if np.any(bad):
        worst = int(np.argmax(np.where(bad, exp.relative_delta, -1.0)))
        warnings.warn(
            f"completeness gap above {tolerance:.0%} of |F(x) - F(baseline)| for "
            f"{int(bad.sum())} of {len(bad)} inputs (worst: input {worst}, relative "
            f"gap {exp.relative_delta[worst]:.3g}) with {exp.method!r} at steps="
            f"{exp.steps}; raise steps",
            CompletenessWarning,
            stacklevel=3,
        )
