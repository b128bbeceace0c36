"""Expected Gradients (Erion et al.) / GradientSHAP on the compiled engine.

For each of `samples` draws per input, a background row `b` (uniform over
the background) and `alpha ~ U(0, 1)` are drawn on device with a stateless
RNG (the same seed gives the same draws, whatever `batch_size`); the draw's
attribution is `(x - b) * dF/dz(b + alpha (x - b))`, and the host averages
the draws. With `stdev > 0`, x gets Gaussian noise per draw first
(GradientSHAP): `x` above is then `x + noise`. The background is a graph
argument, so one graph serves every background size. F over the whole
background, `mean_b F(b)` per input, is what the completeness gap is
measured against (`baseline_scores`).

Shapes: N inputs, S draws each, R = N * S rows (row r = n * S + s), B
background rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import tensorflow as tf

from keras_ig._engine.chunks import chunk_loop
from keras_ig._engine.integral import Engine
from keras_ig._engine.plan import Plan


class ExpectedGradients:
    """Expected Gradients for an `Engine`'s F, one graph per (plan, noisy)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0

    def _graph(
        self,
        plan: Plan,
        noisy: bool,
        x: list[tf.Tensor],
        background: list[tf.Tensor],
        samples: tf.Tensor,
        seed: tf.Tensor,
        stdev: tf.Tensor,
        targets: tf.Tensor,
        batch_size: tf.Tensor,
    ) -> dict[str, Any]:
        self.traces += 1
        engine = self.engine
        scores, resolved, z_x = engine.forward_pass(plan, x, targets, batch_size)
        n = tf.shape(targets)[0]
        b_total = tf.shape(background[0])[0]

        # mean_b F(b) per input: every (input, background row) pair, forward only.
        def at_background(rows, valid, state):
            xrows, brows = rows // b_total, rows % b_total
            z = [tf.gather(bg, brows) for bg in background]
            s, _, _ = engine._run(plan, x, xrows, z, tf.gather(resolved, xrows))
            return [tf.tensor_scatter_nd_add(state[0], xrows[:, None], s)]

        (b_sum,) = chunk_loop(n * b_total, batch_size, None, at_background, [tf.zeros([n])])
        base_mean = b_sum / tf.cast(b_total, tf.float32)

        # The draws, for all rows at once, so that chunking cannot change them.
        r_total = n * samples
        x_index = tf.range(r_total) // samples
        keys = tf.random.experimental.stateless_split(seed, 2 + len(background))
        draws = tf.random.stateless_uniform(
            [r_total], keys[0], minval=0, maxval=b_total, dtype=tf.int32
        )
        alphas = tf.random.stateless_uniform([r_total], keys[1])
        noise = []
        if noisy:
            for j, shape in enumerate(plan.z_shapes):
                full = tf.concat([[r_total], tf.constant(shape, tf.int32)], 0)
                noise.append(tf.random.stateless_normal(full, keys[2 + j]) * stdev)
        flat = [math.prod(s) for s in plan.z_shapes]

        def chunk(rows, valid, acc):
            xrows = tf.gather(x_index, rows)
            a = tf.gather(alphas, rows)[:, None]
            z, diffs = [], []
            for j, bg in enumerate(background):
                rows_n = tf.shape(rows)[0]
                end = tf.reshape(tf.cast(tf.gather(z_x[j], xrows), tf.float32), [rows_n, -1])
                if noisy:
                    end += tf.reshape(tf.gather(noise[j], rows), [rows_n, -1])
                start = tf.reshape(
                    tf.cast(tf.gather(bg, tf.gather(draws, rows)), tf.float32), [rows_n, -1]
                )
                diffs.append(end - start)
                shape = tf.concat([[rows_n], tf.constant(plan.z_shapes[j], tf.int32)], 0)
                z.append(tf.cast(tf.reshape(start + a * (end - start), shape), plan.z_dtypes[j]))
            _, grads = engine.scores_and_gradients(plan, x, xrows, z, tf.gather(resolved, xrows))
            return [
                tf.tensor_scatter_nd_update(acc_j, rows[:, None], tf.reshape(g, [-1, f]) * d)
                for acc_j, g, d, f in zip(acc, grads, diffs, flat, strict=True)
            ]

        acc0 = [tf.zeros([r_total, f]) for f in flat]
        acc = chunk_loop(r_total, batch_size, None, chunk, acc0)
        return {
            "attributions": [
                tf.reshape(a, tf.concat([[r_total], tf.constant(s, tf.int32)], 0))
                for a, s in zip(acc, plan.z_shapes, strict=True)
            ],
            "scores": scores,
            "baseline_scores": tf.repeat(base_mean, samples),
            "targets": resolved,
            "draws": draws,
        }

    def compiled(self, plan: Plan, noisy: bool) -> Callable:
        """The `tf.function` for `plan` (noise added or not); batch dimensions open."""
        key = (plan, noisy)
        fn = self._compiled.get(key)
        if fn is None:
            x_spec = [
                tf.TensorSpec((None, *s), d)
                for s, d in zip(plan.row_shapes, plan.dtypes, strict=True)
            ]
            z_spec = [
                tf.TensorSpec((None, *s), d)
                for s, d in zip(plan.z_shapes, plan.z_dtypes, strict=True)
            ]
            scalar = tf.TensorSpec((), tf.int32)
            signature = [
                x_spec,
                z_spec,
                scalar,
                tf.TensorSpec((2,), tf.int32),
                tf.TensorSpec((), tf.float32),
                tf.TensorSpec((None,), tf.int32),
                scalar,
            ]

            def graph(x, background, samples, seed, stdev, targets, batch_size):
                return self._graph(
                    plan, noisy, x, background, samples, seed, stdev, targets, batch_size
                )

            fn = tf.function(graph, input_signature=signature, autograph=False)
            self._compiled[key] = fn
        return fn

    def replicated(self, plan: Plan, noisy: bool) -> Callable:
        """The graph for `strategy.run` (see `Engine.replicated`)."""
        key = ("replicated", plan, noisy)
        fn = self._compiled.get(key)
        if fn is None:
            inner = self.compiled(plan, noisy)
            fn = tf.function(lambda *args: inner(*args), reduce_retracing=True, autograph=False)
            self._compiled[key] = fn
        return fn
