"""The compiled Guided IG engine (Kapishnikov et al., CVPR 2021).

Guided IG walks from the baseline to the input along an adaptive path: at
step s of `steps` every feature must be within `max_dist` (in alpha) of the
straight line's `alpha = (s + 1) / steps`, and the path's L1 distance to
the input must shrink to `(1 - alpha)` of the total; the features moved
first are the `fraction` with the smallest `|dF/dz|`, all the way to the
upper edge of the band, until the step's L1 target is met. The attribution
is `sum_steps (z_new - z_old) * dF/dz(z_old)`.

PAIR saliency runs this one example at a time in numpy. Here one
`tf.function` runs a whole batch of rows: an outer `tf.while_loop` over
steps (the gradient of every row, in chunks of at most `batch_size` rows),
and inside it a second `tf.while_loop` over PAIR's selection rounds, with a
per-row mask for the rows still short of their L1 target. The path state is
float64, as PAIR's, so both follow the same path.

Shapes: N inputs; R = N * K rows (input n, baseline k at r = n * K + k);
F features of one row of the attributed tensor z (the input, or the
`layer=` output), flattened.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from keras_ig._engine.chunks import gradient, over_chunks, scores
from keras_ig._engine.score import ScoreFunction

# PAIR's tolerance on reaching a step's L1 target (math.isclose, rel and abs).
EPSILON = 1e-9


class GuidedEngine:
    """Guided IG for one `ScoreFunction`; one graph per input and z signature."""

    def __init__(self, score_fn: ScoreFunction) -> None:
        self.score_fn = score_fn
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0

    def _run(self, x, x_index, base, targets, steps, rank, max_dist, batch_size):
        self.traces += 1
        layer_mode = self.score_fn.layer is not None
        n, r_total = tf.shape(x)[0], tf.shape(x_index)[0]
        z_shape = tf.shape(base)[1:]
        z_dtype = base.dtype

        # 1. F(x), its resolved targets, and z at x (the layer's output with layer=).
        def forward(rows, state):
            s, resolved, calls = scores(self.score_fn, tf.gather(x, rows), tf.gather(targets, rows))
            new = [s, resolved] + ([tf.cast(calls[0], z_dtype)] if layer_mode else [])
            return [
                tf.tensor_scatter_nd_update(v, rows[:, None], u)
                for v, u in zip(state, new, strict=True)
            ]

        init = [tf.zeros([n], tf.float32), tf.zeros([n], tf.int32)]
        if layer_mode:
            init.append(tf.zeros(tf.concat([[n], z_shape], 0), z_dtype))
        fwd = over_chunks(n, batch_size, forward, init)
        score_x, resolved = fwd[0], fwd[1]
        z_x = fwd[2] if layer_mode else tf.cast(x, z_dtype)
        row_targets = tf.gather(resolved, x_index)

        def f_inputs(rows, z):
            """The model's inputs for `rows` with the attributed tensor at `z`."""
            return tf.gather(x, tf.gather(x_index, rows)) if layer_mode else z

        # 2. F(baseline) per row.
        def at_base(rows, state):
            z = tf.gather(base, rows)
            s, _, _ = scores(
                self.score_fn,
                f_inputs(rows, z),
                tf.gather(row_targets, rows),
                z if layer_mode else None,
            )
            return [tf.tensor_scatter_nd_update(state[0], rows[:, None], s)]

        (score_b,) = over_chunks(r_total, batch_size, at_base, [tf.zeros([r_total], tf.float32)])

        # 3. The guided path, in float64 over flattened rows [R, F].
        zx = tf.reshape(tf.cast(tf.gather(z_x, x_index), tf.float64), [r_total, -1])
        zb = tf.reshape(tf.cast(base, tf.float64), [r_total, -1])
        diff = zx - zb
        l1_total = tf.reduce_sum(tf.abs(diff), 1)
        steps_f = tf.cast(steps, tf.float64)

        def grads_at(z):
            def chunk(rows, state):
                zr = tf.reshape(
                    tf.cast(tf.gather(z, rows), z_dtype),
                    tf.concat([[tf.shape(rows)[0]], z_shape], 0),
                )
                g = gradient(self.score_fn, f_inputs(rows, zr), zr, tf.gather(row_targets, rows))
                g = tf.reshape(tf.cast(g, tf.float64), [tf.shape(rows)[0], -1])
                return [tf.tensor_scatter_nd_update(state[0], rows[:, None], g)]

            return over_chunks(r_total, batch_size, chunk, [tf.zeros_like(z)])[0]

        def step(s, z, attr):
            g = grads_at(z)
            alpha = (tf.cast(s, tf.float64) + 1.0) / steps_f
            a_min = tf.maximum(alpha - max_dist, 0.0)
            a_max = tf.minimum(alpha + max_dist, 1.0)
            l1_target = l1_total * (1.0 - (tf.cast(s, tf.float64) + 1.0) / steps_f)

            z, attr = select(g, z, attr, zb, zx, diff, a_min, a_max, l1_target, l1_total, rank)
            return s + 1, z, attr

        _, _, attr = tf.while_loop(
            lambda s, *_: s < steps,
            step,
            [tf.constant(0), zb, tf.zeros_like(zb)],
            parallel_iterations=1,
        )
        attributions = tf.reshape(tf.cast(attr, tf.float32), tf.concat([[r_total], z_shape], 0))
        return {
            "attributions": [attributions],
            "scores": score_x,
            "baseline_scores": score_b,
            "targets": resolved,
        }

    def compiled(
        self, x_shape: tuple, x_dtype: tf.DType, z_shape: tuple, z_dtype: tf.DType
    ) -> Callable:
        """The `tf.function` for inputs `[None, *x_shape]` and z rows `[None, *z_shape]`.

        Its arguments: `x [N, ...]`, `x_index int32[R]`, `base [R, *z_shape]`
        (each row's baseline), `targets int32[N]`, `steps int32[]`,
        `rank int32[]` (the index of numpy's `quantile(...,
        method="lower")` among a row's sorted `F` values), `max_dist
        float64[]`, `batch_size int32[]`.
        """
        key = (tuple(x_shape), x_dtype, tuple(z_shape), z_dtype)
        fn = self._compiled.get(key)
        if fn is not None:
            return fn
        i32 = tf.int32
        signature = [
            tf.TensorSpec((None, *x_shape), x_dtype),
            tf.TensorSpec((None,), i32),
            tf.TensorSpec((None, *z_shape), z_dtype),
            tf.TensorSpec((None,), i32),
            tf.TensorSpec((), i32),
            tf.TensorSpec((), i32),
            tf.TensorSpec((), tf.float64),
            tf.TensorSpec((), i32),
        ]
        fn = tf.function(self._run, input_signature=signature, autograph=False)
        self._compiled[key] = fn
        return fn


