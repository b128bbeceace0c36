"""`IGCallback` end to end: `model.fit` into tmp_path, event files read back."""

from __future__ import annotations

import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_ig
from keras_ig import datasets, render
from keras_ig.callbacks import IGCallback, IGCallbackWarning
from keras_ig.callbacks._ig_callback import TAG
from tests.helpers.events import read_events

SIZE = 16
PROBES = 3


def labelled_size(width: int, height: int) -> tuple[int, int]:
    """A panel's size once titled and given its colour scale (`render.labelled`)."""
    blank = Image.new("RGB", (width, height))
    return render.labelled(blank, scale=1.0, columns=render.PANEL_TITLES).size


PANEL = labelled_size(3 * SIZE * 8 + 8, SIZE * 8)  # probe | map | overlay, 16 px enlarged x8


# --------------------------------------------------------------------------
# helpers


def image_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(4, 3, activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
        ]
    )


def compiled(model: keras.Model, loss: str = "sparse_ce") -> keras.Model:
    if loss == "sparse_ce":
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        loss_fn = "mse"
    model.compile(keras.optimizers.Adam(0.05), loss_fn)
    return model


@pytest.fixture(scope="module")
def shapes():
    return datasets.make_shapes(32, size=SIZE, seed=0)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = keras.layers.Conv2D(3, 3, activation="tanh")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(4)

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


# --------------------------------------------------------------------------
# the main run: 3 epochs, masks, next to keras.callbacks.TensorBoard


class _SeeFlushed(keras.callbacks.Callback):
    """After the IG callback: which image steps are already on disk."""

    def __init__(self, folder):
        super().__init__()
        self.folder, self.seen = folder, []

    def on_epoch_end(self, epoch, logs=None):
        steps = read_events(self.folder)["images"][f"{TAG}/probe_0"]
        self.seen.append(sorted(steps))


@pytest.fixture(scope="module")
def run(shapes, tmp_path_factory):
    keras.utils.set_random_seed(0)
    log_dir = tmp_path_factory.mktemp("logs")
    model = compiled(image_model())
    cb = IGCallback(
        shapes.images[:PROBES],
        log_dir,
        target=shapes.labels[:PROBES],
        masks=shapes.masks[:PROBES],
    )
    assert not os.listdir(log_dir)  # nothing touches the filesystem in __init__
    board = keras.callbacks.TensorBoard(log_dir, write_graph=False, profile_batch=0)
    seen = _SeeFlushed(log_dir / TAG)
    model.fit(
        shapes.images,
        shapes.labels,
        epochs=3,
        batch_size=16,
        verbose=0,
        callbacks=[board, cb, seen],
    )
    return {"model": model, "cb": cb, "log_dir": log_dir, "seen": seen}


def test_every_probe_image_at_every_epoch(run):
    events = read_events(run["log_dir"] / TAG)
    for i in range(PROBES):
        images = events["images"][f"{TAG}/probe_{i}"]
        assert sorted(images) == [0, 1, 2]
        assert set(images.values()) == {("PNG", PANEL)}


def test_scalars_match_explain_on_the_trained_weights(run, shapes):
    model, cb = run["model"], run["cb"]
    scalars = read_events(run["log_dir"] / TAG)["scalars"]
    probes, labels, masks = (
        shapes.images[:PROBES],
        shapes.labels[:PROBES],
        shapes.masks[:PROBES],
    )
    exp = keras_ig.explain(model, probes, target=labels, steps=32, warn=False)
    np.testing.assert_allclose(
        cb.last_explanation.attributions, exp.attributions, rtol=1e-5, atol=1e-7
    )
    last = cb.history[-1]
    np.testing.assert_allclose(last["delta"], exp.delta, rtol=1e-4, atol=1e-7)
    gap = scalars[f"{TAG}/completeness_gap/max_abs"]
    assert sorted(gap) == [0, 1, 2]
    assert gap[2] == pytest.approx(float(np.max(np.abs(exp.delta))), rel=1e-4, abs=1e-9)
    mean_gap = scalars[f"{TAG}/completeness_gap/mean_abs"][2]
    assert mean_gap == pytest.approx(float(np.mean(np.abs(exp.delta))), rel=1e-4, abs=1e-9)
    rel = scalars[f"{TAG}/completeness_gap/relative_max"][2]
    assert rel == pytest.approx(float(np.max(exp.relative_delta)), rel=1e-3, abs=1e-9)

    # Localization: positive mass of the channel-summed map inside the mask.
    maps = exp.attributions.sum(axis=-1)
    positive = np.maximum(maps, 0)
    expected = (positive * masks).sum(axis=(1, 2)) / positive.sum(axis=(1, 2))
    np.testing.assert_allclose(last["localization"], expected, rtol=1e-4)
    assert last["localization_mean"] == pytest.approx(expected.mean(), rel=1e-4)
    for i in range(PROBES):
        logged = scalars[f"{TAG}/localization/probe_{i}"]
        assert sorted(logged) == [0, 1, 2]
        assert logged[2] == pytest.approx(expected[i], rel=1e-4)
    assert scalars[f"{TAG}/localization/mean"][2] == pytest.approx(expected.mean(), rel=1e-4)


