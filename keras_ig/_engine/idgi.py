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
from keras_ig._engine.path import PathIntegral, PathPoints, Walk
from keras_ig._engine.plan import Plan
from keras_ig._engine.straight import Tiles, tile_points


def idgi_integral(engine: Engine, plan: Plan) -> PathIntegral:
    """The IDGI path integral for `plan` (an `Engine` integral factory).

    Raises:
        ValueError: naming `jit_compile`, for a fixed chunk shape (XLA).
    """
    if plan.static_batch is not None:
        raise ValueError("jit_compile: idgi runs without XLA (jit_compile=False)")
    flat = [math.prod(s) for s in plan.z_shapes]
    n_z = len(flat)

    def integral(path: PathPoints, batch_size: tf.Tensor) -> Walk:
        x_index, alphas = path.x_index, path.alphas
        tiles = Tiles.of(x_index, alphas, batch_size)
        r_total, m = tiles.r_total, tiles.m

        def points(i, ends):
            return tile_points(path, tiles, i)

        def update(i, s, grads, ends, state):
            carry_s, acc, carry_u = state[0], state[1 : 1 + n_z], state[1 + n_z :]
            rows, rows_n, k, s0, s1, _, _ = tiles.tile(i, x_index, alphas)
            s2 = tf.reshape(s, [rows_n, k])
            sq = [tf.reshape(g, [rows_n, k, f]) ** 2 for g, f in zip(grads, flat, strict=True)]
            norm = tf.add_n([tf.reduce_sum(q, -1) for q in sq])  # [rows, k]
            u = [tf.math.divide_no_nan(q, norm[..., None]) for q in sq]  # weights sum to 1
            done = s1 == m  # the tile ends at x: F after its last point is F(x)
            at_x = tf.gather(ends.scores, tf.gather(x_index, rows))  # F(x) of the tile's rows
            after = tf.where(done, at_x, tf.zeros([rows_n]))
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
            return [tf.reshape(s2[-1, -1], [1]), *new_acc, *new_carry]

        acc0 = [tf.zeros([r_total, f], tf.float32) for f in flat]
        carry0 = [tf.zeros([1, f], tf.float32) for f in flat]

        def result(state: list[tf.Tensor]) -> list[tf.Tensor]:
            return [
                tf.reshape(a, tf.concat([[r_total], tf.constant(s, tf.int32)], 0))
                for a, s in zip(state[1 : 1 + n_z], plan.z_shapes, strict=True)
            ]

        init = [tf.zeros([1], tf.float32), *acc0, *carry0]
        return Walk(tiles.count, points, update, init, result)

    return integral
