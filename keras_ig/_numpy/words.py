"""Sub-word pieces into words: which piece belongs to which word, and sums.

Tokenizers mark word boundaries in one of two ways: WordPiece marks the
pieces that *continue* a word (`"##s"`); byte-level BPE (GPT-2, RoBERTa)
and SentencePiece mark the pieces that *start* one after a space (`"Ġ"`,
`"▁"`). Special tokens are always words of their own.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

CONTINUES = "##"
"""WordPiece: a piece starting with this continues the word before it."""
SPACE_MARKS = {"bpe": "Ġ", "sentencepiece": "▁"}
"""Byte-level BPE / SentencePiece: a piece starting with this starts a word."""
SCHEMES = ("wordpiece", *SPACE_MARKS)


def word_index(pieces: Sequence[str], scheme: str, special: Collection[int] = ()) -> np.ndarray:
    """`int[T]`: for each piece, the index of the word it belongs to.

    Args:
        pieces: `T` token strings.
        scheme: `"wordpiece"`, `"bpe"` or `"sentencepiece"`.
        special: positions of special tokens (each its own word).

    Raises:
        ValueError: an unknown scheme.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    index = np.zeros(len(pieces), np.int64)
    word, previous_special = -1, True
    for t, piece in enumerate(pieces):
        is_special = t in special
        if scheme == "wordpiece":
            starts = not piece.startswith(CONTINUES)
        else:
            starts = piece.startswith(SPACE_MARKS[scheme])
        if is_special or previous_special or starts:
            word += 1
        index[t] = word
        previous_special = is_special
    return index


def merge(
    pieces: Sequence[str], values: np.ndarray, index: np.ndarray, scheme: str
) -> tuple[list[str], np.ndarray]:
    """Words and their summed values.

    Args:
        pieces: `T` token strings.
        values: `float[T]`, one value per piece.
        index: `int[T]` from `word_index`.
        scheme: as in `word_index`; says how pieces are glued back.

    Returns:
        `(words, sums)`: `W` strings (markers removed) and `float[W]`.
    """
    n_words = int(index.max()) + 1 if len(index) else 0
    sums = np.zeros(n_words, np.float64)
    np.add.at(sums, index, np.asarray(values, np.float64))
    parts: list[list[str]] = [[] for _ in range(n_words)]
    for piece, w in zip(pieces, index, strict=True):
        if scheme == "wordpiece" and piece.startswith(CONTINUES) and parts[w]:
            piece = piece[len(CONTINUES) :]
        parts[w].append(piece)
    words = ["".join(p) for p in parts]
    if scheme in SPACE_MARKS:
        words = [w.replace(SPACE_MARKS[scheme], " ").strip() or w for w in words]
    return words, sums.astype(np.float32)
