"""Compiled forward passes over inputs the host has perturbed, for infidelity.

`PerturbEngine.scores` is the plain chunked F (deletion and insertion build
their perturbed rows on the device instead: `keras_ig._engine.curves`).
Graphs have open batch dimensions and take `batch_size` as a tensor:
calling again with other sizes never retraces.
Each is kept as its concrete function, which a call reaches without
`tf.function`'s per-call signature matching (a few ms, which matters for a
metric called every epoch on a handful of inputs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from keras_ig._engine.chunks import over_chunks
from keras_ig._engine.score import ScoreFunction


class PerturbEngine:
    """F on perturbed copies of single-tensor inputs, for one `ScoreFunction`."""

    def __init__(self, score_fn: ScoreFunction) -> None:
        self.score_fn = score_fn
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0  # graphs built; tests check that repeated calls reuse them

    def _score(self, rows: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        outputs, _ = self.score_fn.outputs(rows)
        scores, _ = self.score_fn.score(outputs, targets)
        return scores

    def _resolve(self, x: tf.Tensor, targets: tf.Tensor, batch_size: tf.Tensor) -> tf.Tensor:
        """Targets with every `-1` replaced by the class predicted at x.

        Skipped (no forward pass) when every target is already known.
        """

        def predicted() -> tf.Tensor:
            def body(rows, state):
                outputs, _ = self.score_fn.outputs(tf.gather(x, rows))
                _, resolved = self.score_fn.score(outputs, tf.gather(targets, rows))
                return tf.tensor_scatter_nd_update(state, rows[:, None], resolved)

            return _chunks(tf.shape(targets)[0], batch_size, body, tf.zeros_like(targets))

        return tf.cond(tf.reduce_any(targets < 0), predicted, lambda: targets)

    def _scores_graph(
        self, x: tf.Tensor, targets: tf.Tensor, batch_size: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor]:
        self.traces += 1
        resolved = self._resolve(x, targets, batch_size)

        def body(rows, state):
            s = self._score(tf.gather(x, rows), tf.gather(resolved, rows))
            return tf.tensor_scatter_nd_update(state, rows[:, None], s)

        n = tf.shape(x)[0]
        return _chunks(n, batch_size, body, tf.zeros([n], tf.float32)), resolved

    def scores(
        self, x: tf.Tensor, targets: tf.Tensor, batch_size: int
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """F of every row of `x` (`[rows, ...]`), in chunks of `batch_size`.

        Returns:
            `(scores float32[rows], resolved targets int32[rows])`.
        """
        key = ("scores", tuple(x.shape[1:]), x.dtype)
        fn = self._compiled.get(key)
        if fn is None:
            signature = [
                tf.TensorSpec((None, *x.shape[1:]), x.dtype),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((), tf.int32),
            ]
            fn = tf.function(
                self._scores_graph, input_signature=signature, autograph=False
            ).get_concrete_function()
            self._compiled[key] = fn
        return fn(x, targets, tf.constant(batch_size, tf.int32))


def _chunks(
    total: tf.Tensor,
    batch_size: tf.Tensor,
    fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    init: tf.Tensor,
) -> tf.Tensor:
    """`fn(rows, state) -> state` over `[0, total)` in chunks (one state tensor)."""
    return over_chunks(total, batch_size, lambda rows, state: [fn(rows, state[0])], [init])[0]
