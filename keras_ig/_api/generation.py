"""`keras_ig.explain_generation`: which earlier tokens each generated token used.

The prompt goes through the causal LM's own preprocessor; the continuation
is the model's greedy generation (or the text given), and the whole sequence
is then attributed in one compiled graph (`keras_ig._engine.sequence`).
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig import completeness
from keras_ig._api.explanation import CompletenessWarning, user_stacklevel
from keras_ig._api.hub import (
    HubParts,
    as_numpy_inputs,
    baseline_embeddings,
    check_baseline,
    hub_parts,
)
from keras_ig._api.text_results import GenerationExplanation
from keras_ig._engine.job import chunk_rows
from keras_ig._engine.score import ScoreFunction
from keras_ig._engine.sequence import SCORES, SequenceEngine
from keras_ig._numpy import checks
from keras_ig._numpy.quadrature import method_name, quadrature

# One engine per causal LM, so repeated calls reuse its compiled graphs.
_ENGINES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _engine(causal_lm: Any, parts: HubParts) -> SequenceEngine:
    engine = _ENGINES.get(causal_lm)
    if engine is None or engine.score_fn.layer is not parts.embedding:
        engine = SequenceEngine(ScoreFunction(causal_lm, layer=parts.embedding, weak=True))
        _ENGINES[causal_lm] = engine
    return engine


def _stop_ids(stop_token_ids: Any, parts: HubParts) -> tuple[int, ...]:
    """generate()'s `stop_token_ids`: "auto" (the end token), None, or ids."""
    if stop_token_ids is None:
        return ()
    if isinstance(stop_token_ids, str):
        if stop_token_ids != "auto":
            raise ValueError(f"stop_token_ids must be 'auto', None or ids, got {stop_token_ids!r}")
        names = ("end_token_id", "end_token2_id")
        return tuple(int(getattr(parts.tokenizer, n)) for n in names if hasattr(parts.tokenizer, n))
    return tuple(checks.integer(i, "stop_token_ids", 0) for i in stop_token_ids)


def _prompt_ids(prompt: Any, parts: HubParts) -> np.ndarray:
    """`int[P]`: the prompt as the preprocessor packs it for generation."""
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a str, got {type(prompt).__name__}")
    if not hasattr(parts.preprocessor, "generate_preprocess"):
        raise ValueError("causal_lm: its preprocessor has no generate_preprocess (not a CausalLM?)")
    x = as_numpy_inputs(parts.preprocessor.generate_preprocess([prompt]))
    unknown = sorted(set(x) - {"token_ids", "padding_mask"})
    if unknown:
        raise ValueError(f"causal_lm: inputs {unknown} besides token ids are not supported")
    mask = np.asarray(x.get("padding_mask", np.ones_like(x["token_ids"])), bool)[0]
    ids = x["token_ids"][0][mask].astype(np.int32)
    if ids.size == 0:
        raise ValueError("prompt: no tokens (an empty prompt and no start token)")
    return ids


def _inputs(ids: np.ndarray) -> dict[str, tf.Tensor]:
    """The model's inputs for one unpadded sequence `int[L]`, each `[1, L]`."""
    token_ids = tf.constant(ids[None], tf.int32)
    return {"token_ids": token_ids, "padding_mask": tf.ones_like(token_ids, tf.bool)}


