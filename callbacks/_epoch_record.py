"""One logged epoch's `history` record, read from its explanation.

The hooks run the explanation; this module reads it into the epoch's record
(completeness gaps, localization, stability and metrics, through
`_statistics` and `_quality`), with the problems met as messages: the hooks
warn about them and hand the pictures to the writer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig import completeness
from keras_ig._api.explanation import CompletenessWarning, incompleteness
from keras_ig._io import pictures
from keras_ig._numpy import metrics as _metrics
from keras_ig.callbacks import _messages, _quality, _statistics, _text_probes


@dataclass(frozen=True)
class EpochRecord:
    """What one logged epoch gives the writer and the warnings.

    Attributes:
        record: the epoch's `history` entry (see `empty`), filled in.
        exp: the epoch's explanation, None if it failed.
        rows: per probe, its `InputView`s, or None if they could not be read.
        finite: `bool[P]`, as in `_statistics.EpochStatistics` (None without `exp`).
        stability: `float[P]`, as in `_statistics.EpochStatistics` (None without `exp`).
        problems: messages to warn about (without the "IGCallback: " prefix).
    """

    record: dict[str, Any]
    exp: Any
    rows: list | None
    finite: np.ndarray | None
    stability: np.ndarray | None
    problems: list[str]


def explain(
    epoch: int,
    run: Callable[[], Any] | None,
    model: Any,
    settings: Any,
    *,
    history: list[dict[str, Any]],
    previous: list[Any],
    vocab: list[str] | None,
    text: bool,
) -> EpochRecord:
    """Explain with `run` (this fit's runner of `model`) and read the result; never raises.

    Args:
        epoch: the 0-based epoch.
        run: a zero-argument function giving the probes' explanation.
        model: the model `run` explains (the user's, or its clone), for metrics.
        settings: the callback (the attributes of `_settings.Settings`).
        history: the callback's history; the epoch's record is appended
            first, so each logged epoch has one, whatever happens.
        previous: per probe, its last ranks, updated (`_statistics.of_epoch`).
        vocab: the resolved vocabulary, or None.
        text: the probes are texts (`callbacks/_text_probes.py`).
    """
    record = empty(epoch, settings.num_probes, settings.masks, settings.metrics)
    history.append(record)
    try:
        if run is None:
            raise RuntimeError("on_train_begin has not run")
        exp = run()
    except Exception as err:  # never stop training
        failed = (
            f"Integrated Gradients failed at epoch {epoch}; nothing is logged "
            f"for it ({_messages.short(err)})"
        )
        return EpochRecord(record, None, None, None, None, [failed])
    return fill(record, exp, settings, previous=previous, vocab=vocab, text=text, model=model)


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
    settings: Any,
    *,
    previous: list[Any],
    vocab: list[str] | None,
    text: bool,
    model: Any,
) -> EpochRecord:
    """Read `exp`, this epoch's explanation of the P probes, into `record` (in place).

    Args:
        record: from `empty`.
        exp: the `Explanation` (a `TextExplanation` when `text`).
        settings: the callback (`kind`, `pad_id`, `masks`, `metrics` and,
            for the metrics, `probes`, `target`, `output`, `baseline`,
            `batch_size`, `seed`).
        previous: per probe, its last ranks, updated (`_statistics.of_epoch`).
        vocab: the resolved vocabulary, or None.
        text: the probes are texts (`callbacks/_text_probes.py`).
        model: the model `exp` explains, scored by the metrics.
    """
    s = settings
    epoch, n = record["epoch"], len(record["delta"])
    problems: list[str] = []
    record["delta"] = np.asarray(exp.delta, np.float32).copy()
    try:
        rows = (
            _text_probes.views(exp)
            if text
            else pictures.views(exp, kind=s.kind, vocabulary=vocab, pad_id=s.pad_id)
        )
    except Exception as err:
        problems.append(f"epoch {epoch}: cannot read the attributions ({_messages.short(err)})")
        rows = None
    stats = _statistics.of_epoch(exp.delta, rows, n, s.masks, previous)
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
    if s.metrics:
        try:
            record["metrics"] = _quality.epoch_scores(
                s.metrics, model, s.probes, exp, target=s.target, output=s.output,
                baseline=s.baseline, batch_size=s.batch_size, seed=s.seed,
            )  # fmt: skip
        except Exception as err:  # never stop training
            problems.append(f"epoch {epoch}: cannot compute metrics ({_messages.short(err)})")
    return EpochRecord(record, exp, rows, stats.finite, stats.stability, problems)


def incompleteness_warning(exp: Any, epoch: int) -> CompletenessWarning | None:
    """A `CompletenessWarning` when a finite relative gap of `exp` exceeds the tolerance.

    Non-finite gaps are left out: `fill` reports them with the epoch's other failures.
    """
    message = incompleteness(exp, completeness.TOLERANCE, finite_only=True)
    if message is None:
        return None
    return CompletenessWarning(
        f"IGCallback: epoch {epoch}: {message} (see the completeness_gap "
        "scalars). Warned once per fit."
    )
