"""Explaining from several threads at once never changes the user's model.

Each trial uses a fresh model, so every thread traces its graph at the same
moment (with cached graphs no interception would happen concurrently). On
the round-1 code this failed: the layer interception of one thread leaked
into another ("layer ... ran 7 times"), and `output="logits"` left the
softmax stripped from the model.
"""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest

import keras_ig
from tests.helpers.models import mlp, rand


def _state(model: keras.Model) -> list:
    """What explaining must never change: every layer's attributes."""
    return [
        (sorted(vars(lyr)), getattr(lyr, "activation", None), vars(lyr).get("call"))
        for lyr in [model, *model.layers]
    ]


def _kinds(model: keras.Model) -> list[dict]:
    return [
        {"output": "logits"},
        {"layer": model.layers[0]},
        {},
        {"output": "logits"},
        {"layer": model.layers[1]},
        {},
    ]


@pytest.mark.slow
def test_concurrent_explains_equal_sequential_and_leave_the_model_alone() -> None:
    x = rand(4, 6)
    reference = mlp()
    expected = [
        keras_ig.explain(reference, x, steps=8, **k).attributions for k in _kinds(reference)
    ]
    probs = reference.predict(x, verbose=0)
    for trial in range(5):
        model = mlp()
        model.set_weights(reference.get_weights())
        kinds = _kinds(model)
        before = _state(model)
        changed, plain_ok, errors = [], [], []
        stop = threading.Event()
        barrier = threading.Barrier(len(kinds) + 1)
        results: list = [None] * len(kinds)

        def watch(model=model, before=before, changed=changed, plain_ok=plain_ok,
                  barrier=barrier, stop=stop) -> None:  # fmt: skip
            barrier.wait()
            while not stop.is_set():
                changed.append(_state(model) != before)
                plain_ok.append(np.allclose(model(x).numpy(), probs, atol=1e-6))

        def run(i: int, model=model, kinds=kinds, results=results, errors=errors,
                barrier=barrier) -> None:  # fmt: skip
            barrier.wait()
            try:
                results[i] = keras_ig.explain(model, x, steps=8, **kinds[i]).attributions
            except Exception as err:  # reported below, with the trial
                errors.append(repr(err))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(kinds))]
        watcher = threading.Thread(target=watch)
        for t in [*threads, watcher]:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        watcher.join()
        assert not errors, f"trial {trial}: {errors}"
        for got, want in zip(results, expected, strict=True):
            np.testing.assert_allclose(got, want, atol=1e-5)
        assert changed and not any(changed), f"trial {trial}: the model changed meanwhile"
        assert plain_ok and all(plain_ok), f"trial {trial}: a plain call saw logits"
        assert _state(model) == before
        assert model.layers[-1].activation is keras.activations.softmax
