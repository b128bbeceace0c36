"""The parts of a KerasHub task that text attribution needs, checked.

A KerasHub task (`TextClassifier`, `CausalLM`) holds a `preprocessor` with
a `tokenizer`, and a `backbone` with a `token_embedding` layer. They are read
by attribute, so nothing of `keras_hub` is imported here (and `keras_ig`
stays importable without it). Baselines are token ids: the baseline in
embedding space is the token embedding of those ids.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from keras_ig._numpy import checks

BASELINES = ("pad", "zeros")
"""Named text baselines; a token id (int) is the third kind."""

# Tokenizer classes of KerasHub by how they mark words (`keras_ig._numpy.words`).
_SCHEME_OF_CLASS = {
    "WordPieceTokenizer": "wordpiece",
    "BytePairTokenizer": "bpe",
    "SentencePieceTokenizer": "sentencepiece",
}


@dataclass(frozen=True)
class HubParts:
    """What a KerasHub task is made of, for attribution.

    Attributes:
        preprocessor: the task's preprocessor (strings -> model inputs).
        tokenizer: its tokenizer.
        embedding: the backbone's token embedding layer (`[.., T] -> [.., T, D]`).
        special: ids of the special tokens (kept by the `"pad"` baseline).
    """

    preprocessor: Any
    tokenizer: Any
    embedding: keras.layers.Layer
    special: frozenset[int]

    def pad_id(self) -> int | None:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        return None if pad is None else int(pad)

    def strings(self, ids: np.ndarray) -> list[str]:
        """Token strings of `int[T]` ids, special tokens included."""
        return [str(self.tokenizer.id_to_token(int(i))) for i in ids]

    def scheme(self) -> str | None:
        """How the tokenizer marks words (`keras_ig._numpy.words`), None if unknown."""
        for cls in type(self.tokenizer).__mro__:
            if cls.__name__ in _SCHEME_OF_CLASS:
                return _SCHEME_OF_CLASS[cls.__name__]
        return None


def hub_parts(task_model: Any, name: str = "task_model") -> HubParts:
    """The preprocessor, tokenizer and token embedding of a KerasHub task.

    Raises:
        TypeError: not a keras.Model.
        ValueError: naming `name`: no preprocessor, tokenizer or token embedding.
    """
    if not isinstance(task_model, keras.Model):
        raise TypeError(f"{name} must be a KerasHub task model, got {type(task_model).__name__}")
    kind = type(task_model).__name__
    preprocessor = getattr(task_model, "preprocessor", None)
    if preprocessor is None:
        raise ValueError(
            f"{name}: this {kind} has no preprocessor, so the text cannot be tokenized; "
            "build it with its preprocessor (preprocessor=...), or explain the token ids "
            "with keras_ig.explain(model, x, layer=<token embedding>)"
        )
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None or not hasattr(tokenizer, "id_to_token"):
        raise ValueError(f"{name}: the preprocessor of this {kind} has no tokenizer")
    embedding = getattr(getattr(task_model, "backbone", None), "token_embedding", None)
    if not isinstance(embedding, keras.layers.Embedding):
        raise ValueError(
            f"{name}: this {kind} has no backbone with a token embedding "
            "(backbone.token_embedding, a keras.layers.Embedding) to attribute at"
        )
    special = set(int(i) for i in (getattr(tokenizer, "special_token_ids", None) or ()))
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is not None:
        special.add(int(pad))
    return HubParts(preprocessor, tokenizer, embedding, frozenset(special))


def check_baseline(baseline: Any, parts: HubParts) -> Any:
    """`"pad"`, `"zeros"` or a token id in the vocabulary, else an error naming it."""
    if isinstance(baseline, str):
        if baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES} or a token id, got {baseline!r}")
        if baseline == "pad" and parts.pad_id() is None:
            raise ValueError("baseline='pad': the tokenizer has no pad_token_id; pass a token id")
        return baseline
    if isinstance(baseline, bool) or not isinstance(baseline, numbers.Integral):
        raise TypeError(
            f"baseline must be 'pad', 'zeros' or a token id (int), got {type(baseline).__name__}"
        )
    checks.integer(baseline, "baseline", 0)
    size = int(parts.embedding.input_dim)
    if baseline >= size:
        raise ValueError(f"baseline: token id {baseline} is outside the vocabulary of {size}")
    return int(baseline)


def baseline_embeddings(ids: np.ndarray, baseline: Any, parts: HubParts) -> np.ndarray:
    """`float32[..., T, D]`: the baseline in embedding space for token ids `ids`.

    `"pad"` (every non-special token replaced by the pad id, specials kept)
    and a token id (the same, with that id) are the embeddings of those ids;
    `"zeros"` is zero embeddings.
    """
    replacement = baseline_ids(ids, baseline, parts)
    if replacement is None:
        return np.zeros((*ids.shape, int(parts.embedding.output_dim)), np.float32)
    return keras.ops.convert_to_numpy(parts.embedding(replacement)).astype(np.float32)


def baseline_ids(ids: np.ndarray, baseline: Any, parts: HubParts) -> np.ndarray | None:
    """The baseline's token ids (None for `"zeros"`), shaped like `ids`."""
    if isinstance(baseline, str) and baseline == "zeros":
        return None
    fill = parts.pad_id() if isinstance(baseline, str) else int(baseline)
    keep = np.isin(ids, np.fromiter(parts.special, np.int64, len(parts.special)))
    return np.where(keep, ids, fill).astype(ids.dtype)


def as_numpy_inputs(x: Any) -> dict[str, np.ndarray]:
    """A preprocessor's output (a dict, or `(x, y, w)`) as a dict of numpy arrays."""
    if isinstance(x, tuple):
        x = x[0]
    if not isinstance(x, dict) or "token_ids" not in x:
        raise ValueError(
            "task_model: its preprocessor does not return a dict with 'token_ids'; "
            "only text tasks of KerasHub are supported"
        )
    return {k: keras.ops.convert_to_numpy(v) for k, v in x.items()}
