"""`IGCallback(background_ig=True)`: IG of a clone on the writer thread.

The background path must give what the synchronous path gives on the same
weights: both callbacks run in one `fit`, so at every epoch end they see the
same weights (the synchronous one explains the user's model, the background
one a clone loaded with `model.get_weights()`).
"""

from __future__ import annotations

import threading

import keras
import numpy as np
import pytest

import keras_ig
from keras_ig import datasets
from keras_ig.callbacks import IGCallback, IGCallbackWarning, _replica
from keras_ig.callbacks._ig_callback import TAG
from tests.helpers.events import read_events
from tests.helpers.models import shapes_classifier

SIZE = 16
EPOCHS = 3
WAIT_S = 60.0  # only a guard against a hang: a synchronous path makes the flags False


@pytest.fixture(scope="module")
def shapes():
    return datasets.make_shapes(32, size=SIZE, seed=0)


def _assert_same_history(got: list[dict], want: list[dict]) -> None:
    assert [h["epoch"] for h in got] == [h["epoch"] for h in want] == list(range(EPOCHS))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a["delta"], b["delta"], rtol=1e-5, atol=1e-7)
        for key in ("localization", "localization_mean", "stability_mean"):
            if b[key] is None:
                assert a[key] is None, key
            else:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7, err_msg=key)
        assert (a["metrics"] or {}).keys() == (b["metrics"] or {}).keys()
        for name, value in (b["metrics"] or {}).items():
            np.testing.assert_allclose(a["metrics"][name], value, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_background_history_and_events_equal_the_synchronous_ones(shapes, tmp_path):
    model = shapes_classifier(SIZE, seed=0)
    variables = [id(v) for v in model.weights]
    kw = dict(target=shapes.labels[:3], masks=shapes.masks[:3], steps=8, metrics=["deletion"])
    bg = IGCallback(shapes.images[:3], tmp_path / "bg", background_ig=True, **kw)
    sync = IGCallback(shapes.images[:3], tmp_path / "sync", background_ig=False, **kw)
    model.fit(
        shapes.images, shapes.labels, epochs=EPOCHS, verbose=0, batch_size=8, callbacks=[bg, sync]
    )
    # The background callback explained a clone; the user's model kept its variables.
    assert bg._replica is not None and bg._replica.model is not model
    assert sync._replica is None
    assert [id(v) for v in model.weights] == variables
    _assert_same_history(bg.history, sync.history)
    assert bg.history[-1]["stability_mean"] is not None  # from the second logged epoch on
    np.testing.assert_allclose(
        bg.last_explanation.attributions, sync.last_explanation.attributions, rtol=1e-5, atol=1e-7
    )
    # The event files hold the same scalars at the same steps, and the same pictures' steps.
    got, want = read_events(tmp_path / "bg" / TAG), read_events(tmp_path / "sync" / TAG)
    assert got["scalars"].keys() == want["scalars"].keys()
    assert f"{TAG}/metrics/deletion" in want["scalars"]
    assert sorted(want["scalars"][f"{TAG}/completeness_gap/max_abs"]) == list(range(EPOCHS))
    for tag, steps in want["scalars"].items():
        assert steps and sorted(got["scalars"][tag]) == sorted(steps), tag
        for step, value in steps.items():
            np.testing.assert_allclose(got["scalars"][tag][step], value, rtol=1e-5, atol=1e-7)
    assert sorted(got["images"][f"{TAG}/probe_0"]) == list(range(EPOCHS))
    # One compiled graph for the clone, reused at every epoch.
    assert bg._explainer.engine.traces == 1


@pytest.mark.slow
def test_on_epoch_end_returns_before_the_epochs_ig_runs(shapes, tmp_path):
    model = shapes_classifier(SIZE, seed=0)
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], steps=4, background_ig=True)
    returned = [threading.Event() for _ in range(EPOCHS)]
    seen: list[bool] = []

    class Gate(keras.callbacks.Callback):
        """Holds each epoch's IG until the training thread is past `cb.on_epoch_end`."""

        def on_train_begin(self, logs=None):
            inner = cb._run

            def run():
                seen.append(returned[len(seen)].wait(WAIT_S))
                return inner()

            cb._run = run

        def on_epoch_end(self, epoch, logs=None):
            returned[epoch].set()  # runs after cb.on_epoch_end has returned

    model.fit(shapes.images, shapes.labels, epochs=EPOCHS, verbose=0, callbacks=[cb, Gate()])
    assert seen == [True] * EPOCHS
    assert [h["epoch"] for h in cb.history] == list(range(EPOCHS))
    assert np.isfinite(np.stack([h["delta"] for h in cb.history])).all()


