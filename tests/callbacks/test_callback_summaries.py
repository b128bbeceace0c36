"""`_summaries.SummaryBatch` builds the TensorBoard plugins' exact protos."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tensorboard.plugins.histogram import summary_v2 as histogram_summary
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.util import tensor_util

from keras_ig.callbacks import _summaries


def test_scalar_is_the_plugins_proto():
    batch = _summaries.SummaryBatch()
    batch.scalar("a/b", 0.125)
    assert batch.summary == scalar_summary.scalar_pb("a/b", 0.125)


@pytest.mark.parametrize("value", [None, float("nan"), float("inf")])
def test_undefined_scalars_are_left_out(value):
    batch = _summaries.SummaryBatch()
    batch.scalar("a", value)
    assert len(batch) == 0


def test_histogram_matches_the_plugins_format_and_counts():
    data = np.random.default_rng(0).normal(size=(7, 9))
    batch = _summaries.SummaryBatch()
    batch.histogram("h", data, buckets=12)
    ours = batch.summary.value[0]
    theirs = histogram_summary.histogram_pb("h", data, buckets=12).value[0]
    assert ours.metadata == theirs.metadata
    table = tensor_util.make_ndarray(ours.tensor)
    reference = tensor_util.make_ndarray(theirs.tensor)
    assert table.dtype == reference.dtype == np.float64
    assert table.shape == reference.shape == (12, 3)
    np.testing.assert_allclose(table[:, :2], reference[:, :2], rtol=1e-12)
    np.testing.assert_array_equal(table[:, 2], np.histogram(data, bins=12)[0])
    assert table[:, 2].sum() == data.size


def test_constant_histogram_follows_the_plugins_convention():
    batch = _summaries.SummaryBatch()
    batch.histogram("h", np.full(5, 2.5), buckets=4)
    table = tensor_util.make_ndarray(batch.summary.value[0].tensor)
    reference = tensor_util.make_ndarray(
        histogram_summary.histogram_pb("h", np.full(5, 2.5), buckets=4).value[0].tensor
    )
    np.testing.assert_array_equal(table[:, :2], reference[:, :2])
    assert table[:, 2].sum() == reference[:, 2].sum() == 5


def test_image_is_width_height_png():
    picture = Image.fromarray(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 9)
    batch = _summaries.SummaryBatch()
    batch.image("img", picture, "a description")
    value = batch.summary.value[0]
    assert value.metadata.plugin_data.plugin_name == "images"
    assert value.metadata.summary_description == "a description"
    width, height, png = tensor_util.make_ndarray(value.tensor).tolist()
    assert (width, height) == (b"3", b"2")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), np.asarray(picture))
