"""What one logged epoch writes: scalars, probe pictures, their descriptions.

`EpochSummaries` holds the callback's fixed drawing settings and fills a
`SummaryBatch` from an epoch's `Explanation`; it runs on the writer thread
(or in `on_epoch_end` without one) and only reads its arguments.
"""

from __future__ import annotations

import numbers
from typing import Any

import keras
import numpy as np

from keras_ig._api.explanation import Explanation
from keras_ig._io import pictures
from keras_ig.callbacks import _messages, _summaries, _text_probes
from keras_ig.callbacks._epoch_record import EpochRecord

TAG = "integrated_gradients"
"""Subfolder of `log_dir` and prefix of every tag the callback writes."""

GAP = f"{TAG}/completeness_gap"


class EpochSummaries:
    """The summaries of one callback's logged epochs.

    Args:
        target: the callback's target (None, int, `int[P]` or a callable).
        masks: `bool[P, *map]` or None.
        shown: how many probes get pictures and per-probe scalars.
        feature_names, signed, clip_percentile, min_size, histograms: as in
            `IGCallback`.
    """

    def __init__(
        self,
        *,
        target: Any,
        masks: np.ndarray | None,
        shown: int,
        feature_names: list[str] | None,
        signed: bool,
        clip_percentile: float,
        min_size: int,
        histograms: bool,
    ) -> None:
        self.target = target
        self.masks = masks
        self.shown = shown
        self.feature_names = feature_names
        self.signed = signed
        self.clip_percentile = clip_percentile
        self.min_size = min_size
        self.histograms = histograms
        # Per (probe, input): `pictures.draw`'s cache of what depends on the
        # probe and mask only, drawn at the first logged epoch and reused.
        self._cache: dict[tuple[int, int], dict] = {}

    @classmethod
    def of(cls, settings: Any) -> EpochSummaries:
        """The summaries of a callback's settings (the attributes of `_settings.Settings`)."""
        s = settings
        shown = s.num_probes if s.max_probes is None else min(s.num_probes, s.max_probes)
        return cls(
            target=s.target, masks=s.masks, shown=shown, feature_names=s.feature_names,
            signed=s.signed, clip_percentile=s.clip_percentile, min_size=s.min_size,
            histograms=s.histograms,
        )  # fmt: skip

    def forget_pictures(self) -> None:
        """Drop the cached panels (a new fit may see other views)."""
        self._cache = {}

    @property
    def varying_target(self) -> bool:
        """Whether the explained unit may change between epochs."""
        return not isinstance(self.target, numbers.Integral | np.ndarray)

    def add_scalars(
        self,
        batch: _summaries.SummaryBatch,
        exp: Explanation,
        record: dict,
        stability: np.ndarray,
        config: str | None,
    ) -> None:
        """Gap, score, target, stability and localization scalars; `config` once."""
        # Probes whose gap or scores are not finite are left out (and warned
        # about by the callback): a NaN gap is not a small one, and
        # `relative_delta` reads NaN over NaN as 0.
        ok = np.isfinite(exp.delta) & np.isfinite(exp.scores) & np.isfinite(exp.baseline_scores)
        delta = np.abs(np.asarray(exp.delta, np.float64))[ok]
        rel = exp.relative_delta[ok]
        rel = rel[np.isfinite(rel)]
        batch.scalar(f"{GAP}/max_abs", delta.max() if delta.size else None)
        batch.scalar(f"{GAP}/mean_abs", delta.mean() if delta.size else None)
        batch.scalar(f"{GAP}/relative_max", rel.max() if rel.size else None)
        batch.scalar(f"{GAP}/relative_mean", rel.mean() if rel.size else None)
        for i in range(self.shown):
            # Per probe, what the image description cannot hold (it is static).
            batch.scalar(f"{TAG}/score/probe_{i}", exp.scores[i])
            batch.scalar(f"{GAP}/probe_{i}", exp.delta[i])
            if self.varying_target and exp.target is not None:
                batch.scalar(f"{TAG}/target/probe_{i}", exp.target[i])
            batch.scalar(f"{TAG}/stability/probe_{i}", stability[i])
        batch.scalar(f"{TAG}/stability/mean", record["stability_mean"])
        if record["localization"] is not None:
            for i in range(self.shown):
                batch.scalar(f"{TAG}/localization/probe_{i}", record["localization"][i])
            batch.scalar(f"{TAG}/localization/mean", record["localization_mean"])
        for name, value in (record.get("metrics") or {}).items():
            batch.scalar(f"{TAG}/metrics/{name}", value)  # NaN (failed) is left out
        if config is not None:
            batch.text(f"{TAG}/config", config)

    def batch(
        self, done: EpochRecord, config: str | None
    ) -> tuple[_summaries.SummaryBatch | None, list[str]]:
        """One epoch's summaries, drawn and encoded: `(batch or None, problems met)`; never raises.

        Args:
            done: the epoch's explanation and record (`_epoch_record.fill`).
            config: the Text `config` table (the first written epoch of a fit) or None.
        """
        exp, epoch = done.exp, done.record["epoch"]
        problems: list[str] = []
        try:
            batch = _summaries.SummaryBatch()
            self.add_scalars(batch, exp, done.record, done.stability, config)
            self.add_probes(batch, exp, done.rows, done.finite, epoch, problems)
        except Exception as err:
            problems.append(f"epoch {epoch}: cannot build the summaries ({_messages.short(err)})")
            return None, problems
        return batch, problems

    def add_probes(
        self,
        batch: _summaries.SummaryBatch,
        exp: Explanation,
        rows: list | None,
        finite: np.ndarray,
        epoch: int,
        problems: list[str],
    ) -> None:
        """Pictures, histograms and token tables of the shown, finite probes."""
        if not rows:
            return
        # Texts of a KerasHub classifier: drawn as TextExplanation.to_images draws them.
        drawn = _text_probes.pictures(exp, self.clip_percentile)
        for i in range(self.shown):
            if not finite[i]:
                continue
            row = rows[i]
            try:
                picture = self._picture(row, i) if drawn is None else drawn[i]
                batch.image(f"{TAG}/probe_{i}", picture, self.describe(row, i))
            except Exception as err:
                problems.append(f"epoch {epoch}: cannot draw probe {i} ({_messages.short(err)})")
            if self.histograms:
                values = np.concatenate([view.scores.reshape(-1) for view in row])
                batch.histogram(f"{TAG}/attributions/probe_{i}", values)
            texts = [view for view in row if view.kind == "text"]
            if texts:
                batch.text(f"{TAG}/tokens/probe_{i}", _summaries.token_markdown(exp, i, texts))

    def _picture(self, row: list, i: int) -> Any:
        drawn = []
        for j, view in enumerate(row):
            mask = None
            if self.masks is not None and view.kind == "image" and view.probe is not None:
                mask = self.masks[i]
            drawn.append(
                pictures.draw(
                    view,
                    feature_names=self.feature_names,
                    mask=mask,
                    signed=self.signed,
                    clip_percentile=self.clip_percentile,
                    min_size=self.min_size,
                    cache=self._cache.setdefault((i, j), {}),
                )
            )
        return pictures.side_by_side(drawn)

    def describe(self, row: list, i: int) -> str:
        """The image card's description (markdown): what the panel shows.

        TensorBoard keeps the first description of a tag for every step, so
        it holds nothing that changes between epochs; this epoch's numbers
        are the per-probe scalars (`add_scalars`).
        """
        parts = {
            "image": "probe | attribution map | overlay"
            + (" (mask outlined in green)" if self.masks is not None else ""),
            "text": "tokens on their attribution (summed over the embedding)",
            "tabular": "per-feature attributions, largest |value| first",
        }
        kinds = ", ".join(parts[view.kind] for view in row)
        colours = "red positive, blue negative" if self.signed else "magnitude"
        scalars = f"`{TAG}/score/probe_{i}` (F(x)), `{GAP}/probe_{i}`"
        if self.varying_target:
            scalars += f", `{TAG}/target/probe_{i}`"
        return (
            f"Probe {i}, target {self.target_words(i)}: {kinds}; {colours}, scaled to "
            f"the {self.clip_percentile:g}th percentile of |attribution|. Each epoch's "
            f"numbers are in the Scalars tab: {scalars}."
        )

    def target_words(self, i: int) -> str:
        """What probe `i`'s target is, in words."""
        if self.target is None:
            return "the only output unit, else the predicted class at each epoch"
        if callable(self.target):
            return f"chosen by {getattr(self.target, '__name__', 'a callable')} at each epoch"
        if isinstance(self.target, np.ndarray):
            return f"unit {int(self.target[i])}"
        return f"unit {int(self.target)}"


