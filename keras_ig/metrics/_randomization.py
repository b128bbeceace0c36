"""Adebayo et al.'s model-randomization sanity check (NeurIPS 2018).

A map that explains the model must change when the model's weights are
destroyed. The layers' weights are re-drawn, from the output down
(`"cascade"`: the randomization accumulates) or one layer at a time
(`"independent"`), on a copy of the model, and each randomized map is
compared with the original by Spearman rank correlation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from keras_ig._api.explain import explain
from keras_ig._numpy import checks
from keras_ig._numpy import metrics as rank_metrics

ORDERS = ("cascade", "independent")


def _copy(model: Any) -> keras.Model:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    try:
        copy = keras.models.clone_model(model)
    except (ValueError, TypeError, NotImplementedError) as err:
        raise TypeError(
            f"model: randomization needs a model keras.models.clone_model can copy ({err})"
        ) from None
    copy.set_weights(model.get_weights())
    return copy


def _redraw(layer: keras.layers.Layer, rng: np.random.Generator) -> None:
    """New values for each of `layer`'s weights, from its own initializer when it names one.

    A weight `kernel` is re-drawn from `layer.kernel_initializer` (seeded
    from `rng`); a weight without one gets Gaussian values of its own
    mean and standard deviation.
    """
    for variable in layer.weights:
        init = getattr(layer, f"{variable.name}_initializer", None)
        shape, dtype = tuple(variable.shape), variable.dtype
        if isinstance(init, keras.initializers.Initializer):
            config = init.get_config()
            if "seed" in config:
                config["seed"] = int(rng.integers(2**31 - 1))
            value = np.asarray(type(init).from_config(config)(shape, dtype=dtype))
        else:
            old = np.asarray(variable.numpy(), np.float64)
            value = rng.normal(old.mean(), old.std(), size=shape)
        variable.assign(value.astype(variable.dtype))


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ua = rank_metrics.unit_ranks_all(list(a))
    ub = rank_metrics.unit_ranks_all(list(b))
    return np.array([rank_metrics.correlation(p, q) for p, q in zip(ua, ub, strict=True)])


def randomization(
    model: Any,
    x: Any,
    *,
    explain_fn: Callable | None = None,
    order: str = "cascade",
    seed: int | None = None,
) -> dict[str, np.ndarray]:
    """Spearman correlation of each input's map before and after randomizing layers.

    Args:
        model: a Sequential or functional `keras.Model` (it is copied with
            `keras.models.clone_model`; the model itself never changes).
        x: `[N, ...]` inputs.
        explain_fn: `(model, x) -> attributions` (`[N, ...]`, or an
            `Explanation`); None for `keras_ig.explain` with its defaults,
            explaining the class the original model predicts at x.
        order: `"cascade"` (layers randomized from the top down, each step
            keeping the ones above random) or `"independent"` (one layer at a
            time, the others as trained).
        seed: seed of the new weights.

    Returns:
        `{layer name: float64[N]}` for every layer with weights, top layer
        first: the rank correlation of the randomized map with the original
        (NaN for a constant map). A map that depends on the model falls
        toward 0.

    Raises:
        TypeError, ValueError: bad input, naming the argument.

    Example:
        >>> r = metrics.randomization(model, images, seed=0)
        >>> {name: rho.mean() for name, rho in r.items()}
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    seed = checks.integer(seed, "seed", 0, optional=True)
    if explain_fn is not None and not callable(explain_fn):
        raise TypeError(f"explain_fn must be None or a callable, got {type(explain_fn).__name__}")
    copy = _copy(model)
    layers = [layer for layer in reversed(copy.layers) if layer.weights]
    if not layers:
        raise ValueError("model: no layer has weights to randomize")
    if explain_fn is None:
        first = explain(model, x, warn=False)
        targets = first.target

        def explain_fn(m, batch):
            return explain(m, batch, target=targets, warn=False)

        original = np.asarray(first.attributions, np.float64)
    else:
        result = explain_fn(model, x)
        original = np.asarray(getattr(result, "attributions", result), np.float64)
    rng = np.random.default_rng(seed)
    trained = copy.get_weights()
    found = {}
    for layer in layers:
        if order == "independent":
            copy.set_weights(trained)
        _redraw(layer, rng)
        result = explain_fn(copy, x)
        randomized = np.asarray(getattr(result, "attributions", result), np.float64)
        if randomized.shape != original.shape:
            raise ValueError(
                f"explain_fn returned attributions of shape {randomized.shape}; "
                f"the original map has {original.shape}"
            )
        n = len(original)
        found[layer.name] = _spearman_rows(original.reshape(n, -1), randomized.reshape(n, -1))
    return found
