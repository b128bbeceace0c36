"""The compiled Integrated Gradients engine.

One `tf.function` per input signature (batch dimension left open) does the
whole job for a batch: F at the inputs (targets resolved there), F at the
baselines, then the path integral, walking the `R * m` (row, step) pairs in
chunks of at most `batch_size` rows inside a `tf.while_loop` and adding the
weighted gradients into an accumulator as it goes. Memory is bounded by the
chunk, not by `steps` or by the number of inputs, and the host sees one call.

Shapes used throughout:
    N: inputs; K: baselines per input; R = N * K rows (row r = n * K + k);
    m: quadrature points; z: the attributed tensors (the interpolated inputs,
    or the attribution layer's output), each `[*, ...]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from keras_ig._score import ScoreFunction


@dataclass(frozen=True)
class Plan:
    """How the model's flat inputs split into attributed and fixed ones.

    Attributes:
        structure: the inputs' nesting (`tf.nest`), or None for a single tensor;
            not part of equality (`structure_key` is).
        structure_key: a hashable image of `structure`.
        names: per flat input, how error messages name it (`x`, `x[1]`, ...).
        interpolated: flat indices of the inputs on the path; empty with a layer.
        row_shapes: per flat input, the shape of one row.
        dtypes: per flat input, its dtype.
        z_shapes: per attributed tensor, the shape of one row.
        z_dtypes: per attributed tensor, its dtype.
    """

    structure: Any = field(compare=False, hash=False)
    structure_key: str
    names: tuple[str, ...]
    interpolated: tuple[int, ...]
    row_shapes: tuple[tuple[int | None, ...], ...]
    dtypes: tuple[tf.DType, ...]
    z_shapes: tuple[tuple[int | None, ...], ...]
    z_dtypes: tuple[tf.DType, ...]


def _bcast(w: tf.Tensor, rank: int) -> tf.Tensor:
    """`[rows]` -> `[rows, 1, ..., 1]` to scale a rank-`rank` batch."""
    return tf.reshape(w, tf.concat([[-1], tf.ones([rank - 1], tf.int32)], 0))


class Engine:
    """Integrated Gradients for one `ScoreFunction`, compiled per signature."""

    def __init__(self, score_fn: ScoreFunction, *, jit_compile: bool = False) -> None:
        self.score_fn = score_fn
        self.jit_compile = jit_compile
        self._compiled: dict[Plan, Callable] = {}
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
        replace = None
        if self.score_fn.layer is None:
            if z is not None:
                for i, zi in zip(plan.interpolated, z, strict=True):
                    flat[i] = zi
        elif z is not None:
            z0 = z[0]

            def replace(out):
                if not isinstance(out, tf.Tensor):
                    raise ValueError("layer: the attributed layer must return one tensor")
                return tf.cast(z0, out.dtype)

        outputs, calls = self.score_fn.outputs(self._pack(plan, flat), replace)
        if self.score_fn.layer is not None and len(calls) != 1:
            raise ValueError(
                f"layer: {self.score_fn.layer.name!r} ran {len(calls)} times in one "
                "forward pass; attribution needs a layer that runs exactly once"
            )
        scores, resolved = self.score_fn.score(outputs, targets)
        return scores, resolved, calls

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
        n = tf.shape(targets)[0]
        r_total = tf.shape(x_index)[0]
        m = tf.shape(alphas)[0]
        z_ranks = [len(s) + 1 for s in plan.z_shapes]

        # 1. F(x), the targets it resolves, and z at x.
        def forward(rows):
            scores, resolved, calls = self._run(plan, x, rows, None, tf.gather(targets, rows))
            zx = [tf.cast(calls[0], plan.z_dtypes[0])] if self.score_fn.layer is not None else []
            return [scores, resolved, *zx]

        specs = [(tf.float32, ()), (tf.int32, ())]
        if self.score_fn.layer is not None:
            specs.append((plan.z_dtypes[0], plan.z_shapes[0]))
        fwd = _map_chunks(forward, n, batch_size, specs)
        scores, resolved = fwd[0], fwd[1]
        if self.score_fn.layer is not None:
            z_x = [fwd[2]]
        else:
            z_x = [x[i] for i in plan.interpolated]

        # 2. F(baseline) for every (input, baseline) row.
        def at_baseline(rows):
            xrows = tf.gather(x_index, rows)
            z = [tf.gather(b, tf.gather(bi, rows)) for b, bi in zip(base, base_index, strict=True)]
            s, _, _ = self._run(plan, x, xrows, z, tf.gather(resolved, xrows))
            return [s]

        (base_scores,) = _map_chunks(at_baseline, r_total, batch_size, [(tf.float32, ())])

        # 3. The path integral, chunk by chunk over (row, step) pairs.
        total = r_total * m
        n_chunks = (total + batch_size - 1) // batch_size
        acc0 = [
            tf.zeros(tf.concat([[r_total], tf.constant(s, tf.int32)], 0), tf.float32)
            for s in plan.z_shapes
        ]

        def body(i, *acc):
            pair = tf.range(i * batch_size, tf.minimum((i + 1) * batch_size, total))
            r, step = pair // m, pair % m
            xrows = tf.gather(x_index, r)
            a = tf.gather(alphas, step)
            z = []
            for j, (b, bi) in enumerate(zip(base, base_index, strict=True)):
                b_rows = tf.gather(b, tf.gather(bi, r))
                zx_rows = tf.gather(z_x[j], xrows)
                a_j = _bcast(tf.cast(a, b_rows.dtype), z_ranks[j])
                z.append(b_rows + a_j * (zx_rows - b_rows))
            with tf.GradientTape() as tape:
                tape.watch(z)
                s, _, _ = self._run(plan, x, xrows, z, tf.gather(resolved, xrows))
            grads = tape.gradient(s, z)
            for j, g in enumerate(grads):
                if g is None:
                    raise ValueError(_no_gradient_message(self.score_fn, plan, j))
            w = tf.gather(weights, step)
            new = [
                tf.tensor_scatter_nd_add(
                    acc_j, r[:, None], tf.cast(g, tf.float32) * _bcast(w, z_ranks[j])
                )
                for acc_j, g in zip(acc, grads, strict=True)
            ]
            return (i + 1, *new)

        _, *acc = tf.while_loop(
            lambda i, *_: i < n_chunks,
            body,
            [tf.constant(0), *acc0],
            parallel_iterations=1,
        )

        # 4. Scale by (z(x) - z(baseline)) per row.
        attributions = []
        for j, (b, bi) in enumerate(zip(base, base_index, strict=True)):
            diff = tf.gather(z_x[j], x_index) - tf.gather(b, bi)
            attributions.append(acc[j] * tf.cast(diff, tf.float32))
        return {
            "attributions": attributions,
            "scores": scores,
            "baseline_scores": base_scores,
            "targets": resolved,
        }

    def compiled(self, plan: Plan) -> Callable:
        """The `tf.function` for `plan`, built once; batch dimensions open."""
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


def _map_chunks(
    fn: Callable[[tf.Tensor], list[tf.Tensor]],
    total: tf.Tensor,
    batch_size: tf.Tensor,
    specs: Sequence[tuple[tf.DType, tuple]],
) -> list[tf.Tensor]:
    """Apply `fn` to row ranges of at most `batch_size` rows; concat results.

    `specs` gives each result's dtype and row shape, so the concatenation
    keeps a static shape `[total, *row]`.
    """
    n_chunks = (total + batch_size - 1) // batch_size
    arrays = [
        tf.TensorArray(d, size=n_chunks, infer_shape=False, element_shape=(None, *s))
        for d, s in specs
    ]

    def body(i, *arrs):
        rows = tf.range(i * batch_size, tf.minimum((i + 1) * batch_size, total))
        outs = fn(rows)
        return (i + 1, *[a.write(i, o) for a, o in zip(arrs, outs, strict=True)])

    _, *arrays = tf.while_loop(
        lambda i, *_: i < n_chunks,
        body,
        [tf.constant(0), *arrays],
        parallel_iterations=1,
    )
    return [a.concat() for a in arrays]


def _no_gradient_message(score_fn: ScoreFunction, plan: Plan, j: int) -> str:
    if score_fn.layer is not None:
        where = f"the output of layer {score_fn.layer.name!r}"
    else:
        where = plan.names[plan.interpolated[j]]
    return (
        f"model: the score does not depend on {where} (its gradient is None); "
        "check the model, the target and the layer"
    )
