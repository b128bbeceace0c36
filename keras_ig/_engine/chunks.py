"""The chunked loops every engine pass runs in, and F and dF/dz on a chunk.

Memory is bounded by the chunk: each pass walks its rows at most
`batch_size` at a time inside a `tf.while_loop`. The straight-line engine
and the adaptive path methods (Blur IG and Guided IG, whose paths are not
`z(b) + a (z(x) - z(b))`) call the model the same way: through a
`ScoreFunction`, each chunk's forward and backward in a graph of their own
(`isolated`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from keras_ig._engine.score import ScoreFunction


def accelerated() -> bool:
    """Whether a GPU or TPU is visible (else every op runs on the CPU)."""
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def isolated(fn: Callable, score_fn: ScoreFunction, shared: bool = False) -> Callable:
    """`fn`, F's forward and backward on a chunk, as a graph function of its own where it pays.

    Why: inside a `tf.while_loop` TF runs a cyclic dataflow graph, in which
    oneDNN's layout pass visits the ops in an order that changes from one
    process to the next. When it meets a `MaxPoolGrad` before that op's
    `MaxPool` it keeps Eigen's kernel, several times slower (in up to 4 of
    5 fresh processes, by the graph: `benchmarks/bench_pool_kernels.py`).
    A function that is not inlined is optimised as its own acyclic graph, in
    which the pass visits the ops in dataflow order: oneDNN's kernel every
    time. Its price is a second optimisation of the model's graph on the
    first call (about 0.5 s on MobileNetV2), so only models with
    max-pooling layers pay it (`ScoreFunction.max_pools`), and only on CPU.
    Build the wrapper in the enclosing trace; not under XLA, which compiles
    its own kernels. `shared`: the wrapper is called from several places in
    one graph, and a graph of its own traces and optimises the model once
    for all of them (on CPU; no model has to pay it on an accelerator).
    """
    if accelerated() or not (score_fn.max_pools or shared):
        return fn
    return tf.function(fn, autograph=False, experimental_attributes={"_noinline": True})


def chunk_loop(
    total: tf.Tensor,
    batch_size: tf.Tensor | int,
    static: int | None,
    fn: Callable[[tf.Tensor, tf.Tensor | None, list], list],
    init: list[tf.Tensor],
) -> list[tf.Tensor]:
    """Run `fn(rows, valid, state) -> state` over `[0, total)` in chunks.

    Dynamic chunks are `range(i * b, min((i + 1) * b, total))` (`valid` is
    None). Static chunks (`static` set, for XLA) always hold `b` rows: the
    tail repeats the last row and `valid` marks the real ones.
    """
    n_chunks = (total + batch_size - 1) // batch_size

    def body(i, *state):
        if static is None:
            rows = tf.range(i * batch_size, tf.minimum((i + 1) * batch_size, total))
            valid = None
        else:
            rows = i * static + tf.range(static)
            valid = rows < total
            rows = tf.minimum(rows, total - 1)
        return (i + 1, *fn(rows, valid, list(state)))

    _, *state = tf.while_loop(
        lambda i, *_: i < n_chunks, body, [tf.constant(0), *init], parallel_iterations=1
    )
    return state


def over_chunks(
    total: tf.Tensor,
    batch_size: tf.Tensor,
    fn: Callable[[tf.Tensor, list[tf.Tensor]], list[tf.Tensor]],
    init: list[tf.Tensor],
) -> list[tf.Tensor]:
    """`chunk_loop` with dynamic chunks: `fn(rows, state) -> state`.

    Args:
        total: `int32[]`, the rows there are.
        batch_size: `int32[]`, rows per chunk, `>= 1`.
        fn: one chunk's work; `rows` is `int32[<= batch_size]`.
        init: the loop state (shapes must not change).
    """
    return chunk_loop(total, batch_size, None, lambda rows, _, state: fn(rows, state), init)


def scores(
    score_fn: ScoreFunction,
    inputs: Any,
    targets: tf.Tensor,
    replacement: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, list]:
    """F on a chunk: `(scores float32[rows], resolved targets int32[rows], layer calls)`.

    `replacement`, with `layer=`, is what the rest of the model sees instead
    of the layer's output.
    """
    outputs, calls = score_fn.outputs(inputs, replacement)
    score_fn.check_calls(calls)
    s, resolved = score_fn.score(outputs, targets)
    return s, resolved, calls


def gradient_function(
    score_fn: ScoreFunction,
    inputs: Callable[..., Any],
    shared: bool = False,
) -> Callable[..., list[tf.Tensor]]:
    """`dF/dz` for a chunk as `fn(z, targets, *args)`; forward and backward `isolated`.

    Build it once in the enclosing trace and call it where the graph needs
    it (`shared`: from more than one place, see `isolated`).

    Args:
        score_fn: F.
        inputs: `inputs(z, *args)`, the model's inputs for the chunk with the
            attributed inputs set to `z` (or, with `layer=`, the inputs the
            layer reads); `args` are `fn`'s tensors after `targets`.
        shared: whether `fn` is called from several places.

    Returns:
        `fn(z, targets, *args)`: `z` the attributed tensors `[rows, ...]`
        (inputs, or with `layer=` the one layer output the rest of the model
        sees), `targets` `int32[rows]`, resolved; it returns each gradient
        in its `z`'s dtype, and raises ValueError where F does not depend
        on a `z`.
    """
    layer_mode = score_fn.layer is not None

    def forward_backward(z: list[tf.Tensor], targets: tf.Tensor, *args) -> list[tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(z)
            s, _, _ = scores(score_fn, inputs(z, *args), targets, z[0] if layer_mode else None)
        grads = tape.gradient(s, z)
        if any(g is None for g in grads):
            raise ValueError(
                "model: the score does not depend on an attributed tensor (its gradient is "
                "None); check the model, the target and the layer"
            )
        return [tf.cast(g, zj.dtype) for g, zj in zip(grads, z, strict=True)]

    fn = isolated(forward_backward, score_fn, shared)
    return lambda z, targets, *args: fn(list(z), targets, *args)


def gradient(
    score_fn: ScoreFunction,
    inputs: Callable[[list[tf.Tensor]], Any],
    z: list[tf.Tensor],
    targets: tf.Tensor,
) -> list[tf.Tensor]:
    """`dF/dz` for a chunk, each in its `z`'s dtype (`gradient_function`, called once)."""
    return gradient_function(score_fn, inputs)(z, targets)
