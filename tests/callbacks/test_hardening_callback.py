"""Issue 9, the callback's items: lost writes, interrupted fits, one callback
per log_dir, NaN gaps, errors that say where they come from, static image
descriptions, one name per idea."""

from __future__ import annotations

import errno
import math
import pathlib
import re
import threading
from collections import defaultdict

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ig import datasets
from keras_ig.callbacks import IGCallback, IGCallbackWarning, _summaries
from keras_ig.callbacks._ig_callback import TAG
from tests.helpers.events import read_events as shared_reader
from tests.helpers.models import shapes_classifier

SIZE = 16
README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


# --------------------------------------------------------------------------
# helpers


def read_events(folder: pathlib.Path) -> dict:
    """`{tag: {step: value}}`, read strictly: every file must be complete.

    Scalars are floats, images their description, anything else its plugin.
    """
    out: dict = defaultdict(dict)
    for plugin, tags in shared_reader(folder, strict=True).items():
        if plugin == "images":
            continue  # their descriptions stand in for them
        for tag, steps in tags.items():
            for step, item in steps.items():
                out[tag][step] = item if plugin in ("scalars", "descriptions") else plugin
    return out


@pytest.fixture(scope="module")
def shapes():
    return datasets.make_shapes(32, size=SIZE, seed=0)


def fit(model, data, callbacks, epochs=2):
    return model.fit(
        data.images, data.labels, epochs=epochs, batch_size=16, verbose=0, callbacks=callbacks
    )


def ig_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("IGCallback")]


class _At(keras.callbacks.Callback):
    """Runs `action(model)` at the end of `epoch` (after the callbacks before it)."""

    def __init__(self, epoch, action):
        super().__init__()
        self.epoch, self.action = epoch, action

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.action(self.model)


def _interrupt(model):
    raise KeyboardInterrupt


def _poison(model):
    for w in model.weights:
        w.assign(tf.fill(w.shape, float("nan")))


def _failing_writes(monkeypatch, epochs, *, silent):
    """Make `SummaryBatch.write` fail at `epochs`, as a full disk does.

    silent: the bytes are dropped and nothing is raised (what TensorFlow's
    writer does on a full disk: its flush returns); else OSError(ENOSPC).
    """
    original = _summaries.SummaryBatch.write

    def write(self, step):
        if step not in epochs:
            return original(self, step)
        if not silent:
            raise OSError(errno.ENOSPC, "No space left on device")
        return None

    monkeypatch.setattr(_summaries.SummaryBatch, "write", write)


# --------------------------------------------------------------------------
# 1. a full disk is warned about once, and writing resumes


@pytest.mark.slow
@pytest.mark.parametrize("background", [True, False])
@pytest.mark.parametrize("silent", [False, True])
def test_a_full_disk_warns_once_and_writing_resumes(
    shapes, tmp_path, monkeypatch, background, silent
):
    _failing_writes(monkeypatch, {1, 2}, silent=silent)
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], background_writes=background)
    with pytest.warns(IGCallbackWarning) as caught:
        history = fit(shapes_classifier(SIZE), shapes, [cb], epochs=5)
    assert len(history.history["loss"]) == 5  # training went on
    messages = [str(w.message) for w in caught if w.category is IGCallbackWarning]
    assert len(messages) == 2, messages
    assert messages[0].startswith(
        f"IGCallback: cannot write to log_dir {str(tmp_path)!r} from epoch 1"
    )
    assert "No space left" in messages[0] or "disk may be full" in messages[0]
    assert messages[1].startswith(
        f"IGCallback: writing to log_dir {str(tmp_path)!r} resumed at epoch 3"
    )
    events = read_events(tmp_path / TAG)
    assert sorted(events[f"{TAG}/probe_0"]) == [0, 3, 4]
    assert sorted(events[f"{TAG}/completeness_gap/max_abs"]) == [0, 3, 4]
    assert cb._writer is None


# --------------------------------------------------------------------------
# 2. an interrupted fit closes the writer and stops the thread


