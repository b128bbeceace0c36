"""Exceptions told in one line, as the callback's warnings quote them."""

from __future__ import annotations

import re

import tensorflow as tf

# Lines of a TensorFlow graph error around the op's own message: a header,
# the Python stack of the failing node, and the node's name.
_TF_NOISE = re.compile(r"^(Graph execution error:|Detected at node|File \"|\[\[|\[Op:)")


# Keras re-raises a layer's exception as "Exception encountered when calling
# X.call().", then the original message in bold (ANSI codes), then arguments.
_KERAS_CONTEXT = "Exception encountered when calling "
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def short(err: BaseException) -> str:
    """`Type: message` on one line, with the message the user wrote.

    A graph error (e.g. a failed `tf.debugging.Assert`) starts with
    "Graph execution error:" and a stack; its own message is its last line.
    A layer's error re-raised by Keras has its own message second.
    """
    text = _ANSI.sub("", getattr(err, "message", None) or str(err))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith(_KERAS_CONTEXT):
        where = lines[0][len(_KERAS_CONTEXT) :].rstrip(".")
        lines = [f"{lines[1]} (in {where})"]
    if isinstance(err, tf.errors.OpError):
        lines = [line for line in lines if not _TF_NOISE.match(line)][-1:] or lines
        lines = [re.sub(r"\s*\[\[\{\{node .*$|\s*\[Op:.*$", "", line) for line in lines]
    if not lines or not lines[0]:
        return repr(err)  # e.g. a bare `assert`: `AssertionError()`
    return f"{type(err).__name__}: {lines[0][:300]}"
