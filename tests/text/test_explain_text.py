"""`keras_ig.explain_text` on tiny BERT and RoBERTa classifiers built offline."""

from __future__ import annotations

import pytest

keras_hub = pytest.importorskip("keras_hub")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_ig  # noqa: E402
from tests.helpers import hub_models  # noqa: E402

TEXTS = ["the movie was good", "a bad cats"]
STEPS = 16


@pytest.fixture(scope="module")
def bert():
    return hub_models.bert_classifier(num_classes=3)


@pytest.fixture(scope="module")
def roberta():
    return hub_models.roberta_classifier(num_classes=2)


@pytest.fixture(scope="module")
def bert_exp(bert):
    return keras_ig.explain_text(bert, TEXTS, steps=STEPS)


def _inputs(model, texts):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model.preprocessor(texts).items()}


def _logits(model, x):
    return keras.ops.convert_to_numpy(model(x)).astype(np.float64)


def _padded(model, x):
    """x with every non-special token replaced by the pad id."""
    tok = model.preprocessor.tokenizer
    special = [*tok.special_token_ids, tok.pad_token_id]
    ids = x["token_ids"]
    return {**x, "token_ids": np.where(np.isin(ids, special), ids, tok.pad_token_id)}


@pytest.mark.slow
def test_tokens_are_the_tokenizers_with_specials(bert_exp):
    assert bert_exp.tokens == [
        ["[CLS]", "the", "movie", "was", "good", "[SEP]"],
        ["[CLS]", "a", "bad", "cat", "##s", "[SEP]"],
    ]
    assert [a.shape for a in bert_exp.attributions] == [(6,), (6,)]
    assert bert_exp.delta.shape == bert_exp.scores.shape == bert_exp.target.shape == (2,)


def test_scores_are_the_models_logits_at_the_predicted_class(bert, bert_exp):
    logits = _logits(bert, _inputs(bert, TEXTS))
    np.testing.assert_array_equal(bert_exp.target, logits.argmax(axis=1))
    np.testing.assert_allclose(bert_exp.scores, logits.max(axis=1), rtol=1e-5, atol=1e-6)


def test_pad_baseline_scores_are_the_model_on_the_padded_text(bert, bert_exp):
    base = _logits(bert, _padded(bert, _inputs(bert, TEXTS)))
    expected = base[np.arange(2), bert_exp.target]
    np.testing.assert_allclose(bert_exp.baseline_scores, expected, rtol=1e-5, atol=1e-6)


def test_completeness_and_kept_specials(bert_exp):
    for attr, delta, s, b in zip(
        bert_exp.attributions,
        bert_exp.delta,
        bert_exp.scores,
        bert_exp.baseline_scores,
        strict=True,
    ):
        assert abs(s - b) > 1e-3
        assert abs(attr.sum() - (s - b) - delta) < 1e-5
        assert abs(delta) < 1e-3 * abs(s - b) + 1e-6
        # Specials are their own baseline: nothing to attribute to them.
        assert attr[0] == 0.0 and attr[-1] == 0.0


def test_a_text_of_specials_only_gets_nothing(bert):
    exp = keras_ig.explain_text(bert, [""], steps=4)
    assert exp.tokens == [["[CLS]", "[SEP]"]]
    np.testing.assert_array_equal(exp.attributions[0], [0.0, 0.0])
    np.testing.assert_allclose(exp.scores, exp.baseline_scores, atol=1e-6)


@pytest.mark.slow
def test_targets_as_in_explain(bert):
    exp = keras_ig.explain_text(bert, TEXTS, target=[1, 2], steps=STEPS)
    logits = _logits(bert, _inputs(bert, TEXTS))
    np.testing.assert_allclose(exp.scores, logits[[0, 1], [1, 2]], rtol=1e-5, atol=1e-6)
    contrast = keras_ig.explain_text(bert, TEXTS, target=lambda y: y[:, 1] - y[:, 0], steps=STEPS)
    assert contrast.target is None
    np.testing.assert_allclose(contrast.scores, logits[:, 1] - logits[:, 0], rtol=1e-5, atol=1e-6)


