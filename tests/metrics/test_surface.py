"""`from keras_ig import metrics`: the contract's names, loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

import keras_ig

NAMES = ("deletion", "insertion", "infidelity", "sensitivity_max", "localization", "randomization")


def test_the_contracts_names_are_there():
    from keras_ig import metrics

    assert keras_ig.metrics is metrics
    assert "metrics" in dir(keras_ig)
    for name in NAMES:
        assert callable(getattr(metrics, name)) and name in metrics.__all__


@pytest.mark.slow
def test_import_keras_ig_does_not_load_the_metrics():
    code = (
        "import sys, keras_ig; print('keras_ig.metrics' in sys.modules);"
        "keras_ig.metrics.deletion; print('keras_ig.metrics' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["False", "True"]
