"""Explain a text classifier token by token.

    python examples/text_sentiment.py     # about 15 s on 2 CPU cores

Token ids are integers: there is no path from one id to another, so IG
cannot attribute to them. It attributes at the `Embedding` instead
(`layer="embedding"`): the baseline is the all-zero embedding (no word at
all), the path scales every word vector from 0 up to its value, and each
position gets the sum of its vector's attributions.

`make_sentences` writes filler sentences with one or two sentiment keywords
("great", "awful", ...) that alone decide the label, and returns where they
are (`keyword_mask`). A classifier that learned the task should put its
evidence on those keywords: the example measures the share of positive
attribution they get and compares it with their share of the sentence.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from keras_ig.cli import start_tensorflow

# As the CLI does: TF_CPP_MIN_LOG_LEVEL=2, and the C++ start-up lines
# (oneDNN, cuInit) that ignore it held back unless start-up fails.
start_tensorflow()

import keras
import numpy as np

import keras_ig
from keras_ig import render
from keras_ig.datasets import make_sentences


def build_model(vocab_size: int, length: int, dim: int) -> keras.Model:
    """Embedding, average over positions, a hidden layer, a softmax."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((length,), dtype="int32"),
            layers.Embedding(vocab_size, dim, name="embedding"),
            layers.GlobalAveragePooling1D(),
            layers.Dense(16, activation="relu"),
            layers.Dense(2, activation="softmax"),
        ]
    )


def main(argv: Sequence[str] | None = None) -> dict:
    """Train, explain at the embedding, measure the keywords' share.

    Returns:
        `{"keyword_share": float, "chance": float, "accuracy": float,
        "max_relative_gap": float}`.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="training sentences")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--probes", type=int, default=32, help="sentences explained")
    parser.add_argument("--steps", type=int, default=64, help="integration steps")
    parser.add_argument("--out", default="runs/text", help="folder for the picture")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    data = make_sentences(args.train, seed=args.seed)
    length = data.token_ids.shape[1]
    model = build_model(len(data.vocabulary), length, dim=16)
    model.compile(
        keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(data.token_ids, data.labels, epochs=args.epochs, batch_size=64, verbose=0)

    test = make_sentences(args.probes, seed=args.seed + 1000)
    accuracy = float(model.evaluate(test.token_ids, test.labels, verbose=0)[1])
    exp = keras_ig.explain(
        model,
        test.token_ids,
        target=test.labels,
        layer="embedding",  # baseline: the zero embedding
        steps=args.steps,
        output="logits",
    )
    # [N, T, D] -> [N, T]: one score per token (summing keeps completeness).
    scores = exp.attributions.sum(axis=-1)

    positive = np.maximum(scores, 0.0)
    keyword_share = (positive * test.keyword_mask).sum(axis=1) / np.maximum(
        positive.sum(axis=1), 1e-12
    )
    # Chance: the keywords' share of the real (non-padding) tokens.
    chance = test.keyword_mask.sum(axis=1) / test.lengths

    print(f"test accuracy {accuracy:.1%}")
    print(
        f"share of positive attribution on the sentiment keywords: "
        f"{keyword_share.mean():.1%} (their share of the tokens: {chance.mean():.1%})"
    )
    print(f"largest completeness gap: {exp.relative_delta.max():.2%} of |F(x) - F(x')|")
    print()
    pictures = []
    for i in range(min(4, args.probes)):
        n = int(test.lengths[i])
        words = [test.vocabulary[t] for t in test.token_ids[i, :n]]
        label = test.class_names[int(test.labels[i])]
        print(
            f"{label:>8}: "
            + " ".join(f"{w}({s:+.2f})" for w, s in zip(words, scores[i, :n], strict=True))
        )
        pictures.append(render.token_image(words, scores[i, :n]))

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "tokens.png")
    render.grid(pictures, cols=1).save(path)
    print(f"\nTokens coloured by attribution (red: for the label): {path}")
    return {
        "keyword_share": float(keyword_share.mean()),
        "chance": float(chance.mean()),
        "accuracy": accuracy,
        "max_relative_gap": float(exp.relative_delta.max()),
    }


if __name__ == "__main__":
    main()
