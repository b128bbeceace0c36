"""Integrated Gradients' straight-line path integral, in the engine's two chunkings.

`path_tiles` (tiles of rows x steps, any chunk size) by default;
`path_pairs` (fixed chunks of (row, step) pairs) for XLA, whose shapes
must not vary. Both return the `Walk` the engine runs: per attributed tensor, each
row's weighted sum of gradients along the path `float32[R, ...]`.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import tensorflow as tf

from keras_ig._engine.path import PathPoints, Walk


def _bcast(w: tf.Tensor, rank: int) -> tf.Tensor:
    """`[rows]` -> `[rows, 1, ..., 1]` to scale a rank-`rank` batch."""
    return tf.reshape(w, tf.concat([[-1], tf.ones([rank - 1], tf.int32)], 0))


def _shaped(acc: list[tf.Tensor], plan: Any, r_total: tf.Tensor) -> list[tf.Tensor]:
    """Flat accumulators `[R, F]` -> `float32[R, ...]` per attributed tensor."""
    return [
        tf.reshape(a, tf.concat([[r_total], tf.constant(s, tf.int32)], 0))
        for a, s in zip(acc, plan.z_shapes, strict=True)
    ]


def path_pairs(path: PathPoints, static: int) -> Walk:
    """The path integral over fixed chunks of `static` (row, step) pairs (XLA).

    The last chunk is padded with zero-weight copies of the last pair.
    """
    plan, _, base, base_index, x_index, z_x, alphas, weights = path
    r_total, m = tf.shape(x_index)[0], tf.shape(alphas)[0]
    total = r_total * m
    z_ranks = [len(s) + 1 for s in plan.z_shapes]

    def pairs(i: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        pair = i * static + tf.range(static)
        return tf.minimum(pair, total - 1), pair < total

    def points(i, ends):
        pair, _ = pairs(i)
        r, step = pair // m, pair % m
        xrows = tf.gather(x_index, r)
        a = tf.gather(alphas, step)
        z = []
        for j, (b, bi) in enumerate(zip(base, base_index, strict=True)):
            b_rows = tf.gather(b, tf.gather(bi, r))
            zx_rows = tf.gather(z_x[j], xrows)
            a_j = _bcast(tf.cast(a, b_rows.dtype), z_ranks[j])
            z.append(b_rows + a_j * (zx_rows - b_rows))
        return xrows, z

    def update(i, scores, grads, ends, acc):
        pair, valid = pairs(i)
        r, step = pair // m, pair % m
        w = tf.gather(weights, step) * tf.cast(valid, tf.float32)
        return [
            tf.tensor_scatter_nd_add(acc_j, r[:, None], g * _bcast(w, z_ranks[j]))
            for j, (acc_j, g) in enumerate(zip(acc, grads, strict=True))
        ]

    acc0 = [
        tf.zeros(tf.concat([[r_total], tf.constant(s, tf.int32)], 0), tf.float32)
        for s in plan.z_shapes
    ]
    return Walk((total + static - 1) // static, points, update, acc0, lambda acc: acc)


class Tiles(NamedTuple):
    """How `R` rows x `m` steps split into tiles of at most `batch_size` pairs.

    A tile is rows `[r0, r1)` at steps `[s0, s1)`: `batch_size // m` whole
    rows when `batch_size >= m`, else one row and `batch_size` steps.
    """

    r_total: tf.Tensor
    m: tf.Tensor
    n_rows: tf.Tensor
    n_steps: tf.Tensor
    step_blocks: tf.Tensor
    count: tf.Tensor

    @classmethod
    def of(cls, x_index: tf.Tensor, alphas: tf.Tensor, batch_size: tf.Tensor) -> Tiles:
        """The tiling of `int32[R]` rows at `float32[m]` alphas."""
        r_total, m = tf.shape(x_index)[0], tf.shape(alphas)[0]
        n_rows = tf.maximum(batch_size // m, 1)
        n_steps = tf.minimum(batch_size, m)
        step_blocks = (m + n_steps - 1) // n_steps
        count = ((r_total + n_rows - 1) // n_rows) * step_blocks
        return cls(r_total, m, n_rows, n_steps, step_blocks, count)

    def tile(self, i: tf.Tensor, x_index: tf.Tensor, alphas: tf.Tensor) -> tuple:
        """Tile `i`: `(rows, rows_n, k, s0, s1, xrows [rows_n * k], alphas [k])`."""
        r0 = (i // self.step_blocks) * self.n_rows
        r1 = tf.minimum(r0 + self.n_rows, self.r_total)
        s0 = (i % self.step_blocks) * self.n_steps
        s1 = tf.minimum(s0 + self.n_steps, self.m)
        rows = tf.range(r0, r1)
        k = s1 - s0
        return rows, r1 - r0, k, s0, s1, tf.repeat(tf.gather(x_index, rows), k), alphas[s0:s1]


def tile_points(path: PathPoints, tiles: Tiles, i: tf.Tensor) -> tuple[tf.Tensor, list]:
    """Tile `i`'s points on the straight line: `(xrows int32[rows * k], z)`.

    One broadcast matmul per attributed tensor, `(alpha, 1) @ (z(x) - z(b),
    z(b))`, gives the tile's `[rows, k, F]` points `z(b) + alpha (z(x) - z(b))`
    in one pass, with no per-pair gather of the path's ends.
    """
    plan, _, base, base_index, x_index, z_x, alphas, _ = path
    rows, rows_n, k, _, _, xrows, a = tiles.tile(i, x_index, alphas)
    coef = tf.stack([a, tf.ones_like(a)], 1)[None]  # [1, k, 2]
    z = []
    for j, (b, bi) in enumerate(zip(base, base_index, strict=True)):
        flat = math.prod(plan.z_shapes[j])
        b_rows = tf.reshape(
            tf.cast(tf.gather(b, tf.gather(bi, rows)), tf.float32), [rows_n, 1, flat]
        )
        zx_rows = tf.reshape(
            tf.cast(tf.gather(z_x[j], tf.gather(x_index, rows)), tf.float32), [rows_n, 1, flat]
        )
        ends_j = tf.concat([zx_rows - b_rows, b_rows], 1)  # [rows, 2, F]
        zj = tf.matmul(coef, ends_j)  # [rows, k, F]: b + a (z(x) - b)
        shape = tf.concat([[rows_n * k], tf.constant(plan.z_shapes[j], tf.int32)], 0)
        z.append(tf.cast(tf.reshape(zj, shape), plan.z_dtypes[j]))
    return xrows, z


def path_tiles(path: PathPoints, batch_size: tf.Tensor) -> Walk:
    """The path integral over tiles of rows x steps (dynamic chunks).

    A tile is rows `[r0, r1)` at steps `[s0, s1)`: `batch_size // m` whole
    rows when `batch_size >= m` (so a tile may hold up to `m - 1` pairs
    fewer than `batch_size`), else one row and `batch_size` steps; pairs
    are visited in the same row-major order as the per-pair loop. A
    tile's path points are one broadcast matmul per row, `(alpha, 1) @
    (z(x) - z(b), z(b))`, and its weighted sum of gradients over steps
    another, `w @ g`: one pass over the chunk each way, no per-pair gather
    of path ends and no per-pair scatter-add (one accumulator row per row
    of the tile instead).
    """
    plan, x_index, alphas, weights = path.plan, path.x_index, path.alphas, path.weights
    tiles = Tiles.of(x_index, alphas, batch_size)
    flat = [math.prod(s) for s in plan.z_shapes]

    def points(i, ends):
        return tile_points(path, tiles, i)

    def update(i, scores, grads, ends, acc):
        rows, rows_n, k, s0, s1, _, _ = tiles.tile(i, x_index, alphas)
        w = tf.reshape(weights[s0:s1], [1, 1, -1])
        new = []
        for j, (acc_j, g) in enumerate(zip(acc, grads, strict=True)):
            g3 = tf.reshape(g, [rows_n, k, flat[j]])
            part = tf.matmul(w, g3)[:, 0]  # [rows, F]: sum over steps of w g
            new.append(tf.tensor_scatter_nd_add(acc_j, rows[:, None], part))
        return new

    acc0 = [tf.zeros([tiles.r_total, f], tf.float32) for f in flat]
    return Walk(tiles.count, points, update, acc0, lambda acc: _shaped(acc, plan, tiles.r_total))
