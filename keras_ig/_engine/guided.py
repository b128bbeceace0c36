"""The compiled Guided IG engine (Kapishnikov et al., CVPR 2021).

Guided IG walks from the baseline to the input along an adaptive path: at
step s of `steps` every feature must be within `max_dist` (in alpha) of the
straight line's `alpha = (s + 1) / steps`, and the path's L1 distance to
the input must shrink to `(1 - alpha)` of the total; the features moved
first are the `fraction` with the smallest `|dF/dz|`, all the way to the
upper edge of the band, until the step's L1 target is met. The attribution
is `sum_steps (z_new - z_old) * dF/dz(z_old)`.

PAIR saliency runs this one example at a time in numpy. Here one
`tf.function` runs a whole batch of rows, in blocks of at most `batch_size`
rows (on CPU each block as two halves, each with its own loop, running at
once): a `tf.while_loop` over steps (one gradient of the block's rows per
step), and in each step PAIR's selection rounds (each one selection of the
quantile, no sort, and one masked `[R, F]` sum; the first two unrolled, a
second `tf.while_loop` for any more), with a per-row mask for the rows
still short of their L1 target. The path is held in alpha (feature f of
row r at `zb + a * (zx - zb)`) in float64, as PAIR's path is, so both make
the same selections; the gradient, and the bits the selection compares,
stay in the model's dtype.

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

from keras_ig._engine.chunks import accelerated, gradient_function, over_chunks, scores
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

        # 3. The guided path over rows [R, F] of every attributed tensor's features, in
        # alpha: feature f of row r sits at z = zb + a * (zx - zb), float64 as PAIR's path.
        # A float32 path is ~1 ulp off PAIR's z, enough to flip near-ties in |g| (5-13% of
        # one image's peak in 32, measured); the gradient stays in the model's dtype, so the
        # selection's bits are int32 for a float32 model.
        def flat(parts, dtype):
            return tf.concat([tf.reshape(tf.cast(p, dtype), [r_total, -1]) for p in parts], 1)

        g_dtype = tf.float64 if tf.float64 in plan.z_dtypes else tf.float32
        zx = flat([tf.gather(zj, x_index) for zj in z_x], tf.float64)
        zb = flat(base, tf.float64)
        diff = zx - zb
        absdiff = tf.abs(diff)  # 0 where z(x) == z(b): such a feature is always at the edge
        l1_total = tf.reduce_sum(absdiff, 1)
        steps_f = tf.cast(steps, tf.float64)

        def unflatten(rows_z, rows_n, dtypes):
            return [
                tf.cast(tf.reshape(part, tf.concat([[rows_n], shape], 0)), dtype)
                for part, shape, dtype in zip(
                    tf.split(rows_z, sizes, axis=1), plan.z_shapes, dtypes, strict=True
                )
            ]

        halves = not accelerated()
        # One gradient function for every place the graph calls it: the model traced once.
        grad_fn = gradient_function(self.score_fn, lambda z, rows: model_inputs(rows, z), halves)

        def part(lo, hi):
            """Path rows `lo:hi` (slices along the first axis share the tensors' buffers)."""
            rows = tf.range(lo, hi)
            return {
                "rows": rows,
                "n": hi - lo,
                "zb": zb[lo:hi],
                "diff": diff[lo:hi],
                "absdiff": absdiff[lo:hi],
                "l1": l1_total[lo:hi],
                "targets": tf.gather(row_targets, rows),
            }

        def grad_at(p, a):
            """dF/dz `[rows, F]` (`g_dtype`) for part `p` at alpha `a`, in one chunk."""
            z = unflatten(p["zb"] + p["diff"] * a, p["n"], plan.z_dtypes)
            g = grad_fn(z, p["targets"], p["rows"])
            return tf.concat([tf.reshape(tf.cast(gj, g_dtype), [p["n"], -1]) for gj in g], 1)

        def advance(p, s, g, a, acc):
            """Step `s`'s selection for part `p`: `(a, acc)` at the step's end."""
            alpha = (tf.cast(s, tf.float64) + 1.0) / steps_f
            a_min = tf.maximum(alpha - max_dist, 0.0)
            a_max = tf.minimum(alpha + max_dist, 1.0)
            return select(g, a, acc, p["absdiff"], a_min, a_max, p["l1"], 1.0 - alpha, rank)

        def walk(lo, hi):
            """`acc [hi - lo, F]` (float64) for path rows `lo:hi`."""
            p = part(lo, hi)
            _, _, acc = tf.while_loop(
                lambda s, *_: s < steps,
                lambda s, a, acc: (s + 1, *advance(p, s, grad_at(p, a), a, acc)),
                [tf.constant(0), tf.zeros_like(p["zb"]), tf.zeros_like(p["zb"])],
                parallel_iterations=1,
            )
            return acc

        def block(rows, state):
            # A row's path depends on no other row's: blocks of batch_size rows walk all
            # steps one after another (a block's [rows, F] state is small enough to stay in
            # cache). On CPU a block walks as two halves at once, in two loops, so one
            # half's selection can run while the other's model does; the two chunks in
            # flight hold the block's rows: within batch_size. At 128 images this cut the
            # call by 13% (3.96 -> 3.45 s, bench CNN, 64 steps; in-process medians).
            lo = rows[0]
            hi = lo + tf.shape(rows)[0]
            if not halves:
                acc = walk(lo, hi)
            else:
                mid = lo + first_half(hi - lo)
                acc = tf.concat(
                    [
                        walk(lo, mid),
                        tf.cond(
                            hi > mid,
                            lambda: walk(mid, hi),
                            lambda: tf.zeros([0, sum(sizes)], tf.float64),
                        ),
                    ],
                    0,
                )
            return [state[0].write(lo // batch_size, acc)]

        n_blocks = (r_total + batch_size - 1) // batch_size
        accs = tf.TensorArray(
            tf.float64, size=n_blocks, infer_shape=False, element_shape=[None, sum(sizes)]
        )
        acc = over_chunks(r_total, batch_size, block, [accs])[0].concat()
        return {
            "attributions": unflatten(diff * acc, r_total, [tf.float32] * len(sizes)),
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


def first_half(rows):
    """The rows of a block of `rows` (an int or `int32[]`) that walk in its first half."""
    return (rows + 1) // 2


def nth_smallest(bits: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """`[R]`: the `n`-th smallest (from 0) of each row of `bits [R, F]` (int32 or int64).

    On CPU `NthElement` (a selection, linear in F) is several times faster
    than a sort; elsewhere (no `NthElement` kernel) the `n + 1` smallest by `top_k`.
    """
    if accelerated():
        return -tf.math.top_k(-bits, k=n + 1)[0][:, -1]
    return tf.raw_ops.NthElement(input=bits, n=n)


def select(g, a, acc, absdiff, a_min, a_max, l1_total, left, rank):
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
    the rest is `[R]`-sized. Non-negative floats order like their bits as
    integers, so thresholds are compared as bits (int32 for a float32
    gradient: half the traffic of float64, and exact, as `|g|` is what PAIR
    compares). The path is held in alpha, so the band is two scalars and a
    feature's L1 room to the edge is `|zx - zb| * (a_max - a)`.

    Args:
        g: `[R, F]`, dF/dz at the step's start `zb + a * (zx - zb)` (float32,
            or float64 for a float64 model).
        a: `[R, F]`, each feature's alpha at the step's start.
        acc: `[R, F]`, `sum (a_new - a) * g` over the steps so far (the
            attributions are `(zx - zb) * acc`).
        absdiff: `[R, F]`, `|zx - zb|`.
        a_min, a_max: `[]`, the step's band in alpha.
        l1_total: `[R]`, the baseline's L1 distance to the input.
        left: `[]`, the share of `l1_total` to be left after the step.

        All floats but `g` are float64.
        rank: `int32[]`, the quantile's index among the F sorted values.

    Returns:
        `(a, acc)` at the step's end.
    """
    l1_target = l1_total * left
    a_c = tf.maximum(a, a_min)  # catch up to the band (later rounds find none behind)
    to_edge = a_max - a_c
    gap = absdiff * to_edge  # L1 room to the edge: 0 exactly at it, and where zx == zb
    # PAIR's |z - zx| summed: the room to the edge plus the edge's own distance to x.
    l1_start = l1_total * (1.0 - a_max) + tf.reduce_sum(gap, 1)
    int_type = tf.int64 if g.dtype == tf.float64 else tf.int32
    inf = tf.bitcast(tf.constant(math.inf, g.dtype), int_type)
    # These do not wait on the gradient: they overlap the model's backward pass.
    bits = tf.where(gap > 0, tf.bitcast(tf.abs(g), int_type), inf)  # inf at the edge
    no_gap = tf.constant(0.0, gap.dtype)  # broadcast by `where`: no [R, F] of zeros per step
    zero = tf.zeros_like(l1_start)
    none = -tf.ones_like(l1_start, int_type)  # a threshold below every |g|

    def round_(upto, done, active, part_upto, gamma_out, masked=None):
        """One round; `masked`: `bits` with the features at or below `upto` set to inf."""
        l1_cur = l1_start - done
        close = tf.abs(l1_target - l1_cur) <= tf.maximum(
            EPSILON * tf.maximum(tf.abs(l1_target), tf.abs(l1_cur)), EPSILON
        )
        go = active & ~close
        # The features already moved to the edge count as inf, as in PAIR.
        if masked is None:
            masked = tf.where(bits <= upto[:, None], inf, bits)
        t = nth_smallest(masked, rank)
        t = tf.minimum(t, inf - 1)  # an inf threshold selects every feature not at the edge
        chosen = bits <= t[:, None]
        done_t = tf.reduce_sum(tf.where(chosen, gap, no_gap), 1)
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
        ), chosen

    # PAIR's steps mostly take two rounds (a full one, then a partial one): those run
    # unrolled (a round is a no-op for rows already done), the loop only for the rest.
    # Each full round moves >= 1 feature to the edge: at most F + 1 rounds.
    # The first round has none at the edge yet; the second masks the first's choice (in
    # rows where the first was not a full round the second is a no-op).
    state, chosen = round_(none, zero, l1_total > 0, none, zero, masked=bits)
    state, _ = round_(*state, masked=tf.where(chosen, inf, bits))
    _, upto, _, _, part_upto, gamma = tf.while_loop(
        lambda i, upto, done, active, *_: (i <= tf.shape(a)[1]) & tf.reduce_any(active),
        lambda i, *state: (i + 1, *round_(*state)[0]),
        [tf.constant(2), *state],
        parallel_iterations=1,
    )
    moved = a_c + to_edge * gamma[:, None]
    a_new = tf.where(bits <= upto[:, None], a_max, tf.where(bits <= part_upto[:, None], moved, a_c))
    # Rows with nothing to do keep a_new == a: their term is exactly 0.
    return a_new, acc + (a_new - a) * tf.cast(g, a.dtype)