def select(g, z, attr, zb, zx, diff, a_min, a_max, l1_target, l1_total, rank):
    """One Guided IG step after its gradient: PAIR's selection rounds, all rows at once.

    Args:
        g: `float64[R, F]`, dF/dz at the step's start `z` (`[R, F]`).
        attr: `[R, F]`, the attributions so far.
        zb, zx, diff: `[R, F]`: the baselines, the inputs and their difference.
        a_min, a_max: `float64[]`, the step's band in alpha.
        l1_target: `float64[R]`, the L1 distance to the input to reach.
        l1_total: `float64[R]`, the baseline's L1 distance to the input.
        rank: `int32[]`, the quantile's index among the F sorted values.

    Returns:
        `(z, attr)` at the step's end.
    """
    z_min, z_max = zb + diff * a_min, zb + diff * a_max
    # Each unfinished round moves >= 1 feature to the band's edge: at most F + 1 rounds.
    cap = tf.shape(z)[1] + 1

    def round_(i, z, attr, active):
        on = active[:, None]
        # Where z(x) == z(b) alpha is undefined; PAIR reads it as a_max (never behind).
        z_alpha = tf.where(diff != 0, (z - zb) / tf.where(diff != 0, diff, 1.0), a_max)
        z_c = tf.where(on & (z_alpha < a_min), z_min, z)  # catch up to the band
        l1_cur = tf.reduce_sum(tf.abs(z_c - zx), 1)
        close = tf.abs(l1_target - l1_cur) <= tf.maximum(
            EPSILON * tf.maximum(tf.abs(l1_target), tf.abs(l1_cur)), EPSILON
        )
        go = active & ~close
        # PAIR sets |g| to inf at the band's edge and takes numpy's
        # quantile(|g|, fraction, "lower"): the rank-th smallest value.
        # Non-negative float64s order like their bits as int64, and
        # TensorFlow sorts int64 several times faster than float64.
        at_edge = z_c == z_max
        a = tf.where(at_edge, tf.constant(math.inf, tf.float64), tf.abs(g))
        bits = tf.sort(tf.bitcast(a, tf.int64), axis=1)
        threshold = tf.bitcast(tf.gather(bits, rank, axis=1), tf.float64)
        sel = (a <= threshold[:, None]) & ~at_edge & go[:, None]
        l1_s = tf.reduce_sum(tf.abs(z_c - z_max) * tf.cast(sel, tf.float64), 1)
        safe = tf.where(l1_s > 0, l1_s, 1.0)
        gamma = tf.where(l1_s > 0, (l1_cur - l1_target) / safe, math.inf)
        moved = tf.where(gamma[:, None] > 1.0, z_max, z_c + (z_max - z_c) * gamma[:, None])
        z_new = tf.where(sel, moved, z_c)
        attr = attr + tf.where(on, (z_new - z) * g, 0.0)
        return i + 1, z_new, attr, go & (gamma > 1.0)

    _, z, attr, _ = tf.while_loop(
        lambda i, z, attr, active: (i < cap) & tf.reduce_any(active),
        round_,
        [tf.constant(0), z, attr, l1_total > 0],
        parallel_iterations=1,
    )
    return z, attr
