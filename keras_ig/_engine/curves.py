"""A whole deletion or insertion run in one compiled graph.

Everything after the arguments are checked happens on the device, in one
call of one concrete function per signature: the features are ranked
(`feature_positions`, equal to `keras_ig._numpy.faithfulness`'s ranking,
ties included), then the `N * (steps + 1)` (input, step) rows are walked in
chunks of at most `batch_size` inside the engine's chunk loop
(`keras_ig._engine.chunks.over_chunks`), each chunk's perturbed rows built
from the positions with one `Select` (a feature has moved at step k when its
position is below `counts[k]`), so no `N * (steps + 1)` copies of the inputs
ever exist.

The class predicted at x (`target=None`) costs no pass of its own: each
input's rows are walked starting from the one equal to x (deletion's step
0, insertion's last step), which is therefore in the same chunk as the
input's other rows or in an earlier one; its outputs give the class that
scores them all. Graphs have open batch dimensions and take `steps` and
`batch_size` as tensors: other sizes never retrace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig._engine.chunks import over_chunks
from keras_ig._engine.score import ScoreFunction
from keras_ig._numpy import faithfulness


def feature_scores(attributions: tf.Tensor) -> tf.Tensor:
    """`float64[N, H, W]` channel sums for images `[N, H, W, C]`, else the attributions.

    Channels are added left to right, as `faithfulness.feature_scores` adds
    them: the same float64 sums, so the same ties.
    """
    a = tf.cast(attributions, tf.float64)
    if not faithfulness.is_image(a.shape):
        return a
    total = a[..., 0]
    for c in range(1, a.shape[-1]):
        total = total + a[..., c]
    return total


def feature_positions(scores: tf.Tensor) -> tf.Tensor:
    """Each feature's place in its row's order, highest score first, ties in index order.

    Args:
        scores: `float[N, ...]` (see `feature_scores`).

    Returns:
        `int32[N, ...]` shaped like `scores`: 0 for the row's top feature.
    """
    n = tf.shape(scores)[0]
    flat = tf.reshape(scores, [n, -1])  # [N, n_features]
    # Descending argsort is top_k, which puts equal values in index order.
    order = tf.argsort(flat, axis=1, direction="DESCENDING", stable=True)
    # The inverse permutations of all rows at once: offset row r's order by
    # r * n_features and invert the one permutation of [0, N * n_features)
    # (a linear pass; a second argsort would cost as much as the first).
    offset = tf.range(n)[:, None] * tf.shape(flat)[1]
    places = tf.math.invert_permutation(tf.reshape(order + offset, [-1]))
    return tf.reshape(tf.reshape(places, [n, -1]) - offset, tf.shape(scores))


class CurveGraphs:
    """Compiled deletion and insertion runs for one `ScoreFunction`."""

    def __init__(self, score_fn: ScoreFunction) -> None:
        self.score_fn = score_fn
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0  # graphs built; tests check that repeated calls reuse them

    def _graph(
        self,
        static: tuple[bool, bool, bool],
        x: tf.Tensor,
        base_values: tf.Tensor,
        base_row: tf.Tensor,
        attributions: tf.Tensor,
        counts: tf.Tensor,
        targets: tf.Tensor,
        batch_size: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        insertion, resolve, shared_base = static
        self.traces += 1
        n = tf.shape(x)[0]
        points = tf.shape(counts)[0]  # steps + 1
        positions = feature_positions(feature_scores(attributions))  # [N, *features]
        if positions.shape.rank < x.shape.rank:
            # Images: a pixel's place repeated over its channels, once per
            # call, so each chunk's mask is shaped like its rows.
            positions = tf.broadcast_to(positions[..., None], tf.shape(x))
        # Work item p = input * (steps + 1) + j walks each input's rows from
        # the one equal to x: step j for deletion, step `steps - j` for
        # insertion (whose curves are stored in walking order, reversed at
        # the end). Each j's feature count, shaped to broadcast over a row:
        walk = tf.reverse(counts, [0]) if insertion else counts
        walk = tf.reshape(walk, [-1, *[1] * (x.shape.rank - 1)])  # [steps + 1, 1, ...]

        def body(pairs: tf.Tensor, state: list[tf.Tensor]) -> list[tf.Tensor]:
            curves, resolved = state
            rows, j = pairs // points, pairs % points
            moved = tf.gather(positions, rows) < tf.gather(walk, j)  # [b, ...]
            xr = tf.gather(x, rows)
            if shared_base:  # one baseline row for every input
                br = tf.broadcast_to(base_values, tf.shape(xr))
            else:
                br = tf.gather(base_values, tf.gather(base_row, rows))
            # Select on equal shapes: several times faster on CPU than
            # tf.where (SelectV2), whose kernel broadcasts.
            new, old = (xr, br) if insertion else (br, xr)
            z = tf.raw_ops.Select(condition=moved, x=new, y=old)
            outputs, _ = self.score_fn.outputs(z)
            known = tf.gather(resolved, rows)
            if resolve:
                # Rows whose input's class is not known yet take it from that
                # input's x row, which this chunk holds (it comes first).
                _, predicted = self.score_fn.score(outputs, -tf.ones_like(rows))
                own = tf.gather(predicted, tf.maximum(rows * points - pairs[0], 0))
                known = tf.where(known < 0, own, known)
            s, t = self.score_fn.score(outputs, known)
            curves = tf.tensor_scatter_nd_update(curves, pairs[:, None], s)
            if resolve:
                resolved = tf.tensor_scatter_nd_update(resolved, rows[:, None], t)
            return [curves, resolved]

        curves, resolved = over_chunks(
            n * points, batch_size, body, [tf.zeros([n * points], tf.float32), targets]
        )
        curves = tf.reshape(curves, [n, points])
        return (tf.reverse(curves, [1]) if insertion else curves), resolved

    def run(
        self,
        x: np.ndarray,
        base_values: np.ndarray,
        base_row: np.ndarray,
        attributions: np.ndarray,
        counts: np.ndarray,
        targets: np.ndarray,
        batch_size: tf.Tensor,
        *,
        insertion: bool,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """F after each step of a deletion (or insertion) run.

        Args:
            x: `[N, ...]` inputs (`[N, H, W, C]` for images).
            base_values: `[B, ...]` baseline rows; `base_row`: `int32[N]`,
                the baseline row of each input.
            attributions: `float64[N, ...]`, shaped like `x`.
            counts: `int32[steps + 1]`, features moved after each step.
            targets: `int32[N]`, -1 for the class predicted at x.
            batch_size: `int32[]`, most perturbed rows per model call.
            insertion: start from the baseline and put x back (else start
                from x and put the baseline in).

        Returns:
            `(curves float32[N, steps + 1], resolved targets int32[N])`.
        """
        row, dtype = tuple(x.shape[1:]), tf.as_dtype(x.dtype)
        # Known on the host, they pick the graph: no work for targets that
        # are all given, no gather of a baseline all inputs share.
        static = (insertion, bool(np.any(targets < 0)), len(base_values) == 1)
        key = (static, row, dtype)
        fn = self._compiled.get(key)
        if fn is None:
            spec = tf.TensorSpec((None, *row), dtype)
            signature = [
                spec,
                spec,
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None, *row), tf.float64),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((None,), tf.int32),
                tf.TensorSpec((), tf.int32),
            ]
            # The concrete function is called directly: no per-call signature
            # matching (a few ms for a metric called every epoch).
            fn = tf.function(
                lambda *args: self._graph(static, *args),
                input_signature=signature,
                autograph=False,
            ).get_concrete_function()
            self._compiled[key] = fn
        return fn(x, base_values, base_row, attributions, counts, targets, batch_size)
