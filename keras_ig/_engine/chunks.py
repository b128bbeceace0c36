"""The chunked `tf.while_loop` every engine pass runs in: memory bounded by the chunk."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


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
