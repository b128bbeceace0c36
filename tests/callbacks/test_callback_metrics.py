"""`IGCallback(metrics=...)`: quality scores per logged epoch, read back from the events."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_ig import datasets, metrics
from keras_ig.callbacks import IGCallback, IGCallbackWarning
from keras_ig.callbacks._ig_callback import TAG
from tests.helpers.events import read_events

SIZE = 16


def _model() -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(4, 3, activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def test_metric_scalars_equal_the_metrics_of_the_logged_maps(tmp_path):
    data = datasets.make_shapes(24, size=SIZE, seed=0)
    x, y = data.images, data.labels
    model = _model()
    names = ("deletion", "insertion", "infidelity")
    cb = IGCallback(
        x[:4], tmp_path, target=y[:4], steps=8, metrics=names, background_writes=False, seed=3
    )
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb])

    scalars = read_events(tmp_path / TAG)["scalars"]
    exp = cb.last_explanation
    # The last epoch's scores, recomputed from the same maps and final weights.
    want = {
        "deletion": metrics.deletion(model, x[:4], exp.attributions, target=y[:4]).scores,
        "insertion": metrics.insertion(model, x[:4], exp.attributions, target=y[:4]).scores,
        "infidelity": metrics.infidelity(model, x[:4], exp.attributions, target=y[:4], seed=3),
    }
    for name in names:
        logged = scalars[f"{TAG}/metrics/{name}"]
        assert sorted(logged) == [0, 1]
        np.testing.assert_allclose(logged[1], want[name].mean(), rtol=1e-4, atol=1e-6)
        assert cb.history[-1]["metrics"][name] == pytest.approx(float(want[name].mean()), rel=1e-4)
    # Epoch 0's maps differ from epoch 1's: the scores are recomputed, not repeated.
    assert scalars[f"{TAG}/metrics/deletion"][0] != scalars[f"{TAG}/metrics/deletion"][1]


def test_without_metrics_no_metric_scalars_and_none_in_history(tmp_path):
    data = datasets.make_shapes(8, size=SIZE, seed=1)
    cb = IGCallback(data.images[:2], tmp_path, steps=4, background_writes=False)
    _model().fit(data.images, data.labels, epochs=1, verbose=0, callbacks=[cb])
    scalars = read_events(tmp_path / TAG)["scalars"]
    assert not [tag for tag in scalars if "/metrics/" in tag]
    assert cb.history[-1]["metrics"] is None


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"metrics": ("sensitivity_max",)}, ValueError, "metrics"),
        ({"metrics": ("deletions",)}, ValueError, "metrics"),
        ({"metrics": 3}, TypeError, "metrics"),
        ({"metrics": (1,)}, TypeError, "metrics"),
        ({"metrics": ("deletion",), "layer": "emb"}, ValueError, "metrics"),
    ],
)
def test_bad_metrics_are_refused_naming_the_argument(kwargs, error, words):
    with pytest.raises(error, match=words):
        IGCallback(np.zeros((2, SIZE, SIZE, 1), np.float32), "logs", **kwargs)


def test_a_failing_metric_warns_and_training_goes_on(tmp_path, monkeypatch):
    data = datasets.make_shapes(8, size=SIZE, seed=2)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(metrics, "deletion", broken)
    cb = IGCallback(
        data.images[:2], tmp_path, steps=4, metrics=("deletion",), background_writes=False
    )
    with pytest.warns(IGCallbackWarning, match="cannot compute metrics"):
        _model().fit(data.images, data.labels, epochs=1, verbose=0, callbacks=[cb])
    assert np.isnan(cb.history[-1]["metrics"]["deletion"])