def config_markdown(settings: dict[str, str]) -> str:
    """The settings (already in words) as a two-column markdown table."""
    lines = ["| setting | value |", "|---|---|"]
    lines += [f"| {k} | {_summaries.markdown_cell(v)} |" for k, v in settings.items()]
    return "\n".join(lines)


def describe(value: Any) -> str:
    """A setting's value in a few words: arrays by shape, layers by name."""
    if isinstance(value, np.ndarray):
        return f"array {value.shape}" if value.size > 16 else str(value.tolist())
    if isinstance(value, keras.layers.Layer):
        return f"layer {value.name!r}"
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    if hasattr(value, "shape"):
        return f"{type(value).__name__} {tuple(value.shape)}"
    return repr(value)


def settings_markdown(settings: Any) -> str:
    """The Text `integrated_gradients/config`: the callback's main settings in a table.

    Args:
        settings: the callback (the attributes of `_settings.Settings`).
    """
    s = settings
    return config_markdown(
        {
            "probes": str(s.num_probes),
            "target": describe(s.target),
            "baseline": describe(s.baseline),
            "steps": str(s.steps),
            "method": s.method,
            "layer": describe(s.layer),
            "output": describe(s.output),
            "every_n_epochs": str(s.every_n_epochs),
            "masks": "yes" if s.masks is not None else "no",
        }
    )