@pytest.mark.slow
def test_a_layer_of_the_model_is_attributed_at_its_counterpart_in_the_clone(tmp_path):
    keras.utils.set_random_seed(0)
    embedding = keras.layers.Embedding(20, 6)
    model = keras.Sequential(
        [keras.Input((5,), dtype="int32"), embedding, keras.layers.GlobalAveragePooling1D(),
         keras.layers.Dense(2)]
    )  # fmt: skip
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.integers(1, 20, size=(16, 5)), rng.integers(0, 2, size=16)
    kw = dict(target=[0, 1, 1], layer=embedding, steps=8, kind="text")
    bg = IGCallback(x[:3], tmp_path / "bg", background_ig=True, **kw)
    sync = IGCallback(x[:3], tmp_path / "sync", background_ig=False, **kw)
    model.fit(x, y, epochs=EPOCHS, verbose=0, callbacks=[bg, sync])
    assert bg._replica.layer is not embedding
    assert bg._replica.layer is bg._replica.model.layers[0]
    _assert_same_history(bg.history, sync.history)
    np.testing.assert_allclose(
        bg.last_explanation.attributions, sync.last_explanation.attributions, rtol=1e-5, atol=1e-7
    )


class Unclonable(keras.Model):
    """A subclassed model with a constructor argument and no `get_config`."""

    def __init__(self, units):
        super().__init__()
        self.flat = keras.layers.Flatten()
        self.dense = keras.layers.Dense(units)

    def call(self, x):
        return self.dense(self.flat(x))


@pytest.mark.slow
def test_a_model_that_cannot_be_cloned_is_explained_in_on_epoch_end(shapes, tmp_path):
    model = Unclonable(4)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model(shapes.images[:1])
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], steps=4, background_ig=True)
    with pytest.warns(IGCallbackWarning, match="background_ig: the model could not be cloned"):
        model.fit(shapes.images, shapes.labels, epochs=2, verbose=0, callbacks=[cb])
    assert cb._replica is None
    assert [h["epoch"] for h in cb.history] == [0, 1]
    # Synchronous: the last explanation is IG of the trained model itself.
    ref = keras_ig.explain(model, shapes.images[:2], target=[0, 1], steps=4, warn=False)
    np.testing.assert_allclose(cb.last_explanation.attributions, ref.attributions, rtol=1e-5)


def test_background_ig_must_be_none_or_a_bool(shapes, tmp_path):
    with pytest.raises(TypeError, match="background_ig must be a bool"):
        IGCallback(shapes.images[:2], tmp_path, background_ig="yes")


def test_counterpart_finds_a_nested_layer_in_the_clone_and_passes_names_through():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Dense(1)(inner(x)))
    copy = keras.models.clone_model(model)
    target = inner.layers[1]
    found = _replica.counterpart(model, copy, target, "layer")
    assert found is not target and found.name == target.name
    assert found is copy.layers[1].layers[1]
    np.testing.assert_array_equal(found.kernel.shape, target.kernel.shape)
    assert _replica.counterpart(model, copy, "dense_name", "layer") == "dense_name"
    stranger = keras.layers.Dense(1)
    assert _replica.counterpart(model, copy, stranger, "layer") is stranger
