"""Guided IG's per-step selection: PAIR's rounds for a batch of rows, on `[R, F]`.

A step (see `select`) is a few dozen element-wise ops over `[R, F]` float64
arrays (R path rows, F features) around one selection per round. Run as TF
ops each is its own pass through memory (and on CPU a comparison runs
element by element): at 32 rows of 32 x 32 x 3 that costs more per step than
the model's gradient. From `FUSED_MIN` elements on, the element-wise work is
compiled with XLA into three fused kernels (`start`, `after`, `finish`),
each one loop over `[R, F]`; only the selection (`nth_smallest`) runs as a
TF op between them. Fused or not, they are the same operations on the same
values. The price is one XLA compilation per `[R, F]` shape, on the first
step that runs it; below `FUSED_MIN` (where fusing saves little) none.
"""

from __future__ import annotations

import math

import tensorflow as tf

# PAIR's tolerance on reaching a step's L1 target (math.isclose, rel and abs).
EPSILON = 1e-9
# The fewest `R * F` elements whose step runs the XLA-fused kernels (see the docstring).
FUSED_MIN = 1 << 14


def _inf() -> tf.Tensor:
    return tf.bitcast(tf.constant(math.inf, tf.float64), tf.int64)


def nth_smallest(bits: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """`int64[R]`: the `n`-th smallest (from 0) of each row of `bits [R, F]`.

    On CPU `NthElement` (a selection, linear in F) is several times faster
    than a sort; elsewhere (no `NthElement` kernel) the `n + 1` smallest by `top_k`.
    """
    if tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"):
        return -tf.math.top_k(-bits, k=n + 1)[0][:, -1]
    return tf.raw_ops.NthElement(input=bits, n=n)


def start(g, z, zb, zx, diff, moving, safe_diff, a_min, a_max):
    """The step's start: catch up to the band, `|g|` as bits (inf at the edge), the gaps."""
    z_min, z_max = zb + diff * a_min, zb + diff * a_max
    # Where z(x) == z(b) alpha is undefined; PAIR reads it as a_max, never behind the band.
    behind = moving & ((z - zb) / safe_diff < a_min)
    z_c = tf.where(behind, z_min, z)  # catch up to the band (later rounds find none behind)
    bits = tf.where(z_c == z_max, _inf(), tf.bitcast(tf.abs(g), tf.int64))  # inf at the edge
    to_edge = z_max - z_c
    gap = tf.abs(to_edge)  # 0 exactly at the edge
    return z_max, z_c, bits, to_edge, gap, tf.reduce_sum(tf.abs(z_c - zx), 1)


def after(bits, gap, t, l1_start, l1_target, upto, done, active, part_upto, gamma_out):
    """A round after its threshold `t`: the new round state, and the next round's bits."""
    l1_cur = l1_start - done
    close = tf.abs(l1_target - l1_cur) <= tf.maximum(
        EPSILON * tf.maximum(tf.abs(l1_target), tf.abs(l1_cur)), EPSILON
    )
    go = active & ~close
    inf = _inf()
    t = tf.minimum(t, inf - 1)  # an inf threshold selects every feature not at the edge
    below = bits <= t[:, None]
    done_t = tf.reduce_sum(tf.where(below, gap, tf.zeros_like(gap)), 1)
    l1_s = done_t - done
    gamma = tf.where(l1_s > 0, (l1_cur - l1_target) / tf.where(l1_s > 0, l1_s, 1.0), math.inf)
    full, part = go & (gamma > 1.0), go & ~(gamma > 1.0)
    state = (
        tf.where(full, t, upto),
        tf.where(full, done_t, done),
        # A full round that moves nothing changes nothing again: PAIR would loop forever.
        full & (l1_s > 0),
        tf.where(part, t, part_upto),
        tf.where(part, gamma, gamma_out),
    )
    # The features moved to the edge count as inf in the next round, as in PAIR; only
    # the rows full in this round go on, and for them `upto` is this round's `t`.
    return state, tf.where(below, inf, bits)


def finish(g, z, attr, bits, z_c, z_max, to_edge, upto, part_upto, gamma):
    """The step's end: every feature to the edge, part of the way, or left; the new term."""
    moved = z_c + to_edge * gamma[:, None]
    z_new = tf.where(bits <= upto[:, None], z_max, tf.where(bits <= part_upto[:, None], moved, z_c))
    # Rows with nothing to do have z_new == z: their term is exactly 0.
    return z_new, attr + (z_new - z) * g


KERNELS = {
    False: (start, after, finish),
    True: tuple(tf.function(k, jit_compile=True, autograph=False) for k in (start, after, finish)),
}


def select(g, z, attr, zb, zx, diff, moving, safe_diff, *rest):
    """One Guided IG step after its gradient: PAIR's selection rounds, all rows at once.

    PAIR's rounds (per row): catch up to the band, stop if the L1 target is
    met, else set `|g|` to inf at the band's upper edge, take numpy's
    `quantile(|g|, fraction, "lower")` (the `rank`-th smallest) as the
    threshold, move every feature at or below it (not at the edge) to the
    edge, or, if that overshoots the target, by the fraction `gamma` of the
    way that meets it exactly. Within a step `|g|` is fixed and only the
    first round's catch-up moves a feature back into the band, so the
    features moved to the edge by the rounds so far are those with
    `|g| <= t`, `t` the last full round's threshold: a round is one
    selection (`nth_smallest`, no sort) and one fused pass over `[R, F]`;
    the rest is `[R]`-sized. Non-negative float64s order like their bits as
    int64, so thresholds are compared as bits.

    Args:
        g: `float64[R, F]`, dF/dz at the step's start `z` (`[R, F]`).
        attr: `[R, F]`, the attributions so far.
        zb, zx, diff: `[R, F]`: the baselines, the inputs and their difference.
        moving: `bool[R, F]`, `diff != 0`; `safe_diff` is `diff` there, else 1.
        a_min, a_max: `float64[]`, the step's band in alpha.
        l1_target: `float64[R]`, the L1 distance to the input to reach.
        l1_total: `float64[R]`, the baseline's L1 distance to the input.
        rank: `int32[]`, the quantile's index among the F sorted values
            (`rest` is `a_min, a_max, l1_target, l1_total, rank`).

    Returns:
        `(z, attr)` at the step's end.
    """
    return tf.cond(
        tf.size(z) >= FUSED_MIN,
        lambda: _select(True, g, z, attr, zb, zx, diff, moving, safe_diff, *rest),
        lambda: _select(False, g, z, attr, zb, zx, diff, moving, safe_diff, *rest),
    )


def _select(
    fused, g, z, attr, zb, zx, diff, moving, safe_diff, a_min, a_max, l1_target, l1_total, rank
):
    """`select` with the XLA-fused kernels (`fused`) or as plain TF ops."""
    start_, after_, finish_ = KERNELS[fused]
    z_max, z_c, bits, to_edge, gap, l1_start = start_(
        g, z, zb, zx, diff, moving, safe_diff, a_min, a_max
    )
    none = -tf.ones_like(l1_start, tf.int64)  # a threshold below every |g|

    def round_(masked, *state):
        return after_(bits, gap, nth_smallest(masked, rank), l1_start, l1_target, *state)

    # PAIR's steps mostly take one or two rounds: those run unrolled (a round is a
    # no-op for rows already done), the loop (and its overhead) only for the rest.
    # Each full round moves >= 1 feature to the edge: at most F + 1 rounds.
    zero = tf.zeros_like(l1_start)
    state, masked = round_(bits, none, zero, l1_total > 0, none, zero)
    state, masked = round_(masked, *state)

    def more_rounds():
        def body(i, masked, *state):
            state, masked = round_(masked, *state)
            return (i + 1, masked, *state)

        return tuple(
            tf.while_loop(
                lambda i, masked, upto, done, active, *_: (
                    (i <= tf.shape(z)[1]) & tf.reduce_any(active)
                ),
                body,
                [tf.constant(2), masked, *state],
                parallel_iterations=1,
            )[2:]
        )

    upto, _, _, part_upto, gamma = tf.cond(
        tf.reduce_any(state[2]), more_rounds, lambda: tuple(state)
    )
    return finish_(g, z, attr, bits, z_c, z_max, to_edge, upto, part_upto, gamma)
