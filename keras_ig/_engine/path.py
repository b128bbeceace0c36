"""The seam of path methods: the points a path integral gets, and the walk it returns."""

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


class Ends(NamedTuple):
    """What the path's end at x gives a walk: F(x) and the resolved targets."""

    scores: tf.Tensor  # float32[N]: F(x)
    targets: tf.Tensor  # int32[N], resolved (the predicted class for -1)


class Walk(NamedTuple):
    """A path integral as chunks for the engine's loop to run.

    The engine runs chunk `i` as: `xrows, z = points(i)`; F and `dF/dz` at
    `z` (rows of inputs `xrows`, targets `ends.targets[xrows]`); `state =
    update(i, scores, grads, ends, state)`. It may run the end points' chunks
    in the same loop first (one trace of the model for both), so `points`
    and `update` get `ends` only when the path's chunks run.

    Attributes:
        count: `int32[]`, the path's chunks.
        points: `(i, ends) -> (xrows int32[rows], z)`, `z` per attributed
            tensor `[rows, ...]` in its dtype.
        update: `(i, scores float32[rows], grads, ends, state) -> state`, the
            gradients float32 per attributed tensor; every new state tensor
            must be computed from these arguments.
        init: the loop state before the first chunk.
        result: `state -> ` per attributed tensor each row's weighted sum of
            gradients along the path, `float32[R, ...]`.
    """

    count: tf.Tensor
    points: Callable[[tf.Tensor, Ends], tuple[tf.Tensor, list[tf.Tensor]]]
    update: Callable[..., list[tf.Tensor]]
    init: list[tf.Tensor]
    result: Callable[[list[tf.Tensor]], list[tf.Tensor]]


# The seam for path methods: a path integral takes the `PathPoints` and the
# chunk size (rows per model call) and returns its `Walk`; the engine runs
# it and then scales the result by `z(x) - z(b)` (or not: `Engine.finish`).
# The straight line comes in two shapes (`keras_ig._engine.straight`);
# another method (e.g. `keras_ig._engine.idgi`; another path function, other
# points or weights) plugs in as another provider of this signature
# without touching the forward passes, the chunking or the orchestration.
PathIntegral = Callable[[PathPoints, "tf.Tensor | int"], Walk]
