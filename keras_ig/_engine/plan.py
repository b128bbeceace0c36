"""`Plan`: the graph signature of a batch (which inputs are on the path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf


@dataclass(frozen=True)
class Plan:
    """How the model's flat inputs split into attributed and fixed ones.

    Attributes:
        structure: the inputs' nesting (`tf.nest`), or None for a single tensor;
            not part of equality (`structure_key`, derived from it, is).
        structure_key: a hashable image of `structure`.
        names: per flat input, how error messages name it (`x`, `x[1]`, ...).
        interpolated: flat indices of the inputs on the path; empty with a layer.
        row_shapes: per flat input, the shape of one row.
        dtypes: per flat input, its dtype.
        z_shapes: per attributed tensor, the shape of one row.
        z_dtypes: per attributed tensor, its dtype.
        static_batch: None for chunks of any size (one graph for every
            batch_size); an int fixes the chunk shape, as XLA needs.
    """

    structure: Any = field(compare=False, hash=False)
    names: tuple[str, ...]
    interpolated: tuple[int, ...]
    row_shapes: tuple[tuple[int | None, ...], ...]
    dtypes: tuple[tf.DType, ...]
    z_shapes: tuple[tuple[int | None, ...], ...]
    z_dtypes: tuple[tf.DType, ...]
    static_batch: int | None = None
    structure_key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "structure_key", repr(self.structure))
