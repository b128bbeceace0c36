"""Keras callbacks of keras-ig, installed as `keras_ig.callbacks`."""
