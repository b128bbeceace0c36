"""Shared test setup: quiet TensorFlow, deterministic models."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import pytest


@pytest.fixture(autouse=True)
def _seed() -> None:
    keras.utils.set_random_seed(0)
