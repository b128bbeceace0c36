"""`IGCallback`: how attributions of fixed probes evolve during `model.fit`.

The hooks decide when to explain and hand the work on: `_settings` checks the arguments,
`_probe_checks` builds the compiled engine (`keras_ig._api.explain.Explainer`, one graph reused
at every epoch since only the weights change), `_replica` the clone that background IG explains,
`_epoch_record` reads an epoch's explanation into `history`, `_epoch_summaries` and `_writer`
write it to TensorBoard on the `_background` thread. A failure never stops training.
"""

from __future__ import annotations

import functools
import os
import warnings
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import keras
import numpy as np

from keras_ig._api.explain import Explainer
from keras_ig._api.explanation import Explanation
from keras_ig._io import pictures as _images
from keras_ig.callbacks import (
    _background,
    _claims,
    _epoch_record,
    _probe_checks,
    _replica,
    _settings,
    _workers,
)
from keras_ig.callbacks._epoch_record import EpochRecord
from keras_ig.callbacks._epoch_summaries import TAG, EpochSummaries, settings_markdown
from keras_ig.callbacks._writer import EpochWriter, prepare_log_dir


class IGCallbackWarning(UserWarning):
    """Part of an epoch's Integrated Gradients summaries could not be made."""


class IGCallback(keras.callbacks.Callback):
    """Log Integrated Gradients of fixed probes to TensorBoard during training.

    At the end of every `every_n_epochs`-th epoch (epochs whose 0-based index `epoch` has `(epoch +
    1) % every_n_epochs == 0`) the callback explains `probes` with the model's current weights and
    writes, with `epoch` as the step (so a run resumed with `initial_epoch` continues the curves),
    into `os.path.join(log_dir, "integrated_gradients")` (next to `keras.callbacks.TensorBoard`'s
    `train/` and `validation/` when they share `log_dir`):

    - Images `integrated_gradients/probe_{i}`: probe | map | overlay for image inputs (mask
      outlined in green), tokens on coloured backgrounds for text, a bar chart for tabular rows —
      `Explanation.to_images`'s pictures. Their description says what the panel shows and stays the
      same at every step (TensorBoard shows a tag's first description only); the epoch's numbers
      are the scalars below;
    - Scalars `integrated_gradients/completeness_gap/max_abs`, `/mean_abs`, `/relative_max`,
      `/relative_mean` (`|delta|`, and `|delta|` over `|F(x) - F(baseline)|`, over the probes whose
      gap is finite: a probe with a NaN or inf gap is warned about and left out, never counted as
      0), and per probe `integrated_gradients/completeness_gap/probe_{i}` (`delta`),
      `integrated_gradients/score/probe_{i}` (F(x)) and, when `target` is None or a callable,
      `integrated_gradients/target/probe_{i}`;
    - Scalars `integrated_gradients/stability/probe_{i}` and `/stability/mean`: the Spearman rank
      correlation between a probe's map now and at the previous logged epoch (1: same ranking, the
      map has settled; near 0: it changed; from the second logged epoch on);
    - with `masks`: Scalars `integrated_gradients/localization/probe_{i}` and `/localization/mean`,
      the share of positive attribution inside the mask;
    - with `metrics`: Scalars `integrated_gradients/metrics/<name>`, the probes' mean deletion /
      insertion area or infidelity;
    - with `histograms`: Histograms `integrated_gradients/attributions/probe_{i}` of the map's
      values;
    - for text: Text `integrated_gradients/tokens/probe_{i}`, a table of tokens and scores; and
      once per `fit`, Text `integrated_gradients/config` with the settings.

    In a multi-worker `fit` (`MultiWorkerMirroredStrategy`, e.g. `keras_ig.MultiWorkerStrategy`)
    only the chief (the `chief` task, else `worker` 0) explains and writes, in the background
    (`background_ig`), so no worker waits for its IG; the other workers' callbacks compute nothing,
    write nothing and keep `history` empty. Maps are per probe: image attributions summed over
    channels `[H, W]`, text attributions summed over the embedding `[T]`, tabular rows `[F]`.

    The compiled engine is built at `on_train_begin` (where a one-step run also checks probes,
    target, layer and baseline against the model) and reused at every epoch (and later fits).
    Pictures are drawn and written on a background thread while the next epoch trains
    (`background_writes`); the writer is flushed after every logged epoch and closed at train end —
    also when `fit` ends in an exception such as `KeyboardInterrupt` (Keras then skips
    `on_train_end`; the thread notices that `fit` has gone, writes what is queued, closes the
    writer and stops). A failure at an epoch (e.g. NaN weights) gives an `IGCallbackWarning` and
    skips what cannot be written; training goes on. A write that fails (a full disk: TensorFlow's
    writer does not report it, so the event file's growth is checked) is warned about once, naming
    `log_dir`; each later logged epoch tries again in a new event file, and the first that succeeds
    is warned about as resumed. One `log_dir` takes one callback at a time: a second `IGCallback`
    whose `fit` starts while the first one's runs is refused (their steps would interleave under
    the same tags).

    Args:
        probes: `[P, ...]` inputs to follow, as the model takes them (a list or dict of arrays for
            a multi-input model). Copied. Or `P` texts (a list of str) for a KerasHub text
            classifier with its preprocessor: each logged epoch runs `keras_ig.explain_text` on
            them (`target`, `baseline` — also `"pad"` or a token id —, `steps`, `method`,
            `batch_size`), and `last_explanation` is its `TextExplanation`.
        log_dir: TensorBoard log folder; summaries go to its `integrated_gradients/` subfolder.
            Created at train begin.
        target: what to explain, as in `keras_ig.explain`: None (the only unit, else the predicted
            class at each epoch — which can change from epoch to epoch; pass the labels to follow
            one class), an int, `int[P]`, or a callable `f(outputs) -> [P]`.
        baseline: as in `keras_ig.explain`.
        steps: quadrature points.
        method: a quadrature rule of Integrated Gradients (as in `keras_ig.explain`), or another
            path method: `"idgi"`, `"blur_ig"`, `"guided_ig"` or `"expected_gradients"` (which
            needs `method_options={"background": ...}`); `steps`, `baseline` and `seed` are passed
            where the method takes them.
        layer: attribute at this layer's output (e.g. the `Embedding` for token ids).
        output: as in `keras_ig.explain` (e.g. `"logits"`).
        every_n_epochs: log after epochs `n-1, 2n-1, ...` (0-based).
        masks: `bool[P, H, W]` (generally `bool[P, *map]`): one region per probe, for the
            localization score and the outline.
        vocabulary: token strings by id: a list, or a `StringLookup` / `TextVectorization` (its
            `get_vocabulary()` at train begin).
        feature_names: `F` names for tabular bar charts.
        signed: image maps by sign (blue/red) or by magnitude.
        clip_percentile: percentile of `|attr|` drawn at full colour.
        batch_size: most rows per model call inside the engine (None: the engine's default, about
            4M elements).
        histograms: write attribution histograms.
        max_probes: draw images, histograms, text and per-probe scalars for the first `max_probes`
            probes only (means and `history` use all); None for all.
        kind: None to infer from shapes, or `"image"`, `"text"`, `"tabular"`.
        min_size: image panels are enlarged to at least this short side.
        pad_id: trailing tokens with this id are not drawn (None: keep).
        n_baselines: random baselines for `"uniform"`/`"gaussian"`.
        seed: seed of random baselines. They are drawn once per `fit`, so every epoch uses the same
            ones (otherwise stability would measure the noise); None draws fresh ones at each
            `fit`.
        warn_completeness: warn (once per `fit`) when a relative completeness gap exceeds 5% — a
            sign that `steps` is too low.
        background_writes: draw, encode and write the pictures on one background thread while the
            next epoch trains (at most one epoch in flight; all flushed by `on_train_end`); the
            attributions, `history` and their warnings are still computed before `on_epoch_end`
            returns (unless `background_ig`). False: written before returning (see `background_ig`).
        method_options: the path method's own keywords (e.g. `{"max_sigma": 20.0}` for Blur IG,
            `{"background": x[:100], "samples": 16}` for Expected Gradients).
        metrics: names from `("deletion", "insertion", "infidelity")`: each logged epoch, the
            probes' maps are scored with `keras_ig.metrics` (deletion/insertion at 20 steps,
            features replaced by zeros or by a constant `baseline`; infidelity with Gaussian
            perturbations seeded by `seed`) and the mean over the probes is written as Scalar
            `integrated_gradients/metrics/<name>`. Not with `layer=`.
        background_ig: `on_epoch_end` only copies the weights (`model.get_weights()`) and returns;
            the writer thread loads them into a clone of the model (`keras.models.clone_model` and
            its compiled graph, made once per `fit`) and explains, scores and writes while the
            next epoch trains. At most one epoch in flight: an epoch ending while the previous one
            is explained waits for it; `on_train_end` waits for all. An epoch's `history`,
            `last_explanation` and warnings (the synchronous path's values on the same weights)
            arrive when its job ends, at the latest at the next logged epoch or train end. None:
            on only for a multi-worker chief. A model that cannot be cloned (subclassed, without
            `get_config`) and text probes run in `on_epoch_end`, with an `IGCallbackWarning` why.

    Attributes:
        history: one dict per logged epoch, across `fit` calls on the same model: `{"epoch": int,
            "delta": float32[P], "localization": float64[P] | None, "localization_mean": float |
            None, "stability_mean": float | None, "metrics": {name: float} | None}` (NaN where
            undefined or failed; None without masks, without a previous map for stability, or
            without `metrics`).
        last_explanation: the latest `Explanation` (None before the first).

    Raises:
        TypeError, ValueError: a bad argument (here), or at `on_train_begin` probes, target, layer,
            baseline, masks, feature_names or log_dir that do not fit the model or cannot be
            written, or a `log_dir` another `IGCallback`'s running `fit` writes to.
        RuntimeError: at `on_train_begin`, the model's own code raised in the one-step dry run (the
            model's exception is its `__cause__`).

    Example:
        >>> data = keras_ig.datasets.make_shapes(2000)
        >>> cb = IGCallback(data.images[:8], "logs/run1",
        ...                 target=data.labels[:8], masks=data.masks[:8])
        >>> model.fit(data.images, data.labels, epochs=10, callbacks=[cb])
        >>> cb.history[-1]["localization_mean"]
    """

    def __init__(
        self,
        probes: Any,
        log_dir: str | os.PathLike = "logs/ig",
        *,
        target: int | Sequence[int] | np.ndarray | Callable | None = None,
        baseline: Any = "zeros",
        steps: int = 32,
        method: str = "gausslegendre",
        layer: keras.layers.Layer | str | None = None,
        output: keras.layers.Layer | str | None = None,
        every_n_epochs: int = 1,
        masks: np.ndarray | None = None,
        vocabulary: Sequence[str] | keras.layers.Layer | None = None,
        feature_names: Sequence[str] | None = None,
        signed: bool = True,
        clip_percentile: float = 99.0,
        batch_size: int | None = None,
        histograms: bool = True,
        max_probes: int | None = None,
        kind: str | None = None,
        min_size: int = 128,
        pad_id: int | None = 0,
        n_baselines: int = 8,
        seed: int | None = 0,
        warn_completeness: bool = True,
        background_writes: bool = True,
        metrics: Sequence[str] | None = None,
        method_options: dict[str, Any] | None = None,
        background_ig: bool | None = None,
    ) -> None:
        super().__init__()
        checked = _settings.check(**_settings.arguments(locals()))  # all of them, by name
        vars(self).update(checked.attributes())  # self.probes, self.steps, ...
        self._texts = checked.texts  # for a KerasHub text classifier
        self.history: list[dict[str, Any]] = []
        self.last_explanation: Explanation | None = None
        self._explainer: Explainer | None = None
        self._run: Callable[[], Explanation] | None = None  # this fit's compiled IG
        # The event file, shared by the writer thread and the training thread.
        self._out = EpochWriter(self.run_dir, self.log_dir)
        self._late: list[str] = []  # problems met after fit had gone, warned later
        self._vocab: list[str] | None = None
        # Per probe, `_metrics.unit_ranks` of its last finite map (for stability).
        self._previous: list[np.ndarray | None] = [None] * self.num_probes
        self._seen_model: weakref.ReferenceType | None = None
        self._config_written = False
        self._warned_incomplete = False
        self._worker: _background.WriterThread | None = None
        self._pending: Future | None = None
        self._epoch_summaries = EpochSummaries.of(self)
        self._idle = False  # a non-chief worker of a multi-worker fit: no IG, no events
        self._replica: _replica.Replica | None = None  # this fit's clone, with background IG

    @property
    def run_dir(self) -> str:
        """Where the event files go: `log_dir/integrated_gradients`."""
        return os.path.join(self.log_dir, TAG)

    @property
    def _writer(self) -> Any:
        """The open TensorBoard writer, None between fits (kept for introspection)."""
        return self._out.events.writer

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check everything against the model, build the graph, prepare log_dir."""
        model = self.model
        self._finish()  # a previous fit that ended in an exception
        # Multi-worker fit: only the chief explains and writes (callbacks/_workers.py).
        self._idle = not _workers.writes_here(model)
        if self._idle:
            return
        _claims.claim(self.run_dir, self, self._fit_running, self._finish_quietly, self.log_dir)
        self._worker = _background.WriterThread(_background.caller_frame(), self._on_thread_exit)
        try:
            self._begin(model)
        except BaseException:
            self._finish_quietly()  # the thread stops and frees log_dir
            raise

    def _begin(self, model: keras.Model) -> None:
        self._epoch_summaries.forget_pictures()  # drawn afresh: the views may differ with the model
        if self._seen_model is None or self._seen_model() is not model:
            # Another model: its history and stability reference start afresh.
            self.history = []
            self.last_explanation = None
            self._previous = [None] * self.num_probes
        self._seen_model = weakref.ref(model)
        self._run = None
        self._config_written = False
        self._warned_incomplete = False
        self._vocab = _images.resolve_vocabulary(self.vocabulary)
        self._replica = None
        if _replica.wanted(self.background_ig, model):
            started = (
                _replica.start(self._worker, model, self, self._vocab)
                if self._texts is None
                else "text probes explain the KerasHub task itself, which is not cloned"
            )
            if isinstance(started, str):
                _warn(f"background_ig: {started}; Integrated Gradients run in on_epoch_end instead")
            else:
                self._replica, self._explainer, self._run = started
        if self._replica is None:
            self._explainer, self._run = _probe_checks.prepare(
                model, self, vocab=self._vocab, texts=self._texts, layer=self.layer,
                output=self.output,
            )  # fmt: skip
        prepare_log_dir(self.run_dir, self.log_dir)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Explain the probes and write this epoch's summaries (if due)."""
        if self._idle or (epoch + 1) % self.every_n_epochs:  # _idle: a non-chief worker
            return
        self._log_epoch(int(epoch))

    def on_train_end(self, logs: dict | None = None) -> None:
        """Finish pending work, flush and close the writer, stop the thread.

        A later `fit` opens a new writer (a new event file in the same run). A `fit` that ends in
        an exception (e.g. `KeyboardInterrupt`) does not call this hook; the writer thread then
        does the same by itself, at most `_background.POLL_SECONDS` after `fit` has gone.
        """
        self._finish()

    def _finish(self) -> None:
        """Wait for the writes, close the writer, stop the thread, warn."""
        self._wait_for_writes()
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()  # runs `_on_thread_exit`
        else:
            self._on_thread_exit()
        late, self._late = self._late, []
        _warn_all(late)

    def _on_thread_exit(self) -> None:
        """Flush and close the writer and free `log_dir` (on the writer thread)."""
        problem = self._out.close()
        if problem is not None:
            self._late.append(problem)
        _claims.release(self.run_dir, self)

    def _fit_running(self) -> bool:
        worker = self._worker
        return worker is not None and worker.is_alive() and worker.fit_running()

    def _finish_quietly(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def _log_epoch(self, epoch: int) -> None:
        if self._replica is not None:  # background IG: here only a host copy of the weights
            weights = self.model.get_weights()
            job = _replica.epoch_job(self._replica, weights, epoch, lambda: self._run, self._epoch)
        else:
            problems, job = self._epoch(epoch, self._run, self.model)
            _warn_all(problems)
            if job is None:
                return
        self._wait_for_writes()  # at most one epoch in flight: bounded memory
        if self._worker is None or not (self.background_writes or self._replica is not None):
            _warn_all(job())
        else:
            self._pending = self._worker.submit(job)

    def _epoch(
        self, epoch: int, run: Callable[[], Explanation] | None, model: keras.Model
    ) -> tuple[list[str | Warning], Callable[[], list[str]] | None]:
        """Explain with `run` (IG of `model`), record: `(problems, write job or None)`."""
        done = _epoch_record.explain(
            epoch, run, model, self, history=self.history, previous=self._previous,
            vocab=self._vocab, text=self._texts is not None,
        )  # fmt: skip
        if done.exp is None:
            return list(done.problems), None
        self.last_explanation = done.exp
        problems: list[str | Warning] = list(done.problems)
        if self.warn_completeness and not self._warned_incomplete:  # once per fit
            warning = _epoch_record.incompleteness_warning(done.exp, epoch)
            self._warned_incomplete = warning is not None
            problems += [warning] if warning is not None else []
        return problems, functools.partial(self._write_epoch, done)

    def _write_epoch(self, done: EpochRecord) -> list[str]:
        """Draw, encode and write one epoch; returns the problems met (never raises).

        Runs on the writer thread with `background_writes`: it only reads its argument (fresh
        arrays of this epoch) and the callback's fixed settings; failed writes are reported as
        `EpochWriter` says.
        """
        config = None if self._config_written else settings_markdown(self)
        batch, problems = self._epoch_summaries.batch(done, config)
        if batch is None:
            return problems
        written, met = self._out.write(batch, done.record["epoch"])
        self._config_written |= written
        return problems + met

    def _wait_for_writes(self) -> None:
        """Wait for the writer thread's epoch, then warn about its problems."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            _warn_all(pending.result())


def _warn_all(problems: Sequence[str | Warning]) -> None:
    """Warn each problem: a str as an `IGCallbackWarning`, a warning as itself."""
    for problem in problems:
        if isinstance(problem, Warning):
            warnings.warn(problem, stacklevel=3)
        else:
            _warn(problem)


def _warn(message: str) -> None:
    warnings.warn(f"IGCallback: {message}", IGCallbackWarning, stacklevel=4)
