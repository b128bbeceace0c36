"""Hooks called from outside `fit` (a wrapper callback): the writer never deadlocks."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from keras_ig import datasets
from keras_ig.callbacks import IGCallback
from keras_ig.callbacks._background import POLL_SECONDS
from keras_ig.callbacks._ig_callback import TAG
from tests.helpers.events import read_events


class Forward(keras.callbacks.Callback):
    """Calls the wrapped callback's hooks itself, as benchmarks and schedulers do."""

    def __init__(self, inner: keras.callbacks.Callback) -> None:
        super().__init__()
        self.inner = inner

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def on_train_begin(self, logs=None):
        self.inner.on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(3 * POLL_SECONDS)  # long enough for the thread to think fit has gone
        self.inner.on_epoch_end(epoch, logs)
        self.inner._wait_for_writes()

    def on_train_end(self, logs=None):
        self.inner.on_train_end(logs)


@pytest.mark.slow
def test_epochs_are_written_when_the_hooks_come_from_a_wrapper(tmp_path):
    data = datasets.make_shapes(8, size=16, seed=0)
    model = keras.Sequential(
        [keras.Input((16, 16, 1)), keras.layers.Flatten(), keras.layers.Dense(4)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = IGCallback(data.images[:2], tmp_path, steps=4)
    model.fit(data.images, data.labels, epochs=2, verbose=0, callbacks=[Forward(cb)])
    images = read_events(tmp_path / TAG)["images"][f"{TAG}/probe_0"]
    assert sorted(images) == [0, 1]
    assert len(cb.history) == 2 and np.isfinite(cb.history[-1]["delta"]).all()
