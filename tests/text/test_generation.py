"""`keras_ig.explain_generation` on a tiny GPT-2 built offline."""

from __future__ import annotations

import pytest

keras_hub = pytest.importorskip("keras_hub")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_ig  # noqa: E402
from tests.helpers import hub_models  # noqa: E402

PROMPT = "the cat sat"
NEW = 5
STEPS = 16


@pytest.fixture(scope="module")
def lm():
    return hub_models.gpt2_lm(sequence_length=16, seed=1)


@pytest.fixture(scope="module")
def gen(lm):
    return keras_ig.explain_generation(
        lm, PROMPT, max_new_tokens=NEW, steps=STEPS, stop_token_ids=None
    )


def _logits(lm, ids: np.ndarray) -> np.ndarray:
    x = {"token_ids": ids[None], "padding_mask": np.ones((1, len(ids)), bool)}
    return keras.ops.convert_to_numpy(lm(x))[0].astype(np.float64)  # [L, V]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def _token_log_probs(lm, ids: np.ndarray, p: int) -> np.ndarray:
    """log p(ids[t] | ids[:t]) for t = p .. L-1, computed from the model's logits."""
    lp = _log_softmax(_logits(lm, ids))
    return np.array([lp[t - 1, ids[t]] for t in range(p, len(ids))])


@pytest.mark.slow
def test_shapes_and_tokens(lm, gen):
    tok = lm.preprocessor.tokenizer
    p = len(gen.prompt_tokens)
    assert gen.prompt_tokens == ["<|endoftext|>", "the", "Ġcat", "Ġsat"]
    assert len(gen.generated_tokens) == NEW
    assert gen.attributions.shape == (NEW, p + NEW)
    assert gen.delta.shape == gen.scores.shape == gen.baseline_scores.shape == (NEW,)
    assert gen.tokens == [tok.id_to_token(int(i)) for i in gen.token_ids]


@pytest.mark.slow
def test_greedy_continuation_equals_generate_with_a_greedy_sampler(lm, gen):
    p = len(gen.prompt_tokens)
    x = lm.preprocessor.generate_preprocess([PROMPT], sequence_length=p + NEW)
    # A second task on the same backbone, so the tested model is not recompiled.
    plain = keras_hub.models.GPT2CausalLM(lm.backbone, preprocessor=None)
    plain.compile(sampler="greedy")
    out = plain.generate(x, stop_token_ids=None)
    np.testing.assert_array_equal(np.asarray(out["token_ids"])[0], gen.token_ids)


def test_scores_are_the_models_log_probabilities(lm, gen):
    p = len(gen.prompt_tokens)
    expected = _token_log_probs(lm, gen.token_ids, p)
    np.testing.assert_allclose(gen.scores, expected, rtol=1e-5, atol=1e-5)


def test_pad_baseline_scores_are_the_model_on_the_padded_text(lm, gen):
    tok = lm.preprocessor.tokenizer
    special = set(tok.special_token_ids) | {tok.pad_token_id}
    padded = np.array([i if i in special else tok.pad_token_id for i in gen.token_ids])
    lp = _log_softmax(_logits(lm, padded))
    p = len(gen.prompt_tokens)
    expected = [lp[t - 1, gen.token_ids[t]] for t in range(p, len(gen.token_ids))]
    np.testing.assert_allclose(gen.baseline_scores, expected, rtol=1e-5, atol=1e-5)


def test_each_row_is_complete(gen):
    gap = gen.attributions.sum(axis=1) - (gen.scores - gen.baseline_scores)
    np.testing.assert_allclose(gen.delta, gap, atol=1e-6)
    scale = np.abs(gen.scores - gen.baseline_scores)
    assert np.all(scale > 1e-3)  # something to attribute in every row
    assert np.all(np.abs(gen.delta) <= 1e-3 * scale + 1e-6)


def test_zero_at_and_after_each_tokens_own_position(gen):
    p = len(gen.prompt_tokens)
    for g in range(NEW):
        assert np.all(gen.attributions[g, p + g :] == 0.0)
        assert np.any(gen.attributions[g, 1 : p + g] != 0.0)  # and its context is used


