"""`NpyWriter`: attributions appended to a `.npy` file as they are computed.

Pure numpy: the header is written with a placeholder length and rewritten
in place when the file is closed, so the number of rows need not be known
up front and the blocks never sit in memory together.
"""

from __future__ import annotations

import os

import numpy as np

_HEADER_BYTES = 256  # a .npy v1.0 header, padded so it can be rewritten in place


class NpyWriter:
    """Append `[rows, ...]` blocks to a `.npy` whose length is unknown up front."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._file = None
        self._row_shape: tuple[int, ...] | None = None
        self._dtype = np.dtype(np.float32)
        self.rows = 0

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self._dtype)
        if self._file is None:
            parent = os.path.dirname(self.path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            self._file = open(self.path, "wb")  # closed in close()
            self._row_shape = block.shape[1:]
            self._file.write(self._header(0))
        elif block.shape[1:] != self._row_shape:
            raise ValueError(
                f"out: attribution rows changed shape from {self._row_shape} to {block.shape[1:]}"
            )
        # Plain writes, not a writable memmap: written pages would count as
        # resident memory until flushed.
        self._file.write(block.tobytes())
        self.rows += block.shape[0]

    def _header(self, rows: int) -> bytes:
        shape = (rows, *self._row_shape)
        text = repr({"descr": self._dtype.str, "fortran_order": False, "shape": shape})
        body_len = _HEADER_BYTES - 10
        if len(text) + 1 > body_len:
            raise ValueError(f"out: attribution shape {shape} is too large for the header")
        body = (text.ljust(body_len - 1) + "\n").encode("latin1")
        return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + body

    def close(self) -> np.ndarray | None:
        """Finish the file; return it memory-mapped read-only (None if empty)."""
        if self._file is None:
            return None
        self._file.seek(0)
        self._file.write(self._header(self.rows))
        self._file.close()
        return np.load(self.path, mmap_mode="r")