@pytest.mark.slow
@pytest.mark.parametrize("background", [True, False])
def test_an_interrupted_fit_closes_the_writer_and_stops_the_thread(shapes, tmp_path, background):
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1], background_writes=background)
    with pytest.raises(KeyboardInterrupt):
        fit(shapes_classifier(SIZE), shapes, [cb, _At(1, _interrupt)], epochs=4)
    for thread in ig_threads():
        thread.join(timeout=30)  # it stops within a poll interval
    assert ig_threads() == []
    assert cb._writer is None
    events = read_events(tmp_path / TAG)  # strict: every record complete
    assert sorted(events[f"{TAG}/probe_0"]) == [0, 1]
    # The callback is usable again, and a new fit continues the run.
    fit(shapes_classifier(SIZE), shapes, [cb], epochs=1)
    assert ig_threads() == []
    assert sorted(read_events(tmp_path / TAG)[f"{TAG}/probe_0"]) == [0, 1]
    assert [h["epoch"] for h in cb.history] == [0]  # another model: a fresh history


# --------------------------------------------------------------------------
# 3. two callbacks on one log_dir


@pytest.mark.slow
def test_a_second_callback_on_a_busy_log_dir_is_refused(shapes, tmp_path):
    first = IGCallback(shapes.images[:2], tmp_path, target=[0, 1])
    second = IGCallback(shapes.images[2:4], tmp_path, target=[0, 1])
    with pytest.raises(ValueError, match=rf"log_dir {re.escape(repr(str(tmp_path)))} is already"):
        fit(shapes_classifier(SIZE), shapes, [first, second], epochs=1)
    for thread in ig_threads():
        thread.join(timeout=30)
    assert ig_threads() == []
    # One after the other is fine, and so are two folders side by side.
    fit(shapes_classifier(SIZE), shapes, [second], epochs=1)
    fit(
        shapes_classifier(SIZE),
        shapes,
        [first, IGCallback(shapes.images[:1], tmp_path / "b")],
        epochs=1,
    )
    assert len(first.history) == 1 and len(second.history) == 1


# --------------------------------------------------------------------------
# 4. a NaN gap is never written as 0


def test_nan_gap_epochs_write_no_zero_completeness_gap(shapes, tmp_path):
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1])
    with pytest.warns(IGCallbackWarning, match="not finite"):
        fit(shapes_classifier(SIZE), shapes, [_At(1, _poison), cb], epochs=2)
    assert np.all(np.isnan(cb.history[1]["delta"]))
    events = read_events(tmp_path / TAG)
    for name in ("max_abs", "mean_abs", "relative_max", "relative_mean", "probe_0"):
        logged = events[f"{TAG}/completeness_gap/{name}"]
        assert sorted(logged) == [0], (name, logged)  # epoch 1: left out, not 0
        assert math.isfinite(logged[0])


# --------------------------------------------------------------------------
# 5. errors say where they come from, with their own message


class _Armed(keras.layers.Layer):
    """Identity; once armed, its Python code fails outside training."""

    armed = False

    def call(self, x, training=False):
        if self.armed and not training:
            raise AssertionError("weights drifted")
        return x


def test_a_python_error_in_the_model_at_train_begin_names_the_dry_run(shapes, tmp_path):
    model = shapes_classifier(SIZE)
    armed = _Armed()
    model = keras.Sequential([model, armed])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    armed.armed = True
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1])
    with pytest.raises(
        RuntimeError, match=r"IGCallback: the dry run.*AssertionError: weights drifted \(in _Armed"
    ) as err:
        fit(model, shapes, [cb], epochs=1)
    assert "weights drifted (in _Armed.call())" in str(err.value)
    # fit drops causes (Keras' traceback filter); the hook itself keeps it.
    cb.set_model(model)
    with pytest.raises(RuntimeError, match="dry run") as err:
        cb.on_train_begin()
    assert isinstance(err.value.__cause__, AssertionError)
    assert ig_threads() == []
    armed.armed = False  # the log_dir was not kept busy by the failed start
    fit(model, shapes, [IGCallback(shapes.images[:2], tmp_path, target=[0, 1])], epochs=1)


