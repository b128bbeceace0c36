"""TensorFlow started quietly: its C++ start-up lines held back."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

# --------------------------------------------------------------------------
# TensorFlow start-up


@contextlib.contextmanager
def _stderr_into(file: Any) -> Iterator[None]:
    """Point file descriptor 2 (C++ logging included) at `file` for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def start_tensorflow() -> None:
    """Import TensorFlow and pick its devices with the C++ start-up log held back.

    TensorFlow's native start-up lines (oneDNN, CUDA probing) ignore
    `TF_CPP_MIN_LOG_LEVEL`; on a machine without a GPU they read like errors.
    They are replayed if start-up fails, and shown when `KERAS_IG_DEBUG` is set.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("KERAS_IG_DEBUG"):
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    with tempfile.TemporaryFile() as log:
        try:
            with _stderr_into(log):
                import tensorflow as tf

                tf.config.list_physical_devices()
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise
