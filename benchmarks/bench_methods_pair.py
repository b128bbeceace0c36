"""Blur IG and Guided IG: keras-ig against PAIR saliency, and against their floor.

Run by hand from the repository root, in the project's venv (with the `dev`
extra, which brings PAIR's `saliency`):

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_methods_pair.py [--n 8] [--size 32] [--steps 64]
                                            [--batch-size 128] [--repeats 3]
                                            [--models bench,demo] [--no-eager]

What it measures, on two CNNs with random weights (`--models`): the bench's
(`size x size x 3` images, 10 classes, logits) and the demo's
(`keras_ig._io.demo.build_model` at the demo's 32 x 32 x 1, 4 classes,
softmax), on the same `n` images, target the predicted class:

* keras-ig: the wall time of `keras_ig.blur_ig(...)` / `keras_ig.guided_ig(...)`
  (the whole call from the host: validation, F(x), F at the path's start,
  the path integral, the `Explanation`).
* PAIR, two arms (the same `GetMask` calls on each image in turn, as PAIR
  takes one example at a time; BlurIG gets `batch_size=steps`, all its
  steps in one model call per image, its fastest setting):
  - `PAIR`: a `call_model_function` that is a `tf.function`-compiled
    gradient of the same score. This is generous to PAIR (its users would
    have to write it); it isolates what PAIR's numpy loop costs.
  - `eager`: PAIR as its documentation runs it: the `call_model_function`
    of its TF2 README / core examples notebook, which calls the Keras model
    eagerly under a `tf.GradientTape` on each call (the target class from
    `call_model_args`). This is what a PAIR user pays.
  Both are shown because the first bounds what keras-ig's batching and
  compilation win over PAIR's algorithm alone, the second what a user
  switching from PAIR sees. `eager~PAIR` checks the two arms agree (their
  attributions' largest difference relative to the largest attribution);
  `--no-eager` skips timing the (slow) eager arm.
* floor: the irreducible work of the method, a compiled forward+backward
  (`tf.GradientTape` of the summed target scores) over the same rows in the
  same chunks: Blur IG's `n * steps` path points in chunks of `batch_size`;
  Guided IG's `steps` rounds of `n` rows in blocks of `batch_size`, each
  block on CPU as two halves in one call (both in flight at once, as
  keras-ig walks them). The rows are built before the clock starts.

Each is warmed up, then timed alternately `--repeats` times in one process;
the table gives medians and the ratios measured side by side (targets:
Blur IG >= 5x and Guided IG >= 10x faster than the compiled PAIR arm; each
<= 1.2x its floor).
`PAIR/floor` is the most any implementation that pays the floor can reach.
`cpu P/o`, `cpu o/fl` and `cpu E/o` are the same ratios in this process's CPU
time (all threads), steadier than wall time when other processes share the
cores; `eager/ours` and `cpu E/o` are the eager arm over keras-ig.
It also prints the largest difference between the two implementations'
attributions, relative to the largest attribution. Guided IG's is not
always tiny: its selection is discontinuous in `|g|`, and the model's
kernels round a gradient over a chunk of many images (keras-ig) slightly
differently from one image at a time (PAIR), which can flip a near-tie
(bench CNN, 32 images: one image 6.7% of its peak off, the other 31 within
3e-7; with `batch_size=1` all 32 within 5e-8).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

import keras_ig
from keras_ig._engine.chunks import accelerated
from keras_ig._engine.guided import first_half
from keras_ig._numpy.blur import blur


def cnn(size: int) -> keras.Model:
    inp = keras.Input((size, size, 3))
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same")(inp)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, activation="relu", padding="same")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, activation="relu", padding="same")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(inp, keras.layers.Dense(10)(h), name="cnn")


def gradient_fn(model: keras.Model, row_shape: tuple) -> Callable:
    """A compiled d(sum of target scores)/dz for one chunk (the floor, and PAIR's model)."""

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *row_shape), tf.float32),
            tf.TensorSpec((None,), tf.int32),
        ]
    )
    def grad(z, t):
        with tf.GradientTape() as tape:
            tape.watch(z)
            score = tf.reduce_sum(tf.gather(model(z, training=False), t, batch_dims=1))
        return tape.gradient(score, z)

    return grad


