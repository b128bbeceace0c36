"""F(x) and F(baseline) in one forward chunk loop (`Engine.end_points`).

The inputs and every row's baseline share one loop, so the model is traced
once for both; an input's target (the predicted class for None) is resolved
in the chunk that holds it, before its baselines are scored.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_ig
from keras_ig._api.explainer import Explainer
from keras_ig._engine.job import chunk_rows
from keras_ig._numpy.quadrature import quadrature
from tests.helpers.models import mlp, rand, text_model


class Counted(keras.Model):
    """An MLP counting how often its `call` runs (eagerly or while traced)."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="tanh")
        self.head = keras.layers.Dense(3)
        self.calls = 0

    def call(self, x):
        self.calls += 1
        return self.head(self.hidden(x))


def _model_calls_in_trace(explainer: Explainer, x: np.ndarray, steps: int = 8) -> int:
    job = explainer.prepare(x)  # the eager probe runs here, before counting
    alphas, weights = quadrature("gausslegendre", steps)
    batch = chunk_rows(job.plan.z_shapes, 16, job.n * job.k * steps)
    args = job.args(alphas.astype(np.float32), weights.astype(np.float32), np.int32(batch))
    before = explainer.model.calls
    explainer.engine.compiled(job.plan, batch).get_concrete_function(*args)
    return explainer.model.calls - before


def test_the_model_is_traced_once_for_the_end_points_and_the_path() -> None:
    model, x = Counted(), rand(4, 6)
    model(x)
    # One loop: F(x), F(b) and the path share one call site (was 3, then 2).
    assert _model_calls_in_trace(Explainer(model), x) == 1


@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [1, 3, 7, 64])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_targets_resolved_in_the_loop_equal_the_model_argmax(
    batch_size: int, jit_compile: bool
) -> None:
    # batch_size 1: every item alone; 3 and 7: chunks mixing inputs and baselines
    # (5 inputs then 10 baseline rows); 64: all in one chunk.
    model, x = mlp(activation=None), rand(5, 6, low=-1.0)
    logits = model(x).numpy()
    predicted = np.argmax(logits, 1)
    assert len(set(predicted)) > 1  # the rows really differ
    stack = rand(2, 6, seed=3)  # K = 2 baselines: two rows of each input
    kw = {"steps": 8, "batch_size": batch_size, "jit_compile": jit_compile, "warn": False}
    found = keras_ig.explain(model, x, baseline=stack, **kw)
    given = keras_ig.explain(model, x, baseline=stack, target=predicted, **kw)
    np.testing.assert_array_equal(found.target, predicted)
    np.testing.assert_allclose(found.attributions, given.attributions, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(found.scores, logits[np.arange(5), predicted], rtol=1e-6)
    at_b = model(stack).numpy()[:, predicted].mean(0)  # the mean over the K baselines
    np.testing.assert_allclose(found.baseline_scores, at_b, rtol=1e-5, atol=1e-6)


def test_per_input_baselines_are_scored_at_their_own_rows() -> None:
    model, x = mlp(activation=None), rand(3, 6, low=-1.0)
    base = rand(3, 6, seed=7)
    exp = keras_ig.explain(model, x, baseline=base, target=1, steps=4, batch_size=2, warn=False)
    np.testing.assert_allclose(exp.scores, model(x).numpy()[:, 1], rtol=1e-6)
    np.testing.assert_allclose(exp.baseline_scores, model(base).numpy()[:, 1], rtol=1e-6)


def test_layer_mode_keeps_its_two_passes_and_completes() -> None:
    model = text_model()
    ids = np.random.default_rng(0).integers(1, 30, (4, 7)).astype(np.int32)
    exp = keras_ig.explain(model, ids, layer="emb", steps=64, batch_size=5, warn=False)
    probs = model(ids).numpy()
    np.testing.assert_array_equal(exp.target, probs.argmax(1))
    np.testing.assert_allclose(exp.scores, probs.max(1), rtol=1e-6)
    np.testing.assert_allclose(
        exp.attributions.sum((1, 2)), exp.scores - exp.baseline_scores, atol=1e-3
    )
