"""Flag values checked by argparse: a bad one is a usage error (exit status 2)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer `>= 1`."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def target_index(text: str) -> int | None:
    """`predicted` -> None (the model's own class); otherwise a unit index."""
    if text == "predicted":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an output index or 'predicted', got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value
