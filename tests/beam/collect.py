"""Bring a pipeline's outputs back to the test, from any worker process."""

from __future__ import annotations

import pathlib
import pickle
import uuid
from typing import Any

import apache_beam as beam


class Collect(beam.PTransform):
    """Pickle every element into `folder` (one file each): works across processes."""

    def __init__(self, folder: pathlib.Path) -> None:
        super().__init__()
        self.folder = str(folder)

    def expand(self, pcoll: Any) -> Any:
        folder = self.folder

        def dump(element: Any) -> None:
            path = pathlib.Path(folder) / f"{uuid.uuid4().hex}.pkl"
            path.write_bytes(pickle.dumps(element))

        return pcoll | beam.Map(dump)


def collected(folder: pathlib.Path) -> list[Any]:
    """Every element `Collect` wrote into `folder`."""
    return [pickle.loads(p.read_bytes()) for p in sorted(folder.glob("*.pkl"))]
