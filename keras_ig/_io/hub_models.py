"""Tiny KerasHub models built offline from configs, with seeded weights.

No presets and no downloads: each builder makes its own vocabulary (a
word-piece list for BERT, a byte-pair vocabulary and merges for GPT-2 and
RoBERTa) and a backbone a few kilobytes big, so the tests, the examples and
the benchmark (their one home for these models) run in seconds and
anywhere. Needs the `hub` extra (`pip install -e ".[hub]"`); `keras_hub` is
imported inside each builder. Random weights: the models show how the
attributions are computed and drawn, not what a trained model would say.
"""

from __future__ import annotations

import keras
import numpy as np

# Words the byte-pair vocabularies know whole (with and without a leading
# space); anything else falls apart into letters, so sub-word merging has
# something to merge (e.g. "movies" -> "Ġmovie" + "s").
WORDS = ("the", "a", "movie", "was", "good", "bad", "cat", "sat", "on", "mat", "dog", "not")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def bpe_vocabulary(specials: tuple[str, ...]) -> tuple[dict[str, int], list[str]]:
    """A byte-level BPE vocabulary and merges over `WORDS` and the letters.

    Byte-level BPE writes a leading space as "Ġ"; each word gets merges that
    build it left to right, with and without that space.

    Args:
        specials: special tokens, given the first ids in this order.

    Returns:
        `(vocabulary, merges)` for `GPT2Tokenizer` / `RobertaTokenizer`.
    """
    pieces = [*specials, "Ġ", *LETTERS]
    merges: list[str] = []
    for word in WORDS:
        for form in (["Ġ", *word], list(word)):
            cur = form[0]
            for ch in form[1:]:
                merges.append(f"{cur} {ch}")
                cur += ch
                pieces.append(cur)
    vocab: dict[str, int] = {}
    for p in pieces:
        vocab.setdefault(p, len(vocab))
    return vocab, list(dict.fromkeys(merges))


def word_pieces() -> list[str]:
    """A BERT word-piece vocabulary: specials, `WORDS`, letters and `##` pieces."""
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *LETTERS]
    return list(dict.fromkeys([*pieces, *(f"##{c}" for c in LETTERS)]))


def spread(model: keras.Model, seed: int) -> keras.Model:
    """Re-draw every matrix of `model` as `N(0, 1 / fan_in)`, seeded; vectors stay.

    KerasHub initialises with a standard deviation of 0.02, so a random tiny
    model's outputs barely move with the text; unit-scale weights give
    attributions (and differences between classes) well above float noise.
    """
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if len(w.shape) >= 2:
            fan_in = int(np.prod(w.shape[:-1]))
            w.assign(rng.normal(0.0, fan_in**-0.5, w.shape).astype(w.dtype))
    return model


def bert_classifier(num_classes: int = 3, sequence_length: int = 12, seed: int = 0) -> keras.Model:
    """A 1-layer `BertTextClassifier` with its preprocessor (hidden 16)."""
    import keras_hub

    keras.utils.set_random_seed(seed)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=word_pieces())
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        dropout=0.0,
        max_sequence_length=sequence_length,
    )
    model = keras_hub.models.BertTextClassifier(
        backbone, num_classes, preprocessor=preprocessor, dropout=0.0
    )
    return spread(model, seed)


def roberta_classifier(
    num_classes: int = 2, sequence_length: int = 12, seed: int = 0
) -> keras.Model:
    """A 1-layer `RobertaTextClassifier` (byte-pair tokens) with its preprocessor."""
    import keras_hub

    keras.utils.set_random_seed(seed)
    vocab, merges = bpe_vocabulary(("<s>", "<pad>", "</s>", "<mask>"))
    tokenizer = keras_hub.models.RobertaTokenizer(vocabulary=vocab, merges=merges)
    preprocessor = keras_hub.models.RobertaTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=len(vocab),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        dropout=0.0,
        max_sequence_length=sequence_length,
    )
    model = keras_hub.models.RobertaTextClassifier(
        backbone, num_classes, preprocessor=preprocessor, dropout=0.0
    )
    return spread(model, seed)


def gpt2_lm(
    num_layers: int = 2,
    hidden_dim: int = 16,
    sequence_length: int = 32,
    seed: int = 0,
) -> keras.Model:
    """A small `GPT2CausalLM` (2 layers, hidden 16 by default) with its preprocessor.

    `sequence_length` is both the preprocessor's and the position table's
    length: prompt plus generated tokens must fit in it.
    """
    import keras_hub

    keras.utils.set_random_seed(seed)
    vocab, merges = bpe_vocabulary(("<|endoftext|>",))
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocab, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=len(vocab),
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        dropout=0.0,
        max_sequence_length=sequence_length,
    )
    return spread(keras_hub.models.GPT2CausalLM(backbone, preprocessor=preprocessor), seed)
