"""`Job`: one batch, validated and resolved, ready for the engine."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig._engine.integral import Plan


@dataclass(frozen=True)
class Job:
    """Host arrays for one engine call.

    Attributes:
        plan: the graph signature.
        inputs: what the user passed as `x` (kept for rendering).
        leaves: the flat inputs, each `[N, ...]`.
        base_values: per attributed tensor, its baseline rows `[B, ...]`.
        base_index: per attributed tensor, `int32[N, K]`: baseline row of
            input n, baseline k.
        targets: `int32[N]`, -1 where the predicted class is wanted.
    """

    plan: Plan
    inputs: Any
    leaves: list[np.ndarray]
    base_values: list[np.ndarray]
    base_index: list[np.ndarray]
    targets: np.ndarray

    @property
    def n(self) -> int:
        return int(self.targets.shape[0])

    @property
    def k(self) -> int:
        return int(self.base_index[0].shape[1])

    def args(self, alphas: np.ndarray, weights: np.ndarray, batch_size: np.int32) -> tuple:
        """The engine's arguments, in its signature's order."""
        x_index = np.repeat(np.arange(self.n, dtype=np.int32), self.k)  # row r = n * K + k
        return (
            list(self.leaves),
            list(self.base_values),
            [bi.reshape(-1) for bi in self.base_index],
            x_index,
            alphas,
            weights,
            self.targets,
            batch_size,
        )

    def subset(self, rows: np.ndarray) -> Job:
        """The job for inputs `rows` only, keeping just the baselines they use."""
        values, index = [], []
        for v, bi in zip(self.base_values, self.base_index, strict=True):
            idx = bi[rows]
            used, inverse = np.unique(idx, return_inverse=True)
            values.append(v[used])
            index.append(inverse.reshape(idx.shape).astype(np.int32))
        return dataclasses.replace(
            self,
            inputs=None,
            leaves=[leaf[rows] for leaf in self.leaves],
            base_values=values,
            base_index=index,
            targets=self.targets[rows],
        )

    def with_targets(self, targets: np.ndarray) -> Job:
        return dataclasses.replace(self, targets=np.asarray(targets, np.int32))
