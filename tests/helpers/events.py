"""One reader of TensorBoard event files for every test that reads them back."""

from __future__ import annotations

import io
import os
import pathlib
from collections import defaultdict
from collections.abc import Iterator

import tensorflow as tf
from PIL import Image


def events(file: str | os.PathLike, *, strict: bool = False) -> Iterator[tf.compat.v1.Event]:
    """The events of one file.

    Args:
        file: an `events.out.tfevents.*` file.
        strict: a truncated or corrupt record raises `DataLossError`; else
            (a file the background writer is still writing) reading stops
            there, as TensorBoard does, and the record is read next time.
    """
    records = iter(tf.data.TFRecordDataset(str(file)))
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except tf.errors.DataLossError:
            if strict:
                raise
            return
        yield tf.compat.v1.Event.FromString(record.numpy())


def read_events(folder: str | os.PathLike, *, strict: bool = False) -> dict:
    """`{plugin: {tag: {step: value}}}` of every event file in `folder`.

    Scalars are floats, images `(format, size)` of the decoded PNG, text
    strings, histograms arrays; `descriptions` holds each image's
    description by tag and step.
    """
    out: dict = defaultdict(lambda: defaultdict(dict))
    for file in sorted(pathlib.Path(folder).glob("events.out.tfevents.*")):
        for event in events(file, strict=strict):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name or "legacy"
                array = tf.make_ndarray(value.tensor)
                if plugin == "scalars":
                    item = float(array)
                elif plugin == "images":
                    with Image.open(io.BytesIO(array[2])) as img:
                        item = (img.format, img.size)
                    out["descriptions"][value.tag][event.step] = (
                        value.metadata.summary_description
                    )
                elif plugin == "text":
                    item = array.item().decode()
                else:
                    item = array
                out[plugin][value.tag][event.step] = item
    return out
