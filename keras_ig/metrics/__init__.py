"""Attribution quality: can this map be trusted?

Faithfulness to the model (`deletion`, `insertion`, `infidelity`),
stability (`sensitivity_max`), agreement with a known region
(`localization`) and dependence on the trained weights (`randomization`).

Example:
    >>> from keras_ig import metrics
    >>> exp = keras_ig.explain(model, images)
    >>> metrics.deletion(model, images, exp.attributions).scores.mean()
"""

from keras_ig.metrics._curves import Curves, deletion, insertion
from keras_ig.metrics._localization import localization
from keras_ig.metrics._randomization import randomization
from keras_ig.metrics._robustness import infidelity, sensitivity_max

__all__ = [
    "Curves",
    "deletion",
    "infidelity",
    "insertion",
    "localization",
    "randomization",
    "sensitivity_max",
]
