"""The pure parts of SmoothGrad: the `Noise` record, its draws, the combination."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ig._numpy.noise import KINDS, Noise, check_noise, combine, mean_of_copies, noisy_copies


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"samples": 0}, ValueError, "noise.samples"),
        ({"samples": 2.5}, TypeError, "noise.samples"),
        ({"stdev": -1.0}, ValueError, "noise.stdev"),
        ({"stdev": float("nan")}, ValueError, "noise.stdev"),
        ({"stdev": "big"}, TypeError, "noise.stdev"),
        ({"kind": "mean"}, ValueError, "noise.kind"),
        ({"seed": -1}, ValueError, "noise.seed"),
    ],
)
def test_noise_checks_name_the_field(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        Noise(**kwargs)


def test_check_noise() -> None:
    assert check_noise(None) is None
    with pytest.raises(TypeError, match=r"noise must be None or a keras_ig\.Noise"):
        check_noise(0.1)


def test_copies_are_consecutive_rows_seeded_and_only_where_asked() -> None:
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    ids = np.arange(3)
    noise = Noise(samples=4, stdev=0.5, seed=3)
    a, b = noisy_copies([x, ids], [True, False], noise)
    assert a.shape == (12, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(b, np.repeat(ids, 4))
    again, _ = noisy_copies([x, ids], [True, False], noise)
    np.testing.assert_array_equal(a, again)
    # Row n * 4 + s is a copy of input n: the noise is centred on it.
    draws = a.reshape(3, 4, 2) - x[:, None]
    assert 0 < np.abs(draws).max() < 5 * 0.5


def test_combinations_closed_forms() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3 * 5, 2))
    per = values.reshape(3, 5, 2)
    np.testing.assert_allclose(combine(values, 5, "smoothgrad"), per.mean(1), rtol=1e-6)
    np.testing.assert_allclose(combine(values, 5, "smoothgrad_sq"), (per**2).mean(1), rtol=1e-6)
    var = ((per - per.mean(1, keepdims=True)) ** 2).mean(1)
    np.testing.assert_allclose(combine(values, 5, "vargrad"), var, rtol=1e-5)
    np.testing.assert_allclose(mean_of_copies(values[:, 0], 5), per[..., 0].mean(1), rtol=1e-6)
    assert set(KINDS) == {"smoothgrad", "smoothgrad_sq", "vargrad"}


def test_the_noise_has_the_asked_spread() -> None:
    x = np.zeros((2, 1000), np.float32)
    (a,) = noisy_copies([x], [True], Noise(samples=20, stdev=0.3, seed=1))
    assert abs(a.std() - 0.3) < 0.01 and abs(a.mean()) < 0.01
