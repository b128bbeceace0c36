"""`IGModelHandler`: Integrated Gradients as a Beam `RunInference` model handler."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from keras_ig import baselines, completeness
from keras_ig._api.explain import explain
from keras_ig._numpy import checks
from keras_ig.beam.options import check_explain_options

METRICS_NAMESPACE = "BeamML_KerasIG"


class IGModelHandler(ModelHandler[Any, PredictionResult, Any]):
    """Explains each element of a `PCollection` with `keras_ig.explain`.

    Beam batches the elements (`min_batch_size`, `max_batch_size`), the
    handler stacks a batch into `x` and calls `keras_ig.explain` on it. The
    model is loaded once per worker, and `explain` keeps its compiled engine
    per model, so only the first batch of a worker traces a graph.

    Args:
        model_uri_or_loader: a model path or URI for `keras.saving.load_model`
            (any filesystem Keras reads: local, `gs://`, ...), or a function
            of no arguments returning the model (picklable, to reach workers).
        steps: quadrature points per input (`explain`'s `steps`).
        min_batch_size, max_batch_size, max_batch_duration_secs,
            max_batch_weight, element_size_fn: Beam's batching of elements
            (`beam.BatchElements`); not `explain`'s `batch_size`, the most
            rows per model call inside one batch.
        large_model, model_copies: Beam's sharing of one model between the
            processes of a worker.
        load_model_args: extra keywords of `keras.saving.load_model`
            (default `compile=False`: explaining needs no optimizer).
        env_vars: environment variables set before the model loads.
        **explain_options: any other keyword of `keras_ig.explain` (`target`,
            `baseline`, `method`, `batch_size`, `layer`, `output`, ...),
            checked here. `target` is an int, a callable or None (one per
            input cannot follow Beam's batches); `layer` and `output` are
            layer names; a `(K,) + row` baseline array is always a stack of
            K baselines. Completeness warnings are off (`warn=False`): the
            `incomplete` counter of the metrics namespace counts them.

    Each element is one input row, shaped like `model.inputs[0].shape[1:]`
    (a dict or list of rows for a multi-input model). Its `PredictionResult`
    has `inference = {"attributions": [...row], "delta": float, "score":
    float, "baseline_score": float, "target": int | None}` and `model_id`,
    the model path (None for a loader).

    Raises:
        TypeError, ValueError: a bad option, naming it, before any pipeline runs.

    Example:
        >>> handler = IGModelHandler("model.keras", steps=32, output="logits")
        >>> results = rows | RunInference(handler)
        >>> keyed = pairs | RunInference(KeyedModelHandler(handler))
    """

    def __init__(
        self,
        model_uri_or_loader: str | os.PathLike | Callable[[], Any],
        *,
        steps: int = 32,
        min_batch_size: int | None = None,
        max_batch_size: int | None = None,
        max_batch_duration_secs: int | None = None,
        max_batch_weight: int | None = None,
        element_size_fn: Callable[[Any], int] | None = None,
        large_model: bool = False,
        model_copies: int | None = None,
        load_model_args: Mapping[str, Any] | None = None,
        env_vars: Mapping[str, str] | None = None,
        **explain_options: Any,
    ) -> None:
        if isinstance(model_uri_or_loader, os.PathLike):
            model_uri_or_loader = os.fspath(model_uri_or_loader)
        if not (isinstance(model_uri_or_loader, str) or callable(model_uri_or_loader)):
            raise TypeError(
                "model_uri_or_loader must be a model path or a function of no arguments "
                f"returning the model, got {type(model_uri_or_loader).__name__}"
            )
        checks.integer(min_batch_size, "min_batch_size", 1, optional=True)
        checks.integer(max_batch_size, "max_batch_size", 1, optional=True)
        if min_batch_size and max_batch_size and min_batch_size > max_batch_size:
            raise ValueError(
                f"min_batch_size ({min_batch_size}) must be <= max_batch_size ({max_batch_size})"
            )
        self._options = check_explain_options({"warn": False, **explain_options, "steps": steps})
        super().__init__(
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            max_batch_duration_secs=max_batch_duration_secs,
            max_batch_weight=max_batch_weight,
            element_size_fn=element_size_fn,
            large_model=large_model,
            model_copies=model_copies,
            env_vars=dict(env_vars or {}),
        )
        self._loader = None if isinstance(model_uri_or_loader, str) else model_uri_or_loader
        self._model_uri = model_uri_or_loader if self._loader is None else None
        self._load_model_args = {"compile": False, **(load_model_args or {})}

    @property
    def explain_options(self) -> dict[str, Any]:
        """The checked `explain` keywords every batch is explained with."""
        return dict(self._options)

    def load_model(self) -> Any:
        """The model: `keras.saving.load_model(uri)`, or the loader's result."""
        if self._model_uri is None:
            return self._loader()
        import keras

        return keras.saving.load_model(self._model_uri, **self._load_model_args)

    def update_model_path(self, model_path: str | None = None) -> None:
        """Load `model_path` from now on (Beam's automatic model refresh)."""
        if model_path:
            self._model_uri = model_path

    def validate_inference_args(self, inference_args: dict[str, Any] | None) -> None:
        """`RunInference(..., inference_args=...)` may override explain options."""
        if inference_args:
            check_explain_options(inference_args)

    def run_inference(
        self,
        batch: Sequence[Any],
        model: Any,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        """Explain one batch of elements.

        Args:
            batch: B elements, each one input row (`[...row]`; a dict or list
                of rows for a multi-input model).
            model: from `load_model`.
            inference_args: explain options overriding the handler's.

        Returns:
            B `PredictionResult`s, in the order of `batch`.
        """
        options = {**self._options, **(inference_args or {})}
        x = _stack(batch)
        options["baseline"] = _as_stack(options.get("baseline", "zeros"), x)
        exp = explain(model, x, **options)
        incomplete = ~completeness.within_tolerance(
            exp.delta, exp.scores, exp.baseline_scores, completeness.TOLERANCE
        )
        Metrics.counter(METRICS_NAMESPACE, "incomplete").inc(int(incomplete.sum()))
        targets = exp.target
        return [
            PredictionResult(
                element,
                {
                    "attributions": _row(exp.attributions, i),
                    "delta": float(exp.delta[i]),
                    "score": float(exp.scores[i]),
                    "baseline_score": float(exp.baseline_scores[i]),
                    "target": None if targets is None else int(targets[i]),
                },
                self._model_uri,
            )
            for i, element in enumerate(batch)
        ]

    def get_num_bytes(self, batch: Sequence[Any]) -> int:
        """Bytes of the input rows of `batch` (Beam's `num_bytes` metric)."""
        return sum(int(np.asarray(leaf).nbytes) for e in batch for leaf in _leaves(e))

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE


def _leaves(element: Any) -> list[Any]:
    if isinstance(element, Mapping):
        return list(element.values())
    if isinstance(element, (list, tuple)):
        return list(element)
    return [element]


def _stack(batch: Sequence[Any]) -> Any:
    """B rows -> `[B, ...row]` (per key for dicts, per entry for lists)."""
    first = batch[0]
    if isinstance(first, Mapping):
        return {k: np.stack([np.asarray(e[k]) for e in batch]) for k in first}
    if isinstance(first, (list, tuple)):
        return [np.stack([np.asarray(e[j]) for e in batch]) for j in range(len(first))]
    return np.stack([np.asarray(e) for e in batch])


def _row(attributions: Any, i: int) -> Any:
    """Row `i` of `explain`'s attributions, keeping their structure."""
    if isinstance(attributions, Mapping):
        return {k: np.asarray(v[i]) for k, v in attributions.items()}
    if isinstance(attributions, (list, tuple)):
        return [np.asarray(v[i]) for v in attributions]
    return np.asarray(attributions[i])


def _as_stack(baseline: Any, x: Any) -> Any:
    """A `(K,) + row` baseline array as a `BaselineStack`.

    `explain` reads an array of `len(x)` rows as one baseline per input; a
    batch that happens to hold K elements would read K stacked baselines so.
    For a multi-input model, each entry is read against its input.
    """
    if isinstance(baseline, Mapping) and isinstance(x, Mapping):
        return {k: _as_stack(v, x[k]) if k in x else v for k, v in baseline.items()}
    if isinstance(baseline, (list, tuple)) and isinstance(x, list) and len(baseline) == len(x):
        return [_as_stack(b, xi) for b, xi in zip(baseline, x, strict=True)]
    if isinstance(x, np.ndarray) and (hasattr(baseline, "__array__") or _listlike(baseline)):
        arr = np.asarray(baseline)
        if arr.ndim == x.ndim and arr.shape[0] > 1:
            return baselines.BaselineStack(arr)
    return baseline


def _listlike(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and not isinstance(value, str)
