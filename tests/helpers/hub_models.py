"""The tiny offline KerasHub models of the tests (one home: `keras_ig._io.hub_models`)."""

from keras_ig._io.hub_models import (
    bert_classifier,
    bpe_vocabulary,
    gpt2_lm,
    roberta_classifier,
    spread,
    word_pieces,
)

__all__ = [
    "bert_classifier",
    "bpe_vocabulary",
    "gpt2_lm",
    "roberta_classifier",
    "spread",
    "word_pieces",
]
