"""Keras callbacks of keras-ig, installed as `keras_ig.callbacks`.

from keras_ig.callbacks import IGCallback
model.fit(x, y, epochs=10, callbacks=[IGCallback(x[:8], "logs/run1")])
"""

from keras_ig.callbacks._ig_callback import IGCallback, IGCallbackWarning

__all__ = ["IGCallback", "IGCallbackWarning"]