def test_stability_is_the_rank_correlation_with_the_previous_epoch(run):
    cb = run["cb"]
    scalars = read_events(run["log_dir"] / TAG)["scalars"]
    assert cb.history[0]["stability_mean"] is None  # nothing to compare with yet
    assert sorted(scalars[f"{TAG}/stability/mean"]) == [1, 2]
    for i in range(PROBES):
        stability = scalars[f"{TAG}/stability/probe_{i}"]
        assert sorted(stability) == [1, 2]
        assert all(-1.0 <= v <= 1.0 for v in stability.values())
    assert scalars[f"{TAG}/stability/mean"][2] == pytest.approx(
        cb.history[2]["stability_mean"], rel=1e-5
    )


def test_history_has_exactly_the_documented_keys(run):
    history = run["cb"].history
    assert [h["epoch"] for h in history] == [0, 1, 2]
    for h in history:
        assert set(h) == {
            "epoch",
            "delta",
            "localization",
            "localization_mean",
            "stability_mean",
            "metrics",
        }
        assert h["metrics"] is None  # no metrics= given
        assert h["delta"].shape == (PROBES,)
        assert h["localization"].shape == (PROBES,)
        assert isinstance(h["localization_mean"], float)
    assert isinstance(history[-1]["stability_mean"], float)


def test_one_graph_for_all_epochs(run, shapes):
    cb = run["cb"]
    assert cb._explainer.engine.traces == 1
    # explain() on the same model and settings reuses that graph too.
    keras_ig.explain(
        run["model"], shapes.images[:PROBES], target=shapes.labels[:PROBES], warn=False
    )
    assert cb._explainer.engine.traces == 1


def test_histograms_and_config_text(run):
    events = read_events(run["log_dir"] / TAG)
    for i in range(PROBES):
        histogram = events["histograms"][f"{TAG}/attributions/probe_{i}"]
        assert sorted(histogram) == [0, 1, 2]
        buckets = histogram[2]  # [left edge, right edge, count] per bucket
        assert buckets.shape == (30, 3)
        assert buckets[:, 2].sum() == SIZE * SIZE  # every pixel of the map
        assert np.all(buckets[:, 0] <= buckets[:, 1])
    config = events["text"][f"{TAG}/config"]
    assert list(config) == [0]
    assert "gausslegendre" in config[0]


def test_flushed_every_epoch_and_closed_at_train_end(run):
    # Written in the background: epoch k - 1 is on disk when epoch k ends.
    for epoch, steps in enumerate(run["seen"].seen):
        assert set(range(epoch)) <= set(steps) <= set(range(epoch + 1))
    assert run["cb"]._writer is None
    assert run["cb"]._worker is None
    assert sorted(read_events(run["log_dir"] / TAG)["images"][f"{TAG}/probe_0"]) == [0, 1, 2]


def test_synchronous_writes_are_on_disk_when_the_epoch_ends(shapes, tmp_path):
    model = compiled(image_model())
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], background_writes=False)
    seen = _SeeFlushed(tmp_path / TAG)
    model.fit(shapes.images, shapes.labels, epochs=2, verbose=0, callbacks=[cb, seen])
    assert seen.seen == [[0], [0, 1]]
    assert cb._worker is None


