"""`IGCallback` in a multi-worker `fit`: which worker explains and writes.

Under a `tf.distribute.MultiWorkerMirroredStrategy` on several workers every
worker runs the callbacks, but one TensorBoard run is wanted: the chief (the
`chief` task, else `worker` 0 of `TF_CONFIG`) explains the probes and writes;
the other workers compute nothing for Integrated Gradients and write no
events. By default the chief explains a clone of the model on its writer
thread (`callbacks/_replica.py`), so no worker waits for it; with
`background_ig=False` its IG reads its own replica of the model's (mirrored)
variables in a graph without collectives, so no other worker takes part in
it either way.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from keras_ig._engine import workers


def strategy_of(model: Any) -> tf.distribute.Strategy:
    """The strategy `model` trains under (the default strategy if none)."""
    strategy = getattr(model, "distribute_strategy", None)
    return strategy if strategy is not None else tf.distribute.get_strategy()


def writes_here(model: Any) -> bool:
    """Whether this process's `IGCallback` explains and writes during `fit`.

    True on one machine and on the chief of a multi-worker `fit`; False on
    the other workers of a `MultiWorkerMirroredStrategy`.
    """
    return workers.is_chief(strategy_of(model))


def multi_worker(model: Any) -> bool:
    """Whether `model` trains under a `MultiWorkerMirroredStrategy` on several workers."""
    return workers.is_multi_worker(strategy_of(model))
