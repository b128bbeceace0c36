"""The compiled Integrated Gradients engine.

One `tf.function` per input signature (batch dimension left open) does the
whole job for a batch in one `tf.while_loop` of chunks (`Engine.one_loop`):
first F at the inputs (targets resolved there) and F at the baselines,
forward only, then the path integral, walking the `R * m` (row, step) pairs
in chunks of at most `batch_size` rows and adding the weighted gradients
into an accumulator as it goes. Every chunk calls the model at the same
place, so a deep model is traced once. Memory is bounded by the chunk, not
by `steps` or by the number of inputs, and the host sees one call. Under
XLA, run eagerly, or with `layer=`, the end points keep loops of their own.

Shapes used throughout:
    N: inputs; K: baselines per input; R = N * K rows (row r = n * K + k);
    m: quadrature points; z: the attributed tensors (the interpolated inputs,
    or the attribution layer's output), each `[*, ...]`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from keras_ig._engine import chunks, straight
from keras_ig._engine.chunks import chunk_loop
from keras_ig._engine.path import Ends, PathIntegral, PathPoints, Walk
from keras_ig._engine.plan import Plan
from keras_ig._engine.score import ScoreFunction


def _zeros(rows: tf.Tensor, shape: tuple, dtype: tf.DType) -> tf.Tensor:
    return tf.zeros(tf.concat([[rows], tf.constant(shape, tf.int32)], 0), dtype)


# What the engine does with the path integral `acc` of a row (`Engine.finish`):
# "multiply": `acc * (z(x) - z(b))`, Integrated Gradients; "gradient": `acc`
# itself (IG without the (x - x') factor), plus each row's total of the
# multiplied attributions (`totals`) for its completeness gap; "path": `acc`
# is already the attribution (a method that weighs its own path, e.g. IDGI).
FINISHES = ("multiply", "gradient", "path")

# A path method's integral for a plan: `(engine, plan) -> PathIntegral`.
IntegralFactory = Callable[["Engine", Plan], PathIntegral]


class Engine:
    """A path method for one `ScoreFunction`, compiled per signature.

    Args:
        score_fn: F.
        jit_compile: compile with XLA (one graph per chunk size).
        finish: one of `FINISHES`: how the path integral becomes attributions.
        integral: the path integral's factory; None for the straight line
            of Integrated Gradients (`Engine.path_integral`).
    """

    def __init__(
        self,
        score_fn: ScoreFunction,
        *,
        jit_compile: bool = False,
        finish: str = "multiply",
        integral: IntegralFactory | None = None,
    ) -> None:
        if finish not in FINISHES:
            raise ValueError(f"finish must be one of {FINISHES}, got {finish!r}")
        self.score_fn = score_fn
        self.jit_compile = jit_compile
        self.finish = finish
        self.integral = integral
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0  # how many graphs were built; tests check no retrace

    # -- building the model inputs ------------------------------------------
    def _pack(self, plan: Plan, flat: Sequence[tf.Tensor]) -> Any:
        if plan.structure is None:
            return flat[0]
        return tf.nest.pack_sequence_as(plan.structure, list(flat))

    def _run(
        self,
        plan: Plan,
        x: Sequence[tf.Tensor],
        xrows: tf.Tensor,
        z: Sequence[tf.Tensor] | None,
        targets: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        """F on rows `xrows` of x with the attributed tensors set to `z`.

        `z=None` runs the model unchanged (and captures the layer's output).
        Returns `(scores[rows], targets[rows], layer_outputs)`.
        """
        flat = [tf.gather(leaf, xrows) for leaf in x]
        replacement = None
        if z is not None and self.score_fn.layer is None:
            for i, zi in zip(plan.interpolated, z, strict=True):
                flat[i] = zi
        elif z is not None:
            replacement = z[0]
        return chunks.scores(self.score_fn, self._pack(plan, flat), targets, replacement)

    # -- the graph -----------------------------------------------------------
    def _graph(
        self,
        plan: Plan,
        x: list[tf.Tensor],
        base: list[tf.Tensor],
        base_index: list[tf.Tensor],
        x_index: tf.Tensor,
        alphas: tf.Tensor,
        weights: tf.Tensor,
        targets: tf.Tensor,
        batch_size: tf.Tensor,
    ) -> dict[str, Any]:
        self.traces += 1
        r_total = tf.shape(x_index)[0]
        static = plan.static_batch
        if static is not None:
            batch_size = static  # a Python int: fixed chunk shapes for XLA

        if self.score_fn.layer is None:
            z_x = [x[i] for i in plan.interpolated]
            path = PathPoints(plan, x, base, base_index, x_index, z_x, alphas, weights)
            walk = self.path_integral(plan)(path, batch_size)
            # Run eagerly (`tf.config.run_functions_eagerly`), nothing is traced
            # and dead tensors do not exist: the end points keep their loop.
            if static is None and not tf.executing_eagerly():
                # 1-3. F(x) with the targets it resolves, F(baseline) and the
                # path in one loop: the model is traced once.
                (scores, resolved, base_scores), state = self.one_loop(
                    plan, x, base, base_index, x_index, targets, batch_size, walk
                )
            else:
                # Under XLA the chunk shapes are fixed (and no dataflow control
                # flow): the end points keep their loop.
                scores, resolved, base_scores = self.end_points(
                    plan, x, base, base_index, x_index, targets, batch_size
                )
                state = self.walk(plan, x, walk, Ends(scores, resolved))
        else:
            # 1. F(x), the targets and the layer's output at x, which the
            # baselines' pass (rows entering at the layer) cannot give.
            scores, resolved, z_x = self.forward_pass(plan, x, targets, batch_size)

            # 2. F(baseline) for every (input, baseline) row.
            def at_baseline(rows, valid, state):
                xrows = tf.gather(x_index, rows)
                z = [
                    tf.gather(b, tf.gather(bi, rows))
                    for b, bi in zip(base, base_index, strict=True)
                ]
                s, _, _ = self._run(plan, x, xrows, z, tf.gather(resolved, xrows))
                return [tf.tensor_scatter_nd_update(state[0], rows[:, None], s)]

            (base_scores,) = chunk_loop(
                r_total, batch_size, static, at_baseline, [_zeros(r_total, (), tf.float32)]
            )
            # 3. The path integral.
            path = PathPoints(plan, x, base, base_index, x_index, z_x, alphas, weights)
            walk = self.path_integral(plan)(path, batch_size)
            state = self.walk(plan, x, walk, Ends(scores, resolved))
        acc = walk.result(state)

        # 4. Attributions from the integral (see FINISHES).
        out = {"scores": scores, "baseline_scores": base_scores, "targets": resolved}
        if self.finish == "path":
            return {"attributions": list(acc), **out}
        attributions, totals = [], tf.zeros([r_total], tf.float32)
        for j, (b, bi) in enumerate(zip(base, base_index, strict=True)):
            diff = tf.cast(tf.gather(z_x[j], x_index), tf.float32) - tf.cast(
                tf.gather(b, bi), tf.float32
            )
            if self.finish == "multiply":
                attributions.append(acc[j] * diff)
            else:
                attributions.append(acc[j])
                totals += tf.reduce_sum(tf.reshape(acc[j] * diff, [r_total, -1]), 1)
        if self.finish == "gradient":
            out["totals"] = totals  # float32[R]: sum of the multiplied attributions
        return {"attributions": attributions, **out}

    def end_points(
        self,
        plan: Plan,
        x: list[tf.Tensor],
        base: list[tf.Tensor],
        base_index: list[tf.Tensor],
        x_index: tf.Tensor,
        targets: tf.Tensor,
        batch_size: tf.Tensor | int,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """F(x) and F(baseline) in one chunk loop: `(scores[N], targets int32[N], base_scores[R])`.

        The `N + R` items (the inputs, then the rows' baselines) share one
        forward pass per chunk (see `_EndItems`). Used under XLA, whose fixed
        chunk shapes keep the end points out of the path's loop
        (`one_loop`). Not for `layer=`, whose baselines enter the model at
        the layer.
        """
        ends = _EndItems(self.score_fn, plan, x, base, base_index, x_index, targets)

        def body(items, valid, state):
            flat, xrows, at_x, at_b = ends.inputs(items)
            outputs, calls = self.score_fn.outputs(self._pack(plan, flat))
            self.score_fn.check_calls(calls)
            return ends.scored(outputs, xrows, at_x, at_b, state)[1]

        state = chunk_loop(ends.count, batch_size, plan.static_batch, body, ends.init)
        return ends.final(state)

    def one_loop(
        self,
        plan: Plan,
        x: list[tf.Tensor],
        base: list[tf.Tensor],
        base_index: list[tf.Tensor],
        x_index: tf.Tensor,
        targets: tf.Tensor,
        batch_size: tf.Tensor,
        walk: Walk,
    ) -> tuple[tuple[tf.Tensor, tf.Tensor, tf.Tensor], list[tf.Tensor]]:
        """The end points' chunks, then the path's, in one loop (dynamic chunks).

        Returns `((scores[N], targets int32[N], base_scores[R]), walk state)`.

        A chunk is either the end points' (`_EndItems`: the inputs, then the
        rows' baselines; forward only) or the path's (`walk`; forward and
        backward). Both call the model at the same place of the loop's body,
        so it is traced once and its backward built once: on a deep model
        tracing and optimising the graph is most of a first call. The
        backward runs only for the path's chunks: its seed, and every state
        update made from the gradients, flow through a `Switch` on the
        chunk's kind and are dead tensors in an end points' chunk, which the
        executor does not compute (TF's dataflow control flow); a `Merge`
        then takes whichever side is live. The model's forward and backward
        run as a graph of their own (`chunks.isolated`, for oneDNN's
        kernels); its outputs are live (zero gradients at the end points).
        """
        ends = _EndItems(self.score_fn, plan, x, base, base_index, x_index, targets)
        n_end = (ends.count + batch_size - 1) // batch_size
        n_e = len(ends.init)

        def body(i, *state):
            end_state, walk_state = list(state[:n_e]), list(state[n_e:])
            on_path = i >= n_end
            now = ends.ends(end_state)  # final once the path's chunks run
            j = i - n_end

            def end_chunk():
                items = tf.range(i * batch_size, tf.minimum((i + 1) * batch_size, ends.count))
                return ends.inputs(items)

            def path_chunk():
                xrows, z = walk.points(j, now)
                flat = [tf.gather(leaf, xrows) for leaf in x]
                for k, zk in zip(plan.interpolated, z, strict=True):
                    flat[k] = tf.cast(zk, x[k].dtype)
                rows = tf.shape(xrows)[0]
                return flat, xrows, tf.fill([rows], ends.n), tf.fill([rows], ends.r_total)

            flat, xrows, at_x, at_b = tf.cond(on_path, path_chunk, end_chunk)
            for t, leaf in zip(flat, x, strict=True):
                t.set_shape(leaf.shape)  # rows of x: the row shapes the model was built for

            def model_pass(flat, xrows, at_x, at_b, on_path, end_state):
                z = [flat[k] for k in plan.interpolated]
                with tf.GradientTape() as tape:
                    tape.watch(z)
                    outputs, calls = self.score_fn.outputs(self._pack(plan, flat))
                    self.score_fn.check_calls(calls)
                    s, end_state = ends.scored(outputs, xrows, at_x, at_b, end_state)
                seed = _switch(tf.ones_like(s), on_path)[1]
                grads = tape.gradient(s, z, output_gradients=seed)
                for k, g in enumerate(grads):
                    if g is None:
                        raise ValueError(no_gradient_message(self.score_fn, plan, k))
                # Zeros in an end points' chunk: a function's outputs must be live.
                zeros = [tf.zeros_like(_switch(zk, on_path)[0]) for zk in z]
                merged = [
                    tf.raw_ops.Merge(inputs=[g, o]) for g, o in zip(grads, zeros, strict=True)
                ]
                grads = [m[0] for m in merged]
                return s, end_state, grads

            s, end_state, grads = chunks.isolated(model_pass, self.score_fn)(
                flat, xrows, at_x, at_b, on_path, end_state
            )
            gate = _switch(s, on_path)[1]
            live = [_switch(t, on_path) for t in [j, gate, *now, *walk_state]]
            j_p, s_p, scores_p, targets_p, *state_p = [t for _, t in live]
            new = walk.update(
                j_p,
                s_p,
                [tf.cast(g, tf.float32) for g in grads],
                Ends(scores_p, targets_p),
                state_p,
            )
            with tf.control_dependencies([s_p]):  # dead with the path's side, even if constant
                new = [tf.identity(t) for t in new]
            kept = [f for f, _ in live[4:]]
            walk_state = [
                tf.raw_ops.Merge(inputs=[a, b])[0] for a, b in zip(new, kept, strict=True)
            ]
            return (i + 1, *end_state, *walk_state)

        _, *state = tf.while_loop(
            lambda i, *_: i < n_end + walk.count,
            body,
            [tf.constant(0), *ends.init, *walk.init],
            parallel_iterations=1,
        )
        return ends.final(state[:n_e]), state[n_e:]

    def walk(self, plan: Plan, x: list[tf.Tensor], walk: Walk, ends: Ends) -> list[tf.Tensor]:
        """Run `walk`'s chunks (F and `dF/dz` in each) after the end points; its final state."""

        def body(i, *state):
            xrows, z = walk.points(i, ends)
            s, grads = self.scores_and_gradients(plan, x, xrows, z, tf.gather(ends.targets, xrows))
            return (i + 1, *walk.update(i, s, grads, ends, list(state)))

        _, *state = tf.while_loop(
            lambda i, *_: i < walk.count, body, [tf.constant(0), *walk.init], parallel_iterations=1
        )
        return state

    def predictor(self, plan: Plan, batch_size: int) -> Callable:
        """The compiled forward-only pass for `plan`: the targets F picks at x.

        `fn(x, targets int32[N], batch_size int32[]) -> int32[N]`, the
        predicted class where a target is -1, in chunks of `batch_size` rows
        as the full graph's first pass. No gradient, no baseline. Built once
        per plan (per chunk size under XLA); not counted in `traces`, which
        counts attribution graphs.
        """
        if self.jit_compile:
            plan = dataclasses.replace(plan, static_batch=int(batch_size))
        key = ("predict", plan)
        fn = self._compiled.get(key)
        if fn is not None:
            return fn
        x_spec = [
            tf.TensorSpec((None, *s), d) for s, d in zip(plan.row_shapes, plan.dtypes, strict=True)
        ]

        def forward(x, targets, batch_size):
            size = batch_size if plan.static_batch is None else plan.static_batch
            return self.forward_pass(plan, x, targets, size)[1]

        fn = tf.function(
            forward,
            input_signature=[x_spec, tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.int32)],
            autograph=False,
            jit_compile=self.jit_compile or None,
        )
        self._compiled[key] = fn
        return fn

    def forward_pass(
        self, plan: Plan, x: list[tf.Tensor], targets: tf.Tensor, batch_size: tf.Tensor | int
    ) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
        """F at the inputs, in chunks: `(scores[N], resolved targets int32[N], z_x)`.

        `z_x` holds, per attributed tensor, its value at x `[N, ...]`: the
        interpolated inputs, or the attribution layer's output.
        """
        n = tf.shape(targets)[0]
        layer_mode = self.score_fn.layer is not None
        static = plan.static_batch

        def forward(rows, valid, state):
            scores, resolved, calls = self._run(plan, x, rows, None, tf.gather(targets, rows))
            new = [scores, resolved]
            if layer_mode:
                new.append(tf.cast(calls[0], plan.z_dtypes[0]))
            # Padded rows repeat the last row, so their values agree: updates are safe.
            return [
                tf.tensor_scatter_nd_update(s, rows[:, None], v)
                for s, v in zip(state, new, strict=True)
            ]

        init = [_zeros(n, (), tf.float32), _zeros(n, (), tf.int32)]
        if layer_mode:
            init.append(_zeros(n, plan.z_shapes[0], plan.z_dtypes[0]))
        fwd = chunk_loop(n, batch_size, static, forward, init)
        z_x = [fwd[2]] if layer_mode else [x[i] for i in plan.interpolated]
        return fwd[0], fwd[1], z_x

    def _gradients(
        self,
        plan: Plan,
        x: list[tf.Tensor],
        xrows: tf.Tensor,
        z: list[tf.Tensor],
        targets: tf.Tensor,
    ) -> list[tf.Tensor]:
        """`dF/dz` (float32) for path points `z` of rows `xrows`."""
        return self.scores_and_gradients(plan, x, xrows, z, targets)[1]

    def scores_and_gradients(
        self,
        plan: Plan,
        x: list[tf.Tensor],
        xrows: tf.Tensor,
        z: list[tf.Tensor],
        targets: tf.Tensor,
    ) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """F `float32[rows]` and `dF/dz` (float32) at path points `z` of rows `xrows`.

        One forward and one backward pass: F comes with the gradients.
        """

        def forward_backward(z: list[tf.Tensor], targets: tf.Tensor):
            with tf.GradientTape() as tape:
                tape.watch(z)
                s, _, _ = self._run(plan, x, xrows, z, targets)
            grads = tape.gradient(s, z)
            for j, g in enumerate(grads):
                if g is None:
                    raise ValueError(no_gradient_message(self.score_fn, plan, j))
            return s, [tf.cast(g, tf.float32) for g in grads]

        if plan.static_batch is None:  # XLA compiles the loop's kernels itself
            forward_backward = chunks.isolated(forward_backward, self.score_fn)
        return forward_backward(list(z), targets)

    def path_integral(self, plan: Plan) -> PathIntegral:
        """The straight-line path integral for `plan`'s chunking.

        Tiles of whole rows x steps by default; under XLA (`static_batch`),
        chunks of exactly that many (row, step) pairs, as shapes must not vary.
        """
        if self.integral is not None:
            return self.integral(self, plan)
        return straight.path_tiles if plan.static_batch is None else straight.path_pairs

    def replicated(self, plan: Plan, batch_size: int) -> Callable:
        """The graph for `strategy.run`: one trace holds every replica's call.

        `strategy.run` re-traces a `tf.function` it is given with per-replica
        values, which a fixed input signature refuses; this wrapper has none
        (and relaxes shapes instead), and calls the compiled graph inside.
        """
        key = ("replicated", plan, batch_size if self.jit_compile else None)
        fn = self._compiled.get(key)
        if fn is None:
            inner = self.compiled(plan, batch_size)
            fn = tf.function(lambda *args: inner(*args), reduce_retracing=True, autograph=False)
            self._compiled[key] = fn
        return fn

    def compiled(self, plan: Plan, batch_size: int | None = None) -> Callable:
        """The `tf.function` for `plan`, built once; batch dimensions open.

        With `jit_compile`, `batch_size` (required) is fixed into the graph:
        XLA needs every chunk to have the same shape, so it gets one graph
        per chunk size. Without it, one graph serves every `batch_size`.
        """
        if self.jit_compile:
            if batch_size is None:
                raise ValueError("batch_size: jit_compile=True needs a fixed chunk size")
            plan = dataclasses.replace(plan, static_batch=int(batch_size))
        fn = self._compiled.get(plan)
        if fn is not None:
            return fn
        x_spec = [
            tf.TensorSpec((None, *s), d) for s, d in zip(plan.row_shapes, plan.dtypes, strict=True)
        ]
        z_spec = [
            tf.TensorSpec((None, *s), d) for s, d in zip(plan.z_shapes, plan.z_dtypes, strict=True)
        ]
        idx = tf.TensorSpec((None,), tf.int32)
        signature = [
            x_spec,
            z_spec,
            [idx] * len(z_spec),
            idx,
            tf.TensorSpec((None,), tf.float32),
            tf.TensorSpec((None,), tf.float32),
            idx,
            tf.TensorSpec((), tf.int32),
        ]

        def graph(x, base, base_index, x_index, alphas, weights, targets, batch_size):
            return self._graph(
                plan, x, base, base_index, x_index, alphas, weights, targets, batch_size
            )

        fn = tf.function(
            graph,
            input_signature=signature,
            autograph=False,
            jit_compile=self.jit_compile or None,
        )
        self._compiled[plan] = fn
        return fn


def no_gradient_message(score_fn: ScoreFunction, plan: Plan, j: int) -> str:
    if score_fn.layer is not None:
        where = f"the output of layer {score_fn.layer.name!r}"
    else:
        where = plan.names[plan.interpolated[j]]
    return (
        f"model: the score does not depend on {where} (its gradient is None); "
        "check the model, the target and the layer"
    )


def _switch(t: tf.Tensor, pred: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`(t where pred is False, t where pred is True)`; the other output is dead."""
    return tuple(tf.raw_ops.Switch(data=t, pred=pred))


class _EndItems:
    """The end points as `N + R` items: the inputs, then each row's baseline.

    An item's input comes before it, in its chunk or an earlier one, so the
    target it resolves (the predicted class for -1) is known when the item
    is scored: scoring is only a pick from the outputs. The state is
    `[scores[N+1], targets int32[N+1], base_scores[R+1]]`, each with one
    discard slot at the end, where rows that are not of that kind write.
    """

    def __init__(
        self,
        score_fn: ScoreFunction,
        plan: Plan,
        x: list[tf.Tensor],
        base: list[tf.Tensor],
        base_index: list[tf.Tensor],
        x_index: tf.Tensor,
        targets: tf.Tensor,
    ) -> None:
        self.n, self.r_total = tf.shape(targets)[0], tf.shape(x_index)[0]
        self.count = self.n + self.r_total
        self.x, self.x_index, self.targets = x, x_index, targets
        # The inputs and the baselines of each attributed input, as one pool to gather from.
        self.pools = {
            i: tf.concat([x[i], tf.cast(b, x[i].dtype)], 0)
            for i, b in zip(plan.interpolated, base, strict=True)
        }
        self.offsets = dict(zip(plan.interpolated, base_index, strict=True))
        self.score_fn = score_fn
        self.init = [
            _zeros(self.n + 1, (), tf.float32),
            tf.concat([targets, [0]], 0),
            _zeros(self.r_total + 1, (), tf.float32),
        ]

    def inputs(self, items: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor, tf.Tensor, tf.Tensor]:
        """Items `int32[rows]` -> `(flat inputs, xrows, at_x, at_b)`, the last two
        each row's slot in the scores and in the baseline scores."""
        n = self.n
        is_x = items < n
        r = tf.maximum(items - n, 0)  # the baseline row of a non-x item
        xrows = tf.where(is_x, items, tf.gather(self.x_index, r))
        flat = []
        for i, leaf in enumerate(self.x):
            if i in self.pools:
                rows = tf.where(is_x, items, n + tf.gather(self.offsets[i], r))
                flat.append(tf.gather(self.pools[i], rows))
            else:
                flat.append(tf.gather(leaf, xrows))
        return flat, xrows, tf.where(is_x, items, n), tf.where(is_x, self.r_total, r)

    def scored(self, outputs, xrows, at_x, at_b, state) -> tuple[tf.Tensor, list[tf.Tensor]]:
        """`(scores float32[rows], new state)` for a chunk's outputs."""
        scores, resolved, base_scores = state
        _, picked = self.score_fn.score(outputs, tf.gather(self.targets, xrows))
        resolved = tf.tensor_scatter_nd_update(resolved, at_x[:, None], picked)
        s, _ = self.score_fn.score(outputs, tf.gather(resolved, xrows))
        return s, [
            tf.tensor_scatter_nd_update(scores, at_x[:, None], s),
            resolved,
            tf.tensor_scatter_nd_update(base_scores, at_b[:, None], s),
        ]

    def ends(self, state: list[tf.Tensor]) -> Ends:
        return Ends(state[0][:-1], state[1][:-1])

    def final(self, state: list[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        return state[0][:-1], state[1][:-1], state[2][:-1]
