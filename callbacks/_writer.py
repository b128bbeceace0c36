"""The callback's event file: opened lazily, every write checked, dropped on failure.

TensorFlow's summary writer reports no error when the disk is full: its
flush returns and the bytes are gone. `EventFile` checks that the file grew
by what was written, and after a failure starts a new file at the next
epoch, so writing resumes when space returns.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import threading
from typing import Any

import tensorflow as tf

from keras_ig.callbacks import _messages


def prepare_log_dir(run_dir: str, log_dir: str) -> None:
    """Create `run_dir`, or fail naming `log_dir` (the user's argument).

    Raises:
        ValueError: the folder cannot be created or is not writable.
    """
    try:
        tf.io.gfile.makedirs(run_dir)
    except (OSError, tf.errors.OpError) as err:
        msg = getattr(err, "message", None) or str(err)
        raise ValueError(f"IGCallback: log_dir {log_dir!r} cannot be created: {msg}") from None
    if "://" not in run_dir and not os.access(run_dir, os.W_OK | os.X_OK):
        raise ValueError(f"IGCallback: log_dir {log_dir!r} is not writable")


class EventFile:
    """One run folder's TensorBoard writer, opened at the first write.

    Attributes:
        run_dir: the folder the event files go to.
        writer: the open `tf.summary` writer, or None.
        path: its event file (local folders only), to check its growth.
    """

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self.writer: Any = None
        self.path: str | None = None

    def open(self) -> Any:
        """A new writer (a new event file); remembers the file to check its growth."""
        pattern = os.path.join(glob.escape(self.run_dir), "events.out.tfevents.*")
        local = "://" not in self.run_dir
        before = set(glob.glob(pattern)) if local else set()
        try:
            writer = tf.summary.create_file_writer(self.run_dir)
        except Exception:
            # On a full disk the file is created but its header cannot be
            # written: remove what is empty rather than leave one per epoch.
            for path in set(glob.glob(pattern)) - before:
                if file_size(path) == 0:
                    with contextlib.suppress(OSError):
                        os.remove(path)
            raise
        new = sorted(set(glob.glob(pattern)) - before) if local else []
        self.writer, self.path = writer, new[0] if len(new) == 1 else None
        return writer

    def write(self, batch: Any, epoch: int) -> None:
        """Write and flush one epoch's `SummaryBatch`; OSError if it did not reach the disk."""
        writer = self.writer or self.open()
        size = file_size(self.path)
        with writer.as_default(step=epoch):
            batch.write(step=epoch)
        writer.flush()
        grown = file_size(self.path) - size
        if self.path is not None and len(batch) and grown < batch.summary.ByteSize():
            raise OSError(
                errno.ENOSPC,
                f"the event file grew by {grown} bytes, not {batch.summary.ByteSize()}: "
                "the disk may be full",
            )

    def drop(self) -> None:
        """Abandon a writer whose writes failed; the next write opens a new file."""
        with contextlib.suppress(Exception):
            self.writer.close()
        if self.path is not None and file_size(self.path) == 0:
            # Opened on a full disk: not even its header was written.
            with contextlib.suppress(OSError):
                os.remove(self.path)
        self.writer = self.path = None

    def close(self) -> None:
        """Flush and close the writer (if open); it is forgotten even if that fails."""
        writer, self.writer, self.path = self.writer, None, None
        if writer is not None:
            writer.flush()
            writer.close()


def file_size(path: str | None) -> int:
    """Bytes in `path`; 0 for None or a file that cannot be read."""
    if path is None:
        return 0
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class EpochWriter:
    """The event file shared by the training and writer threads, outages reported.

    A failed write (a full disk, say) is reported once, when it starts; the
    next epochs try again, each into a new event file, and the first that
    succeeds reports the recovery and which epochs are missing.

    Args:
        run_dir: where the event files go.
        log_dir: the user's `log_dir`, for messages.
    """

    def __init__(self, run_dir: str, log_dir: str) -> None:
        self.events = EventFile(run_dir)
        self.log_dir = log_dir
        self._lock = threading.Lock()  # open, write and close happen under it
        self._failing_since: int | None = None  # first epoch of an outage

    def write(self, batch: Any, epoch: int) -> tuple[bool, list[str]]:
        """Write one epoch's `SummaryBatch`: `(written, problems)`; never raises."""
        problems: list[str] = []
        with self._lock:
            try:
                self.events.write(batch, epoch)
            except Exception as err:  # e.g. the disk filled up
                self.events.drop()
                if self._failing_since is None:
                    self._failing_since = epoch
                    problems.append(
                        f"cannot write to log_dir {self.log_dir!r} from epoch {epoch} on "
                        f"({_messages.short(err)}); training goes on and writing resumes when it "
                        "can (warned once until then)"
                    )
                return False, problems
            if self._failing_since is not None:
                problems.append(
                    f"writing to log_dir {self.log_dir!r} resumed at epoch {epoch}; the "
                    f"logged epochs from {self._failing_since} to {epoch - 1} are missing"
                )
                self._failing_since = None
        return True, problems

    def close(self) -> str | None:
        """Flush and close the writer; the problem met, if any (never raises)."""
        with self._lock:
            try:
                self.events.close()
            except Exception as err:  # never fail the end of training
                return (
                    f"could not close the TensorBoard writer of log_dir "
                    f"{self.log_dir!r}: {_messages.short(err)}"
                )
        return None
