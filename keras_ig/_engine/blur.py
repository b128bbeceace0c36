"""The compiled Blur IG engine (Xu et al., CVPR 2020).

One `tf.function` per image signature (batch dimension open) does a batch's
whole job: F(x) (targets resolved there), F at the fully blurred images, and
the path integral over the `N * steps` (image, step) pairs in chunks of at
most `batch_size` pairs inside a `tf.while_loop`. Each chunk blurs its
images on device at `sigma_k`, as batched matmuls with the blur matrices of
`keras_ig._numpy.blur.blur_path`, takes `dF/dx` there and adds
`w_k * dF/dx * (L(sigma_k + grad_step) - L(sigma_k))` to its image's row.
That difference is not taken between two float32 blurs: at large sigma they
agree to about 1e-5 and their difference would keep only a few digits
(6e-4 relative error at `max_sigma=50`, 32 x 32). It is applied as
`dH x W1' + H0 x dW'`, with `dH = H1 - H0` and `dW = W1 - W0` formed in
float64 on the host, so it is as exact as one float32 blur (1e-7).

Shapes: N images `[N, H, W, C]`; S steps; P pairs in a chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from keras_ig._engine.chunks import gradient, over_chunks, scores
from keras_ig._engine.devices import for_strategy_run
from keras_ig._engine.score import ScoreFunction

MATRICES = ("h0", "dh", "w0", "w1", "dw", "h_end", "w_end", "weights")


def work_dtype(dtype: tf.DType) -> tf.DType:
    """The blur's arithmetic: float64 for float64 images, else float32 (also under float16)."""
    return tf.float64 if dtype == tf.float64 else tf.float32


