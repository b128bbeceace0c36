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

from keras_ig._engine.chunks import gradient, over_chunks, scores
from keras_ig._engine.devices import for_strategy_run
from keras_ig._engine.guided_select import nth_smallest as nth_smallest  # re-exported
from keras_ig._engine.guided_select import select
from keras_ig._engine.plan import Plan
from keras_ig._engine.score import ScoreFunction


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

        def grads_of(rows, z_rows):
            """`float64[rows, F]`: dF/dz for path rows `rows` at `z_rows [rows, F]`."""
            rows_n = tf.shape(rows)[0]
            zr = unflatten(z_rows, rows_n, plan.z_dtypes)
            g = gradient(self.score_fn, model_inputs(rows, zr), zr, tf.gather(row_targets, rows))
            return tf.concat([tf.reshape(tf.cast(gj, tf.float64), [rows_n, -1]) for gj in g], 1)

        def grads_at(z):
            def chunk(rows, state):
                g = grads_of(rows, tf.gather(z, rows))
                return [tf.tensor_scatter_nd_update(state[0], rows[:, None], g)]

            # All rows in one chunk skip the chunk loop: a while_loop nested in the
            # steps' loop costs about a third more CPU than the same model call
            # without it (same rows, same batch, so the same gradients).
            return tf.cond(
                r_total <= batch_size,
                lambda: grads_of(tf.range(r_total), z),
                lambda: over_chunks(r_total, batch_size, chunk, [tf.zeros_like(z)])[0],
            )

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
