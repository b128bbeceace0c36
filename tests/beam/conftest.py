"""Tiny saved models for the Beam tests (workers load them from a path)."""

from __future__ import annotations

import pathlib

import keras
import pytest

from tests.helpers.models import mlp


def small_cnn() -> keras.Model:
    """`[N, 8, 8, 1]` images -> 3 softmax units, with a named logits layer."""
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(3, 3, activation="softplus")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(3, name="logits")(h)
    return keras.Model(inp, keras.layers.Softmax()(out))


@pytest.fixture(scope="session")
def mlp_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A saved `mlp(4, 3)`: `[N, 4] -> [N, 3]` softmax."""
    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("models") / "mlp.keras"
    mlp(4, 3).save(path)
    return path


@pytest.fixture(scope="session")
def cnn_path(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A saved `small_cnn()`."""
    keras.utils.set_random_seed(2)
    path = tmp_path_factory.mktemp("models") / "cnn.keras"
    small_cnn().save(path)
    return path
