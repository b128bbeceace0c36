"""One logged epoch's `history` record, read from its explanation.

The hooks run the explanation; this module reads it into the epoch's record
(completeness gaps, localization, stability and metrics, through
`_statistics` and `_quality`), with the problems met as messages: the hooks
warn about them and hand the pictures to the writer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig._io import pictures
from keras_ig._numpy import metrics as _metrics
from keras_ig.callbacks import _messages, _quality, _statistics, _text_probes


@dataclass(frozen=True)
class EpochRecord:
    """What one logged epoch gives the writer and the warnings.

    Attributes:
        record: the epoch's `history` entry (see `empty`), filled in.
        rows: per probe, its `InputView`s, or None if they could not be read.
        finite: `bool[P]`, as in `_statistics.EpochStatistics`.
        stability: `float[P]`, as in `_statistics.EpochStatistics`.
        problems: messages to warn about (without the "IGCallback: " prefix).
    """

    record: dict[str, Any]
    rows: list | None
    finite: np.ndarray
    stability: np.ndarray
    problems: list[str]


def empty(epoch: int, n: int, masks: np.ndarray | None, metrics: tuple[str, ...]) -> dict:
    """The `history` entry of a logged epoch before (or without) its explanation.

    `delta` is `float32[P]` NaN, `localization` `float64[P]` NaN with masks,
    the means NaN (None where the setting is off), `metrics` NaN per name.
    """
    return {
        "epoch": epoch,
        "delta": np.full(n, np.nan, np.float32),
        "localization": None if masks is None else np.full(n, np.nan),
        "localization_mean": None if masks is None else math.nan,
        "stability_mean": None,
        "metrics": {name: math.nan for name in metrics} if metrics else None,
    }


def fill(
    record: dict[str, Any],
    exp: Any,
    *,
    text: bool,
    kind: str | None,
    vocab: list[str] | None,
    pad_id: int | None,
    masks: np.ndarray | None,
    previous: list[Any],
    metrics: tuple[str, ...],
    model: Any,
    probes: Any,
    target: Any,
    output: Any,
    baseline: Any,
    batch_size: int | None,
    seed: int | None,
) -> EpochRecord:
    """Read `exp`, this epoch's explanation of the P probes, into `record` (in place).

    Args:
        record: from `empty`.
        exp: the `Explanation` (a `TextExplanation` when `text`).
        text: the probes are texts (`callbacks/_text_probes.py`).
        kind, vocab, pad_id: how the probes are viewed (`pictures.views`).
        masks: `bool[P, *map]` or None.
        previous: per probe, its last ranks, updated (`_statistics.of_epoch`).
        metrics: names from `_quality.NAMES`, scored against `model`.
        model, probes, target, output, baseline, batch_size, seed: as in the
            callback, for the metrics.
    """
    epoch, n = record["epoch"], len(record["delta"])
    problems: list[str] = []
    record["delta"] = np.asarray(exp.delta, np.float32).copy()
    try:
        rows = (
            _text_probes.views(exp)
            if text
            else pictures.views(exp, kind=kind, vocabulary=vocab, pad_id=pad_id)
        )
    except Exception as err:
        problems.append(f"epoch {epoch}: cannot read the attributions ({_messages.short(err)})")
        rows = None
    stats = _statistics.of_epoch(exp.delta, rows, n, masks, previous)
    if not stats.finite.all():
        bad = np.flatnonzero(~stats.finite).tolist()
        problems.append(
            f"epoch {epoch}: attributions or completeness gap are not finite for "
            f"probes {bad[:8]}{'...' if len(bad) > 8 else ''} (NaN or inf in the "
            "weights or outputs?); their images and statistics are skipped"
        )
    if stats.localization is not None:
        record["localization"] = stats.localization
        mean = _metrics.finite_mean(stats.localization)
        record["localization_mean"] = math.nan if mean is None else mean
    record["stability_mean"] = _metrics.finite_mean(stats.stability)
    if metrics:
        try:
            record["metrics"] = _quality.epoch_scores(
                metrics, model, probes, exp, target=target, output=output,
                baseline=baseline, batch_size=batch_size, seed=seed,
            )  # fmt: skip
        except Exception as err:  # never stop training
            problems.append(f"epoch {epoch}: cannot compute metrics ({_messages.short(err)})")
    return EpochRecord(record, rows, stats.finite, stats.stability, problems)
