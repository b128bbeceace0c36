"""`Comparison`: what `keras_ig.compare` returns, a table of methods by metrics."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

# Every metric `compare` knows, and whether a higher mean is the better one:
# deletion wants F to fall fast (small area), insertion to rise fast (large
# area), infidelity and sensitivity are errors, localization a share inside.
HIGHER_IS_BETTER = {
    "deletion": False,
    "insertion": True,
    "infidelity": False,
    "localization": True,
    "sensitivity_max": False,
}
METRICS = tuple(HIGHER_IS_BETTER)


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    v = float(value)
    if math.isnan(v):
        return "n/a"
    return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"


@dataclass(frozen=True, eq=False)
class Comparison:
    """Several attribution methods scored by the same metrics on the same inputs.

    Attributes:
        metrics: the metric names scored, in the order asked.
        scores: `scores[method][metric]`, `float64[N]`, one score per input.
        explanations: method name -> its `Explanation` of x (what a user
            method returned: an `Explanation` or its attributions).
        seconds: method name -> wall seconds its explanation took.
        gaps: method name -> `float64[N]`, the relative completeness gap
            (`Explanation.relative_delta`; NaN for a user method that returned
            bare attributions).
        inputs: `[N, ...]` the inputs compared (for the picture).
        masks: the masks given to `compare`, or None.
        target: `int32[N]`, the output unit every method and metric explained
            (None for a callable target).
        notes: why a method was left out (e.g. Blur IG on non-images).
    """

    metrics: tuple[str, ...]
    scores: dict[str, dict[str, np.ndarray]]
    explanations: dict[str, Any]
    seconds: dict[str, float]
    gaps: dict[str, np.ndarray]
    inputs: np.ndarray
    masks: np.ndarray | None
    target: np.ndarray | None
    notes: tuple[str, ...] = ()

    @property
    def methods(self) -> tuple[str, ...]:
        """The method names, in the order they ran."""
        return tuple(self.scores)

    @property
    def table(self) -> list[dict[str, Any]]:
        """One row per method: `method`, each metric's mean, `gap`, `seconds`.

        `gap` is the mean relative completeness gap (`|delta|` over the scale
        of `keras_ig.completeness`); NaN scores are left out of the means.
        """
        rows = []
        for name in self.methods:
            row: dict[str, Any] = {"method": name}
            for metric in self.metrics:
                row[metric] = _nanmean(self.scores[name][metric])
            row["gap"] = _nanmean(self.gaps[name])
            row["seconds"] = float(self.seconds[name])
            rows.append(row)
        return rows

    def best(self, metric: str) -> str:
        """The method whose mean `metric` is best (lowest or highest, as it reads).

        Raises:
            ValueError: naming `metric`, if it was not scored.
        """
        if metric not in self.metrics:
            raise ValueError(f"metric must be one of the scored {self.metrics}, got {metric!r}")
        means = {row["method"]: row[metric] for row in self.table if not math.isnan(row[metric])}
        if not means:
            raise ValueError(f"metric {metric!r}: no method has a finite score")
        pick = max if HIGHER_IS_BETTER[metric] else min
        return pick(means, key=means.get)

    def to_markdown(self) -> str:
        """The table as aligned Markdown, each metric marked higher/lower is better."""
        heads = ["method"]
        for metric in self.metrics:
            heads.append(
                f"{metric} ({'higher' if HIGHER_IS_BETTER[metric] else 'lower'} is better)"
            )
        heads += ["gap (lower is better)", "seconds"]
        keys = ["method", *self.metrics, "gap", "seconds"]
        body = [[_cell(row[k]) for k in keys] for row in self.table]
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(heads)]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            return "| " + " | ".join([first, *rest]) + " |"

        rule = (
            "| " + " | ".join(["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]) + " |"
        )
        lines = [line(heads), rule, *(line(r) for r in body)]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_markdown()

    def save(self, path: str | os.PathLike, *, max_inputs: int = 4) -> None:
        """Write the picture: one row per method, its maps of the first inputs.

        Each row starts with the method's name and mean scores; the first row
        shows the inputs themselves (see `keras_ig._io.compare_pictures`).

        Args:
            path: where the picture goes; the format follows the extension
                (`.png`).
            max_inputs: inputs drawn per row, `>= 1`.
        """
        from keras_ig._io.compare_pictures import comparison_picture

        captions = {
            row["method"]: [f"{m} {_cell(row[m])}" for m in self.metrics] for row in self.table
        }
        picture = comparison_picture(
            self.inputs,
            {name: getattr(e, "attributions", e) for name, e in self.explanations.items()},
            captions,
            masks=self.masks,
            max_inputs=max_inputs,
        )
        picture.save(os.fspath(path))


def _nanmean(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    finite = v[~np.isnan(v)]
    return float(finite.mean()) if finite.size else math.nan
