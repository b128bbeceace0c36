"""Tests for the synthetic datasets in `keras_ig.datasets` (pure numpy)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from keras_ig import datasets as ds


def _corner_patch(images: np.ndarray, corner: int) -> np.ndarray:
    size = images.shape[1]
    rows = slice(0, 3) if corner < 2 else slice(size - 3, size)
    cols = slice(0, 3) if corner % 2 == 0 else slice(size - 3, size)
    return images[:, rows, cols, 0]


# ----------------------------------------------------------------- shapes


@pytest.mark.parametrize("watermark", [None, "label", "random"])
def test_shapes_deterministic(watermark):
    a = ds.make_shapes(40, seed=3, watermark=watermark)
    b = ds.make_shapes(40, seed=3, watermark=watermark)
    c = ds.make_shapes(40, seed=4, watermark=watermark)
    for field in ("images", "labels", "masks", "watermark_masks"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.images, c.images)
    assert not np.array_equal(a.masks, c.masks)


@pytest.mark.parametrize("size", [16, 32, 48])
def test_shapes_shapes_dtypes_range(size):
    data = ds.make_shapes(20, size=size)
    assert data.images.shape == (20, size, size, 1)
    assert data.images.dtype == np.float32
    assert data.labels.shape == (20,) and data.labels.dtype == np.int64
    assert data.masks.shape == (20, size, size) and data.masks.dtype == bool
    assert data.watermark_masks.shape == data.masks.shape
    assert data.watermark_masks.dtype == bool
    assert (
        data.class_names
        == ds.SHAPE_CLASSES
        == (
            "square",
            "disc",
            "triangle",
            "cross",
        )
    )
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    assert set(data.labels.tolist()) <= {0, 1, 2, 3}


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes_mask_fraction_bounds(size):
    data = ds.make_shapes(400, size=size, seed=1)
    fractions = data.mask_fractions
    np.testing.assert_allclose(fractions, data.masks.mean(axis=(1, 2)))
    assert fractions.min() >= 0.04
    assert fractions.max() <= 0.25


def test_shapes_object_brighter_than_background():
    data = ds.make_shapes(200, seed=2)
    images = data.images[..., 0]
    for image, mask in zip(images, data.masks, strict=True):
        assert image[mask].mean() > image[~mask].mean() + 0.2


def test_shapes_label_balance():
    data = ds.make_shapes(103, seed=5)
    counts = np.bincount(data.labels, minlength=4)
    assert counts.sum() == 103
    assert counts.max() - counts.min() <= 1
    # Shuffled, not in cycling order.
    assert not np.array_equal(data.labels, np.arange(103) % 4)


def test_shapes_no_watermark():
    data = ds.make_shapes(30)
    assert not data.watermark_masks.any()


def test_shapes_watermark_label_corner():
    data = ds.make_shapes(80, seed=6, watermark="label")
    for corner in range(4):
        patch = _corner_patch(data.images, corner)
        has = (patch == 1.0).all(axis=(1, 2))
        np.testing.assert_array_equal(has, data.labels % 4 == corner)
        wm = _corner_patch(data.watermark_masks[..., None], corner)
        np.testing.assert_array_equal(wm.all(axis=(1, 2)), data.labels % 4 == corner)
    assert (data.watermark_masks.sum(axis=(1, 2)) == 9).all()
    assert (data.images[..., 0][data.watermark_masks] == 1.0).all()


def test_shapes_watermark_random_uncorrelated():
    data = ds.make_shapes(400, seed=7, watermark="random")
    corner = np.stack(
        [_corner_patch(data.watermark_masks[..., None], k).all(axis=(1, 2)) for k in range(4)],
        axis=1,
    ).argmax(axis=1)
    assert (data.watermark_masks.sum(axis=(1, 2)) == 9).all()
    assert np.mean(corner == data.labels % 4) < 0.5
    assert len(set(corner.tolist())) == 4


@pytest.mark.parametrize("watermark", ["label", "random"])
@pytest.mark.parametrize("size", [16, 32])
def test_shapes_watermark_disjoint_from_object(watermark, size):
    data = ds.make_shapes(300, size=size, seed=8, watermark=watermark)
    assert not (data.masks & data.watermark_masks).any()


def test_shapes_watermark_does_not_move_objects():
    plain = ds.make_shapes(50, seed=9)
    marked = ds.make_shapes(50, seed=9, watermark="random")
    np.testing.assert_array_equal(plain.masks, marked.masks)
    np.testing.assert_array_equal(plain.labels, marked.labels)
    keep = ~marked.watermark_masks[..., None]
    np.testing.assert_array_equal(plain.images[keep], marked.images[keep])


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": 2.0}, TypeError, "n"),
        ({"n": True}, TypeError, "n"),
        ({"n": 4, "size": 15}, ValueError, "size"),
        ({"n": 4, "seed": -1}, ValueError, "seed"),
        ({"n": 4, "noise": -0.1}, ValueError, "noise"),
        ({"n": 4, "noise": "x"}, TypeError, "noise"),
        ({"n": 4, "min_scale": 0.0}, ValueError, "min_scale"),
        ({"n": 4, "max_scale": 0.6}, ValueError, "max_scale"),
        ({"n": 4, "min_scale": 0.4, "max_scale": 0.3}, ValueError, "max_scale"),
        ({"n": 4, "watermark": "corner"}, ValueError, "watermark"),
    ],
)
def test_shapes_validation(kwargs, error, name):
    n = kwargs.pop("n")
    with pytest.raises(error, match=rf"^{name} "):
        ds.make_shapes(n, **kwargs)


# -------------------------------------------------------------- sentences


def test_sentences_deterministic():
    a = ds.make_sentences(50, seed=1)
    b = ds.make_sentences(50, seed=1)
    c = ds.make_sentences(50, seed=2)
    np.testing.assert_array_equal(a.token_ids, b.token_ids)
    np.testing.assert_array_equal(a.keyword_mask, b.keyword_mask)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert not np.array_equal(a.token_ids, c.token_ids)


def test_sentences_shapes_and_dtypes():
    data = ds.make_sentences(30, length=10)
    assert data.token_ids.shape == (30, 10) and data.token_ids.dtype == np.int32
    assert data.labels.shape == (30,) and data.labels.dtype == np.int64
    assert data.keyword_mask.shape == (30, 10) and data.keyword_mask.dtype == bool
    assert data.vocabulary[:2] == ("<pad>", "<unk>")
    assert len(set(data.vocabulary)) == len(data.vocabulary)
    assert data.token_ids.min() >= 0
    assert data.token_ids.max() < len(data.vocabulary)
    counts = np.bincount(data.labels, minlength=2)
    assert counts.tolist() == [15, 15]


def test_sentences_keywords_and_padding():
    data = ds.make_sentences(500, length=12, seed=3)
    vocab = data.vocabulary
    positive = {vocab.index(w) for w in ds.POSITIVE_WORDS}
    negative = {vocab.index(w) for w in ds.NEGATIVE_WORDS}
    for ids, label, kmask, n in zip(
        data.token_ids, data.labels, data.keyword_mask, data.lengths, strict=True
    ):
        assert 6 <= n <= 12
        assert (ids[:n] != 0).all() and (ids[n:] == 0).all()
        is_keyword = np.isin(ids, list(positive | negative))
        np.testing.assert_array_equal(kmask, is_keyword)
        assert 1 <= kmask.sum() <= 2
        polarity = positive if label == 1 else negative
        assert set(ids[kmask].tolist()) <= polarity
    assert set(data.keyword_mask.sum(axis=1).tolist()) == {1, 2}
    # Keyword positions are spread over the sentence, not stuck at one place.
    assert len(set(np.flatnonzero(data.keyword_mask.any(axis=0)).tolist())) == 12


def test_decode_round_trip():
    data = ds.make_sentences(20, seed=4)
    vocab = data.vocabulary
    for ids, n in zip(data.token_ids, data.lengths, strict=True):
        words = ds.decode(ids)
        assert len(words) == n
        assert "<pad>" not in words
        encoded = [vocab.index(w) for w in words]
        np.testing.assert_array_equal(encoded, ids[:n])
    assert ds.decode(np.array([0, 0])) == []
    assert ds.decode([len(vocab) + 5, 2]) == ["<unk>", vocab[2]]


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": "3"}, TypeError, "n"),
        ({"n": 3, "length": 3}, ValueError, "length"),
        ({"n": 3, "seed": 1.5}, TypeError, "seed"),
    ],
)
def test_sentences_validation(kwargs, error, name):
    n = kwargs.pop("n")
    with pytest.raises(error, match=rf"^{name} "):
        ds.make_sentences(n, **kwargs)


# ------------------------------------------------------------- regression


def test_regression_deterministic_and_dtypes():
    a = ds.make_regression(100, seed=1)
    b = ds.make_regression(100, seed=1)
    c = ds.make_regression(100, seed=2)
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.features, c.features)
    assert a.features.shape == (100, 8) and a.features.dtype == np.float32
    assert a.targets.shape == (100,) and a.targets.dtype == np.float32
    assert a.coefficients.shape == (8,) and a.coefficients.dtype == np.float64
    np.testing.assert_array_equal(a.coefficients, c.coefficients)
    assert len(a.feature_names) == 8 == len(set(a.feature_names))
    assert a.feature_names[:2] == ("age", "income")


@pytest.mark.parametrize("n_features", [2, 8, 20])
def test_regression_reproduces_target(n_features):
    data = ds.make_regression(2000, n_features=n_features, seed=3, noise=0.05)
    x = data.features.astype(np.float64)
    i, j, c = data.interaction
    y = x @ data.coefficients + data.intercept + c * x[:, i] * x[:, j]
    residual = data.targets - y
    assert abs(residual.mean()) < 0.01
    assert 0.04 < residual.std() < 0.06
    assert len(data.feature_names) == n_features


def test_regression_irrelevant_features():
    data = ds.make_regression(10, n_features=12)
    assert data.irrelevant
    assert all(data.coefficients[k] == 0 for k in data.irrelevant)
    relevant = set(range(12)) - set(data.irrelevant)
    assert all(data.coefficients[k] != 0 for k in relevant)
    i, j, _ = data.interaction
    assert i not in data.irrelevant and j not in data.irrelevant
    exact = ds.make_regression(50, n_features=12, noise=0.0)
    x = exact.features.astype(np.float64)
    y = x @ exact.coefficients + exact.intercept + 0.5 * x[:, 0] * x[:, 1]
    np.testing.assert_allclose(exact.targets, y, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": 5, "n_features": 1}, ValueError, "n_features"),
        ({"n": 5, "n_features": 3.0}, TypeError, "n_features"),
        ({"n": 5, "noise": -1.0}, ValueError, "noise"),
        ({"n": 5, "noise": float("nan")}, ValueError, "noise"),
        ({"n": 5, "noise": float("inf")}, ValueError, "noise"),
        ({"n": 5, "seed": -3}, ValueError, "seed"),
    ],
)
def test_regression_validation(kwargs, error, name):
    n = kwargs.pop("n")
    with pytest.raises(error, match=rf"^{name} "):
        ds.make_regression(n, **kwargs)


def test_module_does_not_import_tensorflow():
    # Load the file itself, not through the package, whose __init__ may
    # legitimately import TensorFlow.
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {ds.__file__!r})\n"
        "sys.modules['d'] = module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
