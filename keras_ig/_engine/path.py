"""The seam of path methods: the points a path integral gets, and its signature."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import tensorflow as tf

from keras_ig._engine.plan import Plan


class PathPoints(NamedTuple):
    """A path and its quadrature, as built by `Engine._graph`.

    The path runs from the baseline rows to the inputs' attributed tensors
    `z_x`; it is visited at `alphas` with `weights`. Integrated Gradients'
    straight line is `z(a) = z(b) + a (z(x) - z(b))`.
    """

    plan: Plan
    x: list[tf.Tensor]  # the flat inputs, each [N, ...]
    base: list[tf.Tensor]  # per attributed tensor, baseline rows [B, ...]
    base_index: list[tf.Tensor]  # per attributed tensor, int32[R]
    x_index: tf.Tensor  # int32[R]: the input of each row
    z_x: list[tf.Tensor]  # per attributed tensor, its value at x [N, ...]
    alphas: tf.Tensor  # float32[m]
    weights: tf.Tensor  # float32[m]
    targets: tf.Tensor  # int32[N], resolved
    scores: tf.Tensor | None = None  # float32[N]: F(x), for methods scoring the path


# The seam for path methods: a path integral takes the `PathPoints` and the
# chunk size (rows per model call) and returns, per attributed tensor, each
# row's weighted sum of gradients along the path, `float32[R, ...]`; the
# engine then scales it by `z(x) - z(b)` (or not: `Engine.finish`). The
# straight line comes in two shapes (`keras_ig._engine.straight`); another
# method (e.g. `keras_ig._engine.idgi`; another path function, other
# points or weights) plugs in as another provider of this signature
# without touching the forward passes, the chunking or the orchestration.
PathIntegral = Callable[[PathPoints, "tf.Tensor | int"], list[tf.Tensor]]
