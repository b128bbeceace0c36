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
and in each step PAIR's selection rounds in closed form (`select`: one sort
per step, then a `tf.while_loop` over the rounds, one masked `[R, F]` sum
each, with a per-row mask for the rows still short of their L1 target). The path state
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

from keras_ig._engine.chunks import gradient, over_chunks, scores
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
                    self.score_fn, model_inputs(rows, zr), zr, tf.gather(row_targets, rows)
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


def select(g, z, attr, zb, zx, diff, moving, safe_diff, a_min, a_max, l1_target, l1_total, rank):
    """One Guided IG step after its gradient: PAIR's selection rounds in closed form.

    PAIR's rounds (per row): catch up to the band, stop if the L1 target is
    met, else take the `rank`-th smallest `|g|` of the features not at the
    band's upper edge (`inf` there) as the threshold, move every feature at
    or below it to the edge, or, if that overshoots the target, by the
    fraction `gamma` of the way that meets it exactly. Within a step `|g|` is
    fixed, so the rounds walk one ascending order of `|g|` over the features
    not at the edge: round j selects the positions `[c_{j-1}, c_j)`, `c_j`
    the end of the run of values equal to the one at `c_{j-1} + rank` (or
    all the rest). Every round ends at the end of a run of equal values, so
    "moved by the rounds up to c" is `|g| <= v[c-1]`: one sort per step
    (values only), then per round one masked sum of `[R, F]` for its L1
    and `[R]`-sized arithmetic, where PAIR sorts and makes a dozen `[R, F]`
    passes per round. The catch-up, the edge and the L1 at the step's start
    do not wait on the gradient (they overlap the model's backward pass).

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
    f = tf.shape(z)[1]
    z_min, z_max = zb + diff * a_min, zb + diff * a_max
    # Where z(x) == z(b) alpha is undefined; PAIR reads it as a_max, never behind the band.
    behind = moving & ((z - zb) / safe_diff < a_min)
    z_c = tf.where(behind, z_min, z)  # catch up to the band (only round 1 can move a feature)
    at_edge = z_c == z_max
    # PAIR sets |g| to inf at the edge; numpy's quantile(|g|, fraction, "lower") is the
    # rank-th smallest. Non-negative float64s order like their bits as int64 (sorted faster).
    a = tf.where(at_edge, tf.constant(math.inf, tf.float64), tf.abs(g))
    bits = tf.bitcast(a, tf.int64)
    ascending = -tf.math.top_k(-bits, k=f)[0]  # [R, F]: the bits of a, ascending
    to_edge = z_max - z_c
    gap = tf.abs(to_edge)
    l1_start = tf.reduce_sum(tf.abs(z_c - zx), 1)
    free = f - tf.reduce_sum(tf.cast(at_edge, tf.int32), 1)  # features not at the edge
    zero = tf.zeros_like(l1_start)

    def round_end(c):
        p = c + rank
        v = tf.gather(ascending, tf.minimum(p, f - 1), batch_dims=1)
        end = tf.searchsorted(ascending, v[:, None], side="right")[:, 0]
        # Past the free features the threshold is inf: PAIR selects all that are left.
        return tf.where(p < free, end, free)

    def round_(i, c, done, active, c_end, gamma_out):
        l1_cur = l1_start - done
        close = tf.abs(l1_target - l1_cur) <= tf.maximum(
            EPSILON * tf.maximum(tf.abs(l1_target), tf.abs(l1_cur)), EPSILON
        )
        go = active & ~close
        end = round_end(c)
        last = tf.gather(ascending, tf.maximum(end - 1, 0), batch_dims=1)
        upto = tf.where(end > 0, last, -1)
        done_end = tf.reduce_sum(tf.where(bits <= upto[:, None], gap, 0.0), 1)
        l1_s = done_end - done
        gamma = tf.where(l1_s > 0, (l1_cur - l1_target) / tf.where(l1_s > 0, l1_s, 1.0), math.inf)
        full, part = go & (gamma > 1.0), go & ~(gamma > 1.0)
        return (
            i + 1,
            tf.where(full, end, c),
            tf.where(full, done_end, done),
            full & (end > c),
            tf.where(part, end, c_end),
            tf.where(part, gamma, gamma_out),
        )

    c0 = tf.zeros_like(free)
    _, c, _, _, c_end, gamma = tf.while_loop(
        lambda i, c, done, active, *_: (i <= f) & tf.reduce_any(active),
        round_,
        [tf.constant(0), c0, zero, l1_total > 0, c0, zero],
        parallel_iterations=1,
    )

    def value_before(pos, default):
        v = tf.bitcast(tf.gather(ascending, tf.maximum(pos - 1, 0), batch_dims=1), tf.float64)
        return tf.where(pos > 0, v, default)

    # Positions [0, c) went to the edge, [c, c_end) moved by gamma (if a round ended short).
    edge_max = value_before(c, tf.fill(tf.shape(l1_start), tf.constant(-1.0, tf.float64)))
    part_max = tf.where(c_end > c, value_before(c_end, edge_max), edge_max)
    moved = z_c + to_edge * gamma[:, None]
    z_new = tf.where(a <= edge_max[:, None], z_max, tf.where(a <= part_max[:, None], moved, z_c))
    # Rows with nothing to do have z_new == z: their term is exactly 0.
    return z_new, attr + (z_new - z) * g
