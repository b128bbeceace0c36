"""`IGCallback`: how attributions of fixed probes evolve during `model.fit`.

The callback sits on top of the library's layers: the compiled engine
(`keras_ig._api.explain.Explainer`, one graph reused at every epoch since only the
weights change), the pictures of `keras_ig._io.pictures` (the same ones
`Explanation.to_images` draws) and the numpy statistics of `keras_ig._numpy.metrics`. Its own
job is the I/O: when to compute, what to write to TensorBoard, and never
letting a failure stop training.
"""

from __future__ import annotations

import atexit
import functools
import math
import numbers
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ig import completeness
from keras_ig._api.explain import Explainer, explainer_for
from keras_ig._api.explanation import CompletenessWarning, Explanation, incompleteness
from keras_ig._io import pictures as _images
from keras_ig._numpy import checks as _checks
from keras_ig._numpy import metrics as _metrics
from keras_ig._numpy import nest
from keras_ig._numpy.quadrature import quadrature
from keras_ig.callbacks import (
    _background,
    _messages,
    _settings,
    _statistics,
    _summaries,
    _workers,
)
from keras_ig.callbacks._writer import EventFile, prepare_log_dir

TAG = "integrated_gradients"
"""Subfolder of `log_dir` and prefix of every tag the callback writes."""



class IGCallbackWarning(UserWarning):
    """Part of an epoch's Integrated Gradients summaries could not be made."""


# The run folder (`realpath(run_dir)`) of each callback whose `fit` is
# running, so that a second callback cannot interleave steps under its tags.
_CLAIMS: dict[str, weakref.ReferenceType] = {}
_CLAIMS_LOCK = threading.Lock()


@atexit.register
def _finish_at_exit() -> None:
    """An uncaught exception out of `fit` ends the interpreter: write what is queued.

    `atexit` runs before daemon threads are stopped, so each writer thread
    can still finish its epoch and close its writer.
    """
    with _CLAIMS_LOCK:
        callbacks = [ref() for ref in _CLAIMS.values()]
    for callback in callbacks:
        if callback is not None:
            callback._finish_quietly()


# --------------------------------------------------------------------------
# the callback


