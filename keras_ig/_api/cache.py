"""The per-model cache of explainers, so repeated `explain` calls reuse graphs."""

from __future__ import annotations

import types
import weakref
from collections import OrderedDict
from typing import Any

import keras

from keras_ig._api.explainer import Explainer

# A per-model cache, so repeated explain() calls reuse the compiled graph.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_SIZE = 8


# Values a target function may read (closure, defaults, globals) that cannot
# change behind a cache key: an equal value means equal behaviour.
_FROZEN = (
    int,
    float,
    complex,
    str,
    bytes,
    bool,
    type(None),
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    type,
)


def _frozen(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_frozen(v) for v in value)
    return isinstance(value, _FROZEN)


def target_key(fn: Any) -> Any:
    """Cache key of a target: equal for two spellings of the same function.

    An inline `target=lambda y: y[:, 3]` is a new object on every call; keyed
    by identity it would build (and trace) a new graph each time. A plain
    function is keyed by its code and by the values it reads (closure cells,
    defaults, the globals it names) when all of those are immutable; anything
    else keeps the identity key, so a changed value can never reuse a graph.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    code = fn.__code__
    try:
        cells = tuple(c.cell_contents for c in fn.__closure__ or ())
    except ValueError:  # an empty cell
        return fn
    names = tuple((n, fn.__globals__[n]) for n in _global_names(code) if n in fn.__globals__)
    read = (cells, fn.__defaults__ or (), tuple(v for _, v in names))
    if not _frozen(read) or fn.__kwdefaults__:
        return fn
    return ("code", code, id(fn.__globals__), cells, fn.__defaults__, names)


def _global_names(code: types.CodeType) -> tuple[str, ...]:
    """Names a code object (and the code nested in it) may look up globally."""
    nested = (c for c in code.co_consts if isinstance(c, types.CodeType))
    return code.co_names + tuple(n for c in nested for n in _global_names(c))


def explainer_for(
    model: Any, *, target: Any, layer: Any, output: Any, jit_compile: bool = False
) -> Explainer:
    """The cached `Explainer` for these settings (built on first use)."""
    target_fn = target if callable(target) else None
    key = (
        id(layer) if isinstance(layer, keras.layers.Layer) else layer,
        id(output) if isinstance(output, keras.layers.Layer) else output,
        target_key(target_fn),
        jit_compile,
    )
    settings = {
        "target_fn": target_fn,
        "layer": layer,
        "output": output,
        "jit_compile": jit_compile,
    }
    try:
        per_model = _CACHE.setdefault(model, OrderedDict())
    except TypeError:  # not weak-referenceable: no cache
        return Explainer(model, **settings)
    if key in per_model:
        per_model.move_to_end(key)
        return per_model[key]
    # Held weakly: the cache must not keep a model alive that the user dropped.
    explainer = Explainer(model, weak=True, **settings)
    per_model[key] = explainer
    while len(per_model) > _CACHE_SIZE:
        per_model.popitem(last=False)
    return explainer
