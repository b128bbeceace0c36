"""`IGCallback(method=...)`: log a path method other than Integrated Gradients.

`method` is either a quadrature rule (Integrated Gradients, the default) or
the name of one of keras-ig's other path methods; `method_options` holds
that method's own keywords (`background` for Expected Gradients,
`max_sigma` for Blur IG, `fraction` for Guided IG, ...). Each method keeps
its compiled graph per model, so every epoch reuses the first one's.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from keras_ig._api.adaptive_paths import blur_ig, guided_ig
from keras_ig._api.explanation import Explanation
from keras_ig._api.methods import expected_gradients, idgi
from keras_ig._numpy import checks
from keras_ig._numpy.quadrature import quadrature

PATH_METHODS: dict[str, Callable[..., Explanation]] = {
    "idgi": idgi,
    "blur_ig": blur_ig,
    "guided_ig": guided_ig,
    "expected_gradients": expected_gradients,
}
"""The names `IGCallback(method=...)` takes besides the quadrature rules."""

# Keywords the callback passes itself; `method_options` may not repeat them.
_OWN = ("model", "x", "target", "output", "layer", "batch_size", "warn", "verbose", "out")


def is_path_method(method: Any) -> bool:
    """Whether `method` names one of `PATH_METHODS` (not a quadrature rule)."""
    return isinstance(method, str) and method in PATH_METHODS


def check_method(method: Any, steps: Any) -> None:
    """A quadrature rule with valid `steps`, or a path method name.

    Raises:
        TypeError, ValueError: naming `method` or `steps`.
    """
    if is_path_method(method):
        checks.integer(steps, "steps", 1)
        return
    try:
        quadrature(method, steps)  # raises on a bad method or steps
    except ValueError as err:
        if "method" not in str(err):
            raise
        raise ValueError(f"{err}; or one of the path methods {sorted(PATH_METHODS)}") from None


def check_options(method: Any, options: Any) -> dict[str, Any]:
    """`method_options` as a dict of the method's own keywords.

    Raises:
        TypeError, ValueError: naming `method_options`.
    """
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise TypeError(f"method_options must be a dict, got {type(options).__name__}")
    if options and not is_path_method(method):
        raise ValueError(
            f"method_options are for the path methods {sorted(PATH_METHODS)}; "
            f"method={method!r} is Integrated Gradients with that quadrature rule"
        )
    if not options and method == "expected_gradients":
        raise ValueError(
            "method_options: expected_gradients needs a background, e.g. "
            "method_options={'background': x_train[:100]}"
        )
    if is_path_method(method):
        accepted = set(inspect.signature(PATH_METHODS[method]).parameters) - set(_OWN)
        for key in options:
            if key not in accepted:
                raise ValueError(
                    f"method_options: {method} takes no {key!r}; it takes {sorted(accepted)}"
                )
    return dict(options)


def runner(
    method: str,
    model: Any,
    probes: Any,
    *,
    target: Any,
    baseline: Any,
    steps: int,
    output: Any,
    layer: Any,
    batch_size: int | None,
    seed: int | None,
    options: dict[str, Any],
) -> Callable[[], Explanation]:
    """A zero-argument function explaining the probes with `method` at the current weights.

    The callback's `baseline`, `steps` and `seed` are passed where the method
    takes them (Blur IG has no baseline; Expected Gradients draws `samples`
    background rows instead of taking steps); `options` come last and win.
    """
    fn = PATH_METHODS[method]
    accepted = set(inspect.signature(fn).parameters)
    kwargs: dict[str, Any] = {"target": target, "output": output, "batch_size": batch_size}
    for key, value in (("baseline", baseline), ("steps", steps), ("seed", seed)):
        if key in accepted:
            kwargs[key] = value
    if layer is not None:
        kwargs["layer"] = layer
    kwargs.update(options)
    background = kwargs.pop("background", None)
    args = (model, probes) if background is None else (model, probes, background)
    # Completeness is the callback's to warn about, once per fit.
    return functools.partial(fn, *args, warn=False, verbose=0, **kwargs)
