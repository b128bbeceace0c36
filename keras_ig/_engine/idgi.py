"""IDGI's path integral (Yang et al., CVPR 2023) on the straight line.

At the points `z_k = z(b) + (k / m) (z(x) - z(b))`, `k = 0 .. m - 1`, with
gradient `g_k` and score `F_k` (one forward and backward pass each; `F_m` is
F(x)), step k contributes `g_k**2 / sum(g_k**2) * (F_{k+1} - F_k)` to the
attribution, the sum over every attributed feature (all inputs together).
Each step's weights sum to 1, so the attributions sum to `F(x) - F(b)`
exactly. A point whose gradient is zero everywhere contributes nothing.

The tiles are those of `straight.path_tiles` (rows x steps, in row-major
order). A tile of whole rows holds every step, so `F_{k+1}` is in it (or is
F(x)); a tile of one row and part of its steps hands its last point (weights
and score) to the next tile, which holds `F_{k+1}`.
"""

from __future__ import annotations

import math

import tensorflow as tf

from keras_ig._engine.integral import Engine
from keras_ig._engine.path import PathIntegral, PathPoints
from keras_ig._engine.plan import Plan
from keras_ig._engine.straight import Tiles


def idgi_integral(engine: Engine, plan: Plan) -> PathIntegral:
    """The IDGI path integral for `plan` (an `Engine` integral factory).

    Raises:
        ValueError: naming `jit_compile`, for a fixed chunk shape (XLA).
    """
    if plan.static_batch is not None:
        raise ValueError("jit_compile: idgi runs without XLA (jit_compile=False)")
    flat = [math.prod(s) for s in plan.z_shapes]
    n_z = len(flat)

    def integral(path: PathPoints, batch_size: tf.Tensor) -> list[tf.Tensor]:
        _, x, base, base_index, x_index, z_x, alphas, _, resolved, scores = path
        tiles = Tiles.of(x_index, alphas, batch_size)
        r_total, m, n_tiles = tiles.r_total, tiles.m, tiles.count
        end_scores = tf.gather(scores, x_index)  # float32[R]: F(x), after the last point

        def body(i, carry_s, *state):
            acc, carry_u = state[:n_z], state[n_z:]
            rows, rows_n, k, s0, s1, xrows, a = tiles.tile(i, x_index, alphas)
            z = []
            for j, (b, bi) in enumerate(zip(base, base_index, strict=True)):
                b_rows = tf.cast(tf.gather(b, tf.gather(bi, rows)), tf.float32)
                zx_rows = tf.cast(tf.gather(z_x[j], tf.gather(x_index, rows)), tf.float32)
                b3 = tf.reshape(b_rows, [rows_n, 1, flat[j]])
                d3 = tf.reshape(zx_rows, [rows_n, 1, flat[j]]) - b3
                zj = b3 + a[None, :, None] * d3  # [rows, k, F]
                shape = tf.concat([[rows_n * k], tf.constant(plan.z_shapes[j], tf.int32)], 0)
                z.append(tf.cast(tf.reshape(zj, shape), plan.z_dtypes[j]))
            s, grads = engine.scores_and_gradients(plan, x, xrows, z, tf.gather(resolved, xrows))
            s2 = tf.reshape(s, [rows_n, k])
            sq = [tf.reshape(g, [rows_n, k, f]) ** 2 for g, f in zip(grads, flat, strict=True)]
            norm = tf.add_n([tf.reduce_sum(q, -1) for q in sq])  # [rows, k]
            u = [tf.math.divide_no_nan(q, norm[..., None]) for q in sq]  # weights sum to 1
            done = s1 == m  # the tile ends at x: F after its last point is F(x)
            after = tf.where(done, tf.gather(end_scores, rows), tf.zeros([rows_n]))
            dF = tf.concat([s2[:, 1:], after[:, None]], 1) - s2  # [rows, k]
            # Mid-path, the last point's step is completed by the next tile.
            dF *= tf.concat([tf.ones([k - 1]), [tf.cast(done, tf.float32)]], 0)[None]
            # The previous tile's last point, now that F at this tile's first is known
            # (only a one-row tile starts mid-path, s0 > 0).
            prev_dF = tf.cast(s0 > 0, tf.float32) * (s2[:1, 0] - carry_s)  # [1]
            new_acc, new_carry = [], []
            for acc_j, u_j, c_j in zip(acc, u, carry_u, strict=True):
                part = tf.matmul(dF[:, None, :], u_j)[:, 0]  # [rows, F]
                part += tf.cast(s0 > 0, tf.float32) * c_j * prev_dF[:, None]
                new_acc.append(tf.tensor_scatter_nd_add(acc_j, rows[:, None], part))
                new_carry.append(tf.reshape(u_j[-1, -1], [1, -1]))  # [1, F]
            return (i + 1, tf.reshape(s2[-1, -1], [1]), *new_acc, *new_carry)

        acc0 = [tf.zeros([r_total, f], tf.float32) for f in flat]
        carry0 = [tf.zeros([1, f], tf.float32) for f in flat]
        _, _, *state = tf.while_loop(
            lambda i, *_: i < n_tiles,
            body,
            [tf.constant(0), tf.zeros([1], tf.float32), *acc0, *carry0],
            parallel_iterations=1,
        )
        return [
            tf.reshape(a, tf.concat([[r_total], tf.constant(s, tf.int32)], 0))
            for a, s in zip(state[:n_z], plan.z_shapes, strict=True)
        ]

    return integral
