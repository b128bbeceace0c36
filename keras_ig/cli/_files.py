"""Files handled defensively: model paths, trust, input discovery, the output folder."""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from keras_ig.cli._errors import CLIError

TRUST_HINT = "pass --trust-model only if you trust where it comes from"


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


ARRAY_SUFFIXES = (".npy",)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------
# keras-ig explain: checks that need no TensorFlow


def check_model_path(path: Path, *, trust: bool = False) -> None:
    """Fail early, without TensorFlow, on a path that cannot be a Keras model.

    Raises:
        CLIError: no such path, not a model format, or a SavedModel without
            `trust` (loading one runs the graph it holds).
    """
    if not path.exists():
        raise CLIError(f"model not found: {path}")
    if path.is_dir():
        if not (path / "saved_model.pb").is_file():
            raise CLIError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
        require_trust(path, trust)
        return
    suffix = path.suffix.lower()
    try:
        if suffix == ".keras":
            if not zipfile.is_zipfile(path):
                raise CLIError(f"{path} is not a Keras model file (a .keras file is a zip archive)")
        elif suffix in (".h5", ".hdf5"):
            with path.open("rb") as f:
                if f.read(len(_HDF5_SIGNATURE)) != _HDF5_SIGNATURE:
                    raise CLIError(f"{path} is not an HDF5 file")
        else:
            raise CLIError(
                f"{path}: MODEL must be a .keras file, a .h5 file or a SavedModel directory"
            )
    except OSError as err:
        raise CLIError(f"cannot read {path}: {err.strerror or err}") from None


def require_trust(path: Path, trust: bool) -> None:
    # A SavedModel is a TensorFlow graph: serving it runs whatever ops it
    # holds (file writes included), and nothing like Keras' safe_mode guards it.
    if not trust:
        raise CLIError(
            f"{path} is a SavedModel, whose graph runs its own operations (it could "
            f"write files); {TRUST_HINT}"
        )


def collect_inputs(
    paths: Sequence[str], on_error: Callable[[str], None] | None = None
) -> list[Path]:
    """The input files: files as given, directories expanded (sorted).

    Args:
        paths: files and directories, as typed.
        on_error: called with the message of each path that gives no input;
            None raises `CLIError` at the first.
    """
    files: list[Path] = []
    for text in paths:
        try:
            files.extend(_input_files(Path(text)))
        except CLIError as err:
            if on_error is None:
                raise
            on_error(str(err))
    return files


def _input_files(path: Path) -> list[Path]:
    supported = IMAGE_SUFFIXES + ARRAY_SUFFIXES
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in supported)
        if not found:
            raise CLIError(f"{path}: directory holds no images or .npy files")
        return found
    if not path.exists():
        raise CLIError(f"input not found: {path}")
    if path.suffix.lower() not in supported:
        raise CLIError(
            f"{path}: unsupported input type {path.suffix or '(no suffix)'!r}; give "
            "images (.png, .jpg, ...) or .npy arrays"
        )
    return [path]


class OutDir:
    """`--out`: checked up front, created at the first write, never written through links.

    Every file is written to a temporary name in the folder and renamed over
    its final name: `os.replace` replaces a symbolic link itself, so nothing
    is ever written outside the folder, and no half-written file is left.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._created: list[Path] = []  # folders this run made, outermost first
        # Temporary files are private (0o600); the outputs get the usual mode.
        umask = os.umask(0)
        os.umask(umask)
        self._mode = 0o666 & ~umask
        if path.exists() and not path.is_dir():
            raise CLIError(f"--out {path} exists and is not a directory")
        # Unwritable --out fails now, not after the whole computation.
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            action = "write to" if existing == path else "create"
            raise CLIError(f"cannot {action} --out {path}: permission denied")

    def blocked(self, name: str, inputs: set[tuple[int, int]]) -> str | None:
        """Why `name` must not be written in the folder, or None when it may."""
        target = self.path / name
        if target.is_symlink():
            return (
                f"output {target} is a symbolic link, which keras-ig never writes "
                "through; remove it or choose another --out"
            )
        with contextlib.suppress(OSError):
            if file_id(target) in inputs:
                return (
                    f"output {target} would overwrite an input; choose an --out that "
                    "holds no inputs"
                )
        return None

    def write(self, name: str, save: Callable[[Any], None]) -> Path:
        """Write `name` with `save(binary_file)`; returns its path."""
        self._ensure()
        fd, temp = tempfile.mkstemp(dir=self.path, prefix=".keras-ig-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                save(f)
            os.chmod(temp, self._mode)
            os.replace(temp, self.path / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return self.path / name

    def discard_if_empty(self) -> None:
        """Remove the folders this run created, if it wrote nothing into them."""
        for folder in reversed(self._created):
            try:
                folder.rmdir()  # only ever removes an empty folder
            except OSError:
                return

    def _ensure(self) -> None:
        if self.path.is_dir():
            return
        missing = [p for p in (self.path, *self.path.parents) if not p.exists()]
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CLIError(f"cannot create --out {self.path}: {err.strerror or err}") from None
        self._created = missing[::-1]


def file_id(path: Path) -> tuple[int, int]:
    """Device and inode: the same file under any name, hard links included."""
    info = os.stat(path)
    return info.st_dev, info.st_ino
