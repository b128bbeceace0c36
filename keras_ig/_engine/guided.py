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
and in each step PAIR's selection rounds (each one selection of the
quantile, no sort, and one masked `[R, F]` sum; the first two unrolled, a
second `tf.while_loop` for any more), with a per-row mask for the rows
still short of their L1 target. The path state
is float64, as PAIR's, so both follow the same path.

Shapes: N inputs; R = N * K rows (input n, baseline k at r = n * K + k);
F features of one row of the attributed tensors z (the inputs on the path,
or the `layer=` output), flattened and concatenated: for a multi-input
model the path, the band and the quantile run over all of them jointly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from keras_ig._engine.chunks import accelerated, gradient, over_chunks, scores
from keras_ig._engine.devices import for_strategy_run
from keras_ig._engine.plan import Plan
from keras_ig._engine.score import ScoreFunction

# PAIR's tolerance on reaching a step's L1 target (math.isclose, rel and abs).
EPSILON = 1e-9


class GuidedEngine:
    """Guided IG for one `ScoreFunction`; one graph per input and z signature."""

    def __init__(self, score_fn: ScoreFunction) -> None:
        self.score_fn = score_fn
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0

    def _run(self, plan: Plan, x, x_index, base, targets, steps, rank, max_dist, batch_size):
        self.traces += 1
        layer_mode = self.score_fn.layer is not None
        n, r_total = tf.shape(x[0])[0], tf.shape(x_index)[0]
        sizes = [math.prod(shape) for shape in plan.z_shapes]

        def pack(flat):
            return (
                flat[0]
                if plan.structure is None
                else tf.nest.pack_sequence_as(plan.structure, list(flat))
            )

        def model_inputs(rows, z):
            """The model's inputs for path rows `rows` with the attributed tensors at `z`."""
            flat = [tf.gather(leaf, tf.gather(x_index, rows)) for leaf in x]
            if not layer_mode:
                for i, zi in zip(plan.interpolated, z, strict=True):
                    flat[i] = zi
            return pack(flat)

        # 1. F(x), its resolved targets, and z at x (the layer's output with layer=).
        def forward(rows, state):
            inputs = pack([tf.gather(leaf, rows) for leaf in x])
            s, resolved, calls = scores(self.score_fn, inputs, tf.gather(targets, rows))
            new = [s, resolved] + ([tf.cast(calls[0], plan.z_dtypes[0])] if layer_mode else [])
            return [
                tf.tensor_scatter_nd_update(v, rows[:, None], u)
                for v, u in zip(state, new, strict=True)
            ]

        init = [tf.zeros([n], tf.float32), tf.zeros([n], tf.int32)]
        if layer_mode:
            init.append(tf.zeros(tf.concat([[n], plan.z_shapes[0]], 0), plan.z_dtypes[0]))
        fwd = over_chunks(n, batch_size, forward, init)
        score_x, resolved = fwd[0], fwd[1]
        z_x = [fwd[2]] if layer_mode else [x[i] for i in plan.interpolated]
        row_targets = tf.gather(resolved, x_index)

        # 2. F(baseline) per row.
        def at_base(rows, state):
            z = [tf.gather(b, rows) for b in base]
            s, _, _ = scores(
                self.score_fn,
                model_inputs(rows, z),
                tf.gather(row_targets, rows),
                z[0] if layer_mode else None,
            )
            return [tf.tensor_scatter_nd_update(state[0], rows[:, None], s)]

        (score_b,) = over_chunks(r_total, batch_size, at_base, [tf.zeros([r_total], tf.float32)])

        # 3. The guided path, in float64 over rows [R, F] of every attributed tensor's features.
        def flat64(parts):
            return tf.concat([tf.reshape(tf.cast(p, tf.float64), [r_total, -1]) for p in parts], 1)

        zx = flat64([tf.gather(zj, x_index) for zj in z_x])
        zb = flat64(base)
        diff = zx - zb
        moving = diff != 0  # where alpha is defined (PAIR: NaN elsewhere)
        safe_diff = tf.where(moving, diff, 1.0)
        l1_total = tf.reduce_sum(tf.abs(diff), 1)
        steps_f = tf.cast(steps, tf.float64)

        def unflatten(rows_z, rows_n, dtypes):
            return [
                tf.cast(tf.reshape(part, tf.concat([[rows_n], shape], 0)), dtype)
                for part, shape, dtype in zip(
                    tf.split(rows_z, sizes, axis=1), plan.z_shapes, dtypes, strict=True
                )
            ]

        def grads_at(z):
            def chunk(rows, state):
                rows_n = tf.shape(rows)[0]
                zr = unflatten(tf.gather(z, rows), rows_n, plan.z_dtypes)
                g = gradient(
                    self.score_fn,
                    lambda zz: model_inputs(rows, zz),
                    zr,
                    tf.gather(row_targets, rows),
                )
                g = tf.concat([tf.reshape(tf.cast(gj, tf.float64), [rows_n, -1]) for gj in g], 1)
                return [tf.tensor_scatter_nd_update(state[0], rows[:, None], g)]

            return over_chunks(r_total, batch_size, chunk, [tf.zeros_like(z)])[0]

        def step(s, z, attr):
            g = grads_at(z)
            alpha = (tf.cast(s, tf.float64) + 1.0) / steps_f
            a_min = tf.maximum(alpha - max_dist, 0.0)
            a_max = tf.minimum(alpha + max_dist, 1.0)
            l1_target = l1_total * (1.0 - (tf.cast(s, tf.float64) + 1.0) / steps_f)
            z, attr = select(
                g, z, attr, zb, zx, diff, moving, safe_diff, a_min, a_max, l1_target, l1_total, rank
            )
            return s + 1, z, attr

        _, _, attr = tf.while_loop(
            lambda s, *_: s < steps,
            step,
            [tf.constant(0), zb, tf.zeros_like(zb)],
            parallel_iterations=1,
        )
        return {
            "attributions": unflatten(attr, r_total, [tf.float32] * len(sizes)),
            "scores": score_x,
            "baseline_scores": score_b,
            "targets": resolved,
        }

    def replicated(self, plan: Plan) -> Callable:
        """`compiled`'s graph for `strategy.run` (see `devices.for_strategy_run`)."""
        key = ("replicated", plan)
        fn = self._compiled.get(key)
        if fn is None:
            fn = for_strategy_run(self.compiled(plan))
            self._compiled[key] = fn
        return fn

    def compiled(self, plan: Plan) -> Callable:
        """The `tf.function` for `plan` (batch dimensions open), built once.

        Its arguments: `x`, the flat inputs `[N, ...]`; `x_index int32[R]`;
        `base`, per attributed tensor each row's baseline `[R, *z_shape]`;
        `targets int32[N]`; `steps int32[]`; `rank int32[]` (the index of
        numpy's `quantile(..., method="lower")` among a row's sorted `F`
        values, F the features of all attributed tensors); `max_dist
        float64[]`; `batch_size int32[]`.
        """
        fn = self._compiled.get(plan)
        if fn is not None:
            return fn
        i32 = tf.int32
        signature = [
            [
                tf.TensorSpec((None, *s), d)
                for s, d in zip(plan.row_shapes, plan.dtypes, strict=True)
            ],
            tf.TensorSpec((None,), i32),
            [
                tf.TensorSpec((None, *s), d)
                for s, d in zip(plan.z_shapes, plan.z_dtypes, strict=True)
            ],
            tf.TensorSpec((None,), i32),
            tf.TensorSpec((), i32),
            tf.TensorSpec((), i32),
            tf.TensorSpec((), tf.float64),
            tf.TensorSpec((), i32),
        ]

        def graph(x, x_index, base, targets, steps, rank, max_dist, batch_size):
            return self._run(plan, x, x_index, base, targets, steps, rank, max_dist, batch_size)

        fn = tf.function(graph, input_signature=signature, autograph=False)
        self._compiled[plan] = fn
        return fn