def explain_generation(
    causal_lm: Any,
    prompt: str,
    *,
    continuation: str | None = None,
    max_new_tokens: int = 16,
    steps: int = 32,
    score: str = "log_prob",
    baseline: Any = "pad",
    method: str = "gausslegendre",
    batch_size: int | None = None,
    stop_token_ids: Any = "auto",
    warn: bool = True,
) -> GenerationExplanation:
    """Attribute each generated token to the prompt and the tokens generated before it.

    F for row g is `score` of generated token g given everything before it
    (teacher forcing). All `G` rows come from one forward pass per path point
    over the whole sequence and one batched backward pass; each row's
    completeness holds, `attributions[g].sum() - (F_g(x) - F_g(baseline)) == delta[g]`.

    Args:
        causal_lm: a KerasHub `CausalLM` with its preprocessor.
        prompt: the prompt text.
        continuation: None to generate greedily (as `causal_lm.generate` with
            a greedy sampler); or a text scored as given, tokenized on its
            own (so write its leading space, " world").
        max_new_tokens: most tokens generated, `>= 1`; generation ends
            early after a stop token (which is kept as the last token).
        steps, method: quadrature points and rule, as in `keras_ig.explain`.
        score: `"log_prob"` (default), `"prob"` or `"logit"` of each token.
        baseline: `"pad"` (every non-special token replaced by the pad id),
            `"zeros"` (zero embeddings) or a token id.
        batch_size: most path points in one model call (each a whole
            sequence; the backward pass holds `G` gradients of each). None:
            about 4M elements of `[G, L, D]` gradients per call.
        stop_token_ids: as in `generate`: `"auto"` (the end token), None, or ids.
        warn: warn (`CompletenessWarning`) when a row's gap exceeds 5%.

    Returns:
        A `GenerationExplanation`: `prompt_tokens[P]`, `generated_tokens[G]`,
        `attributions[G, P + G]`, `delta[G]`, `scores[G]`, `baseline_scores[G]`.

    Raises:
        ValueError, TypeError: naming the argument, before any attribution.

    Example:
        >>> gen = keras_ig.explain_generation(lm, "the cat", max_new_tokens=8)
        >>> gen.attributions.shape  # (G, P + G)
    """
    parts = hub_parts(causal_lm, "causal_lm")
    checks.integer(max_new_tokens, "max_new_tokens", 1)
    if score not in SCORES:
        raise ValueError(f"score must be one of {SCORES}, got {score!r}")
    method = method_name(method)
    alphas, weights = quadrature(method, steps)
    checks.integer(batch_size, "batch_size", 1, optional=True)
    baseline = check_baseline(baseline, parts)
    stops = _stop_ids(stop_token_ids, parts)
    if continuation is not None and not isinstance(continuation, str):
        raise TypeError(f"continuation must be a str or None, got {type(continuation).__name__}")
    prompt_ids = _prompt_ids(prompt, parts)
    cont = None if continuation is None else continuation_ids(parts, continuation)
    _check_length(causal_lm, len(prompt_ids), max_new_tokens if cont is None else len(cont), cont)

    engine = _engine(causal_lm, parts)
    ids = _sequence(engine, prompt_ids, cont, max_new_tokens, stops)
    p, length, width = len(prompt_ids), len(ids), int(parts.embedding.output_dim)
    rows = chunk_rows([(length - p, length, width)], batch_size, len(alphas))
    raw = engine.attribute(
        score,
        _inputs(ids),
        baseline_embeddings(ids[None], baseline, parts),  # [1, L, D]
        np.arange(p - 1, length - 1, dtype=np.int32),  # where token g is predicted
        ids[p:],
        alphas,
        weights,
        rows,
    )
    tokens = parts.strings(ids)
    gen = GenerationExplanation(
        prompt_tokens=tokens[:p],
        generated_tokens=tokens[p:],
        attributions=raw["attributions"].numpy(),
        delta=raw["delta"].numpy(),
        scores=raw["scores"].numpy(),
        baseline_scores=raw["baseline_scores"].numpy(),
        score=score,
        steps=int(steps),
        method=method,
        baseline=baseline,
        token_ids=ids,
    )
    if warn:
        _warn_if_incomplete(gen)
    return gen


def _check_length(causal_lm: Any, p: int, new: int, cont: np.ndarray | None) -> None:
    """Prompt plus new tokens within the backbone's position table, if it has one."""
    limit = getattr(getattr(causal_lm, "backbone", None), "max_sequence_length", None)
    if limit is not None and p + new > int(limit):
        what = "max_new_tokens" if cont is None else "continuation"
        raise ValueError(
            f"{what}: the prompt's {p} tokens plus {new} new ones exceed the model's "
            f"max_sequence_length of {limit}"
        )


def _sequence(
    engine: SequenceEngine,
    prompt_ids: np.ndarray,
    cont: np.ndarray | None,
    max_new_tokens: int,
    stops: tuple[int, ...],
) -> np.ndarray:
    """`int32[P + G]`: the prompt and its continuation (given, or greedy to a stop token)."""
    if cont is not None:
        return np.concatenate([prompt_ids, cont]).astype(np.int32)
    p = len(prompt_ids)
    buffer = np.concatenate([prompt_ids, np.zeros(max_new_tokens, np.int32)])
    ids = engine.greedy(_inputs(buffer), p).numpy()[0].astype(np.int32)
    hits = [j for j in range(p, len(ids)) if int(ids[j]) in stops]
    return ids[: hits[0] + 1] if hits else ids


def continuation_ids(parts: HubParts, text: str) -> np.ndarray:
    """`int32[T]`: `text` through the tokenizer alone (no start or end token)."""
    ids = np.asarray(parts.tokenizer.tokenize(text)).reshape(-1).astype(np.int32)
    if ids.size == 0:
        raise ValueError("continuation: no tokens; give a non-empty text")
    return ids


def _warn_if_incomplete(gen: GenerationExplanation) -> None:
    ok = completeness.within_tolerance(
        gen.delta, gen.scores, gen.baseline_scores, completeness.TOLERANCE
    )
    if not np.all(ok):
        worst = int(np.argmax(np.where(ok, -1.0, gen.relative_delta)))
        warnings.warn(
            f"completeness gap above {completeness.TOLERANCE:.0%} for {int((~ok).sum())} of "
            f"{len(ok)} generated tokens (worst: token {worst}, relative gap "
            f"{gen.relative_delta[worst]:.3g}) with {gen.method!r} at steps={gen.steps}; "
            "raise steps",
            CompletenessWarning,
            stacklevel=user_stacklevel(),
        )