def _along_h(h: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """`h[p] @ x[p, :, :, c]` per channel, laid out for `_along_w`.

    `[P, H, H], [P, H, W, C]` -> `[P, H, W]` for one channel, else `[P, W, H*C]`.
    """
    p = tf.shape(x)[0]
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    if channels == 1:
        return tf.matmul(h, x[..., 0])
    rows = tf.matmul(h, tf.reshape(x, [p, height, width * channels]))
    rows = tf.transpose(tf.reshape(rows, [p, height, width, channels]), [0, 2, 1, 3])
    return tf.reshape(rows, [p, width, height * channels])


def _along_w(w: tf.Tensor, rows: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """`rows` (from `_along_h`) times `w[p].T` along W: `[P, H, W, C]`, shaped like `like`."""
    p = tf.shape(like)[0]
    height, width, channels = like.shape[1], like.shape[2], like.shape[3]
    if channels == 1:
        return tf.matmul(rows, w, transpose_b=True)[..., None]
    cols = tf.matmul(w, rows)
    return tf.transpose(tf.reshape(cols, [p, width, height, channels]), [0, 2, 1, 3])


def _blur(h: tf.Tensor, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """`h[p] @ x[p, :, :, c] @ w[p].T` per channel: `[P, H, H], [P, H, W, C], [P, W, W]`.

    As two batched matmuls over `[P, H, W*C]` and `[P, W, H*C]` (one, with no
    transpose, for one channel): the einsum of the same products took 1.6x
    (3 channels) to 2.6x (1 channel) as long at 128 pairs of 32 x 32.
    """
    return _along_w(w, _along_h(h, x), x)


def _blur_and_step(m: dict[str, tf.Tensor], k: tf.Tensor, x: tf.Tensor) -> tuple:
    """`(L(sigma_k), L(sigma_k + grad_step) - L(sigma_k))` for images `x [P, H, W, C]`.

    The step is `dH x W1' + H0 x dW'` (`H1 x W1' - H0 x W0'` exactly), both
    terms free of cancellation; `H0 x` is shared with the blur.
    """
    rows0 = _along_h(tf.gather(m["h0"], k), x)
    z0 = _along_w(tf.gather(m["w0"], k), rows0, x)
    step = _along_w(tf.gather(m["w1"], k), _along_h(tf.gather(m["dh"], k), x), x)
    return z0, step + _along_w(tf.gather(m["dw"], k), rows0, x)


class BlurEngine:
    """Blur IG for one `ScoreFunction` (no `layer=`: the blur is in input space)."""

    def __init__(self, score_fn: ScoreFunction) -> None:
        if score_fn.layer is not None:
            raise ValueError("layer: Blur IG blurs the input image; it cannot run at a layer")
        self.score_fn = score_fn
        self._compiled: dict[Any, Callable] = {}
        self.traces = 0

    def _graph(self, x: tf.Tensor, mats: dict[str, tf.Tensor], targets, batch_size) -> dict:
        self.traces += 1
        n = tf.shape(x)[0]
        steps = tf.shape(mats["weights"])[0]
        work = work_dtype(x.dtype)
        m = mats  # already in `work` (see `work_dtype`)
        xw = tf.cast(x, work)

        # 1. F(x), resolving the predicted class where targets < 0.
        def forward(rows, state):
            s, resolved, _ = scores(self.score_fn, tf.gather(x, rows), tf.gather(targets, rows))
            return [
                tf.tensor_scatter_nd_update(state[0], rows[:, None], s),
                tf.tensor_scatter_nd_update(state[1], rows[:, None], resolved),
            ]

        score_x, resolved = over_chunks(
            n, batch_size, forward, [tf.zeros([n], tf.float32), tf.zeros([n], tf.int32)]
        )

        # 2. The path's start, the image blurred at max_sigma, and F there.
        def at_end(rows, state):
            p = tf.shape(rows)[0]
            h = tf.broadcast_to(m["h_end"], tf.concat([[p], tf.shape(m["h_end"])], 0))
            w = tf.broadcast_to(m["w_end"], tf.concat([[p], tf.shape(m["w_end"])], 0))
            blurred = _blur(h, tf.gather(xw, rows), w)
            s, _, _ = scores(self.score_fn, tf.cast(blurred, x.dtype), tf.gather(resolved, rows))
            return [
                tf.tensor_scatter_nd_update(state[0], rows[:, None], s),
                tf.tensor_scatter_nd_update(state[1], rows[:, None], blurred),
            ]

        score_end, blurred = over_chunks(
            n, batch_size, at_end, [tf.zeros([n], tf.float32), tf.zeros_like(xw)]
        )

        # 3. The path integral over (image, step) pairs p = image * S + step.
        def path(pairs, state):
            r, k = pairs // steps, pairs % steps
            xr = tf.gather(xw, r)
            z0, step = _blur_and_step(m, k, xr)
            z = tf.cast(z0, x.dtype)
            (g,) = gradient(self.score_fn, lambda zz: zz[0], [z], tf.gather(resolved, r))
            g = tf.cast(g, work)
            w = tf.reshape(tf.gather(m["weights"], k), [-1, 1, 1, 1])
            return [tf.tensor_scatter_nd_add(state[0], r[:, None], w * g * step)]

        (attributions,) = over_chunks(n * steps, batch_size, path, [tf.zeros_like(xw)])
        return {
            "attributions": [tf.cast(attributions, tf.float32)],
            "scores": score_x,
            "baseline_scores": score_end,
            "targets": resolved,
            "blurred": tf.cast(blurred, x.dtype),
        }

    def replicated(self, row_shape: tuple, dtype: tf.DType) -> Callable:
        """`compiled`'s graph for `strategy.run` (see `devices.for_strategy_run`)."""
        key = ("replicated", tuple(row_shape), dtype)
        fn = self._compiled.get(key)
        if fn is None:
            fn = for_strategy_run(self.compiled(row_shape, dtype))
            self._compiled[key] = fn
        return fn

    def compiled(self, row_shape: tuple, dtype: tf.DType) -> Callable:
        """The `tf.function` for images `[None, *row_shape]` of `dtype`, built once.

        Its arguments: `x`, a dict of the blur matrices and weights
        (`MATRICES`, as `blur_path` returns them, in `work_dtype(dtype)`),
        `targets int32[N]`,
        `batch_size int32[]`.
        """
        key = (tuple(row_shape), dtype)
        fn = self._compiled.get(key)
        if fn is not None:
            return fn
        h, w = row_shape[0], row_shape[1]
        f32 = work_dtype(dtype)
        mats = {
            "h0": tf.TensorSpec((None, h, h), f32),
            "dh": tf.TensorSpec((None, h, h), f32),
            "w0": tf.TensorSpec((None, w, w), f32),
            "w1": tf.TensorSpec((None, w, w), f32),
            "dw": tf.TensorSpec((None, w, w), f32),
            "h_end": tf.TensorSpec((h, h), f32),
            "w_end": tf.TensorSpec((w, w), f32),
            "weights": tf.TensorSpec((None,), f32),
        }
        signature = [
            tf.TensorSpec((None, *row_shape), dtype),
            mats,
            tf.TensorSpec((None,), tf.int32),
            tf.TensorSpec((), tf.int32),
        ]
        fn = tf.function(self._graph, input_signature=signature, autograph=False)
        self._compiled[key] = fn
        return fn