def test_drawing_failures_in_the_background_are_warned(shapes, tmp_path, monkeypatch):
    from keras_ig._io import pictures

    def broken(*args, **kwargs):
        raise RuntimeError("no ink")

    monkeypatch.setattr(pictures, "draw", broken)
    model = compiled(image_model())
    cb = IGCallback(shapes.images[:1], tmp_path, target=[0])
    with pytest.warns(IGCallbackWarning, match="cannot draw probe 0") as caught:
        model.fit(shapes.images, shapes.labels, epochs=2, verbose=0, callbacks=[cb])
    assert sorted(str(w.message)[:29] for w in caught) == [
        "IGCallback: epoch 0: cannot d",
        "IGCallback: epoch 1: cannot d",
    ]
    events = read_events(tmp_path / TAG)
    assert "images" not in events
    assert sorted(events["scalars"][f"{TAG}/completeness_gap/max_abs"]) == [0, 1]


def test_coexists_with_keras_tensorboard(run):
    log_dir = run["log_dir"]
    assert {"train", TAG} <= set(os.listdir(log_dir))
    ours = read_events(log_dir / TAG)
    theirs = read_events(log_dir / "train")
    assert any(tag.startswith("epoch_") for tags in theirs.values() for tag in tags)
    assert not any(tag.startswith(TAG) for tags in theirs.values() for tag in tags)
    assert all(tag.startswith(TAG + "/") for tags in ours.values() for tag in tags)


# --------------------------------------------------------------------------
# schedules


def test_every_n_epochs_and_resume_with_initial_epoch(shapes, tmp_path):
    model = compiled(image_model())
    cb = IGCallback(shapes.images[:2], tmp_path, target=shapes.labels[:2], every_n_epochs=2)
    fit = {"batch_size": 16, "verbose": 0, "callbacks": [cb]}
    model.fit(shapes.images, shapes.labels, epochs=2, **fit)
    assert [h["epoch"] for h in cb.history] == [1]
    # Resume: epochs 2, 3, 4 of the same curves; (epoch + 1) % 2 == 0 -> 3.
    model.fit(shapes.images, shapes.labels, initial_epoch=2, epochs=5, **fit)
    assert [h["epoch"] for h in cb.history] == [1, 3]
    assert cb.history[1]["stability_mean"] is not None  # compared with epoch 1
    assert cb.history[1]["localization"] is None
    assert cb.history[1]["localization_mean"] is None
    events = read_events(tmp_path / TAG)
    assert sorted(events["images"][f"{TAG}/probe_1"]) == [1, 3]
    assert sorted(events["scalars"][f"{TAG}/completeness_gap/max_abs"]) == [1, 3]
    assert f"{TAG}/localization/mean" not in events["scalars"]
    assert cb._explainer.engine.traces == 1


def test_max_probes_and_no_histograms(shapes, tmp_path):
    model = compiled(image_model())
    cb = IGCallback(
        shapes.images[:3],
        tmp_path,
        target=shapes.labels[:3],
        max_probes=1,
        histograms=False,
        min_size=32,
    )
    model.fit(shapes.images, shapes.labels, epochs=1, batch_size=16, verbose=0, callbacks=[cb])
    events = read_events(tmp_path / TAG)
    assert list(events["images"]) == [f"{TAG}/probe_0"]
    assert events["images"][f"{TAG}/probe_0"][0] == ("PNG", labelled_size(3 * 32 + 8, 32))
    assert "histograms" not in events
    assert cb.history[0]["delta"].shape == (3,)  # statistics still use all probes


@pytest.mark.slow
def test_subclassed_model(shapes, tmp_path):
    model = compiled(Subclassed())
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], masks=shapes.masks[:2])
    model.fit(shapes.images, shapes.labels, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    assert [h["epoch"] for h in cb.history] == [0, 1]
    assert 0.0 <= cb.history[-1]["localization_mean"] <= 1.0
    assert sorted(read_events(tmp_path / TAG)["images"][f"{TAG}/probe_1"]) == [0, 1]


def test_history_follows_the_model(shapes, tmp_path):
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], background_writes=False)
    first, second = image_model(), image_model()
    _begin(cb, first)
    cb.on_epoch_end(0)
    _begin(cb, first)  # the same model again (a resumed fit): history goes on
    cb.on_epoch_end(1)
    assert [h["epoch"] for h in cb.history] == [0, 1]
    assert cb.history[1]["stability_mean"] == pytest.approx(1.0)  # same weights
    _begin(cb, second)  # another model: a fresh history
    assert cb.history == []
    assert cb.last_explanation is None
    cb.on_train_end()


