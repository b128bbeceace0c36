"""Which earlier tokens did each generated token use? A tiny GPT-2, offline.

    python examples/text_generation.py        # about 30 s on 2 CPU cores

A 2-layer `keras_hub.models.GPT2CausalLM` (hidden size 32) with a hand-made
byte-pair vocabulary learns a handful of sentences for a few epochs. Then
`keras_ig.explain_generation` generates greedily from a prompt and
attributes the log-probability of every generated token to every token
before it -- all tokens in one compiled graph, one forward pass per path
point over the whole sequence. Each row's completeness gap is printed and
the matrix saved as a picture. Needs the `hub` extra: `pip install -e ".[hub]"`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from keras_ig.cli import start_tensorflow

start_tensorflow()

import keras
import numpy as np
import tensorflow as tf

import keras_ig
from keras_ig._io.hub_models import gpt2_lm

SENTENCES = (
    "the cat sat on the mat",
    "the dog sat on the cat",
    "a good movie",
    "the movie was not bad",
)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=32, help="IG quadrature points")
    parser.add_argument("--new", type=int, default=4, help="tokens to generate")
    parser.add_argument("--prompt", default="the cat sat")
    parser.add_argument("--out", default="gen.png", help="where the picture goes")
    args = parser.parse_args(argv)

    lm = gpt2_lm(num_layers=2, hidden_dim=32, sequence_length=16)
    lm.compile(optimizer=keras.optimizers.Adam(1e-2), sampler="greedy")
    data = list(SENTENCES) * 8
    # KerasHub maps its preprocessor over the strings; a repeated dataset keeps one
    # iterator for all epochs (a new one each epoch cost ~4 s here, 3x the training).
    batch = 8
    batches = tf.data.Dataset.from_tensor_slices(data).batch(batch).repeat()
    steps_per_epoch = math.ceil(len(data) / batch)
    history = lm.fit(batches, epochs=args.epochs, steps_per_epoch=steps_per_epoch, verbose=0)
    print(f"training loss after {args.epochs} epochs: {history.history['loss'][-1]:.3f}")

    gen = keras_ig.explain_generation(lm, args.prompt, max_new_tokens=args.new, steps=args.steps)
    print("prompt:   ", " ".join(gen.prompt_tokens))
    print("generated:", " ".join(gen.generated_tokens))
    for token, row, delta, score in zip(
        gen.generated_tokens, gen.attributions, gen.delta, gen.scores, strict=True
    ):
        strongest = gen.tokens[int(np.argmax(np.abs(row)))]
        print(f"{token:>8}  log p {score:+.3f}  delta {delta:+.1e}  strongest: {strongest}")
    path = gen.save(args.out)
    print(f"picture: {path}")
    return {"explanation": gen, "picture": path}


if __name__ == "__main__":
    main()
