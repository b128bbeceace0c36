"""F: one score per row, built from a model, an output choice and a layer.

The engine never sees "a Keras model": it sees a `ScoreFunction` that maps a
batch of inputs (and, with `layer=`, a replacement for one layer's output) to
the model's outputs, and those outputs plus targets to scores `[rows]`.
Layer interception is a per-thread hook on the layer's class (see
`_intercept`): the user's model and layers are never modified, which covers
Sequential, functional and subclassed models alike, from any thread.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import keras
import tensorflow as tf

TargetFn = Callable[[Any], tf.Tensor]
_SQUASHING = ("softmax", "sigmoid", "log_softmax")


# Interception without touching the user's model: the layer's *class* gets a
# `call` that looks up hooks by (layer id, thread id) and otherwise runs the
# original call unchanged. No attribute of the model or of any layer changes,
# and other threads (and other layers of the class) see the original
# behaviour. The class wrapper is installed under a lock while any hook on
# that class is open. Limit: a `call` looked up on the class itself (e.g.
# `Dense.call is Dense.call` checks) sees the wrapper meanwhile.
_HOOK_LOCK = threading.Lock()
_HOOKS: dict[tuple[int, int], list[Callable]] = {}
_WRAPPED: dict[type, list] = {}  # class -> [open hooks, own call or None]


def _class_wrapper(cls: type, original: Callable) -> Callable:
    @functools.wraps(original)
    def call(self, *args, **kwargs):
        hooks = _HOOKS.get((id(self), threading.get_ident()))
        if not hooks:
            return original(self, *args, **kwargs)
        fn = original
        for hook in hooks:
            fn = functools.partial(hook, fn)
        return fn(self, *args, **kwargs)

    return call


@contextlib.contextmanager
def _intercept(layer: keras.layers.Layer, hook: Callable) -> Iterator[None]:
    """Route `layer`'s calls in this thread through `hook(call, obj, *args, **kwargs)`.

    `call(obj, *args, **kwargs)` is the layer class's own call function (or
    the next hook); the layer runs inside its real `__call__`, so dtype
    policies, masks and `training` are handled as always.
    """
    cls, key = type(layer), (id(layer), threading.get_ident())
    with _HOOK_LOCK:
        if cls not in _WRAPPED:
            own = cls.__dict__.get("call")
            _WRAPPED[cls] = [0, own]
            cls.call = _class_wrapper(cls, cls.call)
        _WRAPPED[cls][0] += 1
        _HOOKS.setdefault(key, []).append(hook)
    try:
        yield
    finally:
        with _HOOK_LOCK:
            _HOOKS[key].remove(hook)
            if not _HOOKS[key]:
                del _HOOKS[key]
            _WRAPPED[cls][0] -= 1
            if _WRAPPED[cls][0] == 0:
                own = _WRAPPED.pop(cls)[1]
                if own is None:
                    del cls.call
                else:
                    cls.call = own


class _View:
    """A read-only stand-in for a layer with some attributes replaced."""

    def __init__(self, layer: keras.layers.Layer, **overrides: Any) -> None:
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "_overrides", overrides)

    def __getattr__(self, name: str) -> Any:
        overrides = object.__getattribute__(self, "_overrides")
        if name in overrides:
            return overrides[name]
        return getattr(object.__getattribute__(self, "_layer"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"keras_ig never changes the user's layer ({name})")


@contextlib.contextmanager
def _patched_call(layer: keras.layers.Layer, replacement: Any = None) -> Iterator[list]:
    """Capture `layer`'s output, or replace it, while the context is open.

    Yields a list that receives one entry per call of the layer (its real
    output, or the replacement), so callers can tell a layer used once from
    a shared one. A replaced layer is not run at all: its inputs are then
    dead code that graph optimisation prunes.
    """
    calls: list = []

    def hook(call: Callable, obj: Any, *args, **kwargs):
        if _is_reverse_call(obj, args, kwargs):
            # A tied embedding used as the output head (`emb(h, reverse=True)`,
            # KerasHub's language models) is not the embedding's output.
            return call(obj, *args, **kwargs)
        if replacement is None:
            out = call(obj, *args, **kwargs)
        else:
            out = tf.cast(replacement, layer.compute_dtype)
        calls.append(out)
        return out

    with _intercept(layer, hook):
        yield calls


def _is_reverse_call(obj: Any, args: tuple, kwargs: dict) -> bool:
    """True for `ReversibleEmbedding.call(inputs, reverse=True)` (logits, not embeddings)."""
    reversible = getattr(keras.layers, "ReversibleEmbedding", None)
    if reversible is None or not isinstance(obj, reversible):
        return False
    reverse = kwargs.get("reverse", args[1] if len(args) > 1 else False)
    return isinstance(reverse, bool) and reverse


def _linear_activation(layer: keras.layers.Layer) -> contextlib.AbstractContextManager:
    """Run `layer`'s call on a view whose activation is linear (pre-activation)."""

    def hook(call: Callable, obj: Any, *args, **kwargs):
        return call(_View(obj, activation=keras.activations.linear), *args, **kwargs)

    return _intercept(layer, hook)


