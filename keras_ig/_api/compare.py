"""`keras_ig.compare`: several methods, several metrics, the same inputs, one table.

Checks every argument first, resolves the targets once (so every method
explains, and every metric scores, the same output unit per input), runs
each method and then each metric on its map through `keras_ig.metrics`, and
builds the `Comparison` record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from keras_ig import metrics as quality
from keras_ig._api.cache import explainer_for
from keras_ig._api.compare_methods import BUILT_IN, DEFAULT_METHODS, IMAGES_ONLY, Settings
from keras_ig._api.comparison import METRICS, Comparison
from keras_ig._api.explanation import Explanation
from keras_ig._numpy import checks

__all__ = ["DEFAULT_METHODS", "compare"]


def _check_x(x: Any) -> np.ndarray:
    if isinstance(x, (list, tuple, dict)) or not hasattr(x, "shape"):
        raise TypeError(f"x must be one array [N, ...] of floats, got {type(x).__name__}")
    xs = np.asarray(x)
    if xs.ndim < 2 or len(xs) == 0 or not np.issubdtype(xs.dtype, np.floating):
        raise ValueError(
            f"x must be a non-empty float array [N, ...]; got shape {xs.shape}, dtype {xs.dtype}"
        )
    return xs


def _check_methods(methods: Any) -> dict[str, Callable | str]:
    """name -> a user callable, or the name itself for a built-in method."""
    if methods is None:
        return {name: name for name in DEFAULT_METHODS}
    if isinstance(methods, Mapping):
        if not methods:
            raise ValueError("methods must not be empty")
        for name, fn in methods.items():
            if not isinstance(name, str) or not callable(fn):
                raise TypeError(
                    "methods: a dict maps names (str) to callables (model, x) -> Explanation; "
                    f"got {name!r}: {type(fn).__name__}"
                )
        return dict(methods)
    if isinstance(methods, str) or not isinstance(methods, Sequence):
        raise TypeError(
            f"methods must be None, a list of names from {DEFAULT_METHODS} or "
            f"a dict name -> callable; got {type(methods).__name__}"
        )
    if not methods:
        raise ValueError("methods must not be empty")
    for name in methods:
        if name not in BUILT_IN:
            raise ValueError(f"methods: unknown method {name!r}; known: {DEFAULT_METHODS}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods: a name is repeated in {list(methods)}")
    return {name: name for name in methods}


def _check_metrics(metrics: Any, masks: Any, x: np.ndarray) -> tuple[str, ...]:
    names = (metrics,) if isinstance(metrics, str) else metrics
    if not isinstance(names, Sequence) or not names:
        raise TypeError(f"metrics must be a non-empty list of names from {METRICS}")
    for name in names:
        if name not in METRICS:
            raise ValueError(f"metrics: unknown metric {name!r}; known: {METRICS}")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics: a name is repeated in {list(names)}")
    if "localization" in names:
        if masks is None:
            raise ValueError("masks: the 'localization' metric needs masks, one per input")
        # The metric's own check of the shapes, on an all-zero map (cheap).
        quality.localization(np.zeros(x.shape), masks)
    return tuple(names)


def _check_background(background: Any, chosen: dict, xs: np.ndarray) -> None:
    if background is None or "expected_gradients" not in chosen.values():
        return
    rows = np.asarray(background)
    if rows.ndim != xs.ndim or rows.shape[1:] != xs.shape[1:] or len(rows) == 0:
        raise ValueError(
            f"background must hold rows shaped like x's {xs.shape[1:]}, got {rows.shape}"
        )


def _images_only(chosen: dict, default: bool, xs: np.ndarray) -> list[str]:
    """Drop the blur methods from the default set for non-images (the notes say so)."""
    if xs.ndim == 4:
        return []
    if not default:
        if any(chosen[n] == n for n in chosen if n in IMAGES_ONLY):
            raise ValueError(
                f"methods: {sorted(IMAGES_ONLY)} need images [N, H, W, C]; x is {xs.shape}"
            )
        return []
    notes = []
    for name, why in IMAGES_ONLY.items():
        del chosen[name]
        notes.append(f"{name} left out: {why} needs images [N, H, W, C], x is {xs.shape}")
    return notes


def _attributions(result: Any, x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(getattr(result, "attributions", result), dtype=np.float64)
    if a.shape != x.shape:
        raise ValueError(
            f"methods[{name!r}] returned attributions of shape {a.shape}; x has {x.shape}"
        )
    return a


def _gap(result: Any, n: int) -> np.ndarray:
    """`float64[N]`: the relative completeness gap; NaN for bare attributions."""
    if isinstance(result, Explanation):
        return np.asarray(result.relative_delta, dtype=np.float64)
    return np.full(n, np.nan)


def _score(
    metric: str,
    model: Any,
    x: np.ndarray,
    a: np.ndarray,
    explain_fn: Callable,
    s: Settings,
    masks: Any,
) -> np.ndarray:
    """`float64[N]`: `metric` of the map `a` of x, on the resolved targets."""
    common = {"target": s.target, "output": s.output, "batch_size": s.batch_size}
    if metric == "deletion":
        value = quality.deletion(model, x, a, **common).scores
    elif metric == "insertion":
        value = quality.insertion(model, x, a, **common).scores
    elif metric == "infidelity":
        value = quality.infidelity(model, x, a, seed=s.seed, **common)
    elif metric == "localization":
        value = quality.localization(a, masks)
    else:  # sensitivity_max: re-explains perturbed copies of x with the method
        value = quality.sensitivity_max(explain_fn, x, seed=s.seed)
    return np.asarray(value, dtype=np.float64)


def compare(
    model: Any,
    x: Any,
    *,
    methods: Sequence[str] | Mapping[str, Callable] | None = None,
    metrics: Sequence[str] = ("deletion", "insertion"),
    masks: Any = None,
    target: Any = None,
    output: Any = None,
    steps: int = 32,
    background: Any = None,
    batch_size: int | None = None,
    seed: int = 0,
) -> Comparison:
    """Run several attribution methods on x and score each with the same metrics.

    The targets are resolved once (the class predicted at x when None) and
    every method explains them and every metric scores them, so the numbers
    compare. The built-in methods (the default set, in this order): `ig_zeros`,
    `ig_blur`, `ig_uniform` (`keras_ig.explain` with that baseline),
    `smoothgrad_ig` (IG under `keras_ig.Noise`, 8 copies, noise 15% of x's
    range), `expected_gradients` (background `background`, or x itself),
    `idgi`, `blur_ig` and `guided_ig`; each at `steps` (Expected Gradients:
    `steps` samples). Blur needs images: for other inputs `ig_blur` and
    `blur_ig` are left out of the default set, with a note.

    Args:
        model: a Keras model with one input.
        x: `float[N, ...]`, one input tensor.
        methods: None (the default set), a list of built-in names, or a dict
            name -> callable `(model, x) -> Explanation` (or attributions
            shaped like x) for methods of your own; they should explain
            `Comparison.target`.
        metrics: names from `"deletion"`, `"insertion"`, `"infidelity"`,
            `"localization"` (needs `masks`), `"sensitivity_max"` (re-explains
            x 10 times per method: costly).
        masks: `bool[N, ...]` as `keras_ig.metrics.localization` takes them.
        target, output: as in `keras_ig.explain`.
        steps: path steps of every built-in method, `>= 1`.
        background: Expected Gradients' background rows `[B, ...]`; None: x.
        batch_size: most rows per model call (methods and metrics), or None.
        seed: seed of every random draw (baselines, noise, samples, metrics).

    Returns:
        A `Comparison`: `.table`, `.scores[method][metric]` (`float64[N]`),
        `.explanations`, `.best(metric)`, `to_markdown()`, `.save(path)`.

    Raises:
        ValueError, TypeError: bad input, named, before any method runs.

    Example:
        >>> c = keras_ig.compare(model, images, metrics=("deletion", "localization"),
        ...                      masks=masks, steps=32)
        >>> print(c)
        >>> c.save("compare.png")
    """
    xs = _check_x(x)
    chosen = _check_methods(methods)
    names = _check_metrics(metrics, masks, xs)
    steps = checks.integer(steps, "steps", 1)
    batch_size = checks.integer(batch_size, "batch_size", 1, optional=True)
    seed = checks.integer(seed, "seed", 0)
    _check_background(background, chosen, xs)
    notes = _images_only(chosen, methods is None, xs)
    # One resolution of the targets for all (None back for a callable target).
    explainer = explainer_for(model, target=target, layer=None, output=output)
    resolved = explainer.predict(xs, target)
    s = Settings(
        target=target if resolved is None else resolved,
        output=output,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        background=background,
        span=float(xs.max() - xs.min()),
    )
    scores, explanations, seconds, gaps = {}, {}, {}, {}
    for name, how in chosen.items():

        def run(batch: np.ndarray, how=how) -> Any:
            return BUILT_IN[how](model, batch, s) if isinstance(how, str) else how(model, batch)

        start = time.perf_counter()
        explanations[name] = run(xs)
        seconds[name] = time.perf_counter() - start
        a = _attributions(explanations[name], xs, name)
        gaps[name] = _gap(explanations[name], len(xs))
        scores[name] = {m: _score(m, model, xs, a, run, s, masks) for m in names}
    return Comparison(
        metrics=names,
        scores=scores,
        explanations=explanations,
        seconds=seconds,
        gaps=gaps,
        inputs=xs,
        masks=None if masks is None else np.asarray(masks),
        target=None if resolved is None else np.asarray(resolved),
        notes=tuple(notes),
    )
