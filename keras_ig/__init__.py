"""keras-ig: Integrated Gradients for Keras 3 on TensorFlow.

Three ways in: `explain(model, x)`, the `IntegratedGradients` layer wrapper,
and `keras_ig.callbacks.IGCallback` for TensorBoard during `model.fit`;
`keras_ig.metrics` measures how far a map can be trusted.

TensorFlow is imported on first use of a name that needs it, so the pure
modules (`keras_ig.baselines`, `keras_ig.render`, `keras_ig.datasets`) and
the command line's `--help` start instantly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keras_ig._version import __version__

if TYPE_CHECKING:
    from keras_ig import metrics
    from keras_ig._api.adaptive_paths import blur_ig, guided_ig
    from keras_ig._api.compare import compare
    from keras_ig._api.comparison import Comparison
    from keras_ig._api.explain import explain
    from keras_ig._api.explanation import CompletenessWarning, Explanation
    from keras_ig._api.generation import explain_generation
    from keras_ig._api.layer import IntegratedGradients
    from keras_ig._api.methods import expected_gradients, idgi
    from keras_ig._api.text import explain_text
    from keras_ig._api.text_results import GenerationExplanation, TextExplanation
    from keras_ig._engine.workers import MultiWorkerStrategy
    from keras_ig._numpy.noise import Noise
    from keras_ig.baselines import BaselineStack, InputBaseline


_HOMES = {
    "BaselineStack": "keras_ig.baselines",
    "Comparison": "keras_ig._api.comparison",
    "CompletenessWarning": "keras_ig._api.explanation",
    "Explanation": "keras_ig._api.explanation",
    "GenerationExplanation": "keras_ig._api.text_results",
    "InputBaseline": "keras_ig.baselines",
    "IntegratedGradients": "keras_ig._api.layer",
    "MultiWorkerStrategy": "keras_ig._engine.workers",
    "Noise": "keras_ig._numpy.noise",
    "TextExplanation": "keras_ig._api.text_results",
    "blur_ig": "keras_ig._api.adaptive_paths",
    "compare": "keras_ig._api.compare",
    "expected_gradients": "keras_ig._api.methods",
    "explain": "keras_ig._api.explain",
    "explain_generation": "keras_ig._api.generation",
    "explain_text": "keras_ig._api.text",
    "guided_ig": "keras_ig._api.adaptive_paths",
    "idgi": "keras_ig._api.methods",
}

__all__ = [
    "BaselineStack",
    "Comparison",
    "CompletenessWarning",
    "Explanation",
    "GenerationExplanation",
    "InputBaseline",
    "IntegratedGradients",
    "MultiWorkerStrategy",
    "Noise",
    "TextExplanation",
    "blur_ig",
    "compare",
    "expected_gradients",
    "explain",
    "explain_generation",
    "explain_text",
    "guided_ig",
    "idgi",
    "metrics",
    "__version__",
]


# Public subpackages, imported on first access (`keras_ig.metrics`).
_SUBPACKAGES = ("metrics",)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        value = importlib.import_module(f"keras_ig.{name}")
        globals()[name] = value
        return value
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'keras_ig' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