class IGCallback(keras.callbacks.Callback):
    """Log Integrated Gradients of fixed probes to TensorBoard during training.

    At the end of every `every_n_epochs`-th epoch (epochs whose 0-based index
    `epoch` has `(epoch + 1) % every_n_epochs == 0`) the callback explains
    `probes` with the model's current weights and writes, with `epoch` as
    the step (so a run resumed with `initial_epoch` continues the curves),
    into `os.path.join(log_dir, "integrated_gradients")` (next to
    `keras.callbacks.TensorBoard`'s `train/` and `validation/` when they
    share `log_dir`):

    - Images `integrated_gradients/probe_{i}`: probe | map | overlay for
      image inputs (mask outlined in green), tokens on coloured backgrounds
      for text, a bar chart for tabular rows — `Explanation.to_images`'s
      pictures. Their description says what the panel shows and stays the
      same at every step (TensorBoard shows a tag's first description
      only); the epoch's numbers are the scalars below;
    - Scalars `integrated_gradients/completeness_gap/max_abs`, `/mean_abs`,
      `/relative_max`, `/relative_mean` (`|delta|`, and `|delta|` over
      `|F(x) - F(baseline)|`, over the probes whose gap is finite: a probe
      with a NaN or inf gap is warned about and left out, never counted as
      0), and per probe `integrated_gradients/completeness_gap/probe_{i}`
      (`delta`), `integrated_gradients/score/probe_{i}` (F(x)) and, when
      `target` is None or a callable, `integrated_gradients/target/probe_{i}`;
    - Scalars `integrated_gradients/stability/probe_{i}` and
      `/stability/mean`: the Spearman rank correlation between a probe's
      map now and at the previous logged epoch (1: same ranking, the map
      has settled; near 0: it changed; from the second logged epoch on);
    - with `masks`: Scalars `integrated_gradients/localization/probe_{i}`
      and `/localization/mean`, the share of positive attribution inside
      the mask;
    - with `histograms`: Histograms `integrated_gradients/attributions/
      probe_{i}` of the map's values;
    - for text: Text `integrated_gradients/tokens/probe_{i}`, a table of
      tokens and scores; and once per `fit`, Text
      `integrated_gradients/config` with the settings.

    In a multi-worker `fit` (`MultiWorkerMirroredStrategy`, e.g.
    `keras_ig.MultiWorkerStrategy`) only the chief (the `chief` task, else
    `worker` 0) explains and writes; the other workers' callbacks compute
    nothing, write nothing and keep `history` empty.

    Maps are per probe: image attributions summed over channels `[H, W]`,
    text attributions summed over the embedding `[T]`, tabular rows `[F]`.

    The compiled engine is built once (in the first `on_train_begin`, where
    a one-step run also checks probes, target, layer and baseline against
    the model) and reused at every epoch and by later `fit` calls. Pictures
    are drawn and written on a background thread while the next epoch
    trains (`background_writes`); the writer is flushed after every logged
    epoch and closed at train end — also when `fit` ends in an exception
    such as `KeyboardInterrupt` (Keras then skips `on_train_end`; the thread
    notices that `fit` has gone, writes what is queued, closes the writer and
    stops). A failure at an epoch (e.g. NaN weights) gives an
    `IGCallbackWarning` and skips what cannot be written; training goes on.
    A write that fails (a full disk: TensorFlow's writer does not report it,
    so the event file's growth is checked) is warned about once, naming
    `log_dir`; each later logged epoch tries again in a new event file, and
    the first that succeeds is warned about as resumed. One `log_dir` takes
    one callback at a time: a second `IGCallback` whose `fit` starts while
    the first one's runs is refused (their steps would interleave under the
    same tags).

    Args:
        probes: `[P, ...]` inputs to follow, as the model takes them (a list
            or dict of arrays for a multi-input model). Copied.
        log_dir: TensorBoard log folder; summaries go to its
            `integrated_gradients/` subfolder. Created at train begin.
        target: what to explain, as in `keras_ig.explain`: None (the only
            unit, else the predicted class at each epoch — which can change
            from epoch to epoch; pass the labels to follow one class), an int,
            `int[P]`, or a callable `f(outputs) -> [P]`.
        baseline: as in `keras_ig.explain`.
        steps: quadrature points.
        method: quadrature rule.
        layer: attribute at this layer's output (e.g. the `Embedding` for
            token ids).
        output: as in `keras_ig.explain` (e.g. `"logits"`).
        every_n_epochs: log after epochs `n-1, 2n-1, ...` (0-based).
        masks: `bool[P, H, W]` (generally `bool[P, *map]`): one region per
            probe, for the localization score and the outline.
        vocabulary: token strings by id: a list, or a `StringLookup` /
            `TextVectorization` (its `get_vocabulary()` at train begin).
        feature_names: `F` names for tabular bar charts.
        signed: image maps by sign (blue/red) or by magnitude.
        clip_percentile: percentile of `|attr|` drawn at full colour.
        batch_size: most rows per model call inside the engine (None: the
            engine's default, about 4M elements).
        histograms: write attribution histograms.
        max_probes: draw images, histograms, text and per-probe scalars for
            the first `max_probes` probes only (means and `history` use all);
            None for all.
        kind: None to infer from shapes, or `"image"`, `"text"`, `"tabular"`.
        min_size: image panels are enlarged to at least this short side.
        pad_id: trailing tokens with this id are not drawn (None: keep).
        n_baselines: random baselines for `"uniform"`/`"gaussian"`.
        seed: seed of random baselines. They are drawn once per `fit`, so
            every epoch uses the same ones (otherwise stability would
            measure the noise); None draws fresh ones at each `fit`.
        warn_completeness: warn (once per `fit`) when a relative completeness
            gap exceeds 5% — a sign that `steps` is too low.
        background_writes: draw, encode and write the pictures on one
            background thread while the next epoch trains (at most one epoch
            in flight; all finished and flushed by `on_train_end`). The
            attributions, `history` and warnings about them are always
            computed before `on_epoch_end` returns. False: write before
            returning, so each epoch is on disk when the next one starts.

    Attributes:
        history: one dict per logged epoch, across `fit` calls on the same
            model: `{"epoch": int, "delta": float32[P], "localization":
            float64[P] | None, "localization_mean": float | None,
            "stability_mean": float | None}` (NaN where undefined or failed;
            None without masks, or without a previous map for stability).
        last_explanation: the latest `Explanation` (None before the first).

    Raises:
        TypeError, ValueError: a bad argument (here), or at `on_train_begin`
            probes, target, layer, baseline, masks, feature_names or log_dir
            that do not fit the model or cannot be written, or a `log_dir`
            another `IGCallback`'s running `fit` writes to.
        RuntimeError: at `on_train_begin`, the model's own code raised in
            the one-step dry run (the model's exception is its `__cause__`).

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
    ) -> None:
        super().__init__()
        self.probes, self.num_probes = _settings.as_probes(probes)
        self.log_dir = _settings.check_log_dir(log_dir)
        self.target = _settings.check_target(target, self.num_probes)
        self.baseline = baseline
        quadrature(method, steps)  # raises on a bad method or steps
        self.steps, self.method = int(steps), method
        if layer is not None and not isinstance(layer, str | keras.layers.Layer):
            raise TypeError(f"layer must be a layer or its name, got {type(layer).__name__}")
        self.layer, self.output = layer, output
        self.every_n_epochs = _checks.integer(every_n_epochs, "every_n_epochs", 1)
        self.masks = _images.check_masks(masks, self.num_probes)
        if vocabulary is not None and not callable(getattr(vocabulary, "get_vocabulary", None)):
            _images.resolve_vocabulary(vocabulary)  # check a plain list now
        self.vocabulary = vocabulary
        self.feature_names = _images.check_feature_names(feature_names)
        self.signed = _checks.boolean(signed, "signed")
        self.clip_percentile = _checks.percentile(clip_percentile)
        self.batch_size = _checks.integer(batch_size, "batch_size", 1, optional=True)
        self.histograms = _checks.boolean(histograms, "histograms")
        self.max_probes = _checks.integer(max_probes, "max_probes", 1, optional=True)
        if kind is not None and kind not in _images.KINDS:
            raise ValueError(f"kind must be None or one of {list(_images.KINDS)}, got {kind!r}")
        self.kind = kind
        self.min_size = _checks.integer(min_size, "min_size", 0)
        self.pad_id = _checks.integer(pad_id, "pad_id", optional=True)
        self.n_baselines = _checks.integer(n_baselines, "n_baselines", 1)
        self.seed = _checks.integer(seed, "seed", 0, optional=True)
        self.warn_completeness = _checks.boolean(warn_completeness, "warn_completeness")
        self.background_writes = _checks.boolean(background_writes, "background_writes")

        self.history: list[dict[str, Any]] = []
        self.last_explanation: Explanation | None = None
        self._explainer: Explainer | None = None
        self._run: Callable[[], Explanation] | None = None  # this fit's compiled IG
        # The writer and its event file: opened, used and closed under
        # `_io_lock` (the writer thread and the training thread share them).
        self._events = EventFile(self.run_dir)
        self._io_lock = threading.Lock()
        self._failing_since: int | None = None  # first epoch of a write outage
        self._late: list[str] = []  # problems met after fit had gone, warned later
        self._vocab: list[str] | None = None
        # Per probe, `_metrics.unit_ranks` of its last finite map (for stability).
        self._previous: list[np.ndarray | None] = [None] * self.num_probes
        self._seen_model: weakref.ReferenceType | None = None
        self._config_written = False
        self._warned_incomplete = False
        self._worker: _background.WriterThread | None = None
        self._pending: Future | None = None
        # Per (probe, input): `_images.draw`'s cache of what depends on the
        # probe and mask only, drawn at the first logged epoch and reused;
        # only the writer thread (or on_epoch_end, without it) touches it.
        self._draw_cache: dict[tuple[int, int], dict] = {}
        self._idle = False  # a non-chief worker of a multi-worker fit: no IG, no events

    # -- paths ----------------------------------------------------------------
    @property
    def run_dir(self) -> str:
        """Where the event files go: `log_dir/integrated_gradients`."""
        return os.path.join(self.log_dir, TAG)

    @property
    def _writer(self) -> Any:
        """The open TensorBoard writer, None between fits (kept for introspection)."""
        return self._events.writer

    @property
    def _shown(self) -> int:
        return self.num_probes if self.max_probes is None else min(self.num_probes, self.max_probes)

    # -- Keras hooks ----------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check everything against the model, build the graph, prepare log_dir."""
        model = self.model
        self._finish()  # a previous fit that ended in an exception
        # Multi-worker fit: only the chief explains and writes (callbacks/_workers.py).
        self._idle = not _workers.writes_here(model)
        if self._idle:
            return
        self._claim_log_dir()
        try:
            self._begin(model)
        except BaseException:
            self._release_log_dir()
            raise
        self._worker = _background.WriterThread(_background.caller_frame(), self._on_thread_exit)

    def _begin(self, model: keras.Model) -> None:
        self._draw_cache = {}  # drawn afresh: the views may differ with the model
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
        try:
            self._explainer = explainer_for(
                model, target=self.target, layer=self.layer, output=self.output
            )
        except (TypeError, ValueError) as err:
            raise type(err)(f"IGCallback: {err}") from None
        # One quadrature point: checks probes/target/layer/baseline against
        # the model and compiles the graph every epoch then reuses (alphas
        # and weights are graph inputs, so `steps` does not retrace).
        self._check_against(self._dry_run())
        prepare_log_dir(self.run_dir, self.log_dir)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Explain the probes and write this epoch's summaries (if due)."""
        if self._idle or (epoch + 1) % self.every_n_epochs:  # _idle: a non-chief worker
            return
        self._log_epoch(int(epoch))

    def on_train_end(self, logs: dict | None = None) -> None:
        """Finish pending writes, flush and close the writer, stop the thread.

        A later `fit` opens a new writer (a new event file in the same run).
        A `fit` that ends in an exception (e.g. `KeyboardInterrupt`) does not
        call this hook; the writer thread then does the same by itself, at
        most `_background.POLL_SECONDS` after `fit` has gone.
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
        self._warn_all(late)

    def _on_thread_exit(self) -> None:
        """Flush and close the writer and free `log_dir` (on the writer thread)."""
        with self._io_lock:
            try:
                self._events.close()
            except Exception as err:  # never fail the end of training
                self._late.append(
                    f"could not close the TensorBoard writer of log_dir "
                    f"{self.log_dir!r}: {_messages.short(err)}"
                )
        self._release_log_dir()

    # -- one callback per log_dir ---------------------------------------------
    def _claim_key(self) -> str:
        return self.run_dir if "://" in self.run_dir else os.path.realpath(self.run_dir)

    def _claim_log_dir(self) -> None:
        """Refuse a `log_dir` that another callback's running `fit` writes to.

        Two callbacks writing the same tags at the same steps would mix their
        curves and pictures in one TensorBoard run.
        """
        key = self._claim_key()
        with _CLAIMS_LOCK:
            ref = _CLAIMS.get(key)
            holder = None if ref is None else ref()
            if holder is not None and holder is not self and holder._fit_running():
                raise ValueError(
                    f"IGCallback: log_dir {self.log_dir!r} is already written by another "
                    "IGCallback in a running fit; their steps would interleave under the "
                    "same tags. Give each callback its own log_dir (e.g. 'logs/run1/a' "
                    "and 'logs/run1/b')"
                )
            _CLAIMS[key] = weakref.ref(self)
        if holder is not None and holder is not self:
            holder._finish_quietly()  # its fit has gone without on_train_end

    def _release_log_dir(self) -> None:
        with _CLAIMS_LOCK:
            key = self._claim_key()
            holder = _CLAIMS[key]() if key in _CLAIMS else self
            if holder is None or holder is self:
                _CLAIMS.pop(key, None)

    def _fit_running(self) -> bool:
        worker = self._worker
        return worker is not None and worker.is_alive() and worker.fit_running()

    def _finish_quietly(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    # -- train begin ----------------------------------------------------------
    def _dry_run(self) -> Explanation:
        """IG with one quadrature point: checks the settings against the model.

        It also prepares the probes (targets, baselines) and compiles the
        graph that every epoch then reuses through `self._run`: alphas and
        weights are inputs of the graph, so `steps` and `method` do not
        retrace, and the probes are converted once per `fit`, not per epoch.
        """
        if self._explainer is None:
            raise RuntimeError("IGCallback: on_train_begin has not run")
        try:
            job = self._explainer.prepare(
                self.probes,
                target=self.target,
                baseline=self.baseline,
                n_baselines=self.n_baselines,
                seed=self.seed,
            )
            dry = self._explainer.runner(job, 1, "riemann_middle", self.batch_size)()
        except (TypeError, ValueError) as err:
            cls = TypeError if isinstance(err, TypeError) else ValueError
            raise cls(f"IGCallback: {_settings.for_probes(str(err))}") from None
        except tf.errors.OpError as err:
            raise ValueError(
                f"IGCallback: probes could not be explained with this model: {_messages.short(err)}"
            ) from None
        except Exception as err:  # raised by the model's own Python code
            raise RuntimeError(
                "IGCallback: the dry run at on_train_begin (Integrated Gradients of the "
                "probes with one step, to check them against the model) failed: "
                f"{_messages.short(err)}"
            ) from err
        self._run = self._explainer.runner(job, self.steps, self.method, self.batch_size)
        return dry

    def _check_against(self, dry: Explanation) -> None:
        """Checks of probes, masks, vocabulary and feature_names needing the model."""
        if len(dry) != self.num_probes:
            raise ValueError(
                f"IGCallback: probes were read as {self.num_probes} rows per input, but "
                f"the model sees {len(dry)}; a list of arrays is one array per model "
                "input: for a single-input model pass one array [P, ...]"
            )
        try:
            rows = _images.views(dry, kind=self.kind, vocabulary=self._vocab, pad_id=self.pad_id)
        except (TypeError, ValueError) as err:
            raise type(err)(f"IGCallback: {err}") from None
        first = rows[0]
        kinds = sorted({view.kind for view in first})
        if self.masks is not None:
            if len(first) != 1:
                raise ValueError(
                    f"IGCallback: masks need one attributed input; this model has {len(first)}"
                )
            view = first[0]
            want = (self.num_probes, *view.scores.shape)
            if self.masks.shape != want:
                raise ValueError(
                    f"IGCallback: masks has shape {self.masks.shape}; expected {want}, one "
                    f"region per probe shaped like its {view.kind} attribution map "
                    f"{view.scores.shape}"
                )
        if self.feature_names is not None:
            sizes = {view.scores.size for view in first if view.kind == "tabular"}
            if not sizes:
                raise ValueError(
                    f"IGCallback: feature_names given, but the probes are {kinds}, not tabular"
                )
            if len(self.feature_names) not in sizes or len(sizes) > 1:
                raise ValueError(
                    f"IGCallback: feature_names has {len(self.feature_names)} names; the "
                    f"probes have {sorted(sizes)} features"
                )
        if self._vocab is not None:
            if "text" not in kinds:
                raise ValueError(
                    f"IGCallback: vocabulary given, but the probes are {kinds}, not "
                    "token ids explained at an embedding (layer=)"
                )
            ids = [leaf for leaf in nest.flatten(self.probes) if leaf.dtype.kind in "iu"]
            top = max(int(leaf.max()) for leaf in ids) if ids else -1
            if top >= len(self._vocab):
                raise ValueError(
                    f"IGCallback: vocabulary has {len(self._vocab)} tokens but the "
                    f"probes contain token id {top}"
                )

    # -- one epoch ------------------------------------------------------------
    def _log_epoch(self, epoch: int) -> None:
        n = self.num_probes
        record: dict[str, Any] = {
            "epoch": epoch,
            "delta": np.full(n, np.nan, np.float32),
            "localization": None if self.masks is None else np.full(n, np.nan),
            "localization_mean": None if self.masks is None else math.nan,
            "stability_mean": None,
        }
        self.history.append(record)  # one entry per logged epoch, whatever happens
        try:
            if self._run is None:
                raise RuntimeError("on_train_begin has not run")
            exp = self._run()
        except Exception as err:  # never stop training
            _warn(
                f"Integrated Gradients failed at epoch {epoch}; nothing is logged "
                f"for it ({_messages.short(err)})"
            )
            return
        self.last_explanation = exp
        record["delta"] = np.asarray(exp.delta, np.float32).copy()
        try:
            rows = _images.views(exp, kind=self.kind, vocabulary=self._vocab, pad_id=self.pad_id)
        except Exception as err:
            _warn(f"epoch {epoch}: cannot read the attributions ({_messages.short(err)})")
            rows = None
        stats = _statistics.of_epoch(exp.delta, rows, n, self.masks, self._previous)
        finite, stability = stats.finite, stats.stability
        if not finite.all():
            bad = np.flatnonzero(~finite).tolist()
            _warn(
                f"epoch {epoch}: attributions or completeness gap are not finite for "
                f"probes {bad[:8]}{'...' if len(bad) > 8 else ''} (NaN or inf in the "
                "weights or outputs?); their images and statistics are skipped"
            )
        if stats.localization is not None:
            record["localization"] = stats.localization
            mean = _metrics.finite_mean(stats.localization)
            record["localization_mean"] = math.nan if mean is None else mean
        record["stability_mean"] = _metrics.finite_mean(stability)

        self._maybe_warn_incomplete(exp, epoch)
        job = functools.partial(self._write_epoch, epoch, exp, rows, finite, stability, record)
        if not self.background_writes or self._worker is None:
            self._warn_all(job())
            return
        self._wait_for_writes()  # at most one epoch in flight: bounded memory
        self._pending = self._worker.submit(job)

    def _write_epoch(
        self,
        epoch: int,
        exp: Explanation,
        rows: list | None,
        finite: np.ndarray,
        stability: np.ndarray,
        record: dict,
    ) -> list[str]:
        """Draw, encode and write one epoch; returns the problems met.

        Runs on the writer thread with `background_writes`: it only reads
        its arguments (fresh arrays of this epoch) and the callback's fixed
        settings, and never raises. A failed write (a full disk, say) is
        reported once, when it starts; the next epochs try again, each into
        a new event file, and the first that succeeds reports the recovery.
        """
        problems: list[str] = []
        try:
            batch = _summaries.SummaryBatch()
            self._add_scalars(batch, exp, record, stability, not self._config_written)
            self._add_probes(batch, exp, rows, finite, epoch, problems)
        except Exception as err:
            problems.append(f"epoch {epoch}: cannot build the summaries ({_messages.short(err)})")
            return problems
        with self._io_lock:
            try:
                self._events.write(batch, epoch)
            except Exception as err:  # e.g. the disk filled up
                self._events.drop()
                if self._failing_since is None:
                    self._failing_since = epoch
                    problems.append(
                        f"cannot write to log_dir {self.log_dir!r} from epoch {epoch} on "
                        f"({_messages.short(err)}); training goes on and writing resumes when it "
                        "can (warned once until then)"
                    )
                return problems
            self._config_written = True
            if self._failing_since is not None:
                problems.append(
                    f"writing to log_dir {self.log_dir!r} resumed at epoch {epoch}; the "
                    f"logged epochs from {self._failing_since} to {epoch - 1} are missing"
                )
                self._failing_since = None
        return problems

    def _wait_for_writes(self) -> None:
        """Wait for the writer thread's epoch, then warn about its problems."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self._warn_all(pending.result())

    @staticmethod
    def _warn_all(problems: list[str]) -> None:
        for message in problems:
            _warn(message)

    def _maybe_warn_incomplete(self, exp: Explanation, epoch: int) -> None:
        if not self.warn_completeness or self._warned_incomplete:
            return
        # Non-finite gaps are warned about with the epoch's other failures.
        message = incompleteness(exp, completeness.TOLERANCE, finite_only=True)
        if message is not None:
            self._warned_incomplete = True
            warnings.warn(
                f"IGCallback: epoch {epoch}: {message} (see the completeness_gap "
                "scalars). Warned once per fit.",
                CompletenessWarning,
                stacklevel=3,
            )

    # -- writing --------------------------------------------------------------
    def _add_scalars(
        self,
        batch: _summaries.SummaryBatch,
        exp: Explanation,
        record: dict,
        stability: np.ndarray,
        config: bool,
    ) -> None:
        # Probes whose gap or scores are not finite are left out (and warned
        # about in `_log_epoch`): a NaN gap is not a small one, and
        # `relative_delta` reads NaN over NaN as 0.
        ok = np.isfinite(exp.delta) & np.isfinite(exp.scores) & np.isfinite(exp.baseline_scores)
        delta = np.abs(np.asarray(exp.delta, np.float64))[ok]
        rel = exp.relative_delta[ok]
        rel = rel[np.isfinite(rel)]
        gap = f"{TAG}/completeness_gap"
        batch.scalar(f"{gap}/max_abs", delta.max() if delta.size else None)
        batch.scalar(f"{gap}/mean_abs", delta.mean() if delta.size else None)
        batch.scalar(f"{gap}/relative_max", rel.max() if rel.size else None)
        batch.scalar(f"{gap}/relative_mean", rel.mean() if rel.size else None)
        varying_target = not isinstance(self.target, numbers.Integral | np.ndarray)
        for i in range(self._shown):
            # Per probe, what the image description cannot hold (it is static).
            batch.scalar(f"{TAG}/score/probe_{i}", exp.scores[i])
            batch.scalar(f"{gap}/probe_{i}", exp.delta[i])
            if varying_target and exp.target is not None:
                batch.scalar(f"{TAG}/target/probe_{i}", exp.target[i])
            batch.scalar(f"{TAG}/stability/probe_{i}", stability[i])
        batch.scalar(f"{TAG}/stability/mean", record["stability_mean"])
        if record["localization"] is not None:
            for i in range(self._shown):
                batch.scalar(f"{TAG}/localization/probe_{i}", record["localization"][i])
            batch.scalar(f"{TAG}/localization/mean", record["localization_mean"])
        if config:
            batch.text(f"{TAG}/config", self._config_markdown())

    def _add_probes(
        self,
        batch: _summaries.SummaryBatch,
        exp: Explanation,
        rows: list | None,
        finite: np.ndarray,
        epoch: int,
        problems: list[str],
    ) -> None:
        if not rows:
            return
        for i in range(self._shown):
            if not finite[i]:
                continue
            row = rows[i]
            try:
                batch.image(f"{TAG}/probe_{i}", self._picture(row, i), self._describe(row, i))
            except Exception as err:
                problems.append(f"epoch {epoch}: cannot draw probe {i} ({_messages.short(err)})")
            if self.histograms:
                values = np.concatenate([view.scores.reshape(-1) for view in row])
                batch.histogram(f"{TAG}/attributions/probe_{i}", values)
            texts = [view for view in row if view.kind == "text"]
            if texts:
                batch.text(f"{TAG}/tokens/probe_{i}", _summaries.token_markdown(exp, i, texts))

    def _picture(self, row: list, i: int) -> Any:
        pictures = []
        for j, view in enumerate(row):
            mask = None
            if self.masks is not None and view.kind == "image" and view.probe is not None:
                mask = self.masks[i]
            pictures.append(
                _images.draw(
                    view,
                    feature_names=self.feature_names,
                    mask=mask,
                    signed=self.signed,
                    clip_percentile=self.clip_percentile,
                    min_size=self.min_size,
                    cache=self._draw_cache.setdefault((i, j), {}),
                )
            )
        return _images.side_by_side(pictures)

    def _describe(self, row: list, i: int) -> str:
        """The image card's description (markdown): what the panel shows.

        TensorBoard keeps the first description of a tag for every step, so
        it holds nothing that changes between epochs; this epoch's numbers
        are the per-probe scalars (`_add_scalars`).
        """
        parts = {
            "image": "probe | attribution map | overlay"
            + (" (mask outlined in green)" if self.masks is not None else ""),
            "text": "tokens on their attribution (summed over the embedding)",
            "tabular": "per-feature attributions, largest |value| first",
        }
        kinds = ", ".join(parts[view.kind] for view in row)
        colours = "red positive, blue negative" if self.signed else "magnitude"
        scalars = f"`{TAG}/score/probe_{i}` (F(x)), `{TAG}/completeness_gap/probe_{i}`"
        if not isinstance(self.target, numbers.Integral | np.ndarray):
            scalars += f", `{TAG}/target/probe_{i}`"
        return (
            f"Probe {i}, target {self._target_words(i)}: {kinds}; {colours}, scaled to "
            f"the {self.clip_percentile:g}th percentile of |attribution|. Each epoch's "
            f"numbers are in the Scalars tab: {scalars}."
        )

    def _target_words(self, i: int) -> str:
        if self.target is None:
            return "the only output unit, else the predicted class at each epoch"
        if callable(self.target):
            return f"chosen by {getattr(self.target, '__name__', 'a callable')} at each epoch"
        if isinstance(self.target, np.ndarray):
            return f"unit {int(self.target[i])}"
        return f"unit {int(self.target)}"

    def _config_markdown(self) -> str:
        def describe(value: Any) -> str:
            if isinstance(value, np.ndarray):
                return f"array {value.shape}" if value.size > 16 else str(value.tolist())
            if isinstance(value, keras.layers.Layer):
                return f"layer {value.name!r}"
            if callable(value):
                return getattr(value, "__name__", type(value).__name__)
            if hasattr(value, "shape"):
                return f"{type(value).__name__} {tuple(value.shape)}"
            return repr(value)

        settings = {
            "probes": self.num_probes,
            "target": describe(self.target),
            "baseline": describe(self.baseline),
            "steps": self.steps,
            "method": self.method,
            "layer": describe(self.layer),
            "output": describe(self.output),
            "every_n_epochs": self.every_n_epochs,
            "masks": "yes" if self.masks is not None else "no",
        }
        lines = ["| setting | value |", "|---|---|"]
        lines += [f"| {k} | {_summaries.markdown_cell(str(v))} |" for k, v in settings.items()]
        return "\n".join(lines)


def _warn(message: str) -> None:
    warnings.warn(f"IGCallback: {message}", IGCallbackWarning, stacklevel=3)