# --------------------------------------------------------------------------
# text and tabular probes


def test_text_probes_at_an_embedding_layer(tmp_path):
    data = datasets.make_sentences(32, length=8, seed=0)
    lookup = keras.layers.StringLookup(vocabulary=list(data.vocabulary[2:]), mask_token="<pad>")
    # The lookup's ids match the data's: 0 is the mask token, 1 [UNK] (unused).
    assert lookup.get_vocabulary()[2:] == list(data.vocabulary[2:])
    inp = keras.Input((8,), dtype="int32")
    h = keras.layers.Embedding(len(data.vocabulary), 4, name="emb")(inp)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(h))
    model = compiled(keras.Model(inp, out))
    probes = data.token_ids[:2]
    cb = IGCallback(
        probes,
        tmp_path,
        target=data.labels[:2],
        layer="emb",
        vocabulary=lookup,
        masks=data.keyword_mask[:2],  # localization on the sentiment keywords
    )
    model.fit(data.token_ids, data.labels, epochs=2, batch_size=16, verbose=0, callbacks=[cb])
    events = read_events(tmp_path / TAG)
    for i in range(2):
        assert sorted(events["images"][f"{TAG}/probe_{i}"]) == [0, 1]
        table = events["text"][f"{TAG}/tokens/probe_{i}"][1]
        words = datasets.decode(probes[i])
        assert all(f"| {w} |" in table for w in words)
        assert table.count("\n| ") == len(words) + 1  # header + one row per token
    assert cb.last_explanation.attributions.shape == (2, 8, 4)
    scores = cb.last_explanation.attributions.sum(-1)
    positive = np.maximum(scores, 0)
    expected = (positive * data.keyword_mask[:2]).sum(1) / positive.sum(1)
    np.testing.assert_allclose(cb.history[-1]["localization"], expected, rtol=1e-5)


def test_tabular_probes_with_feature_names(tmp_path):
    data = datasets.make_regression(64, n_features=5, seed=0)
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    compiled(model, loss="mse")
    cb = IGCallback(data.features[:2], tmp_path, feature_names=data.feature_names)
    model.fit(data.features, data.targets, epochs=2, batch_size=32, verbose=0, callbacks=[cb])
    events = read_events(tmp_path / TAG)
    image = events["images"][f"{TAG}/probe_0"]
    assert sorted(image) == [0, 1]
    assert image[1][1][0] == 480  # the bar chart's width
    assert "text" in events and f"{TAG}/tokens/probe_0" not in events["text"]
    exp = keras_ig.explain(model, data.features[:2], steps=32, warn=False)
    np.testing.assert_allclose(cb.history[-1]["delta"], exp.delta, rtol=1e-4, atol=1e-7)


# --------------------------------------------------------------------------
# failures during training never stop it


class _PoisonAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            for w in self.model.weights:
                w.assign(tf.fill(w.shape, float("nan")))


@pytest.mark.slow
def test_nan_weights_warn_and_training_goes_on(shapes, tmp_path):
    model = compiled(image_model())
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], masks=shapes.masks[:2])
    with pytest.warns(IGCallbackWarning, match="not finite") as caught:
        history = model.fit(
            shapes.images,
            shapes.labels,
            epochs=3,
            batch_size=16,
            verbose=0,
            callbacks=[_PoisonAt(1), cb],
        )
    assert len(history.history["loss"]) == 3  # training finished
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert messages[0].startswith("IGCallback: epoch 1: attributions or completeness gap")
    assert "NaN" in messages[0]
    assert [h["epoch"] for h in cb.history] == [0, 1, 2]
    assert np.all(np.isfinite(cb.history[0]["delta"]))
    assert np.all(np.isnan(cb.history[1]["delta"]))
    assert math.isnan(cb.history[1]["localization_mean"])
    events = read_events(tmp_path / TAG)
    assert sorted(events["images"][f"{TAG}/probe_0"]) == [0]
    assert sorted(events["scalars"][f"{TAG}/completeness_gap/max_abs"]) == [0]
    assert cb._writer is None