@pytest.mark.slow
def test_row_g_equals_explain_on_the_prefix(lm, gen):
    emb = lm.backbone.token_embedding
    p = len(gen.prompt_tokens)
    tok = lm.preprocessor.tokenizer
    special = set(tok.special_token_ids) | {tok.pad_token_id}
    padded = np.array([i if i in special else tok.pad_token_id for i in gen.token_ids])
    for g in (0, NEW - 1):  # each prefix length is a new graph for explain: two suffice
        t = p + g  # token g's position; its context is 0 .. t-1
        x = {"token_ids": gen.token_ids[None, :t], "padding_mask": np.ones((1, t), bool)}

        def log_prob(y, t=t, token=int(gen.token_ids[t])):
            return tf.nn.log_softmax(tf.cast(y[:, t - 1], tf.float32))[:, token]

        exp = keras_ig.explain(
            lm,
            x,
            layer=emb,
            target=log_prob,
            steps=STEPS,
            baseline=keras.ops.convert_to_numpy(emb(padded[None, :t])),
        )
        np.testing.assert_allclose(
            exp.attributions.sum(-1)[0], gen.attributions[g, :t], rtol=1e-4, atol=1e-6
        )
        np.testing.assert_allclose(exp.scores[0], gen.scores[g], rtol=1e-5)


@pytest.mark.slow
def test_continuation_is_scored_as_given_with_logits_and_probs(lm):
    logit = keras_ig.explain_generation(
        lm, PROMPT, continuation=" on the mat", score="logit", steps=STEPS
    )
    assert logit.generated_tokens == ["Ġon", "Ġthe", "Ġmat"]
    p = len(logit.prompt_tokens)
    z = _logits(lm, logit.token_ids)
    expected = [z[t - 1, logit.token_ids[t]] for t in range(p, len(logit.token_ids))]
    np.testing.assert_allclose(logit.scores, expected, rtol=1e-5, atol=1e-5)
    assert np.all(np.abs(logit.delta) <= 1e-3 * np.abs(logit.scores - logit.baseline_scores))
    prob = keras_ig.explain_generation(
        lm, PROMPT, continuation=" on the mat", score="prob", steps=STEPS
    )
    lp = _token_log_probs(lm, prob.token_ids, p)
    np.testing.assert_allclose(prob.scores, np.exp(lp), rtol=1e-5)


@pytest.mark.slow
def test_batch_size_does_not_change_results(lm, gen):
    again = keras_ig.explain_generation(
        lm, PROMPT, max_new_tokens=NEW, steps=STEPS, stop_token_ids=None, batch_size=3
    )
    np.testing.assert_array_equal(again.token_ids, gen.token_ids)
    np.testing.assert_allclose(again.attributions, gen.attributions, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_generation_stops_after_a_stop_token(lm, gen):
    p = len(gen.prompt_tokens)
    stop = int(gen.token_ids[p + 1])
    first = p + int(np.argmax(gen.token_ids[p:] == stop))
    short = keras_ig.explain_generation(
        lm, PROMPT, max_new_tokens=NEW, steps=STEPS, stop_token_ids=(stop,)
    )
    np.testing.assert_array_equal(short.token_ids, gen.token_ids[: first + 1])
    np.testing.assert_allclose(short.scores, gen.scores[: first + 1 - p], rtol=1e-5)


@pytest.mark.slow
def test_the_model_is_not_changed(lm):
    before = [keras.ops.convert_to_numpy(w).copy() for w in lm.weights]
    call = type(lm.backbone.token_embedding).call
    keras_ig.explain_generation(lm, PROMPT, continuation=" on", steps=4)
    assert type(lm.backbone.token_embedding).call is call
    for w, b in zip(lm.weights, before, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(w), b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"score": "logprob"}, ValueError, "score"),
        ({"max_new_tokens": 0}, ValueError, "max_new_tokens"),
        ({"max_new_tokens": 40}, ValueError, "max_new_tokens"),
        ({"baseline": "mask"}, ValueError, "baseline"),
        ({"baseline": 10**6}, ValueError, "baseline"),
        ({"baseline": 1.5}, TypeError, "baseline"),
        ({"continuation": 3}, TypeError, "continuation"),
        ({"steps": 0}, ValueError, "steps"),
        ({"method": "simpson"}, ValueError, "method"),
        ({"batch_size": 0}, ValueError, "batch_size"),
    ],
)
def test_bad_arguments_are_named(lm, kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_ig.explain_generation(lm, PROMPT, **kwargs)


def test_bad_models_and_prompts_are_named(lm):
    with pytest.raises(TypeError, match="prompt"):
        keras_ig.explain_generation(lm, ["the cat"])
    bare = keras_hub.models.GPT2CausalLM(lm.backbone, preprocessor=None)
    with pytest.raises(ValueError, match=r"causal_lm: .*no preprocessor"):
        keras_ig.explain_generation(bare, PROMPT)
    with pytest.raises(TypeError, match="causal_lm"):
        keras_ig.explain_generation(lambda x: x, PROMPT)
