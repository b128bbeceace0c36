"""keras-ig on Apache Beam: explain a `PCollection` of inputs on any runner.

`IGModelHandler` plugs `keras_ig.explain` into Beam's `RunInference`;
`python -m keras_ig.beam` is a ready pipeline over `.npy` files and images.
Needs the `beam` extra (`pip install "keras-ig[beam]"`); `import keras_ig`
never imports this package.

Example:
    >>> from apache_beam.ml.inference.base import RunInference
    >>> from keras_ig.beam import IGModelHandler
    >>> results = rows | RunInference(IGModelHandler("model.keras", steps=32))
"""

from __future__ import annotations

from keras_ig.beam.handler import IGModelHandler

__all__ = ["IGModelHandler"]
