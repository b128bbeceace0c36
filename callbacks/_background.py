"""The callback's writer thread, which also outlives no `fit`.

It runs each logged epoch's writes (`background_writes`), and with
`background_ig` the epoch's whole explanation of the model's clone
(`callbacks/_replica.py`).

Keras 3 calls `on_train_end` only when `fit` returns: an exception (a
`KeyboardInterrupt`, a failing callback) leaves through `fit` without any
hook. So the thread watches the training thread's stack: once the frame of
`fit` (the caller of `on_train_begin`) is no longer on it, the thread runs
what is queued, calls `on_exit` (which flushes and closes the writer) and
stops. Nothing of Keras or of the user's model is patched.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from types import FrameType
from typing import Any

# How often an idle thread checks that `fit` is still running: the writer is
# closed at most this long after an interrupted `fit`.
POLL_SECONDS = 0.1

# Frames of these modules are hook plumbing, not the `fit` that calls them.
_PLUMBING = ("keras_ig.callbacks", "keras.src.callbacks")


def caller_frame() -> FrameType | None:
    """The first frame above the callback hooks: `fit`, or whoever calls them."""
    frame = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(_PLUMBING):
        frame = frame.f_back
    return frame


class WriterThread:
    """One thread per `fit`: runs jobs in order, stops when `fit` is gone.

    Args:
        fit_frame: the frame whose presence on the calling thread's stack
            means `fit` is running (`caller_frame()` in `on_train_begin`).
        on_exit: called on the thread, once, when it stops (after `stop()`
            or once `fit_frame` left the stack), after every queued job.
    """

    def __init__(self, fit_frame: FrameType | None, on_exit: Callable[[], None]) -> None:
        self._fit_frame = fit_frame
        self._owner = threading.get_ident()
        self._on_exit = on_exit
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False  # set by the thread as it stops: later jobs run inline
        self._thread = threading.Thread(target=self._loop, name="IGCallback", daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], Any]) -> Future:
        """Queue `job`; its result (or exception) arrives in the future.

        Once the thread has stopped (its `fit` seemed gone: hooks called
        from outside `fit`, say), `job` runs here, so no future waits forever.
        """
        future: Future = Future()
        with self._lock:
            if not self._closed:
                self._jobs.put((future, job))
                return future
        _run(future, job)
        return future

    def stop(self) -> None:
        """Finish the queued jobs, run `on_exit` and wait for the thread."""
        self._jobs.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def fit_running(self) -> bool:
        """Whether `fit_frame` is still on the training thread's stack."""
        frame = sys._current_frames().get(self._owner)
        while frame is not None:
            if frame is self._fit_frame:
                return True
            frame = frame.f_back
        return False

    def _loop(self) -> None:
        _yield_to_training()
        try:
            while True:
                try:
                    item = self._jobs.get(timeout=POLL_SECONDS)
                except queue.Empty:
                    if self.fit_running():
                        continue
                    break  # fit left without on_train_end (an exception)
                if item is None:
                    break
                _run(*item)
        finally:
            with self._lock:
                self._closed = True
            while True:  # jobs queued before the close still run, in order
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    _run(*item)
            self._fit_frame = None  # do not keep fit's locals alive
            self._on_exit()


def _run(future: Future, job: Callable[[], Any]) -> None:
    """Run `job` into `future` (its result or its exception)."""
    if future.set_running_or_notify_cancel():
        try:
            future.set_result(job())
        except BaseException as err:  # handed to whoever waits
            future.set_exception(err)


def _yield_to_training() -> None:
    """Run the writer thread at low priority, in the training's idle moments.

    Linux schedules threads one by one, so `nice` on the thread id affects
    only this thread; elsewhere it is a no-op.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
