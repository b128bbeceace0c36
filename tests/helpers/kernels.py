"""Which kernels TensorFlow ran for some ops, read back from a profiler trace.

The benchmark `benchmarks/bench_pool_kernels.py` and the test of
`keras_ig._engine.chunks.isolated` both ask which kernel (oneDNN's or
Eigen's) ran each `MaxPoolGrad`.
"""

from __future__ import annotations

import collections
import pathlib
import tempfile
from collections.abc import Callable

import keras
import tensorflow as tf

try:
    from tsl.profiler.protobuf import xplane_pb2
except ImportError:  # older layouts of the TensorFlow wheel
    from tensorflow.tsl.profiler.protobuf import xplane_pb2


def kernels_run(fn: Callable[[], object], op_type: str) -> collections.Counter:
    """`{kernel: times}` for every op of type `op_type` that `fn()` ran.

    The kernel is what the profiler names the op's execution after its `:`
    (`MaxPoolGrad` for Eigen's, `_MklNativeMaxPoolGrad` for oneDNN's).
    """
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            fn()
        finally:
            tf.profiler.experimental.stop()
        (trace,) = pathlib.Path(logdir).rglob("*.xplane.pb")
        space = xplane_pb2.XSpace()
        space.ParseFromString(trace.read_bytes())
    found: collections.Counter = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if ":" in name and name.endswith(op_type):
                    found[name.rsplit(":", 1)[1]] += 1
    return found


def plain_gradient_kernels(model: keras.Model, x: tf.Tensor) -> collections.Counter:
    """The `MaxPoolGrad` kernels of one compiled gradient with no loop: what this build runs."""

    @tf.function(autograph=False)
    def grad(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            s = tf.reduce_sum(model(z, training=False)[:, 0])
        return tape.gradient(s, z)

    grad(x)
    return kernels_run(lambda: grad(x).numpy(), "MaxPoolGrad")
