"""IG off the training thread: a clone of the model at the epoch's weights.

In a multi-worker `fit` the chief's Integrated Gradients in `on_epoch_end`
holds every other worker at the next step's all-reduce. With background IG
the chief's `on_epoch_end` only copies the weights to the host
(`model.get_weights()`); the writer thread loads them into a clone of the
model and explains, scores and writes there while training goes on.

The clone is made on the writer thread: `tf.distribute` strategy scopes are
thread-local, so its variables are plain ones whatever scope the training
thread is in (creating a `MultiWorkerMirroredStrategy` variable is a
collective op the other workers would not join). Checked with Keras 3.15 and
TensorFlow 2.21: inside `strategy.scope()` on one thread, another thread sees
no strategy; and Keras' `fit` calls the hooks outside the scope anyway, so
the thread is the safe place whichever holds. The user's model is only read:
its config (to clone it) and its weights.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from keras_ig.callbacks import _messages, _probe_checks, _workers


def wanted(background_ig: bool | None, model: Any) -> bool:
    """Whether this fit explains on the writer thread: None means on a multi-worker chief."""
    return _workers.multi_worker(model) if background_ig is None else background_ig


class Replica:
    """A clone of the user's model, made and used on the writer thread only.

    Args:
        model: the user's model (read, never changed).
        weights: `model.get_weights()`, loaded into the clone.
        probes: the probes `[P, ...]`, to build a clone that is not built yet.
        layer, output: the callback's `layer=` / `output=`; a layer object
            of `model` is replaced by its counterpart in the clone.

    Raises:
        Exception: the model cannot be cloned (see `clone`).
    """

    def __init__(
        self, model: keras.Model, weights: list[np.ndarray], probes: Any, layer: Any, output: Any
    ) -> None:
        self.model = keras.models.clone_model(model)
        if len(self.model.weights) != len(weights):
            self.model(probes)  # a subclassed model's clone builds on its first call
        self.load(weights)
        self.layer = counterpart(model, self.model, layer, "layer")
        self.output = counterpart(model, self.model, output, "output")

    def load(self, weights: list[np.ndarray]) -> keras.Model:
        """The clone holding `weights` (`model.get_weights()` of an epoch)."""
        self.model.set_weights(weights)
        return self.model


def clone(
    model: keras.Model, weights: list[np.ndarray], probes: Any, layer: Any, output: Any
) -> Replica | str:
    """A `Replica` of `model`, or why there cannot be one (a sentence)."""
    try:
        return Replica(model, weights, probes, layer, output)
    except Exception as err:  # a subclassed model without get_config, say
        return f"the model could not be cloned ({_messages.short(err)})"


def counterpart(model: keras.Model, copy: keras.Model, layer: Any, name: str) -> Any:
    """`layer` of `model` as the same layer of its clone `copy` (names pass through).

    A layer object that is not found in `model` is returned unchanged, so the
    engine's check names it as not part of the model.

    Raises:
        ValueError: naming `name`, the layer is in `model` but not in `copy`.
    """
    if not isinstance(layer, keras.layers.Layer):
        return layer
    path = _path_to(model, layer)
    if path is None:
        return layer
    found: Any = copy
    for i in path:
        children = getattr(found, "layers", None) or []
        if i >= len(children):
            raise ValueError(f"{name}: layer {layer.name!r} has no counterpart in the clone")
        found = children[i]
    if found.name != layer.name:
        raise ValueError(f"{name}: layer {layer.name!r} has no counterpart in the clone")
    return found


def _path_to(root: Any, layer: keras.layers.Layer) -> list[int] | None:
    """Indices into nested `.layers` lists from `root` down to `layer`, or None."""
    for i, child in enumerate(getattr(root, "layers", None) or []):
        if child is layer:
            return [i]
        below = _path_to(child, layer)
        if below is not None:
            return [i, *below]
    return None


def start(
    worker: Any, model: keras.Model, settings: Any, vocab: list[str] | None
) -> tuple[Replica, Any, Callable[[], Any]] | str:
    """Clone `model` and build its runner on the writer thread; or why not (a sentence).

    Args:
        worker: the fit's `_background.WriterThread`; waited for.
        model: the user's model.
        settings: the callback (the attributes of `_settings.Settings`).
        vocab: the resolved vocabulary, or None.

    Returns:
        `(replica, explainer, run)`: the clone, its compiled engine and the
        epochs' runner (`_probe_checks.prepare` on the clone).

    Raises:
        TypeError, ValueError, RuntimeError: as `_probe_checks.prepare`.
    """
    s = settings
    made = functools.partial(clone, model, model.get_weights(), s.probes, s.layer, s.output)
    replica = worker.submit(made).result()
    if isinstance(replica, str):
        return replica
    prepared = functools.partial(
        _probe_checks.prepare, replica.model, s, vocab=vocab, texts=None,
        layer=replica.layer, output=replica.output,
    )  # fmt: skip
    explainer, run = worker.submit(prepared).result()
    return replica, explainer, run


def epoch_job(
    replica: Replica,
    weights: list[np.ndarray],
    epoch: int,
    runner: Callable[[], Callable[[], Any] | None],
    explain: Callable[..., tuple[list, Callable[[], list] | None]],
) -> Callable[[], list]:
    """The writer thread's job for one epoch: load `weights`, explain, record and write.

    Args:
        replica: this fit's clone.
        weights: `model.get_weights()` at the end of `epoch`.
        epoch: the 0-based epoch.
        runner: gives this fit's runner of the clone (read when the job runs).
        explain: the callback's `(epoch, run, model) -> (problems, write job or None)`.

    Returns:
        A zero-argument job returning the epoch's problems (str or warnings).
    """

    def run() -> Any:
        replica.load(weights)
        current = runner()
        if current is None:
            raise RuntimeError("on_train_begin has not run")
        return current()

    def job() -> list:
        problems, write = explain(epoch, run, replica.model)
        return problems + (write() if write is not None else [])

    return job
