"""What `explain_text` and `explain_generation` return.

Records only: drawing lives in `keras_ig._io.text_pictures`, which `save`,
`to_images` and `_repr_html_` hand the record to.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig import completeness


@dataclass(frozen=True)
class TextExplanation:
    """Per-token Integrated Gradients of a text classifier.

    Attributes:
        tokens: per text, its `T_i` token strings (specials included), or its
            words with `merge="words"`.
        attributions: per text, `float32[T_i]`: attribution per token (word),
            summed over the embedding axis; trimmed to the text's real length.
        delta: `float32[N]`: `sum(attributions) - (scores - baseline_scores)`.
        scores, baseline_scores: `float32[N]`: F(text) and F(baseline).
        target: `int32[N]` the class explained, None for a callable target.
        steps, method: the quadrature used.
        baseline: `"pad"`, `"zeros"` or the token id used.
        token_ids: per text, its `int[T_i]` token ids.
        pieces: per text, its token strings (the sub-word pieces).
        piece_attributions: per text, `float32[T_i]` per piece.
        word_index: per text, `int[T_i]`: the entry of `tokens` each piece
            belongs to (`arange` without merging).
    """

    tokens: list[list[str]]
    attributions: list[np.ndarray]
    delta: np.ndarray
    scores: np.ndarray
    baseline_scores: np.ndarray
    target: np.ndarray | None
    steps: int
    method: str
    baseline: Any
    token_ids: list[np.ndarray]
    pieces: list[list[str]]
    piece_attributions: list[np.ndarray]
    word_index: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def relative_delta(self) -> np.ndarray:
        """`float64[N]`: `|delta|` over the scale of `keras_ig.completeness`."""
        return completeness.relative_gap(self.delta, self.scores, self.baseline_scores)

    def to_images(self, **options: Any) -> list[Any]:
        """One RGB picture per text: tokens on a diverging colour scale.

        Args:
            **options: `max_width` (default 800), `clip_percentile` (100).
        """
        from keras_ig._io import text_pictures

        return text_pictures.text_images(self, **options)

    def save(self, path: str | os.PathLike, **options: Any) -> pathlib.Path:
        """Write the texts' pictures, one under the other, as one PNG.

        Example:
            >>> keras_ig.explain_text(classifier, ["a good movie"]).save("text.png")
        """
        from keras_ig._io import text_pictures

        return text_pictures.save(text_pictures.text_images(self, **options), path)

    def _repr_html_(self) -> str:
        from keras_ig._io import text_pictures

        return text_pictures.text_html(self)


@dataclass(frozen=True)
class GenerationExplanation:
    """Attributions of each generated token to every token before it.

    Attributes:
        prompt_tokens: the `P` prompt tokens (specials included).
        generated_tokens: the `G` generated (or given) tokens.
        attributions: `float32[G, P + G]`: row g, token g's attribution to
            each token of the sequence; 0 at and after its own position.
        delta: `float32[G]`: `attributions[g].sum() - (scores[g] - baseline_scores[g])`.
        scores, baseline_scores: `float32[G]`: F_g at the sequence and at the
            baseline (`score` of token g given everything before it).
        score: `"log_prob"`, `"prob"` or `"logit"`.
        steps, method: the quadrature used.
        baseline: `"pad"`, `"zeros"` or the token id used.
        token_ids: `int[P + G]`, the whole sequence.
    """

    prompt_tokens: list[str]
    generated_tokens: list[str]
    attributions: np.ndarray
    delta: np.ndarray
    scores: np.ndarray
    baseline_scores: np.ndarray
    score: str
    steps: int
    method: str
    baseline: Any
    token_ids: np.ndarray

    @property
    def tokens(self) -> list[str]:
        """All `P + G` tokens: the matrix's columns."""
        return [*self.prompt_tokens, *self.generated_tokens]

    @property
    def relative_delta(self) -> np.ndarray:
        """`float64[G]`: `|delta|` over the scale of `keras_ig.completeness`."""
        return completeness.relative_gap(self.delta, self.scores, self.baseline_scores)

    def __len__(self) -> int:
        return len(self.generated_tokens)

    def to_image(self, **options: Any) -> Any:
        """The matrix, generated tokens (rows) x context tokens (columns), RGB.

        Args:
            **options: `cell` (pixels per cell, default 18), `clip_percentile` (100).
        """
        from keras_ig._io import text_pictures

        return text_pictures.generation_image(self, **options)

    def save(self, path: str | os.PathLike, **options: Any) -> pathlib.Path:
        """Write the matrix of `to_image` as a PNG.

        Example:
            >>> keras_ig.explain_generation(lm, "the cat").save("gen.png")
        """
        from keras_ig._io import text_pictures

        return text_pictures.save([text_pictures.generation_image(self, **options)], path)

    def _repr_html_(self) -> str:
        from keras_ig._io import text_pictures

        return text_pictures.generation_html(self)
