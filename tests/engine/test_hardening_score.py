"""Issue 9 hardening (score area): empty batches, out-of-vocabulary ids."""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._api.explain import explainer_for
from tests.helpers.models import mlp, rand, text_model


@pytest.mark.slow
def test_layer_wrapper_and_export_on_an_empty_batch(tmp_path) -> None:
    model = mlp()
    ig = keras_ig.IntegratedGradients(model, steps=8)
    empty = np.zeros((0, 6), np.float32)
    out = ig(empty)
    assert tuple(out.shape) == (0, 6)
    inp = keras.Input((6,))
    server = keras.Model(inp, {"attributions": ig(inp)})
    server.export(str(tmp_path / "served"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "served"))
    served = loaded.serve(tf.constant(empty))["attributions"]
    assert tuple(served.shape) == (0, 6)
    # A non-empty batch through the same loaded graph still gives real numbers.
    x = rand(3, 6)
    np.testing.assert_allclose(
        loaded.serve(tf.constant(x))["attributions"].numpy(), ig(x).numpy(), atol=1e-5
    )


@pytest.mark.slow
@pytest.mark.parametrize(("bad_row", "bad_id"), [(2, 30), (1, -1), (0, 99)])
def test_out_of_vocabulary_ids_in_any_row_name_x(bad_row: int, bad_id: int) -> None:
    model = text_model(vocab=30)
    ids = np.random.default_rng(0).integers(0, 30, size=(4, 7)).astype("int32")
    keras_ig.explain(model, ids, layer="emb", steps=4)  # the probe shape is cached now
    ids[bad_row, 3] = bad_id
    with pytest.raises(ValueError, match=rf"^x: row {bad_row} holds token id {bad_id}\b"):
        keras_ig.explain(model, ids, layer="emb", steps=4)
    with pytest.raises(ValueError, match=rf"row {bad_row} holds token id {bad_id}"):
        keras_ig.IntegratedGradients(model, layer="emb", steps=4).explain(ids)


def _unit_score(unit: int):
    return lambda y: y[:, unit]


def test_inline_lambda_target_does_not_retrace() -> None:
    model, x = mlp(), rand(3, 6)
    explainers, results = [], []
    for _ in range(4):
        target = lambda y: y[:, 1] - y[:, 2]  # noqa: E731 (a new function each time, as inline)
        results.append(keras_ig.explain(model, x, target=target, steps=8).attributions)
        explainers.append(explainer_for(model, target=target, layer=None, output=None))
    assert all(e is explainers[0] for e in explainers)
    assert explainers[0].engine.traces == 1
    np.testing.assert_allclose(results[-1], results[0], atol=1e-6)
    # Other values behind the same code are another function: another graph.
    results = {}
    for unit in (0, 1):
        results[unit] = keras_ig.explain(model, x, target=_unit_score(unit), steps=8)
        np.testing.assert_allclose(
            results[unit].scores, model.predict(x, verbose=0)[:, unit], rtol=1e-5, atol=1e-6
        )
    assert not np.allclose(results[0].attributions, results[1].attributions)


def _state(model: keras.Model) -> list:
    layers = [model, *model.layers]
    return [(dict(vars(lyr)), getattr(lyr, "activation", None)) for lyr in layers]


@pytest.mark.slow
def test_concurrent_explains_never_touch_the_model_and_equal_sequential() -> None:
    model, x = mlp(), rand(4, 6)
    model.layers[-1].activation = keras.activations.softmax
    kinds = [{"output": "logits"}, {"layer": model.layers[0]}, {}, {"output": "logits"}]
    expected = [keras_ig.explain(model, x, steps=8, **k).attributions for k in kinds]
    probs = model.predict(x, verbose=0)
    before = _state(model)
    changed, plain_ok, stop = [], [], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            now = _state(model)
            changed.append(
                any(
                    a[0].keys() != b[0].keys() or a[1] is not b[1]
                    for a, b in zip(now, before, strict=True)
                )
            )
            plain_ok.append(np.allclose(model(x).numpy(), probs, atol=1e-6))

    for _ in range(3):
        results = [None] * len(kinds)

        def run(i: int, out: list) -> None:
            out[i] = keras_ig.explain(model, x, steps=8, **kinds[i]).attributions

        threads = [threading.Thread(target=run, args=(i, results)) for i in range(len(kinds))]
        watcher = threading.Thread(target=watch)
        stop.clear()
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        watcher.join()
        for got, want in zip(results, expected, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-6)
    assert changed and not any(changed)
    assert plain_ok and all(plain_ok)
    assert _state(model)[-1][1] is keras.activations.softmax
