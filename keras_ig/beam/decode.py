"""Files to model input rows: `.npy` arrays and images, or a reason they are not.

Decoding works on the bytes Beam read (`fileio.ReadMatches`), so inputs may
live on any filesystem Beam supports. A file that cannot become rows is
reported, not raised: one bad file must not kill a job of a million.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from keras_ig.beam.handler import METRICS_NAMESPACE

DEAD_LETTER = "dead_letter"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class Unreadable(ValueError):
    """A file that cannot become model input rows; its message is the reason."""


@dataclass(frozen=True)
class RowSpec:
    """One input row of a single-input model.

    Attributes:
        shape: the row shape without the batch axis; None for a free axis.
        dtype: the input dtype name, e.g. `"float32"`.
    """

    shape: tuple[int | None, ...]
    dtype: str

    @classmethod
    def of(cls, model: Any) -> RowSpec:
        """The row of `model`'s only input.

        Raises:
            ValueError: naming `--model`, for a model of several inputs.
        """
        inputs = model.inputs
        if len(inputs) != 1:
            raise ValueError(
                f"--model: the pipeline reads files for one-input models; this one has "
                f"{len(inputs)} inputs (use IGModelHandler with dict elements instead)"
            )
        shape = tuple(None if d is None else int(d) for d in inputs[0].shape[1:])
        return cls(shape, str(np.dtype(inputs[0].dtype)))

    @property
    def floating(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.floating)


def read_npy(data: bytes, spec: RowSpec) -> list[np.ndarray]:
    """The rows of a `.npy` file: one row, or a batch of them along axis 0.

    Args:
        data: the file's bytes.
        spec: the model's row.

    Returns:
        Rows shaped `spec.shape`, in `spec.dtype`. A `[H, W]` array is one
        row of a `[H, W, 1]` model.

    Raises:
        Unreadable: not an array of numbers that fits `spec`.
    """
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise Unreadable(f"not a readable .npy file ({first_line(err)})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise Unreadable(f"holds {getattr(arr, 'dtype', type(arr).__name__)} values, not numbers")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise Unreadable("contains NaN or inf")
    if arr.dtype.kind == "f" and not spec.floating:
        raise Unreadable(f"holds floats; the model takes {spec.dtype} inputs")
    rank, stored = len(spec.shape), arr.shape
    if arr.ndim == rank - 1 and spec.shape[-1] == 1:
        arr = arr[..., None]  # greyscale [H, W] for a [H, W, 1] model
    if arr.ndim == rank:
        arr = arr[None]  # one row -> a batch of one
    if arr.ndim != rank + 1 or not _fits(arr.shape[1:], spec.shape):
        raise Unreadable(
            f"array of shape {stored} does not fit the model's input "
            f"{_describe(spec.shape)} (one input, or a batch of them)"
        )
    if len(arr) == 0:
        raise Unreadable("holds an empty batch")
    return list(arr.astype(spec.dtype))


def read_image(data: bytes, spec: RowSpec) -> np.ndarray:
    """An image as one row in [0, 1], resized (bilinear) to the model's size.

    Args:
        data: the file's bytes (any format PIL reads; the first frame).
        spec: the model's row, `[H, W]` or `[H, W, C]` with C in 1, 3, 4.

    Raises:
        Unreadable: not an image, or a model that does not take images.
    """
    from PIL import Image, UnidentifiedImageError

    shape = spec.shape
    image_like = len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 3, 4))
    if not (image_like and spec.floating):
        raise Unreadable(f"an image, but the model takes {spec.dtype} {_describe(shape)} inputs")
    channels = 1 if len(shape) == 2 else shape[-1]
    try:
        with Image.open(io.BytesIO(data)) as img:
            picture = img.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise Unreadable(f"not a readable image ({first_line(err)})") from None
    wanted = (shape[1] or picture.width, shape[0] or picture.height)  # PIL sizes are (W, H)
    if picture.size != wanted:
        picture = picture.resize(wanted, Image.Resampling.BILINEAR)
    row = np.asarray(picture, dtype=np.float32) / 255.0
    if len(shape) == 3 and channels == 1:
        row = row[..., None]  # [H, W] -> [H, W, 1]
    return row.astype(spec.dtype)


def read_rows(path: str, data: bytes, spec: RowSpec) -> list[np.ndarray]:
    """Rows of one file, chosen by its suffix: `.npy`, else an image."""
    if path.lower().endswith(".npy"):
        return read_npy(data, spec)
    if path.lower().endswith(IMAGE_SUFFIXES):
        return [read_image(data, spec)]
    raise Unreadable(f"neither .npy nor an image ({', '.join(IMAGE_SUFFIXES)})")


class DecodeFile(beam.DoFn):
    """`ReadableFile` -> `((path, row), row)` per row, or `(path, reason)` tagged dead letter."""

    def __init__(self, spec: RowSpec) -> None:
        self.spec = spec
        self.dead_letters = Metrics.counter(METRICS_NAMESPACE, "dead_letters")

    def process(self, readable: Any) -> Iterator[Any]:
        path = readable.metadata.path
        try:
            # Not `readable.read()`: it leaves the file open until garbage collection.
            with readable.open("application/octet-stream") as fh:
                data = fh.read()
            rows = read_rows(path, data, self.spec)
        except Unreadable as err:
            self.dead_letters.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, (path, str(err)))
            return
        except OSError as err:  # the filesystem failed to give the bytes
            self.dead_letters.inc()
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, (path, f"cannot read: {first_line(err)}"))
            return
        for i, row in enumerate(rows):
            yield (path, i), row


def _fits(shape: tuple[int, ...], spec: tuple[int | None, ...]) -> bool:
    return len(shape) == len(spec) and all(
        s is None or s == g for s, g in zip(spec, shape, strict=True)
    )


def _describe(shape: tuple[int | None, ...]) -> str:
    dims = ["?" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def first_line(err: BaseException) -> str:
    """The first line of an error message (or its type), for one-line reasons."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
