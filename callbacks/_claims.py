"""One callback per run folder: which callback's running `fit` writes where.

Two callbacks writing the same tags at the same steps would mix their curves
and pictures in one TensorBoard run, so a folder is claimed at train begin
and released when the callback's writer closes. The registry holds the
callbacks weakly and reaches them only through the two methods it is given
(is its fit still running; finish quietly), so it knows nothing else of them.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Callable
from typing import NamedTuple


class _Claim(NamedTuple):
    owner: weakref.ReferenceType
    running: weakref.WeakMethod  # () -> bool: is the owner's fit running
    finish: weakref.WeakMethod  # () -> None: finish its writes quietly


_CLAIMS: dict[str, _Claim] = {}
_LOCK = threading.Lock()


def key(run_dir: str) -> str:
    """The claim's key: the real path of a local folder, a URL as it is."""
    return run_dir if "://" in run_dir else os.path.realpath(run_dir)


def claim(
    run_dir: str,
    owner: object,
    running: Callable[[], bool],
    finish: Callable[[], None],
    log_dir: str,
) -> None:
    """Claim `run_dir` for `owner`.

    Args:
        run_dir: the folder the owner writes its event files to.
        owner: the callback.
        running: the owner's bound method telling whether its fit runs.
        finish: the owner's bound method that closes its writes quietly.
        log_dir: as the user wrote it, for the message.

    Raises:
        ValueError: naming `log_dir`, when another owner's fit still writes
            there. A previous owner whose fit has gone without
            `on_train_end` is finished and replaced.
    """
    k = key(run_dir)
    with _LOCK:
        held = _CLAIMS.get(k)
        holder = None if held is None else held.owner()
        if holder is not None and holder is not owner:
            still = held.running()
            if still is not None and still():
                raise ValueError(
                    f"IGCallback: log_dir {log_dir!r} is already written by another "
                    "IGCallback in a running fit; their steps would interleave under the "
                    "same tags. Give each callback its own log_dir (e.g. 'logs/run1/a' "
                    "and 'logs/run1/b')"
                )
        _CLAIMS[k] = _Claim(
            weakref.ref(owner), weakref.WeakMethod(running), weakref.WeakMethod(finish)
        )
    if holder is not None and holder is not owner:
        done = held.finish()
        if done is not None:
            done()  # its fit has gone without on_train_end


def release(run_dir: str, owner: object) -> None:
    """Free `run_dir` if `owner` (or nobody alive) holds it."""
    k = key(run_dir)
    with _LOCK:
        held = _CLAIMS.get(k)
        holder = owner if held is None else held.owner()
        if holder is None or holder is owner:
            _CLAIMS.pop(k, None)


@atexit.register
def _finish_at_exit() -> None:
    """An uncaught exception out of `fit` ends the interpreter: write what is queued.

    `atexit` runs before daemon threads are stopped, so each writer thread
    can still finish its epoch and close its writer.
    """
    with _LOCK:
        finishers = [held.finish() for held in _CLAIMS.values()]
    for finish in finishers:
        if finish is not None:
            finish()
