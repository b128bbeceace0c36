"""`IGCallback(metrics=...)`: quality scores per logged epoch, read back from the events."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import keras_ig
from keras_ig import datasets, metrics
from keras_ig.callbacks import IGCallback, IGCallbackWarning
from keras_ig.callbacks._ig_callback import TAG
from tests.helpers.events import read_events
from tests.helpers.models import shapes_classifier

SIZE = 16


@pytest.mark.slow
def test_metric_scalars_equal_the_metrics_of_the_logged_maps(tmp_path):
    data = datasets.make_shapes(24, size=SIZE, seed=0)
    x, y = data.images, data.labels
    model = shapes_classifier(SIZE, seed=0)
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
    shapes_classifier(SIZE, seed=0).fit(
        data.images, data.labels, epochs=1, verbose=0, callbacks=[cb]
    )
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


@pytest.mark.slow
def test_a_failing_metric_warns_and_training_goes_on(tmp_path, monkeypatch):
    data = datasets.make_shapes(8, size=SIZE, seed=2)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(metrics, "deletion", broken)
    cb = IGCallback(
        data.images[:2], tmp_path, steps=4, metrics=("deletion",), background_writes=False
    )
    with pytest.warns(IGCallbackWarning, match="cannot compute metrics"):
        shapes_classifier(SIZE, seed=0).fit(
            data.images, data.labels, epochs=1, verbose=0, callbacks=[cb]
        )
    assert np.isnan(cb.history[-1]["metrics"]["deletion"])


# --------------------------------------------------------------------------
# method=: another path method logged per epoch


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "options", "call"),
    [
        ("idgi", None, lambda m, x, y: keras_ig.idgi(m, x, target=y, steps=8, seed=0)),
        (
            "blur_ig",
            {"max_sigma": 4.0},
            lambda m, x, y: keras_ig.blur_ig(m, x, target=y, steps=8, max_sigma=4.0),
        ),
        ("guided_ig", None, lambda m, x, y: keras_ig.guided_ig(m, x, target=y, steps=8, seed=0)),
        (
            "expected_gradients",
            {"background": "BACKGROUND", "samples": 6},
            lambda m, x, y: keras_ig.expected_gradients(
                m, x, BACKGROUND, target=y, samples=6, seed=0
            ),
        ),
    ],
)
def test_callback_logs_a_path_method_equal_to_calling_it(tmp_path, method, options, call):
    data = datasets.make_shapes(16, size=SIZE, seed=4)
    x, y = data.images, data.labels
    if options and options.get("background") == "BACKGROUND":
        options = {**options, "background": BACKGROUND}
    model = shapes_classifier(SIZE, seed=0)
    cb = IGCallback(
        x[:3], tmp_path, target=y[:3], steps=8, method=method, method_options=options,
        background_writes=False, seed=0, warn_completeness=False,
    )  # fmt: skip
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[cb])
    with warnings.catch_warnings():  # the reference's own gap at 8 steps
        warnings.simplefilter("ignore", keras_ig.CompletenessWarning)
        want = call(model, x[:3], y[:3])
    np.testing.assert_allclose(cb.last_explanation.attributions, want.attributions, atol=1e-6)
    assert cb.last_explanation.method == want.method
    scalars = read_events(tmp_path / TAG)["scalars"]
    np.testing.assert_allclose(
        scalars[f"{TAG}/completeness_gap/probe_0"][0], want.delta[0], rtol=1e-4, atol=1e-6
    )


BACKGROUND = datasets.make_shapes(8, size=SIZE, seed=9).images


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"method": "nope"}, ValueError, "path methods"),
        ({"method": "expected_gradients"}, ValueError, "background"),
        ({"method": "idgi", "method_options": {"max_sigma": 3.0}}, ValueError, "max_sigma"),
        ({"method": "gausslegendre", "method_options": {"x": 1}}, ValueError, "method_options"),
        ({"method": "idgi", "method_options": [1]}, TypeError, "method_options"),
    ],
)
def test_bad_method_settings_are_refused(kwargs, error, words):
    with pytest.raises(error, match=words):
        IGCallback(np.zeros((2, SIZE, SIZE, 1), np.float32), "logs", **kwargs)
