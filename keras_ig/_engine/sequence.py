"""Integrated Gradients for every token of a causal language model, in one graph.

A causal LM's logits at position t depend only on tokens `0..t`, so one
forward pass over the whole sequence (teacher forcing) scores every
generated token at once: `F_g(z) = score(logits[p_g], tokens[g])`, with
`p_g` the position that predicts token g. All rows share one straight path
in embedding space, `z(a) = z(b) + a (z(x) - z(b))`, so per path point there
is one forward pass for all `G` scores, and their `G` gradients come from
one vectorised backward pass (`GradientTape.jacobian`, pfor): no loop over
generated tokens, one compiled graph.

Shapes: `L` tokens in the sequence, `D` embedding width, `G` scored tokens,
`m` quadrature points, `c` path points per model call (`batch_size`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig._engine.score import ScoreFunction

SCORES = ("log_prob", "prob", "logit")
"""What F_g is: the log-probability, probability or logit of token g."""


def token_scores(
    logits: tf.Tensor, positions: tf.Tensor, tokens: tf.Tensor, kind: tf.Tensor
) -> tf.Tensor:
    """`float32[B, G]`: score `kind` of `tokens[g]` at `positions[g]`, for each row.

    Args:
        logits: `[B, L, V]` language-model logits.
        positions: `int32[G]`, the position whose logits predict token g.
        tokens: `int32[G]`, the token scored at each position.
        kind: `int32` scalar, the index of the score in `SCORES` (a tensor,
            so that one graph serves every kind).
    """
    picked = tf.cast(tf.gather(logits, positions, axis=1), tf.float32)  # [B, G, V]
    onehot = tf.one_hot(tokens, tf.shape(picked)[-1], dtype=tf.float32)[None]  # [1, G, V]
    logit = tf.reduce_sum(picked * onehot, axis=-1)  # [B, G]
    log_prob = logit - tf.reduce_logsumexp(picked, axis=-1)
    return tf.gather(tf.stack([log_prob, tf.exp(log_prob), logit]), kind)


class SequenceEngine:
    """Generation attributions and greedy decoding for one causal LM.

    Args:
        score_fn: a `ScoreFunction` of the causal LM with `layer=` its token
            embedding; its outputs are logits `[B, L, V]`.
    """

    def __init__(self, score_fn: ScoreFunction) -> None:
        if score_fn.layer is None:
            raise ValueError("layer: the sequence engine attributes at the token embedding")
        self.score_fn = score_fn
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0

    def _logits(self, inputs: dict, replacement: tf.Tensor | None = None) -> tuple:
        out, calls = self.score_fn.outputs(inputs, replacement)
        self.score_fn.check_calls(calls)  # the token embedding is always the layer here
        return out, calls[0]

    # -- attributions --------------------------------------------------------
    def _attribute(
        self,
        inputs: dict,
        z_b: tf.Tensor,
        positions: tf.Tensor,
        tokens: tf.Tensor,
        alphas: tf.Tensor,
        weights: tf.Tensor,
        batch_size: tf.Tensor,
        kind: tf.Tensor,
    ) -> dict[str, tf.Tensor]:
        self.traces += 1
        out, z_x = self._logits(inputs)
        z_x = tf.cast(z_x, tf.float32)  # [1, L, D]
        z_b = tf.cast(z_b, tf.float32)
        f_x = token_scores(out, positions, tokens, kind)[0]  # [G]
        out_b, _ = self._logits(inputs, z_b)
        f_b = token_scores(out_b, positions, tokens, kind)[0]
        m = tf.shape(alphas)[0]
        n_chunks = (m + batch_size - 1) // batch_size
        # Every chunk gets exactly batch_size points (the tail padded with
        # zero-weight copies of the last one): TensorFlow's vectorised
        # jacobian corrupts memory on CPU when a loop's chunks differ in size.
        extra = n_chunks * batch_size - m
        alphas = tf.concat([alphas, tf.fill([extra], alphas[-1])], 0)
        weights = tf.concat([weights, tf.zeros([extra], weights.dtype)], 0)

        def body(i, acc):
            s0 = i * batch_size
            s1 = s0 + batch_size
            a, w = alphas[s0:s1], weights[s0:s1]
            rows = tf.zeros([batch_size], tf.int32)  # every path point uses the one sequence
            batch = tf.nest.map_structure(lambda t: tf.gather(t, rows), inputs)
            z = z_b + a[:, None, None] * (z_x - z_b)  # [c, L, D]
            with tf.GradientTape() as tape:
                tape.watch(z)
                logits, _ = self._logits(batch, z)
                # Weighting before differentiating: d/dz of sum_c w_c F_g(z_c)
                # holds each row's weighted gradient, as rows are independent.
                total = tf.reduce_sum(w[:, None] * token_scores(logits, positions, tokens, kind), 0)
            jac = tape.jacobian(total, z, experimental_use_pfor=True)  # [G, c, L, D]
            return i + 1, acc + tf.reduce_sum(jac, axis=1)

        acc0 = tf.zeros(tf.concat([tf.shape(tokens), tf.shape(z_x)[1:]], 0), tf.float32)
        _, acc = tf.while_loop(
            lambda i, _: i < n_chunks, body, [tf.constant(0), acc0], parallel_iterations=1
        )
        attributions = tf.reduce_sum(acc * (z_x - z_b), axis=-1)  # [G, L]
        # Token g sits at positions[g] + 1: it and everything after are no
        # part of its context (the causal mask already gives them zero gradient).
        length = tf.shape(attributions)[1]
        context = tf.range(length)[None, :] <= positions[:, None]
        attributions = tf.where(context, attributions, 0.0)
        delta = tf.reduce_sum(attributions, axis=1) - (f_x - f_b)
        return {
            "attributions": attributions,
            "scores": f_x,
            "baseline_scores": f_b,
            "delta": delta,
        }

    def attribute(
        self,
        kind: str,
        inputs: dict,
        z_b: Any,
        positions: Any,
        tokens: Any,
        alphas: Any,
        weights: Any,
        batch_size: int,
    ) -> dict[str, tf.Tensor]:
        """Attributions of every scored token to every earlier token.

        One graph per model and input keys: the sequence length, the number
        of tokens, the steps, the chunk size and the score kind are all
        graph inputs, so none of them retraces.

        Args:
            kind: one of `SCORES`.
            inputs: the model's inputs for the sequence, each `[1, L]`.
            z_b: `[1, L, D]`, the baseline embeddings.
            positions: `int32[G]`, where each token is predicted.
            tokens: `int32[G]`, the tokens scored.
            alphas, weights: `float32[m]`, the quadrature.
            batch_size: path points per model call.

        Returns:
            `attributions[G, L]` (zero at and after token g's own position),
            `scores[G]`, `baseline_scores[G]` and `delta[G]`, as tensors.
        """
        key = ("attribute", tuple(sorted(inputs)), int(np.shape(z_b)[-1]))
        fn = self._compiled.get(key)
        if fn is None:
            vec, ids = tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.int32)
            scalar = tf.TensorSpec([], tf.int32)
            signature = [
                _sequence_spec(inputs),
                tf.TensorSpec([1, None, int(np.shape(z_b)[-1])], tf.float32),
                ids,
                ids,
                vec,
                vec,
                scalar,
                scalar,
            ]
            fn = tf.function(self._attribute, input_signature=signature, autograph=False)
            self._compiled[key] = fn
        args = (z_b, positions, tokens, alphas, weights, batch_size, SCORES.index(kind))
        dtypes = (tf.float32, tf.int32, tf.int32, tf.float32, tf.float32, tf.int32, tf.int32)
        return fn(_as_sequence(inputs), *(tf.cast(a, d) for a, d in zip(args, dtypes, strict=True)))

    # -- greedy decoding -----------------------------------------------------
    def _greedy(self, inputs: dict, start: tf.Tensor) -> tf.Tensor:
        ids = inputs["token_ids"]  # [1, L], the prompt then free slots
        length = tf.shape(ids)[1]

        def body(t, ids):
            out, _ = self._logits({**inputs, "token_ids": ids})
            nxt = tf.argmax(out[0, t - 1], output_type=tf.int32)
            ids = tf.tensor_scatter_nd_update(ids, [[0, t]], [tf.cast(nxt, ids.dtype)])
            return t + 1, ids

        _, ids = tf.while_loop(lambda t, _: t < length, body, [start, ids])
        return ids

    def greedy(self, inputs: dict, start: int) -> tf.Tensor:
        """Fill positions `start..L-1` of `inputs["token_ids"]` by argmax, one by one.

        Each step runs the full sequence (no cache): the causal mask makes
        the free slots after the position irrelevant.

        Args:
            inputs: the model's inputs, each `[1, L]`, the prompt in `0..start-1`.
            start: the first position to generate, `>= 1`.

        Returns:
            `[1, L]` token ids.
        """
        key = ("greedy", tuple(sorted(inputs)))
        fn = self._compiled.get(key)
        if fn is None:
            signature = [_sequence_spec(inputs), tf.TensorSpec([], tf.int32)]
            fn = tf.function(self._greedy, input_signature=signature, autograph=False)
            self._compiled[key] = fn
        return fn(_as_sequence(inputs), tf.constant(start, tf.int32))


# The input dtypes of KerasHub's language models.
_DTYPES = {"token_ids": tf.int32, "padding_mask": tf.bool}


def _sequence_spec(inputs: dict) -> dict[str, tf.TensorSpec]:
    """Specs of one sequence's inputs (`[1, L]` each, any `L`)."""
    return {k: tf.TensorSpec([1, None], _DTYPES.get(k, tf.int32)) for k in inputs}


def _as_sequence(inputs: dict) -> dict[str, tf.Tensor]:
    return {k: tf.cast(v, _DTYPES.get(k, tf.int32)) for k, v in inputs.items()}
