"""TensorBoard summaries built on the host, written in one operation.

`tf.summary.image` and `tf.summary.histogram` run a dozen eager TensorFlow
ops each (PNG encoding, bucketing); for a handful of small pictures that
costs more than the attributions themselves. Here every value is built as a
protobuf with numpy and PIL in the exact format of the TensorBoard plugins
(`tensorboard.plugins.*`, whose metadata helpers are used: scalars as float
tensors, histograms as `[buckets, 3]` double tensors, images as
`[width, height, png]` strings, text as a string tensor), and the whole
epoch goes to the event file with one `tf.summary.experimental.write_raw_pb`.
Tensor protos are filled directly: the generic `make_tensor_proto` costs
about 60 us a value, a tenth of an epoch's writing.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image
from tensorboard.compat.proto import summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.histogram import metadata as histogram_metadata
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.plugins.text import summary_v2 as text_summary

# Fast zlib level: attribution pictures are flat colour and compress well
# anyway; level 1 is several times faster than PIL's default 6.
_PNG_COMPRESS_LEVEL = 1


_SCALAR_META = scalar_metadata.create_summary_metadata(display_name=None, description=None)
_HISTOGRAM_META = histogram_metadata.create_summary_metadata(display_name=None, description=None)


def _shape(*dims: int) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims]
    )


def png_bytes(picture: Image.Image) -> bytes:
    """`picture` encoded as PNG."""
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


class SummaryBatch:
    """Summary values for one step, written together.

    Example:
        >>> batch = SummaryBatch()
        >>> batch.scalar("loss", 0.5)
        >>> batch.write(step=3)  # under `writer.as_default()`
    """

    def __init__(self) -> None:
        self.summary = summary_pb2.Summary()

    def __len__(self) -> int:
        return len(self.summary.value)

    def scalar(self, tag: str, value: float | None) -> None:
        """A scalar; None and non-finite values are left out."""
        if value is None or not math.isfinite(float(value)):
            return
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_FLOAT, tensor_shape=_shape(), float_val=[float(value)]
        )
        self.summary.value.add(tag=tag, metadata=_SCALAR_META, tensor=tensor)

    def image(self, tag: str, picture: Image.Image, description: str | None = None) -> None:
        """One RGB picture, as the image plugin stores it."""
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            tensor_shape=_shape(3),
            string_val=[
                str(picture.width).encode(),
                str(picture.height).encode(),
                png_bytes(picture),
            ],
        )
        meta = image_metadata.create_summary_metadata(display_name=None, description=description)
        self.summary.value.add(tag=tag, metadata=meta, tensor=tensor)

    def histogram(self, tag: str, values: np.ndarray, buckets: int = 30) -> None:
        """Histogram of finite `values` (any shape) in `buckets` equal bins."""
        data = np.asarray(values, dtype=np.float64).reshape(-1)
        data = data[np.isfinite(data)]
        if data.size == 0:
            return
        lo, hi = float(data.min()), float(data.max())
        if hi > lo:
            counts, edges = np.histogram(data, bins=buckets, range=(lo, hi))
            table = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
        else:  # the plugin's convention for constant data
            table = np.zeros((buckets, 3))
            table[:, :2] = lo
            table[-1, 2] = data.size
        # The plugin's histogram_pb format, with numpy's bucketing.
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_DOUBLE,
            tensor_shape=_shape(buckets, 3),
            tensor_content=np.ascontiguousarray(table, dtype="<f8").tobytes(),
        )
        self.summary.value.add(tag=tag, metadata=_HISTOGRAM_META, tensor=tensor)

    def text(self, tag: str, markdown: str) -> None:
        """A text (markdown) summary."""
        self.summary.value.extend(text_summary.text_pb(tag, markdown).value)

    def write(self, step: int) -> None:
        """Write all values with `step` to the default summary writer."""
        if len(self):
            tf.summary.experimental.write_raw_pb(self.summary.SerializeToString(), step=step)


def markdown_cell(text: str) -> str:
    """`text` escaped for one cell of a markdown table."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "\\n")


def token_markdown(exp: Any, i: int, views: list) -> str:
    """The text table of probe `i` of `exp` (an `Explanation`): tokens and their scores."""
    target = "callable" if exp.target is None else int(exp.target[i])
    lines = [
        f"target {target} · F(x) = {float(exp.scores[i]):.4g} · F(baseline) = "
        f"{float(exp.baseline_scores[i]):.4g} · completeness gap = "
        f"{float(exp.delta[i]):.2e}",
        "",
    ]
    for view in views:
        lines += ["| position | token | attribution |", "|---:|---|---:|"]
        lines += [
            f"| {t} | {markdown_cell(view.tokens[t])} | {view.scores[t]:+.4g} |"
            for t in range(view.length)
        ]
        lines.append("")
    return "\n".join(lines)
