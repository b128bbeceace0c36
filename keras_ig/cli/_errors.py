"""One-line failures and warnings, in the command line's words."""

from __future__ import annotations

import re
import sys


class CLIError(Exception):
    """A failure the user can fix: printed as one line, exit status 1."""


PROG = "keras-ig"


def fail(message: str) -> int:
    print(f"{PROG}: error: {escaped(message)}", file=sys.stderr)
    return 1


def warn(message: str, kind: str = "warning") -> None:
    print(f"{PROG}: {kind}: {escaped(message)}", file=sys.stderr)


def escaped(text: str) -> str:
    """`text` with control and other unprintable characters as `\\x..` escapes.

    File names may hold newlines, terminal escape sequences or undecodable
    bytes; printed raw they would break the one-line messages or drive the
    terminal.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


# The library's argument names, as the flags that set them.
_FLAGS = {
    "steps": "--steps",
    "target": "--target",
    "baseline": "--baseline",
    "batch_size": "--batch-size",
    "layer": "--layer",
    "method": "--method",
    "seed": "--seed",
    # explain-text and explain-generation
    "task_model": "MODEL",
    "causal_lm": "MODEL",
    "max_new_tokens": "--max-new-tokens",
    "continuation": "--continuation",
    "prompt": "--prompt",
    "merge": "--merge",
}
_PHRASES = (
    ("use output=None", "leave out --logits"),
    ("output='logits'", "--logits"),
)


def cli_words(message: str) -> str:
    """A library error message in the words of the command line.

    `"steps must be >= 2"` -> `"--steps must be >= 2"`; `"steps=20000"` ->
    `"--steps 20000"`; `output='logits'` -> `--logits`. Other text is kept.
    """
    for python, flag in _PHRASES:
        message = message.replace(python, flag)
    names = "|".join(_FLAGS)
    message = re.sub(rf"^({names})\b", lambda m: _FLAGS[m[1]], message)
    message = re.sub(rf"\b({names})=(?=[\w'\"<-])", lambda m: _FLAGS[m[1]] + " ", message)
    return re.sub(rf"\b({names})=", lambda m: _FLAGS[m[1]], message)


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