def _activation_name(fn: object) -> str:
    return getattr(fn, "__name__", type(fn).__name__).lower()


def resolve_layer(model: object, layer: object, name: str = "layer") -> keras.layers.Layer:
    """Find `layer` (a name or a layer object) inside `model`."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"{name}= needs a keras.Model, got {type(model).__name__}")
    if isinstance(layer, keras.layers.Layer):
        if not any(layer is lyr for lyr in _all_layers(model, nested=True)):
            raise ValueError(f"{name}: layer {layer.name!r} is not part of the model")
        return layer
    if isinstance(layer, str):
        for candidate in _all_layers(model):
            if candidate.name == layer:
                return candidate
        names = [lyr.name for lyr in model.layers]
        raise ValueError(f"{name}: no layer named {layer!r} in the model; its layers: {names}")
    raise TypeError(f"{name} must be a layer name or a keras layer, got {type(layer).__name__}")


def is_graph_model(model: object) -> bool:
    """True for Sequential and functional models, whose layer order is known."""
    return isinstance(model, keras.Sequential) or any(
        cls.__name__ == "Functional" for cls in type(model).__mro__
    )


def embedding_vocabularies(model: object, layer: object, n_inputs: int) -> list[int | None]:
    """Per model input, the `input_dim` of the Embedding it feeds (None if none).

    An input counts when it is the direct input of an Embedding in a graph
    model; otherwise, with `layer=` an Embedding and one input, that input.
    """
    sizes: list[int | None] = [None] * n_inputs
    if not isinstance(model, keras.Model):
        return sizes
    inputs = list(getattr(model, "inputs", None) or []) if is_graph_model(model) else []
    for lyr in _all_layers(model):
        if not isinstance(lyr, keras.layers.Embedding):
            continue
        try:
            fed = lyr.input
        except (AttributeError, ValueError):  # unbuilt, or shared by several inputs
            continue
        for i, inp in enumerate(inputs[:n_inputs]):
            if fed is inp:
                sizes[i] = int(lyr.input_dim)
    if n_inputs == 1 and sizes[0] is None and isinstance(layer, keras.layers.Embedding):
        sizes[0] = int(layer.input_dim)
    return sizes


def _all_layers(model: keras.Model, nested: bool = False) -> list[keras.layers.Layer]:
    """The model's layers, those of nested models, and with `nested` also the
    layers that layers hold as attributes (e.g. the token embedding inside
    KerasHub's `TokenAndPositionEmbedding`), found by their public attributes."""
    found, stack, seen = [], list(model.layers), set()
    while stack:
        lyr = stack.pop(0)
        if id(lyr) in seen:
            continue
        seen.add(id(lyr))
        found.append(lyr)
        if isinstance(lyr, keras.Model):
            stack.extend(lyr.layers)
        elif nested:
            stack.extend(_sublayers(lyr))
    return found


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """Layers held in `layer`'s public attributes (directly or in a list/tuple)."""
    held = []
    for name, value in vars(layer).items():
        if name.startswith("_"):
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        held += [v for v in values if isinstance(v, keras.layers.Layer) and v is not layer]
    return held


class ScoreFunction:
    """F(inputs) for a model: which outputs, which score, which layer.

    Args:
        model: a Keras model, or any callable mapping a batch of input tensors
            (same structure as `x`) to output tensors.
        target_fn: a callable `outputs -> [rows]`, or None for an index target
            picked per row by the engine.
        layer: the layer whose output is attributed, or None for the inputs.
        output: None for the model's outputs; `"logits"` for the pre-softmax
            values of a model whose last layer applies softmax or sigmoid; or a
            layer (name or object) whose output F is computed from.
        weak: hold the model by a weak reference (for caches keyed by it).
    """

    def __init__(
        self,
        model: Callable,
        *,
        target_fn: TargetFn | None = None,
        layer: object = None,
        output: object = None,
        weak: bool = False,
    ) -> None:
        if not callable(model):
            raise TypeError(
                f"model must be a keras.Model or a callable, got {type(model).__name__}"
            )
        if target_fn is not None and not callable(target_fn):
            raise TypeError("target must be callable here")
        # A weak reference lets a cache keyed by the model not keep it alive.
        self._model = weakref.ref(model) if weak else (lambda: model)
        self.target_fn = target_fn
        self.layer = None if layer is None else resolve_layer(model, layer)
        self._logits_patch: Callable[[], contextlib.AbstractContextManager] | None = None
        self._output_layer = None
        if isinstance(output, str) and output == "logits":
            self._logits_patch = self._find_logits(model)
        elif output is not None:
            self._output_layer = resolve_layer(model, output, name="output")

    @staticmethod
    def _find_logits(model: object) -> Callable[[], contextlib.AbstractContextManager]:
        if not isinstance(model, keras.Model) or not model.layers:
            raise ValueError("output='logits' needs a Sequential or functional keras.Model")
        if not is_graph_model(model):
            raise ValueError(
                "output='logits': cannot find the last layer of a subclassed model; "
                "pass output=<layer name> or a callable target on its logits"
            )
        last = model.layers[-1]
        act = getattr(last, "activation", None)
        if isinstance(last, keras.layers.Softmax) or (
            isinstance(last, keras.layers.Activation) and _activation_name(act) in _SQUASHING
        ):
            return lambda: _identity_layer(last)
        if act is not None and _activation_name(act) in _SQUASHING:
            return lambda: _linear_activation(last)
        raise ValueError(
            f"output='logits': the last layer {last.name!r} applies no softmax or sigmoid, "
            "so the model's outputs are already its logits; use output=None"
        )

    @functools.cached_property
    def max_pools(self) -> bool:
        """Whether the model holds a 1-D or 2-D max-pooling layer (see `chunks.isolated`).

        False for a plain callable, whose layers cannot be seen.
        """
        model = self.model
        if not isinstance(model, keras.Model):
            return False
        pools = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D)
        return any(isinstance(lyr, pools) for lyr in _all_layers(model, nested=True))

    @property
    def model(self) -> Any:
        model = self._model()
        if model is None:
            raise RuntimeError("the model explained by this ScoreFunction no longer exists")
        return model

    def outputs(self, inputs: Any, replacement: tf.Tensor | None = None) -> tuple[Any, list]:
        """Run the model.

        Args:
            inputs: a batch in the structure of `x`.
            replacement: with `layer=`, the tensor the rest of the model sees
                instead of the layer's output; None runs the layer (and
                captures its output).

        Returns:
            `(outputs, layer_calls)`: outputs in the model's structure (the
            chosen `output` layer's output if one was named) and the real
            outputs of the attribution layer, one per call.
        """
        with contextlib.ExitStack() as stack:
            if self._logits_patch is not None:
                stack.enter_context(self._logits_patch())
            layer_calls: list = []
            if self.layer is not None:
                layer_calls = stack.enter_context(_patched_call(self.layer, replacement))
            captured: list = []
            if self._output_layer is not None:
                captured = stack.enter_context(_patched_call(self._output_layer))
            if isinstance(self.model, keras.layers.Layer):
                out = self.model(inputs, training=False)
            else:
                out = self.model(inputs)
            if self._output_layer is not None:
                if len(captured) != 1:
                    raise ValueError(
                        f"output: layer {self._output_layer.name!r} ran {len(captured)} times "
                        "in one forward pass; expected once"
                    )
                out = captured[0]
        return out, layer_calls

    def check_calls(self, calls: list) -> None:
        """Refuse a `layer` that ran other than once in a forward pass.

        Raises:
            ValueError: naming `layer`.
        """
        if self.layer is not None and len(calls) != 1:
            raise ValueError(
                f"layer: {self.layer.name!r} ran {len(calls)} times in one "
                "forward pass; attribution needs a layer that runs exactly once"
            )

    def score(self, outputs: Any, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Scores `float32[rows]` and the resolved targets `int32[rows]`.

        `targets[i] < 0` picks the largest output of row i (the predicted
        class); a callable target ignores `targets`.
        """
        if self.target_fn is not None:
            s = self.target_fn(outputs)
            s = tf.convert_to_tensor(s)
            if s.shape.rank != 1:
                raise ValueError(
                    f"target: the callable must return one score per row (shape [N]), "
                    f"got shape {s.shape}"
                )
            return tf.cast(s, tf.float32), targets
        out = tf.cast(outputs, tf.float32)
        if out.shape.rank == 1:
            return out, tf.zeros_like(targets)
        predicted = tf.argmax(out, axis=-1, output_type=tf.int32)
        resolved = tf.where(targets < 0, predicted, targets)
        return tf.gather(out, resolved, batch_dims=1), resolved


def _identity_layer(layer: keras.layers.Layer) -> contextlib.AbstractContextManager:
    """Make a Softmax/Activation layer pass its input through unchanged."""
    return _intercept(layer, lambda call, obj, inputs, *args, **kwargs: inputs)
