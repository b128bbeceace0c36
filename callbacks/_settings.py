"""`IGCallback`'s argument checks: pure, nothing here touches the model or the disk.

They run in `IGCallback.__init__`, so a wrong argument fails where it was
written, before `fit` starts.
"""

from __future__ import annotations

import inspect
import numbers
import os
import re
from dataclasses import dataclass, fields
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ig._api.explain import resolve_targets
from keras_ig._io import pictures
from keras_ig._numpy import checks
from keras_ig.callbacks import _methods, _quality, _text_probes


def leaf(value: Any, name: str) -> np.ndarray:
    """`value` as a numeric, finite, batch-first numpy copy (`[P, ...]`), named `name` in errors."""
    if isinstance(value, tf.Tensor | tf.Variable):
        value = value.numpy()
    try:
        arr = np.array(value)  # a copy: later edits by the caller do not leak in
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} could not be read as an array: {err}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(f"{name} must be batch-first with at least one row, got {arr.shape}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    if arr.dtype == np.float64 and keras.config.floatx() != "float64":
        arr = arr.astype(keras.config.floatx())
    return arr


def as_probes(probes: Any) -> tuple[Any, int]:
    """Probes as numpy (a dict or list of arrays for multi-input models) and P.

    A non-empty list or tuple of str is texts for a KerasHub classifier
    (`callbacks/_text_probes.py`), kept as a list of str.
    """
    if isinstance(probes, list | tuple) and probes and all(isinstance(p, str) for p in probes):
        return list(probes), len(probes)
    if isinstance(probes, dict):
        if not probes:
            raise ValueError("probes must not be empty")
        out: Any = {key: leaf(v, f"probes[{key!r}]") for key, v in probes.items()}
        leaves = list(out.values())
    elif (
        isinstance(probes, list | tuple)
        and probes
        and all(isinstance(v, np.ndarray | tf.Tensor | tf.Variable) for v in probes)
    ):
        leaves = [leaf(v, f"probes[{i}]") for i, v in enumerate(probes)]
        out = type(probes)(leaves)
    else:
        out = leaf(probes, "probes")
        leaves = [out]
    n = leaves[0].shape[0]
    for i, one in enumerate(leaves):
        if one.shape[0] != n:
            raise ValueError(f"probes: input {i} has {one.shape[0]} rows, input 0 has {n}")
    return out, n


def check_target(target: Any, n: int) -> Any:
    """`target` checked against `n` probes (as `keras_ig.explain` would), before any model work."""
    if target is None or callable(target):
        return target
    resolve_targets(target, n)  # raises a TypeError/ValueError naming `target`
    return target if isinstance(target, numbers.Integral) else np.array(target)


def check_log_dir(log_dir: Any) -> str:
    """`log_dir` as a non-empty path string."""
    if not isinstance(log_dir, str | os.PathLike):
        raise TypeError(f"log_dir must be a str or os.PathLike, got {type(log_dir).__name__}")
    path = os.fspath(log_dir)
    if not path:
        raise ValueError("log_dir must not be empty")
    return path


def for_probes(message: str) -> str:
    """Engine messages name the inputs `x`; the callback's user passed `probes`."""
    return re.sub(r"^x(?=[\[\s])", "probes", message)


@dataclass(frozen=True)
class Settings:
    """`IGCallback`'s checked arguments (see its docstring for each one).

    `texts` is the probes as a list of str for a KerasHub text classifier,
    else None; the other fields are the callback's public attributes.
    """

    probes: Any
    num_probes: int
    texts: list[str] | None
    log_dir: str
    target: Any
    baseline: Any
    method_options: dict[str, Any]
    steps: int
    method: str
    layer: Any
    output: Any
    every_n_epochs: int
    masks: np.ndarray | None
    vocabulary: Any
    feature_names: list[str] | None
    signed: bool
    clip_percentile: float
    batch_size: int | None
    histograms: bool
    max_probes: int | None
    kind: str | None
    min_size: int
    pad_id: int | None
    n_baselines: int
    seed: int | None
    warn_completeness: bool
    background_writes: bool
    metrics: tuple[str, ...]
    background_ig: bool | None

    def attributes(self) -> dict[str, Any]:
        """The public attributes, by name (all fields but `texts`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "texts"}


def arguments(given: dict[str, Any]) -> dict[str, Any]:
    """The entries of `given` (`IGCallback.__init__`'s `locals()`) that `check` takes."""
    return {name: given[name] for name in inspect.signature(check).parameters}


def check(
    probes: Any,
    log_dir: Any,
    *,
    target: Any,
    baseline: Any,
    steps: Any,
    method: Any,
    layer: Any,
    output: Any,
    every_n_epochs: Any,
    masks: Any,
    vocabulary: Any,
    feature_names: Any,
    signed: Any,
    clip_percentile: Any,
    batch_size: Any,
    histograms: Any,
    max_probes: Any,
    kind: Any,
    min_size: Any,
    pad_id: Any,
    n_baselines: Any,
    seed: Any,
    warn_completeness: Any,
    background_writes: Any,
    metrics: Any,
    method_options: Any,
    background_ig: Any,
) -> Settings:
    """Every `IGCallback.__init__` argument checked, in the order of its signature.

    Raises:
        TypeError, ValueError: naming the first bad argument.
    """
    probes, num_probes = as_probes(probes)
    texts = _text_probes.texts(probes)  # for a KerasHub text classifier
    log_dir = check_log_dir(log_dir)
    target = check_target(target, num_probes)
    _methods.check_method(method, steps)
    options = _methods.check_options(method, method_options)
    if layer is not None and not isinstance(layer, str | keras.layers.Layer):
        raise TypeError(f"layer must be a layer or its name, got {type(layer).__name__}")
    every_n_epochs = checks.integer(every_n_epochs, "every_n_epochs", 1)
    masks = pictures.check_masks(masks, num_probes)
    if vocabulary is not None and not callable(getattr(vocabulary, "get_vocabulary", None)):
        pictures.resolve_vocabulary(vocabulary)  # check a plain list now
    feature_names = pictures.check_feature_names(feature_names)
    signed = checks.boolean(signed, "signed")
    clip_percentile = checks.percentile(clip_percentile)
    batch_size = checks.integer(batch_size, "batch_size", 1, optional=True)
    histograms = checks.boolean(histograms, "histograms")
    max_probes = checks.integer(max_probes, "max_probes", 1, optional=True)
    if kind is not None and kind not in pictures.KINDS:
        raise ValueError(f"kind must be None or one of {list(pictures.KINDS)}, got {kind!r}")
    min_size = checks.integer(min_size, "min_size", 0)
    pad_id = checks.integer(pad_id, "pad_id", optional=True)
    n_baselines = checks.integer(n_baselines, "n_baselines", 1)
    seed = checks.integer(seed, "seed", 0, optional=True)
    warn_completeness = checks.boolean(warn_completeness, "warn_completeness")
    background_writes = checks.boolean(background_writes, "background_writes")
    metrics = _quality.check(metrics)
    _quality.check_usable(metrics, layer)
    if texts is not None:
        _text_probes.check_options(
            method, steps, layer=layer, output=output, masks=masks, kind=kind,
            vocabulary=vocabulary, feature_names=feature_names, metrics=metrics,
            method_options=method_options,
        )  # fmt: skip
    if background_ig is not None:
        background_ig = checks.boolean(background_ig, "background_ig")
    return Settings(
        probes=probes,
        num_probes=num_probes,
        texts=texts,
        log_dir=log_dir,
        target=target,
        baseline=baseline,
        method_options=options,
        steps=int(steps),
        method=method,
        layer=layer,
        output=output,
        every_n_epochs=every_n_epochs,
        masks=masks,
        vocabulary=vocabulary,
        feature_names=feature_names,
        signed=signed,
        clip_percentile=clip_percentile,
        batch_size=batch_size,
        histograms=histograms,
        max_probes=max_probes,
        kind=kind,
        min_size=min_size,
        pad_id=pad_id,
        n_baselines=n_baselines,
        seed=seed,
        warn_completeness=warn_completeness,
        background_writes=background_writes,
        metrics=metrics,
        background_ig=background_ig,
    )