def nth_smallest(bits: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """`int64[R]`: the `n`-th smallest (from 0) of each row of `bits [R, F]`.

    On CPU `NthElement` (a selection, linear in F) is several times faster
    than a sort; elsewhere (no `NthElement` kernel) the `n + 1` smallest by `top_k`.
    """
    if accelerated():
        return -tf.math.top_k(-bits, k=n + 1)[0][:, -1]
    return tf.raw_ops.NthElement(input=bits, n=n)


def select(g, z, attr, zb, zx, diff, moving, safe_diff, a_min, a_max, l1_target, l1_total, rank):
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
    selection (`nth_smallest`, no sort) and one masked sum over `[R, F]`;
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
        rank: `int32[]`, the quantile's index among the F sorted values.

    Returns:
        `(z, attr)` at the step's end.
    """
    z_min, z_max = zb + diff * a_min, zb + diff * a_max
    # Where z(x) == z(b) alpha is undefined; PAIR reads it as a_max, never behind the band.
    behind = moving & ((z - zb) / safe_diff < a_min)
    z_c = tf.where(behind, z_min, z)  # catch up to the band (later rounds find none behind)
    # These do not wait on the gradient: they overlap the model's backward pass.
    inf = tf.bitcast(tf.constant(math.inf, tf.float64), tf.int64)
    bits = tf.where(z_c == z_max, inf, tf.bitcast(tf.abs(g), tf.int64))  # inf at the edge
    to_edge = z_max - z_c
    gap = tf.abs(to_edge)  # 0 exactly at the edge
    no_gap = tf.zeros_like(gap)
    l1_start = tf.reduce_sum(tf.abs(z_c - zx), 1)
    zero = tf.zeros_like(l1_start)
    none = -tf.ones_like(l1_start, tf.int64)  # a threshold below every |g|

    def round_(upto, done, active, part_upto, gamma_out, first=False):
        l1_cur = l1_start - done
        close = tf.abs(l1_target - l1_cur) <= tf.maximum(
            EPSILON * tf.maximum(tf.abs(l1_target), tf.abs(l1_cur)), EPSILON
        )
        go = active & ~close
        # The features already moved to the edge count as inf, as in PAIR (none yet
        # in the first round, whose `upto` is below every |g|).
        t = nth_smallest(bits if first else tf.where(bits <= upto[:, None], inf, bits), rank)
        t = tf.minimum(t, inf - 1)  # an inf threshold selects every feature not at the edge
        done_t = tf.reduce_sum(tf.where(bits <= t[:, None], gap, no_gap), 1)
        l1_s = done_t - done
        gamma = tf.where(l1_s > 0, (l1_cur - l1_target) / tf.where(l1_s > 0, l1_s, 1.0), math.inf)
        full, part = go & (gamma > 1.0), go & ~(gamma > 1.0)
        return (
            tf.where(full, t, upto),
            tf.where(full, done_t, done),
            # A full round that moves nothing changes nothing again: PAIR would loop forever.
            full & (l1_s > 0),
            tf.where(part, t, part_upto),
            tf.where(part, gamma, gamma_out),
        )

    # PAIR's steps mostly take one or two rounds: those run unrolled (a round is a
    # no-op for rows already done), the loop (and its overhead) only for the rest.
    # Each full round moves >= 1 feature to the edge: at most F + 1 rounds.
    state = round_(*round_(none, zero, l1_total > 0, none, zero, first=True))
    _, upto, _, _, part_upto, gamma = tf.while_loop(
        lambda i, upto, done, active, *_: (i <= tf.shape(z)[1]) & tf.reduce_any(active),
        lambda i, *state: (i + 1, *round_(*state)),
        [tf.constant(2), *state],
        parallel_iterations=1,
    )
    moved = z_c + to_edge * gamma[:, None]
    z_new = tf.where(bits <= upto[:, None], z_max, tf.where(bits <= part_upto[:, None], moved, z_c))
    # Rows with nothing to do have z_new == z: their term is exactly 0.
    return z_new, attr + (z_new - z) * g
