"""Sub-word pieces into words (`keras_ig._numpy.words`)."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ig._numpy import words


def test_wordpiece_continuations_join_the_word_before():
    pieces = ["[CLS]", "un", "##believ", "##able", "movie", "[SEP]"]
    index = words.word_index(pieces, "wordpiece", special=[0, 5])
    np.testing.assert_array_equal(index, [0, 1, 1, 1, 2, 3])
    w, s = words.merge(pieces, np.array([0.0, 1.0, 2.0, 4.0, 8.0, 0.5]), index, "wordpiece")
    assert w == ["[CLS]", "unbelievable", "movie", "[SEP]"]
    np.testing.assert_allclose(s, [0.0, 7.0, 8.0, 0.5])


@pytest.mark.parametrize(("scheme", "mark"), [("bpe", "Ġ"), ("sentencepiece", "▁")])
def test_space_marks_start_words(scheme, mark):
    pieces = ["<s>", "the", f"{mark}movie", "s", f"{mark}was", "</s>"]
    index = words.word_index(pieces, scheme, special=[0, 5])
    np.testing.assert_array_equal(index, [0, 1, 2, 2, 3, 4])
    w, s = words.merge(pieces, np.arange(6.0), index, scheme)
    assert w == ["<s>", "the", "movies", "was", "</s>"]
    np.testing.assert_allclose(s, [0.0, 1.0, 5.0, 4.0, 5.0])
    assert s.sum() == np.arange(6.0).sum()  # merging keeps the total


def test_a_special_token_is_always_its_own_word():
    pieces = ["a", "##b", "[SEP]", "##c"]
    np.testing.assert_array_equal(words.word_index(pieces, "wordpiece", special=[2]), [0, 0, 1, 2])


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match="scheme"):
        words.word_index(["a"], "chars")