class _Guard(keras.layers.Layer):
    """Identity with a graph assertion on a flag, checked outside training."""

    def build(self, shape):
        self.ok = self.add_weight(shape=(), initializer="ones", trainable=False, name="ok")

    def call(self, x, training=False):
        if not training:
            tf.debugging.Assert(self.ok > 0.5, ["activations out of range"])
        return x


def test_a_graph_assertion_keeps_its_message_in_the_epoch_warning(shapes, tmp_path):
    guard = _Guard()
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
            guard,
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = IGCallback(shapes.images[:2], tmp_path, target=[0, 1])
    trip = _At(0, lambda m: guard.ok.assign(0.0))
    with pytest.warns(IGCallbackWarning) as caught:
        fit(model, shapes, [trip, cb], epochs=1)
    (message,) = [str(w.message) for w in caught]
    assert message.startswith("IGCallback: Integrated Gradients failed at epoch 0")
    assert "InvalidArgumentError: assertion failed: [activations out of range]" in message
    assert "Graph execution error" not in message


# --------------------------------------------------------------------------
# 6. static image descriptions; the epoch's numbers are scalars


def test_image_descriptions_are_static_and_the_numbers_are_scalars(shapes, tmp_path):
    cb = IGCallback(shapes.images[:2], tmp_path)  # target None: the predicted class
    model = shapes_classifier(SIZE)
    fit(model, shapes, [cb], epochs=3)
    events = read_events(tmp_path / TAG)
    exp = cb.last_explanation
    for i in range(2):
        descriptions = events[f"{TAG}/probe_{i}"]
        assert sorted(descriptions) == [0, 1, 2]
        assert len(set(descriptions.values())) == 1  # the same at every step
        text = descriptions[0]
        assert f"{TAG}/score/probe_{i}" in text and "F(x) =" not in text
        assert events[f"{TAG}/score/probe_{i}"][2] == pytest.approx(float(exp.scores[i]), rel=1e-5)
        gap = events[f"{TAG}/completeness_gap/probe_{i}"][2]
        assert gap == pytest.approx(float(exp.delta[i]), rel=1e-4, abs=1e-9)
        assert events[f"{TAG}/target/probe_{i}"][2] == int(exp.target[i])
        assert sorted(events[f"{TAG}/target/probe_{i}"]) == [0, 1, 2]


# --------------------------------------------------------------------------
# 7. one name per idea, and the README's tags as written


def _readme_tags() -> set[str]:
    """Tags named in the README's callback section, `{a, b}` expanded, `{i}` -> 0."""
    section = README.read_text().split("### The callback", 1)[1].split("\n## ", 1)[0]
    section = re.sub(r"\s+", " ", section)
    tags = set()
    for name in re.findall(r"`(integrated_gradients/[^`]+)`", section):
        name = name.replace("{i}", "0")
        match = re.search(r"\{([^}]*)\}", name)
        options = [o.strip() for o in match.group(1).split(",")] if match else [None]
        for option in options:
            tags.add(
                name if option is None else name[: match.start()] + option + name[match.end() :]
            )
    return tags


@pytest.mark.slow
def test_tags_have_one_name_per_idea_and_match_the_readme(shapes, tmp_path):
    names = ("deletion", "insertion", "infidelity")
    cb = IGCallback(shapes.images[:2], tmp_path, masks=shapes.masks[:2], metrics=names)
    fit(shapes_classifier(SIZE), shapes, [cb], epochs=2)
    written = set(read_events(tmp_path / TAG))
    assert {f"{TAG}/stability/probe_0", f"{TAG}/stability/mean"} <= written
    assert not [t for t in written if "drift" in t or "localisation" in t]
    assert cb.history[1]["stability_mean"] == pytest.approx(
        read_events(tmp_path / TAG)[f"{TAG}/stability/mean"][1], rel=1e-5
    )
    documented = _readme_tags()
    assert f"{TAG}/metrics/<name>" in documented
    documented = documented - {f"{TAG}/metrics/<name>"} | {f"{TAG}/metrics/{m}" for m in names}
    assert len(documented) >= 12
    assert documented - {f"{TAG}/tokens/probe_0"} <= written  # text models only
    assert not [t for t in documented if "drift" in t or "localisation" in t]
