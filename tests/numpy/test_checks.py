"""`keras_ig._numpy.checks`: one set of argument checks for every entry point."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ig._numpy import checks as _checks


def test_integer_accepts_python_and_numpy_ints():
    assert _checks.integer(3, "n", 1) == 3
    assert type(_checks.integer(np.int64(3), "n", 1)) is int
    assert _checks.integer(None, "n", 1, optional=True) is None


@pytest.mark.parametrize(
    ("value", "kwargs", "error", "match"),
    [
        (True, {}, TypeError, "n must be an int, got bool"),
        (1.5, {}, TypeError, "n must be an int, got float"),
        (None, {}, TypeError, "n must be an int, got NoneType"),
        ("3", {"optional": True}, TypeError, "n must be None or an int, got str"),
        (0, {"minimum": 1}, ValueError, "n must be >= 1, got 0"),
    ],
)
def test_integer_rejects(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        _checks.integer(value, "n", **kwargs)


def test_boolean():
    assert _checks.boolean(np.bool_(True), "flag") is True
    with pytest.raises(TypeError, match="flag must be a bool, got int"):
        _checks.boolean(1, "flag")


@pytest.mark.parametrize(
    ("value", "error"),
    [(0.0, ValueError), (100.5, ValueError), (float("nan"), ValueError), ("9", TypeError)],
)
def test_percentile_rejects(value, error):
    with pytest.raises(error, match="clip_percentile"):
        _checks.percentile(value)
    assert _checks.percentile(100) == 100.0