def test_an_engine_error_warns_and_training_goes_on(shapes, tmp_path):
    model = compiled(image_model())
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1])

    class FailOnce(keras.callbacks.Callback):
        """Makes the engine raise at the end of epoch 0 only."""

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                original = cb._run

                def run():
                    cb._run = original
                    raise RuntimeError("boom")

                cb._run = run

    with pytest.warns(IGCallbackWarning, match="failed at epoch 0.*RuntimeError: boom"):
        model.fit(shapes.images, shapes.labels, epochs=2, verbose=0, callbacks=[FailOnce(), cb])
    assert [h["epoch"] for h in cb.history] == [0, 1]
    assert np.all(np.isnan(cb.history[0]["delta"]))
    assert np.all(np.isfinite(cb.history[1]["delta"]))
    assert sorted(read_events(tmp_path / TAG)["images"][f"{TAG}/probe_0"]) == [1]


# --------------------------------------------------------------------------
# bad configuration fails fast


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"method": "simpson"}, ValueError, "method"),
        ({"every_n_epochs": 0}, ValueError, "every_n_epochs"),
        ({"every_n_epochs": 1.5}, TypeError, "every_n_epochs"),
        ({"masks": np.zeros((2, SIZE, SIZE))}, TypeError, "masks"),
        ({"masks": np.zeros((3, SIZE, SIZE), bool)}, ValueError, "masks"),
        ({"target": [0, 1, 2]}, ValueError, "target"),
        ({"target": True}, TypeError, "target"),
        ({"target": -1}, ValueError, "target"),
        ({"clip_percentile": 0}, ValueError, "clip_percentile"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_probes": 0}, ValueError, "max_probes"),
        ({"histograms": "yes"}, TypeError, "histograms"),
        ({"kind": "video"}, ValueError, "kind"),
        ({"vocabulary": 5}, TypeError, "vocabulary"),
        ({"feature_names": "ab"}, TypeError, "feature_names"),
        ({"layer": 3}, TypeError, "layer"),
        ({"log_dir": None}, TypeError, "log_dir"),
    ],
)
def test_bad_arguments_fail_in_init(kwargs, error, match, shapes):
    kwargs = {"log_dir": "unused", **kwargs}
    with pytest.raises(error, match=match):
        IGCallback(shapes.images[:2], **kwargs)


@pytest.mark.parametrize(
    ("probes", "match"),
    [
        (np.zeros((0, SIZE, SIZE, 1)), "probes"),
        (np.full((1, SIZE, SIZE, 1), np.nan), "probes.*NaN"),
        (np.array(["a", "b"]), "probes"),
    ],
)
def test_bad_probes_fail_in_init(probes, match):
    with pytest.raises((TypeError, ValueError), match=match):
        IGCallback(probes, "unused")


def _begin(cb, model):
    cb.set_model(model)
    cb.on_train_begin()


def test_probe_shape_mismatch_fails_at_train_begin(shapes, tmp_path):
    model = compiled(image_model())
    cb = IGCallback(np.zeros((2, 8, 8, 1), np.float32), tmp_path)
    with pytest.raises(ValueError, match=r"probes has shape \(2, 8, 8, 1\)"):
        model.fit(shapes.images, shapes.labels, epochs=1, verbose=0, callbacks=[cb])
    assert not (tmp_path / TAG).exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target": 7}, ValueError, "target 7 is out of range"),
        ({"masks": np.zeros((2, 5, 5), bool)}, ValueError, r"masks has shape \(2, 5, 5\)"),
        ({"layer": "nope"}, ValueError, "layer: no layer named 'nope'"),
        ({"feature_names": ["a", "b"]}, ValueError, "feature_names"),
        ({"vocabulary": ["a", "b"]}, ValueError, "vocabulary"),
        ({"baseline": np.zeros((3, 3))}, ValueError, "baseline"),
    ],
)
def test_config_that_does_not_fit_the_model_fails_at_train_begin(
    kwargs, error, match, shapes, tmp_path
):
    cb = IGCallback(shapes.images[:2], tmp_path, **kwargs)
    with pytest.raises(error, match=match):
        _begin(cb, image_model())


def test_unwritable_log_dir_fails_at_train_begin(shapes, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cb = IGCallback(shapes.images[:2], blocker / "logs")
    with pytest.raises(ValueError, match="log_dir"):
        _begin(cb, image_model())
