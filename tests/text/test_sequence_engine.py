"""The sequence engine: one compiled graph for every length, step count and score."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("keras_hub")

import numpy as np

import keras_ig
from keras_ig._engine.score import ScoreFunction
from keras_ig._engine.sequence import SequenceEngine
from keras_ig._numpy.quadrature import quadrature
from tests.helpers import hub_models


@pytest.fixture(scope="module")
def lm():
    return hub_models.gpt2_lm(sequence_length=16, seed=3)


def _run(engine, lm, ids, kind, steps, batch):
    emb = lm.backbone.token_embedding
    inputs = {"token_ids": ids[None], "padding_mask": np.ones((1, len(ids)), bool)}
    z_b = np.zeros((1, len(ids), emb.output_dim), np.float32)
    a, w = quadrature("gausslegendre", steps)
    p = 2
    positions = np.arange(p - 1, len(ids) - 1)
    return engine.attribute(kind, inputs, z_b, positions, ids[p:], a, w, batch)


@pytest.mark.slow
def test_one_graph_for_every_length_steps_batch_and_score(lm):
    engine = SequenceEngine(ScoreFunction(lm, layer=lm.backbone.token_embedding))
    first = _run(engine, lm, np.array([0, 5, 7, 9], np.int32), "log_prob", 8, 8)
    _run(engine, lm, np.array([0, 5, 7, 9, 11, 12], np.int32), "prob", 4, 3)
    last = _run(engine, lm, np.array([0, 5, 7, 9], np.int32), "log_prob", 8, 5)
    assert engine.traces == 1
    np.testing.assert_allclose(first["attributions"], last["attributions"], rtol=1e-5, atol=1e-7)


def test_the_engine_needs_a_layer(lm):
    with pytest.raises(ValueError, match="layer"):
        SequenceEngine(ScoreFunction(lm))


@pytest.mark.slow
def test_too_few_steps_warn_and_warn_false_is_quiet(lm):
    with pytest.warns(keras_ig.CompletenessWarning, match="generated tokens"):
        keras_ig.explain_generation(lm, "the cat", continuation=" sat on", steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gen = keras_ig.explain_generation(
            lm, "the cat", continuation=" sat on", steps=1, warn=False
        )
    assert np.any(np.abs(gen.delta) > 0.05 * np.abs(gen.scores - gen.baseline_scores))
