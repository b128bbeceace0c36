"""keras-ig: Integrated Gradients for Keras 3 on TensorFlow.

Three ways in: `explain(model, x)`, the `IntegratedGradients` layer wrapper,
and `keras_ig.callbacks.IGCallback` for TensorBoard during `model.fit`.
"""

from keras_ig._explain import explain
from keras_ig._explanation import CompletenessWarning, Explanation
from keras_ig._version import __version__
from keras_ig._wrapper import IntegratedGradients
from keras_ig.baselines import BaselineStack

__all__ = [
    "BaselineStack",
    "CompletenessWarning",
    "Explanation",
    "IntegratedGradients",
    "explain",
    "__version__",
]
