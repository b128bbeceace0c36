"""`keras_ig.explain_text`: per-token Integrated Gradients of a KerasHub classifier.

The text goes through the model's own preprocessor; the token ids (and
padding mask, segment ids) are the model's inputs and stay fixed, and the
path runs in the token embedding's output (`explain(..., layer=)`), from the
embeddings of the baseline ids to those of the text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from keras_ig._api.explain import explain
from keras_ig._api.hub import (
    HubParts,
    as_numpy_inputs,
    baseline_embeddings,
    check_baseline,
    hub_parts,
)
from keras_ig._api.text_results import TextExplanation
from keras_ig._numpy import words

MERGES = (None, "words")


def check_texts(texts: Any, name: str = "texts") -> list[str]:
    """`texts` as a non-empty list of strings (one string is one text)."""
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Sequence) or not texts:
        raise TypeError(f"{name} must be a non-empty list of strings, got {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__}")
    return list(texts)


def explain_text(
    task_model: Any,
    texts: Sequence[str] | str,
    *,
    target: Any = None,
    baseline: Any = "pad",
    steps: int = 64,
    method: str = "gausslegendre",
    batch_size: int | None = None,
    merge: str | None = None,
    warn: bool = True,
) -> TextExplanation:
    """Attribute a KerasHub text classifier's output to the tokens of each text.

    Args:
        task_model: a KerasHub classifier with its preprocessor, e.g. a
            `keras_hub.models.TextClassifier`; its backbone's
            `token_embedding` is where attributions are taken.
        texts: `N` strings (one string is one text).
        target: as in `keras_ig.explain`: None (the predicted class), an
            int, `int[N]`, or a callable `f(logits) -> [N]`.
        baseline: `"pad"` (every non-special token replaced by the pad id,
            special tokens kept), `"zeros"` (zero embeddings) or a token id
            (used like the pad id).
        steps, method, batch_size: as in `keras_ig.explain`.
        merge: None, or `"words"` to sum sub-word pieces into words (the
            pieces and the mapping stay in `pieces`, `word_index`).
        warn: warn when a completeness gap exceeds 5% (`keras_ig.completeness`).

    Returns:
        A `TextExplanation`: per text `tokens` and `attributions[T_i]`, and
        `delta`, `scores`, `baseline_scores`, `target` (`[N]`).

    Raises:
        ValueError, TypeError: naming the argument, e.g. `task_model` without a
            preprocessor or token embedding, before any attribution.

    Example:
        >>> exp = keras_ig.explain_text(classifier, ["a good movie"], steps=32)
        >>> list(zip(exp.tokens[0], exp.attributions[0]))
    """
    batch = prepare_texts(task_model, texts, baseline=baseline, merge=merge)
    return explain_prepared(
        batch, target=target, steps=steps, method=method, batch_size=batch_size, warn=warn
    )


@dataclasses.dataclass(frozen=True)
class TextBatch:
    """Texts through a classifier's preprocessor, ready to explain at any weights.

    What depends only on the texts and the tokenizer is made once; the
    baseline's embeddings are not kept, as they change with the weights.

    Attributes:
        task_model: the KerasHub classifier.
        parts: its `HubParts`.
        x: the preprocessor's output as numpy (`token_ids` `int[N, T]`, ...).
        real: `bool[N, T]`, the non-padding positions.
        baseline: the checked baseline (`"pad"`, `"zeros"` or a token id).
        scheme: the word scheme when merging pieces into words, else None.
        token_ids, pieces: per text, its real token ids `int[T_i]` and strings.
    """

    task_model: Any
    parts: HubParts
    x: dict[str, np.ndarray]
    real: np.ndarray
    baseline: Any
    scheme: str | None
    token_ids: list[np.ndarray]
    pieces: list[list[str]]


def prepare_texts(
    task_model: Any, texts: Sequence[str] | str, *, baseline: Any = "pad", merge: str | None = None
) -> TextBatch:
    """Check the arguments and tokenize `texts` once (see `explain_text`).

    Raises:
        ValueError, TypeError: naming the argument, as `explain_text`.
    """
    parts = hub_parts(task_model)
    texts = check_texts(texts)
    baseline = check_baseline(baseline, parts)
    if merge not in MERGES:
        raise ValueError(f"merge must be one of {MERGES}, got {merge!r}")
    scheme = parts.scheme() if merge else None
    if merge and scheme is None:
        raise ValueError(
            f"merge='words': cannot tell words apart for a {type(parts.tokenizer).__name__}"
        )
    x = as_numpy_inputs(parts.preprocessor(texts))
    ids = x["token_ids"]
    real = np.asarray(x.get("padding_mask", np.ones_like(ids)), bool)  # [N, T]
    token_ids = [ids[i][real[i]] for i in range(len(texts))]
    pieces = [parts.strings(t) for t in token_ids]
    return TextBatch(task_model, parts, x, real, baseline, scheme, token_ids, pieces)


def explain_prepared(
    batch: TextBatch,
    *,
    target: Any = None,
    steps: int = 64,
    method: str = "gausslegendre",
    batch_size: int | None = None,
    warn: bool = True,
) -> TextExplanation:
    """`explain_text` on texts tokenized by `prepare_texts`, at the current weights."""
    parts, ids, real = batch.parts, batch.x["token_ids"], batch.real
    base = (
        "zeros"
        if batch.baseline == "zeros"
        else baseline_embeddings(ids, batch.baseline, parts)  # the weights' own embeddings
    )
    exp = explain(
        batch.task_model,
        batch.x,
        target=target,
        baseline=base,
        steps=steps,
        method=method,
        batch_size=batch_size,
        layer=parts.embedding,
        warn=warn,
    )
    per_token = np.asarray(exp.attributions, np.float32).sum(axis=-1)  # [N, T, D] -> [N, T]
    piece_attr = [per_token[i][real[i]] for i in range(len(ids))]
    # Fresh lists per call: a caller may change its result's tokens.
    pieces = [list(p) for p in batch.pieces]
    token_ids = [t.copy() for t in batch.token_ids]
    if batch.scheme is None:
        index = [np.arange(len(p)) for p in pieces]
        tokens, attributions = pieces, piece_attr
    else:
        index, tokens, attributions = _merged(
            token_ids, pieces, piece_attr, parts.special, batch.scheme
        )
    return TextExplanation(
        tokens=tokens,
        attributions=attributions,
        delta=exp.delta,
        scores=exp.scores,
        baseline_scores=exp.baseline_scores,
        target=exp.target,
        steps=exp.steps,
        method=exp.method,
        baseline=batch.baseline,
        token_ids=token_ids,
        pieces=pieces,
        piece_attributions=piece_attr,
        word_index=index,
    )


def _merged(
    token_ids: list[np.ndarray],
    pieces: list[list[str]],
    values: list[np.ndarray],
    special: frozenset[int],
    scheme: str,
) -> tuple[list[np.ndarray], list[list[str]], list[np.ndarray]]:
    """Per text: the piece -> word index, the words and their summed attributions."""
    index, tokens, sums = [], [], []
    for t_ids, p, a in zip(token_ids, pieces, values, strict=True):
        w_index = words.word_index(p, scheme, [j for j, i in enumerate(t_ids) if int(i) in special])
        w, s = words.merge(p, a, w_index, scheme)
        index.append(w_index)
        tokens.append(w)
        sums.append(s)
    return index, tokens, sums