def test_token_id_baseline_is_that_token_for_every_non_special(bert):
    tok = bert.preprocessor.tokenizer
    mask_id = tok.token_to_id("[MASK]")
    exp = keras_ig.explain_text(bert, TEXTS[:1], baseline=mask_id, steps=STEPS)
    x = _inputs(bert, TEXTS[:1])
    ids = x["token_ids"]
    special = list(tok.special_token_ids)
    masked = {**x, "token_ids": np.where(np.isin(ids, special), ids, mask_id)}
    expected = _logits(bert, masked)[0, exp.target[0]]
    np.testing.assert_allclose(exp.baseline_scores[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_roberta_words_merge_pieces_and_keep_the_mapping(roberta):
    exp = keras_ig.explain_text(roberta, ["the movies was good"], steps=STEPS, merge="words")
    assert exp.pieces == [["<s>", "the", "Ġmovie", "s", "Ġwas", "Ġgood", "</s>"]]
    assert exp.tokens == [["<s>", "the", "movies", "was", "good", "</s>"]]
    np.testing.assert_array_equal(exp.word_index[0], [0, 1, 2, 2, 3, 4, 5])
    pieces = exp.piece_attributions[0]
    np.testing.assert_allclose(exp.attributions[0][2], pieces[2] + pieces[3], rtol=1e-6)
    np.testing.assert_allclose(exp.attributions[0].sum(), pieces.sum(), rtol=1e-5, atol=1e-7)
    gap = exp.attributions[0].sum() - (exp.scores[0] - exp.baseline_scores[0])
    assert abs(gap - exp.delta[0]) < 1e-5
    assert abs(exp.delta[0]) < 1e-3 * abs(exp.scores[0] - exp.baseline_scores[0]) + 1e-6


def test_roberta_zeros_baseline_is_complete(roberta):
    exp = keras_ig.explain_text(roberta, TEXTS, baseline="zeros", steps=32)
    scale = np.abs(exp.scores - exp.baseline_scores)
    assert np.all(scale > 1e-3)
    assert np.all(np.abs(exp.delta) < 1e-2 * scale)
    # With zero embeddings the specials are attributed too.
    assert all(a[0] != 0.0 for a in exp.attributions)


def test_bert_words_merge_word_pieces(bert):
    exp = keras_ig.explain_text(bert, TEXTS[1:], steps=STEPS, merge="words")
    assert exp.tokens == [["[CLS]", "a", "bad", "cats", "[SEP]"]]
    np.testing.assert_array_equal(exp.word_index[0], [0, 1, 2, 3, 3, 4])


def test_the_model_is_not_changed(bert):
    before = [keras.ops.convert_to_numpy(w).copy() for w in bert.weights]
    keras_ig.explain_text(bert, TEXTS[:1], steps=4)
    for w, b in zip(bert.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"texts": [1]}, TypeError, r"texts\[0\]"),
        ({"texts": []}, TypeError, "texts"),
        ({"baseline": "mask"}, ValueError, "baseline"),
        ({"baseline": -1}, ValueError, "baseline"),
        ({"baseline": 10**6}, ValueError, "baseline"),
        ({"merge": "sentences"}, ValueError, "merge"),
        ({"steps": 0}, ValueError, "steps"),
        ({"target": 7}, ValueError, "target"),
    ],
)
def test_bad_arguments_are_named(bert, kwargs, error, match):
    kwargs = {"texts": TEXTS, **kwargs}
    with pytest.raises(error, match=match):
        keras_ig.explain_text(bert, kwargs.pop("texts"), **kwargs)


def test_models_without_preprocessor_or_token_embedding_are_named(bert):
    bare = keras_hub.models.BertTextClassifier(bert.backbone, 3, preprocessor=None)
    with pytest.raises(ValueError, match=r"task_model: .*no preprocessor"):
        keras_ig.explain_text(bare, TEXTS)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    plain.preprocessor = bert.preprocessor
    with pytest.raises(ValueError, match=r"task_model: .*token embedding"):
        keras_ig.explain_text(plain, TEXTS)
    with pytest.raises(TypeError, match="task_model"):
        keras_ig.explain_text("bert", TEXTS)
