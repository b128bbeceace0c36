"""Compiled forward passes over perturbed inputs, for attribution metrics.

`PerturbEngine.curves` does a whole deletion or insertion run in one
`tf.function`: the `N * (steps + 1)` (input, step) pairs are walked in chunks
of at most `batch_size` rows inside a `tf.while_loop`, and each chunk's
perturbed inputs are built on the device from the feature positions (a
feature moves at step k when its position is below `counts[k]`), so no
`N * (steps + 1)` copies of the inputs ever exist. `PerturbEngine.scores`
is the plain chunked F for inputs the host has already perturbed
(infidelity). Graphs have open batch dimensions and take `steps` and
`batch_size` as tensors: calling again with other sizes never retraces.
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

    def _curves_graph(
        self,
        insertion: bool,
        x: tf.Tensor,
        base: tf.Tensor,
        positions: tf.Tensor,
        counts: tf.Tensor,
        targets: tf.Tensor,
        batch_size: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        self.traces += 1
        n = tf.shape(x)[0]
        points = tf.shape(counts)[0]  # steps + 1
        resolved = self._resolve(x, targets, batch_size)
        # Image positions are per pixel [N, H, W]; their masks broadcast over C.
        pixel = positions.shape.rank < x.shape.rank

        def body(pairs, state):
            rows, k = pairs // points, pairs % points  # pair = input * (steps + 1) + step
            pos = tf.gather(positions, rows)  # [b, *features]
            limit = tf.gather(counts, k)  # [b]
            limit = tf.reshape(limit, tf.concat([[-1], tf.ones([pos.shape.rank - 1], tf.int32)], 0))
            moved = pos < limit  # [b, *features]: features already moved at this step
            if pixel:
                moved = moved[..., None]
            xr, br = tf.gather(x, rows), tf.gather(base, rows)
            z = tf.where(moved, xr, br) if insertion else tf.where(moved, br, xr)
            s = self._score(z, tf.gather(resolved, rows))
            return tf.tensor_scatter_nd_update(state, pairs[:, None], s)

        flat = _chunks(n * points, batch_size, body, tf.zeros([n * points], tf.float32))
        return tf.reshape(flat, [n, points]), resolved

    def curves(
        self,
        x: tf.Tensor,
        base: tf.Tensor,
        positions: tf.Tensor,
        counts: tf.Tensor,
        targets: tf.Tensor,
        batch_size: int,
        *,
        insertion: bool,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """F after each step of a deletion (or insertion) run.

        Args:
            x: `[N, ...]` inputs; `base`: their baselines, same shape.
            positions: `int32[N, ...]` each feature's place in its row's
                order (`[N, H, W]` per pixel for images `[N, H, W, C]`).
            counts: `int32[steps + 1]`, features moved after each step.
            targets: `int32[N]`, -1 for the class predicted at x.
            batch_size: most perturbed rows per model call.
            insertion: start from the baseline and put x back (else start
                from x and put the baseline in).

        Returns:
            `(curves float32[N, steps + 1], resolved targets int32[N])`.
        """
        key = ("curves", insertion, tuple(x.shape[1:]), x.dtype, positions.shape.rank)
        fn = self._compiled.get(key)
        if fn is None:
            spec = tf.TensorSpec((None, *x.shape[1:]), x.dtype)
            signature = [
                spec,
                spec,
                tf.TensorSpec((None, *positions.shape[1:]), tf.int32),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((), tf.int32),
            ]
            fn = tf.function(
                lambda *args: self._curves_graph(insertion, *args),
                input_signature=signature,
                autograph=False,
            ).get_concrete_function()
            self._compiled[key] = fn
        return fn(x, base, positions, counts, targets, tf.constant(batch_size, tf.int32))

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
