"""keras-ig: Integrated Gradients for Keras 3 on TensorFlow.

Three ways in: `explain(model, x)`, the `IntegratedGradients` layer wrapper,
and `keras_ig.callbacks.IGCallback` for TensorBoard during `model.fit`.

TensorFlow is imported on first use of a name that needs it, so the pure
modules (`keras_ig.baselines`, `keras_ig.render`, `keras_ig.datasets`) and
the command line's `--help` start instantly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from keras_ig._version import __version__

if TYPE_CHECKING:
    from keras_ig._api.explain import explain
    from keras_ig._api.explanation import CompletenessWarning, Explanation
    from keras_ig._api.generation import explain_generation
    from keras_ig._api.layer import IntegratedGradients
    from keras_ig._api.text import explain_text
    from keras_ig._api.text_results import GenerationExplanation, TextExplanation
    from keras_ig.baselines import BaselineStack

_HOMES = {
    "BaselineStack": "keras_ig.baselines",
    "CompletenessWarning": "keras_ig._api.explanation",
    "Explanation": "keras_ig._api.explanation",
    "IntegratedGradients": "keras_ig._api.layer",
    "GenerationExplanation": "keras_ig._api.text_results",
    "TextExplanation": "keras_ig._api.text_results",
    "explain": "keras_ig._api.explain",
    "explain_generation": "keras_ig._api.generation",
    "explain_text": "keras_ig._api.text",
}

__all__ = [
    "BaselineStack",
    "CompletenessWarning",
    "Explanation",
    "GenerationExplanation",
    "IntegratedGradients",
    "TextExplanation",
    "explain",
    "explain_generation",
    "explain_text",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'keras_ig' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
