"""Explain a KerasHub text classifier token by token, offline.

    python examples/text_classifier_hub.py        # about 20 s on 2 CPU cores

A 1-layer BERT (`keras_hub.models.BertTextClassifier`, hidden size 16) with
a hand-made word-piece vocabulary is fine-tuned for a few epochs on short
reviews whose label is decided by one word ("good" or "bad"). Then
`keras_ig.explain_text` tokenizes each review with the model's own
preprocessor, integrates from the `"pad"` baseline (every word replaced by
`[PAD]`, `[CLS]`/`[SEP]` kept) at the token embedding, and reports the
attribution per token; the deciding word should carry most of it. Needs the
`hub` extra: `pip install -e ".[hub]"`.
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
from keras_ig._io.hub_models import bert_classifier

SUBJECTS = ("the movie", "the cat", "a dog", "the mat")
VERBS = ("was", "sat on", "was not")


def reviews(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """`n` short texts, label 1 when the text holds "good", 0 for "bad"."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        good = bool(rng.integers(2))
        subject, verb = SUBJECTS[rng.integers(len(SUBJECTS))], VERBS[rng.integers(len(VERBS))]
        texts.append(f"{subject} {verb} {'good' if good else 'bad'}")
        labels.append(int(good))
    return texts, np.array(labels)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=64, help="training texts")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=32, help="IG quadrature points")
    parser.add_argument("--out", default="text.png", help="where the picture goes")
    args = parser.parse_args(argv)

    model = bert_classifier(num_classes=2, sequence_length=8)
    texts, labels = reviews(args.train)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    # The texts are already in random order, so the dataset is not shuffled.
    # KerasHub maps its preprocessor over the strings; a repeated dataset keeps one
    # iterator for all epochs (a new one each epoch costs seconds of tokenizer set-up).
    batch = 16
    batches = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(batch).repeat()
    steps_per_epoch = math.ceil(len(texts) / batch)
    history = model.fit(batches, epochs=args.epochs, steps_per_epoch=steps_per_epoch, verbose=0)
    accuracy = float(history.history["accuracy"][-1])
    print(f"training accuracy after {args.epochs} epochs: {accuracy:.2f}")

    probes = ["the movie was good", "a dog sat on bad", "the cat was not good"]
    exp = keras_ig.explain_text(model, probes, steps=args.steps, merge="words")
    shares = []
    for words, attr, target, delta in zip(
        exp.tokens, exp.attributions, exp.target, exp.delta, strict=True
    ):
        print(
            f"class {int(target)}  delta {float(delta):+.1e}  "
            + "  ".join(f"{w}:{a:+.3f}" for w, a in zip(words, attr, strict=True))
        )
        key = next(i for i, w in enumerate(words) if w in ("good", "bad"))
        shares.append(float(np.abs(attr[key]) / np.abs(attr).sum()))
    path = exp.save(args.out)
    print(f"share of |attribution| on the deciding word: {np.round(shares, 2).tolist()}")
    print(f"picture: {path}")
    return {"accuracy": accuracy, "shares": shares, "picture": path, "explanation": exp}


if __name__ == "__main__":
    main()
