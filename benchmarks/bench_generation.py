"""explain_generation vs one explain per generated token, and vs its own floor.

    python benchmarks/bench_generation.py            # a few minutes on 2 CPU cores
    python benchmarks/bench_generation.py --layers 4 --hidden 128 --repeats 5
    python benchmarks/bench_generation.py --memory --steps 256 --batch 8   # peak RSS

A small GPT-2 (random weights; 2 layers, hidden 64 by default), a sequence
of 64 tokens (48 prompt + 16 scored), 32 Gauss-Legendre steps. Three timings,
each the best of `--repeats` warm runs (graphs built beforehand), side by
side in one process:

- `explain_generation`: all 16 rows, one forward pass per path point over
  the whole sequence and one batched (vectorised) backward pass;
- the per-token loop (what Captum's LLM attribution does): 16
  `keras_ig.explain` calls at the token embedding, call g on the prefix
  before token g with that token's log-probability as the target;
- the floor of explain_generation's own work: one compiled call doing just
  the 32 path points' forward pass and the `G`-row jacobian, nothing else.

Printed ratios: loop / explain_generation (> 1 means faster than the loop)
and explain_generation / floor (1 means no overhead). On a GPU the same
script runs unchanged (TensorFlow places the graphs there); it then needs
about `steps * G * L * D` floats of gradients per chunk, bounded by `--batch`.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable, Sequence

from keras_ig.cli import start_tensorflow

start_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_ig  # noqa: E402
from keras_ig._engine.score import ScoreFunction  # noqa: E402
from keras_ig._io.hub_models import gpt2_lm  # noqa: E402
from keras_ig._numpy.quadrature import quadrature  # noqa: E402

WORDS = "the cat sat on the mat a dog was not bad".split()


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--prompt", type=int, default=48, help="prompt tokens")
    parser.add_argument("--new", type=int, default=16, help="scored tokens")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--batch", type=int, default=None, help="path points per call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--memory",
        action="store_true",
        help="only run explain_generation and print the process's peak RSS "
        "(run once per --batch to see memory follow batch_size)",
    )
    args = parser.parse_args(argv)

    length = args.prompt + args.new
    lm = gpt2_lm(num_layers=args.layers, hidden_dim=args.hidden, sequence_length=length)
    tok = lm.preprocessor.tokenizer
    words = [WORDS[i % len(WORDS)] for i in range(length)]
    ids = np.asarray(tok.tokenize(" ".join(words))).astype(np.int32)
    # The start token, then exactly `prompt - 1` prompt tokens and `new` more.
    ids = np.concatenate([[tok.start_token_id], ids[: length - 1]]).astype(np.int32)
    prompt = tok.detokenize(ids[1 : args.prompt])
    continuation = tok.detokenize(ids[args.prompt :])
    emb = lm.backbone.token_embedding

    def generation():
        return keras_ig.explain_generation(
            lm,
            prompt,
            continuation=continuation,
            steps=args.steps,
            batch_size=args.batch,
            warn=False,
        )

    gen = generation()
    assert gen.attributions.shape == (args.new, length), gen.attributions.shape
    if args.memory:
        t_gen = best_of(generation, args.repeats)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(
            f"batch_size {args.batch}: explain_generation {t_gen * 1e3:.1f} ms, "
            f"peak RSS {peak:.0f} MiB"
        )
        return {"generation": t_gen, "peak_mib": peak}
    seq = gen.token_ids
    special = set(tok.special_token_ids)
    padded = np.array([i if i in special else tok.pad_token_id for i in seq], np.int32)
    base = keras.ops.convert_to_numpy(emb(padded[None]))

    # One target function for all 16 calls (the token it scores in a
    # variable), so the loop reuses one explainer and its 16 graphs, one per
    # prefix length: its best case.
    token = tf.Variable(0, dtype=tf.int32)

    def log_prob(y):
        return tf.gather(tf.nn.log_softmax(tf.cast(y[:, -1], tf.float32)), token, axis=1)

    def per_token():
        rows = []
        for t in range(args.prompt, length):
            x = {"token_ids": seq[None, :t], "padding_mask": np.ones((1, t), bool)}
            token.assign(int(seq[t]))
            exp = keras_ig.explain(
                lm,
                x,
                layer=emb,
                target=log_prob,
                baseline=base[:, :t],
                steps=args.steps,
                batch_size=args.batch,
                warn=False,
            )
            rows.append(exp.attributions.sum(-1)[0])
        return rows

    loop_rows = per_token()  # builds the 16 graphs
    worst = max(
        float(np.max(np.abs(r - gen.attributions[g, : len(r)]))) for g, r in enumerate(loop_rows)
    )

    # The floor: the path points' forward pass and the G-row jacobian, once.
    alphas, weights = (tf.constant(v, tf.float32) for v in quadrature("gausslegendre", args.steps))
    inputs = {
        "token_ids": tf.constant(np.repeat(seq[None], args.steps, 0)),
        "padding_mask": tf.ones((args.steps, length), tf.bool),
    }
    z_x = tf.constant(keras.ops.convert_to_numpy(emb(seq[None])))
    positions = tf.range(args.prompt - 1, length - 1)
    targets = tf.constant(seq[args.prompt :])
    # The model with the token embedding's output replaced by z (the seam
    # explain uses; the interception costs nothing once traced).
    score_fn = ScoreFunction(lm, layer=emb)

    @tf.function(autograph=False)
    def floor():
        z = base + alphas[:, None, None] * (z_x - base)
        with tf.GradientTape() as tape:
            tape.watch(z)
            logits, _ = score_fn.outputs(inputs, z)
            picked = tf.gather(logits, positions, axis=1)
            lp = tf.nn.log_softmax(picked)
            s = tf.reduce_sum(lp * tf.one_hot(targets, tf.shape(lp)[-1])[None], -1)
            total = tf.reduce_sum(weights[:, None] * s, 0)
        return tape.jacobian(total, z, experimental_use_pfor=True)

    floor()
    t_gen = best_of(generation, args.repeats)
    t_loop = best_of(per_token, args.repeats)
    t_floor = best_of(floor, args.repeats)
    print(
        f"GPT-2 {args.layers} layers, hidden {args.hidden}; sequence {length} "
        f"({args.prompt} prompt + {args.new} scored), {args.steps} steps, "
        f"batch_size {args.batch}, best of {args.repeats}"
    )
    print(f"explain_generation        {t_gen * 1e3:9.1f} ms")
    print(f"{args.new} explain calls (loop) {t_loop * 1e3:9.1f} ms")
    print(f"floor (forward + jacobian) {t_floor * 1e3:8.1f} ms")
    print(f"loop / explain_generation  {t_loop / t_gen:8.2f}x")
    print(f"explain_generation / floor {t_gen / t_floor:8.2f}x")
    print(f"largest |row - loop row|   {worst:8.1e}")
    return {"generation": t_gen, "loop": t_loop, "floor": t_floor, "worst": worst}


if __name__ == "__main__":
    main()
