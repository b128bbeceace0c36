"""`Explanation`: what `explain` returns."""

from __future__ import annotations

import os
import pathlib
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig import completeness


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
        baseline: the baselines x' used, structured like `attributions`
            (None for inputs held fixed): per attributed tensor `[N, ...]`
            (input n's baseline; a read-only broadcast view when one
            baseline is shared), or `[N, K, ...]` for a stack of K baselines
            (also the random ones, `"uniform"`/`"gaussian"`), whose
            attributions are averaged. With `layer=`, in the layer's output
            space. None for datasets streamed with `out=`.
        steps_used: `int[N]`, quadrature points per input (they differ with
            `tolerance=`; otherwise all equal `steps`).
        converged: `bool[N]` with `tolerance=`: whether the input's gap met
            it within `max_steps`; None otherwise.
    """

    attributions: Any
    delta: np.ndarray
    scores: np.ndarray
    baseline_scores: np.ndarray
    target: np.ndarray | None
    steps: int
    method: str
    inputs: Any = None
    baseline: Any = None
    steps_used: np.ndarray | None = None
    converged: np.ndarray | None = None

    @property
    def relative_delta(self) -> np.ndarray:
        """`float64[N]`: `|delta|` over the scale of `keras_ig.completeness`.

        The scale is `|F(x) - F(baseline)|`, but at least 1% of
        `max(|F(x)|, |F(baseline)|)`; NaN where the gap is not finite.
        """
        return completeness.relative_gap(self.delta, self.scores, self.baseline_scores)

    def __len__(self) -> int:
        return int(self.delta.shape[0])

    def to_images(self, **options: Any) -> list[Any]:
        """Draw each explained input as a picture (`PIL.Image.Image`, RGB).

        What is drawn follows the shapes (`keras_ig._io.pictures`): image inputs
        `[H, W, C]` give a probe | map | overlay panel
        (`keras_ig.render.image_panel`); token ids `[T]` explained at an
        embedding layer (attributions `[T, D]`, summed over `D`) give the
        tokens on coloured backgrounds (`render.token_image`); rows `[F]`
        give a bar chart (`render.bar_chart`). A multi-input explanation
        shows its attributed inputs side by side.

        Args:
            **options: any of
                kind: None (infer) or `"image"`, `"text"`, `"tabular"`.
                vocabulary: token strings by id, a list or a layer with
                    `get_vocabulary()` (`StringLookup`, `TextVectorization`);
                    without it ids are shown as numbers.
                feature_names: `F` names for the bar chart.
                masks: `bool[N, H, W]`, outlined on each overlay.
                signed: image maps by sign (default) or by magnitude.
                clip_percentile: percentile of `|attr|` mapped to full
                    colour (default 99).
                min_size: images are enlarged to at least this short side
                    (default 128).
                max_width: most width of token pictures (default 800).
                chart_width: width of bar charts (default 480).
                max_features: most bars (default 30).
                pad_id: trailing tokens with this id are not drawn
                    (default 0; None keeps them).

        Returns:
            `N` RGB pictures, one per input.

        Raises:
            ValueError, TypeError: a bad option, or attributions that
                cannot be drawn.

        Example:
            >>> pictures = keras_ig.explain(model, images).to_images()
            >>> pictures[0].size  # (3 * W * k + 8, H * k)
        """
        from keras_ig._io import pictures as _images

        return _images.to_images(self, **options)

    def save(
        self, path: str | os.PathLike, *, grid: bool = True, **options: Any
    ) -> list[pathlib.Path]:
        """Write the pictures of `to_images` as PNG files.

        Args:
            path: the file to write, `.png` added when it has no suffix.
            grid: True: one file, the pictures tiled (`keras_ig.render.grid`,
                `cols=` optional); False: one file per input,
                `{stem}_{i}.png` next to `path`.
            **options: as in `to_images`, plus `cols` for the grid.

        Returns:
            The paths written. Missing parent folders are created.

        Example:
            >>> exp.save("ig.png")              # one tiled picture
            >>> exp.save("ig.png", grid=False)  # ig_0.png, ig_1.png, ...
        """
        from keras_ig._io import pictures as _images

        return _images.save(self, path, grid=grid, **options)

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


def warn_if_incomplete(exp: Explanation, tolerance: float = completeness.TOLERANCE) -> None:
    """Warn (`CompletenessWarning`) when a gap is above tolerance or not finite."""
    message = incompleteness(exp, tolerance)
    if message is not None:
        warnings.warn(message, CompletenessWarning, stacklevel=user_stacklevel())


def incompleteness(
    exp: Explanation, tolerance: float = completeness.TOLERANCE, *, finite_only: bool = False
) -> str | None:
    """What is wrong with `exp`'s completeness, in words; None if nothing.

    The message says which case it is, because the remedy differs: a NaN/inf
    gap is a numerical failure, a gap on inputs where F(x) ~ F(baseline) has
    little to measure (more steps will not help), and only the rest asks for
    more steps. `finite_only`: leave non-finite gaps out (a caller that
    reports them elsewhere, e.g. the callback's NaN-weights warning).
    """
    rel = exp.relative_delta
    finite = np.isfinite(rel) & np.isfinite(exp.scores) & np.isfinite(exp.baseline_scores)
    bad = ~completeness.within_tolerance(exp.delta, exp.scores, exp.baseline_scores, tolerance)
    if finite_only:
        bad &= finite
    if not np.any(bad):
        return None
    flat = completeness.flat(exp.scores, exp.baseline_scores) & finite
    where = f"with {exp.method!r} at steps={exp.steps}"
    if np.any(bad & ~finite):
        count = int((bad & ~finite).sum())
        message = (
            f"completeness gap is not finite (NaN or inf) for {count} of {len(bad)} inputs "
            f"(first: input {int(np.argmax(bad & ~finite))}) {where}: F(x), F(baseline) or the "
            "gradients overflowed; check the model, x and baseline (more steps will not help)"
        )
    elif np.all(flat[bad]):
        message = (
            f"completeness gap above {tolerance:.0%} for {int(bad.sum())} of {len(bad)} inputs "
            f"{where}, all with F(x) ~ F(baseline) (they differ by under "
            f"{completeness.FLAT_FRACTION:.0%} of |F|): there is little to attribute and more "
            'steps rarely help; explain logits (output="logits") or choose another baseline'
        )
    else:
        worst = int(np.argmax(np.where(bad & finite, rel, -1.0)))
        message = (
            f"completeness gap above {tolerance:.0%} of |F(x) - F(baseline)| for "
            f"{int(bad.sum())} of {len(bad)} inputs (worst: input {worst}, relative gap "
            f"{rel[worst]:.3g}) {where}; raise "
            # Expected Gradients' gap is Monte-Carlo error: more draws shrink it.
            + ("samples" if exp.method == "expected_gradients" else "steps")
            + (" (or max_steps)" if exp.converged is not None else "")
        )
    return message


def user_stacklevel() -> int:
    """The `stacklevel` that points a warning at the first caller outside keras_ig."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level
