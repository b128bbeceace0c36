"""Loading models (`.keras`, `.h5`, SavedModel) and what they take and give."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_ig.cli._errors import CLIError, first_line
from keras_ig.cli._files import TRUST_HINT, require_trust

# --------------------------------------------------------------------------
# keras-ig explain: models and inputs


@dataclass(frozen=True)
class InputSpec:
    """What one input row of the model looks like.

    Attributes:
        shape: the row shape without the batch axis; None for a free axis.
        dtype: the input dtype name, e.g. `"float32"` or `"int32"`.
    """

    shape: tuple[int | None, ...]
    dtype: str

    @property
    def image_layout(self) -> bool:
        """`[H, W]` or `[H, W, C]` with 1, 3 or 4 channels."""
        return len(self.shape) == 2 or (len(self.shape) == 3 and self.shape[-1] in (1, 3, 4))

    @property
    def floating(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.floating)

    def describe(self) -> str:
        dims = ["?" if d is None else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def load_model(path: Path, *, trust: bool = False) -> Any:
    """A Keras model from a .keras/.h5 file or a SavedModel directory.

    Args:
        path: the model.
        trust: allow code that comes with the model to run: a SavedModel's
            graph, and Python (Lambda) layers in .keras/.h5 files (Keras'
            `safe_mode=False`).

    Raises:
        CLIError: the model does not load, or needs `trust`.
    """
    import keras

    if path.is_dir():
        require_trust(path, trust)
        return _load_saved_model(path)
    try:
        # compile=False: no optimizer or metrics are needed to explain, and it
        # avoids Keras's warnings about unbuilt metrics.
        return keras.models.load_model(path, compile=False, safe_mode=not trust)
    except Exception as err:  # Keras raises many types for a bad file
        if "safe_mode" in str(err):
            raise CLIError(
                f"{path} holds Python code (e.g. a Lambda layer) that Keras only runs "
                f"on request; {TRUST_HINT}"
            ) from None
        raise CLIError(f"cannot load {path} as a Keras model: {first_line(err)}") from None


def _load_saved_model(path: Path) -> Any:
    """Wrap a SavedModel's serving endpoint in a one-input Keras model."""
    import keras
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as err:  # TF raises many types for a bad directory
        raise CLIError(f"cannot load SavedModel {path}: {first_line(err)}") from None
    # `serve` is what model.export() writes; serving_default is the TF default.
    endpoints = [name for name in ("serve", "serving_default") if name in loaded.signatures]
    if not endpoints:
        raise CLIError(
            f"SavedModel {path} has no serve/serving_default signature "
            f"(it has {sorted(loaded.signatures)})"
        )
    signature = loaded.signatures[endpoints[0]]
    specs = tf.nest.flatten(signature.structured_input_signature)
    if len(specs) != 1:
        raise CLIError(
            f"SavedModel {path} takes {len(specs)} inputs; keras-ig explain handles one "
            "(use keras_ig.explain from Python)"
        )
    spec = specs[0]
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=endpoints[0])
    inp = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name)
    out = layer(inp)
    if isinstance(out, dict):
        if len(out) != 1:
            raise CLIError(
                f"SavedModel {path} returns {len(out)} outputs ({sorted(out)}); "
                "keras-ig explain handles one (use keras_ig.explain from Python)"
            )
        out = next(iter(out.values()))
    return keras.Model(inp, out)


def input_spec(model: Any) -> InputSpec:
    """The model's single input, or a `CLIError` saying why it has none."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    if len(inputs) > 1:
        raise CLIError(
            f"the model takes {len(inputs)} inputs; keras-ig explain handles one "
            "(use keras_ig.explain from Python)"
        )
    if not inputs:
        raise CLIError("cannot tell the model's input shape (a subclassed model never built?)")
    shape = tuple(None if d is None else int(d) for d in inputs[0].shape[1:])
    return InputSpec(shape=shape, dtype=str(inputs[0].dtype))


def output_units(model: Any) -> int | None:
    """Units of the model's one `[N, units]` output; None when it has another form."""
    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):
        return None
    if len(outputs) != 1 or len(outputs[0].shape) != 2 or outputs[0].shape[-1] is None:
        return None
    return int(outputs[0].shape[-1])


def check_target(target: int | None, units: int | None) -> None:
    """`--target` against the model's output units, before any work is shown."""
    if target is not None and units is not None and target >= units:
        raise CLIError(
            f"--target {target} is out of range: the model has {units} output unit(s) "
            f"(0 to {units - 1})"
        )