def pair_call(grad: Callable, target: int) -> Callable:
    """PAIR's `call_model_function` on the compiled gradient `grad` (generous to PAIR)."""
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    def call(x_batch, call_model_args=None, expected_keys=None):
        z = tf.constant(np.asarray(x_batch, np.float32))
        t = tf.fill([z.shape[0]], target)
        return {INPUT_OUTPUT_GRADIENTS: grad(z, t).numpy()}

    return call


def eager_call(model: keras.Model) -> Callable:
    """PAIR's `call_model_function` as its TF2 README and core examples write it.

    Each call runs the Keras model eagerly under a `tf.GradientTape` on the
    batch PAIR hands over, slices the target class (from `call_model_args`)
    and returns the gradient as a numpy array: no `tf.function`.
    """
    from saliency.core.base import INPUT_OUTPUT_GRADIENTS

    def call(x_batch, call_model_args=None, expected_keys=None):
        images = tf.convert_to_tensor(x_batch, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(images)
            score = model(images)[:, call_model_args["class"]]
        return {INPUT_OUTPUT_GRADIENTS: np.array(tape.gradient(score, images))}

    return call


def quantile_shim() -> None:
    """PAIR's GuidedIG passes `interpolation=` to np.quantile (NumPy 2: `method=`)."""
    quantile = np.quantile

    def shim(*args, interpolation=None, **kwargs):
        if interpolation is not None:
            kwargs["method"] = interpolation
        return quantile(*args, **kwargs)

    np.quantile = shim


def chunks(rows: np.ndarray, targets: np.ndarray, b: int) -> list[tuple[tf.Tensor, tf.Tensor]]:
    return [
        (tf.constant(rows[i : i + b]), tf.constant(targets[i : i + b]))
        for i in range(0, len(rows), b)
    ]


def guided_blocks(rows: np.ndarray, targets: np.ndarray, b: int) -> list[tuple[tf.Tensor, ...]]:
    """Guided IG's chunks as keras-ig walks them: blocks of `b` rows, each on CPU as two
    halves in flight at once (`(rows, targets)` or `(rows1, targets1, rows2, targets2)`)."""
    out = []
    for i in range(0, len(rows), b):
        r, t = rows[i : i + b], targets[i : i + b]
        h = first_half(len(r))
        one = accelerated() or h == len(r)
        parts = [(r, t)] if one else [(r[:h], t[:h]), (r[h:], t[h:])]
        out.append(tuple(tf.constant(v) for part in parts for v in part))
    return out


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """`(wall, cpu)` seconds of `fn()`: cpu is this process's, all threads (steadier when
    other processes share the cores)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def models(size: int) -> dict[str, keras.Model]:
    """The bench's CNN (`size`, 3 channels) and the demo's (its own image size, 1 channel)."""
    from keras_ig._io.demo import DEFAULT, build_model

    return {
        "bench": cnn(size),
        "demo": build_model(DEFAULT.size, 4, DEFAULT.filters),
    }


def bench_model(name: str, model: keras.Model, args: argparse.Namespace, saliency) -> None:
    n, s, b = args.n, args.steps, args.batch_size
    row_shape = tuple(model.input_shape[1:])
    x = np.random.default_rng(0).uniform(0, 1, (n, *row_shape)).astype(np.float32)
    targets = np.argmax(model(x).numpy(), 1).astype(np.int32)
    grad = gradient_fn(model, row_shape)

    # Blur IG: path points at sigma_k = k max_sigma / steps, chunks of b over n * steps.
    sigmas = np.arange(s) * args.max_sigma / s
    blur_rows = np.concatenate([blur(x, sg)[:, None] for sg in sigmas], 1).reshape(-1, *row_shape)
    blur_chunks = chunks(blur_rows, np.repeat(targets, s), b)
    # Guided IG: steps rounds of n rows, in blocks of b (each as keras-ig splits it).
    guided_chunks = [c for _ in range(s) for c in guided_blocks(x, targets, b)]
    both = tf.function(lambda z1, t1, z2, t2: (grad(z1, t1), grad(z2, t2)))

    def floor(chunk_list):
        def run():
            g = None
            for c in chunk_list:
                g = grad(*c) if len(c) == 2 else both(*c)[1]
            g.numpy()

        return run

    def ours(method, **kw):
        return lambda: method(model, x, target=targets, steps=s, batch_size=b, warn=False, **kw)

    def pair_blur(call_for):
        return lambda: np.stack(
            [
                saliency.BlurIG().GetMask(
                    x[i],
                    call_for(i),
                    call_model_args={"class": int(targets[i])},
                    max_sigma=args.max_sigma,
                    steps=s,
                    batch_size=s,
                )
                for i in range(n)
            ]
        )

    def pair_guided(call_for):
        return lambda: np.stack(
            [
                saliency.GuidedIG().GetMask(
                    x[i], call_for(i), call_model_args={"class": int(targets[i])}, x_steps=s
                )
                for i in range(n)
            ]
        )

    eager = eager_call(model)

    def compiled_arm(i: int) -> Callable:
        return pair_call(grad, int(targets[i]))

    def eager_arm(i: int) -> Callable:
        return eager

    cases = {
        "blur_ig": (
            ours(keras_ig.blur_ig, max_sigma=args.max_sigma),
            pair_blur,
            floor(blur_chunks),
            5.0,
        ),
        "guided_ig": (ours(keras_ig.guided_ig), pair_guided, floor(guided_chunks), 10.0),
    }
    for method, (mine, pair, base, goal) in cases.items():
        arms = {"pair": pair(compiled_arm), "eager": pair(eager_arm)}
        ref = arms["pair"]()  # warm-up (and the reference answer)
        ref_eager = arms["eager"]()
        got = mine().attributions
        base()
        mine()
        times = {"ours": [], "pair": [], "eager": [], "floor": []}
        for _ in range(args.repeats):
            times["ours"].append(timed(mine))
            times["floor"].append(timed(base))
            times["pair"].append(timed(arms["pair"]))
            if args.eager:
                times["eager"].append(timed(arms["eager"]))
        if not args.eager:
            times["eager"] = [(np.nan, np.nan)]
        med = {k: statistics.median(w for w, _ in v) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in times.items()}
        diff = np.abs(got - ref).max() / np.abs(ref).max()
        arm_diff = np.abs(ref_eager - ref).max() / np.abs(ref).max()
        speed, over = med["pair"] / med["ours"], med["ours"] / med["floor"]
        cap = med["pair"] / med["floor"]
        flags = ("" if speed >= goal else f"  < {goal:g}x") + ("" if over <= 1.2 else "  > 1.2")
        label = f"{name} {'x'.join(map(str, row_shape))}"
        print(
            f"{label:<14} {method:<10} {med['ours']:>10.4f} {med['pair']:>9.4f} "
            f"{med['floor']:>9.4f} {speed:>9.2f} {over:>10.3f} {cap:>10.2f} "
            f"{cpu['pair'] / cpu['ours']:>8.2f} {cpu['ours'] / cpu['floor']:>9.3f} "
            f"{diff:>13.2e} | {med['eager']:>8.4f} {med['eager'] / med['ours']:>9.2f} "
            f"{cpu['eager'] / cpu['ours']:>8.2f} {arm_diff:>10.2e}{flags}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-sigma", type=float, default=50.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="bench,demo", help="comma-separated: bench, demo")
    parser.add_argument(
        "--no-eager",
        dest="eager",
        action="store_false",
        help="skip timing the eager PAIR arm (its answer is still checked)",
    )
    args = parser.parse_args(argv)
    import saliency.core as saliency

    quantile_shim()
    keras.utils.set_random_seed(0)
    print(
        f"devices: {[d.device_type for d in tf.config.list_logical_devices()]}; "
        f"{args.n} images, steps={args.steps}, batch_size={args.batch_size}, "
        f"max_sigma={args.max_sigma}"
    )
    head = (
        f"{'model':<14} {'method':<10} {'keras-ig s':>10} {'PAIR s':>9} {'floor s':>9} "
        f"{'PAIR/ours':>9} {'ours/floor':>10} {'PAIR/floor':>10} {'cpu P/o':>8} "
        f"{'cpu o/fl':>9} {'max|diff|/max':>13} | {'eager s':>8} {'eager/ours':>9} "
        f"{'cpu E/o':>8} {'eager~PAIR':>10}"
    )
    print(head)
    print("-" * len(head))
    built = models(args.size)
    for name in args.models.split(","):
        bench_model(name, built[name], args, saliency)


if __name__ == "__main__":
    main()
