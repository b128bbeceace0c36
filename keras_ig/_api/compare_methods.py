"""The methods `keras_ig.compare` runs by name, each called the same way.

Each built-in method is a function `(model, x, settings) -> Explanation`
calling the public method with the comparison's shared settings (targets
resolved once, steps, seed, batch size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from keras_ig._api.adaptive_paths import blur_ig, guided_ig
from keras_ig._api.explain import explain
from keras_ig._api.explanation import Explanation
from keras_ig._api.methods import expected_gradients, idgi
from keras_ig._numpy.noise import Noise

__all__ = ["BUILT_IN", "DEFAULT_METHODS", "IMAGES_ONLY", "Settings"]

# SmoothGrad's noise level, as a share of the inputs' range (Smilkov et al.
# found 10-20% best), and its number of noisy copies.
_SMOOTH_SHARE = 0.15
_SMOOTH_SAMPLES = 8


@dataclass(frozen=True)
class Settings:
    """What every built-in method is called with."""

    target: Any  # int32[N], or the user's callable target
    output: Any
    steps: int
    batch_size: int | None
    seed: int
    background: Any
    span: float  # max(x) - min(x), for SmoothGrad's noise


def _ig(baseline: str) -> Callable[[Any, np.ndarray, Settings], Explanation]:
    def run(model: Any, x: np.ndarray, s: Settings) -> Explanation:
        return explain(
            model,
            x,
            target=s.target,
            output=s.output,
            baseline=baseline,
            steps=s.steps,
            batch_size=s.batch_size,
            seed=s.seed,
            warn=False,
        )

    return run


def _smoothgrad_ig(model: Any, x: np.ndarray, s: Settings) -> Explanation:
    noise = Noise(samples=_SMOOTH_SAMPLES, stdev=_SMOOTH_SHARE * s.span, seed=s.seed)
    return explain(
        model,
        x,
        target=s.target,
        output=s.output,
        steps=s.steps,
        batch_size=s.batch_size,
        noise=noise,
        warn=False,
    )


def _expected(model: Any, x: np.ndarray, s: Settings) -> Explanation:
    background = x if s.background is None else s.background
    return expected_gradients(
        model,
        x,
        background,
        samples=s.steps,
        seed=s.seed,
        target=s.target,
        output=s.output,
        batch_size=s.batch_size,
        warn=False,
    )


def _shared(s: Settings) -> dict[str, Any]:
    """The keywords every path method takes from the comparison's settings."""
    return {
        "target": s.target,
        "output": s.output,
        "steps": s.steps,
        "batch_size": s.batch_size,
        "warn": False,
    }


def _idgi(model: Any, x: np.ndarray, s: Settings) -> Explanation:
    return idgi(model, x, **_shared(s))


def _blur_ig(model: Any, x: np.ndarray, s: Settings) -> Explanation:
    return blur_ig(model, x, **_shared(s))


def _guided_ig(model: Any, x: np.ndarray, s: Settings) -> Explanation:
    return guided_ig(model, x, **_shared(s))


# The default set, in the order of the table. Blur (as IG's baseline and as
# Blur IG's path) needs images.
BUILT_IN = {
    "ig_zeros": _ig("zeros"),
    "ig_blur": _ig("blur"),
    "ig_uniform": _ig("uniform"),
    "smoothgrad_ig": _smoothgrad_ig,
    "expected_gradients": _expected,
    "idgi": _idgi,
    "blur_ig": _blur_ig,
    "guided_ig": _guided_ig,
}
DEFAULT_METHODS = tuple(BUILT_IN)
IMAGES_ONLY = {"ig_blur": "a blurred baseline", "blur_ig": "a blurred path"}
