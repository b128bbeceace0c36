"""Writing results: attribution shards with their CSV summaries, and the dead letter.

A shard is a pair of files in the output folder with one name pattern,
`attributions-SSSSS-of-NNNNN.npy` (`float[n, ...row]`) and
`summary-SSSSS-of-NNNNN.csv` (one line per row of it, in order; its
`index` column is the row). Rows of several shapes (a model with a free
axis) cannot be stacked: their shard is `attributions-...npz` instead, with
the array of summary line `index` stored under the name `str(index)`. Which
shard an input goes to depends on its file name only, and names are fixed,
so a retried bundle overwrites its own files instead of adding copies.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from keras_ig import completeness

SUMMARY_COLUMNS = (
    "file",
    "row",
    "index",
    "score",
    "baseline_score",
    "delta",
    "relative_gap",
    "target",
)
DEAD_LETTER_COLUMNS = ("file", "reason")


def shard_of(path: str, num_shards: int) -> int:
    """The shard of every row of the file `path` (stable across runs and workers)."""
    return zlib.crc32(path.encode("utf-8")) % num_shards


def shard_name(output: str, kind: str, shard: int, num_shards: int, suffix: str) -> str:
    """`<output>/<kind>-SSSSS-of-NNNNN<suffix>`, on any Beam filesystem."""
    return FileSystems.join(output, f"{kind}-{shard:05d}-of-{num_shards:05d}{suffix}")


def summary_rows(results: Iterable[tuple[tuple[str, int], Any]]) -> list[list[Any]]:
    """One CSV line per `((file, row), PredictionResult)`, in the given order."""
    lines = []
    for index, ((path, row), result) in enumerate(results):
        inf = result.inference
        gap = completeness.relative_gap(
            np.array([inf["delta"]]), np.array([inf["score"]]), np.array([inf["baseline_score"]])
        )[0]
        target = "" if inf["target"] is None else inf["target"]
        lines.append(
            [path, row, index, inf["score"], inf["baseline_score"], inf["delta"], gap, target]
        )
    return lines


def csv_text(header: Iterable[str], lines: Iterable[Iterable[Any]]) -> str:
    """CSV (RFC 4180 quoting, so file names with commas survive) with a header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header))
    writer.writerows(lines)
    return buffer.getvalue()


class WriteShard(beam.DoFn):
    """`(shard, [((file, row), PredictionResult), ...])` -> its `.npy` and `.csv`."""

    def __init__(self, output: str, num_shards: int) -> None:
        self.output = output
        self.num_shards = num_shards

    def process(self, element: tuple[int, Iterable[Any]]) -> Iterator[str]:
        shard, results = element
        ordered = sorted(results, key=lambda kv: kv[0])  # same file order on every run
        maps = [np.asarray(result.inference["attributions"]) for _, result in ordered]
        if len({m.shape for m in maps}) == 1:
            npy = shard_name(self.output, "attributions", shard, self.num_shards, ".npy")
            with FileSystems.create(npy) as fh:
                np.save(fh, np.stack(maps))
        else:  # a model with a free axis, inputs of several sizes: one array each
            npz = shard_name(self.output, "attributions", shard, self.num_shards, ".npz")
            with FileSystems.create(npz) as fh:
                np.savez(fh, **{str(i): m for i, m in enumerate(maps)})
        text = csv_text(SUMMARY_COLUMNS, summary_rows(ordered))
        summary = shard_name(self.output, "summary", shard, self.num_shards, ".csv")
        with FileSystems.create(summary) as fh:
            fh.write(text.encode("utf-8"))
        yield summary


def csv_line(values: Iterable[Any]) -> str:
    """One CSV line, without its line end (e.g. a dead letter's `(file, reason)`)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(list(values))
    return buffer.getvalue()[:-1]
