"""The `keras-ig` command line: `keras-ig demo` and `keras-ig explain`.

    keras-ig demo                                   # train, watch in TensorBoard
    keras-ig explain model.keras cat.png dog.png --out ig/

This is the I/O layer on top of the library: argument parsing, reading models
and inputs from disk, writing pictures and arrays. Every failure the user can
cause (a missing file, a model that does not load, an input of the wrong
size) ends as one line on stderr and exit status 1; argparse's own usage
errors exit with 2. An input that cannot be read is reported on its own line
and the others are still explained (exit status 1 at the end). Set
`KERAS_IG_DEBUG=1` to get the traceback instead.

Files are handled defensively: a model runs code of its own only with
`--trust-model`, no output ever replaces an input or is written through a
symbolic link, and file names are printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import math
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_ig import completeness
from keras_ig._numpy.quadrature import ALIASES, RULES, method_name, quadrature
from keras_ig._version import __version__

PROG = "keras-ig"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ARRAY_SUFFIXES = (".npy",)
BASELINE_NAMES = ("zeros", "black", "blur", "uniform", "gaussian")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Inputs explained per engine call: big enough to batch the path points of
# small images, small enough for the progress bar to move.
_CHUNK = 16
_TRUST_HINT = "pass --trust-model only if you trust where it comes from"


class CLIError(Exception):
    """A failure the user can fix: printed as one line, exit status 1."""


# --------------------------------------------------------------------------
# argument parsing


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _target(text: str) -> int | None:
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


def _baseline(text: str) -> str | float:
    if text in BASELINE_NAMES:
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected one of {', '.join(BASELINE_NAMES)} or a number, got {text!r}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    """The `keras-ig` argument parser, with its `demo` and `explain` commands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Integrated Gradients for Keras 3 models.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train a small CNN and watch its attributions in TensorBoard",
        description=(
            "Train a small CNN on synthetic shapes with known object masks, "
            "log Integrated Gradients of fixed probe images to TensorBoard every "
            "epoch, and print how much of the positive attribution falls on the "
            "object (localisation) next to the object's share of the image (chance)."
        ),
    )
    demo.add_argument(
        "--epochs", type=_positive_int, metavar="N", help="training epochs (default 8)"
    )
    demo.add_argument(
        "--steps",
        type=_positive_int,
        metavar="N",
        help="integration steps per attribution (default 32)",
    )
    demo.add_argument(
        "--logdir", default=None, metavar="DIR", help="logs and pictures (default runs/demo)"
    )
    demo.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of data and weights (default 0)"
    )
    demo.add_argument(
        "--quick", action="store_true", help="tiny data and model: runs in seconds (for tests)"
    )
    demo.set_defaults(handler=_run_demo)

    explain = commands.add_parser(
        "explain",
        help="explain a saved model's predictions on images or .npy arrays",
        description=(
            "Load a saved Keras model (.keras, .h5 or a SavedModel directory), "
            "compute Integrated Gradients for each input and write a picture and the "
            "raw attributions (.npy) per input into --out, with summary.csv. Images "
            "(PNG, JPEG, ...) are converted to the model's channel count, resized to "
            "its input size (stretched, with a warning, when the aspect ratio differs) "
            "and scaled to [0, 1]. .npy files keep their values (one "
            "input, or a batch along the first axis); image-shaped ones of another "
            "size are resized too. A directory stands for the images and .npy files "
            "in it. No output replaces an input or is written through a link; an "
            "input that cannot be read or written is reported and the rest go on "
            "(exit status 1)."
        ),
    )
    explain.add_argument("model", metavar="MODEL", help=".keras/.h5 file or SavedModel dir")
    explain.add_argument("inputs", nargs="+", metavar="INPUT", help="image, .npy file or dir")
    explain.add_argument("--out", required=True, metavar="DIR", help="output directory")
    explain.add_argument(
        "--target",
        type=_target,
        default=None,
        metavar="N|predicted",
        help="output unit to explain (default: the predicted class; the single unit "
        "of a one-output model)",
    )
    explain.add_argument(
        "--baseline",
        type=_baseline,
        default="zeros",
        metavar="zeros|blur|uniform|gaussian|VALUE",
        help="reference input x' (default zeros; a number is a constant input)",
    )
    explain.add_argument(
        "--steps",
        type=_positive_int,
        default=64,
        metavar="N",
        help="integration steps (default 64)",
    )
    explain.add_argument(
        "--method",
        choices=sorted(RULES) + sorted(ALIASES),
        default="gausslegendre",
        help="quadrature rule (default gausslegendre; left, right, middle and trapezoid "
        "are short for the riemann_* rules)",
    )
    explain.add_argument(
        "--layer",
        metavar="NAME",
        help="attribute at this layer's output (e.g. an Embedding for token ids)",
    )
    explain.add_argument(
        "--logits",
        action="store_true",
        help="explain the scores before the final softmax/sigmoid",
    )
    explain.add_argument(
        "--batch-size",
        type=_positive_int,
        metavar="N",
        help="most rows sent through the model at once",
    )
    explain.add_argument(
        "--seed", type=int, default=0, help="seed of the random baselines (default 0)"
    )
    explain.add_argument(
        "--no-resize",
        action="store_true",
        help="fail on inputs of another size instead of resizing them (resizing "
        "stretches an image of another aspect ratio, with a warning)",
    )
    explain.add_argument(
        "--trust-model",
        action="store_true",
        help="allow a model that runs code of its own when loaded: a SavedModel "
        "directory (its graph) or a .keras/.h5 file with Python (Lambda) layers; "
        "only for models from a source you trust",
    )
    explain.epilog = "example: keras-ig explain model.keras cat.png dog.jpg --out ig/ --logits"
    explain.set_defaults(handler=_run_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `keras-ig` with `argv` (default `sys.argv[1:]`).

    Returns:
        The exit status: 0 on success, 1 for an error the user can fix (one
        line on stderr). Usage errors exit with 2 from argparse.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except CLIError as err:
        return _fail(str(err))
    except (ValueError, TypeError) as err:
        # The library validates with named ValueError/TypeError: the message
        # is already the explanation, once its argument names are the flags.
        if os.environ.get("KERAS_IG_DEBUG"):
            raise
        return _fail(cli_words(_first_line(err)))
    except Exception as err:  # a user never sees a traceback
        if os.environ.get("KERAS_IG_DEBUG"):
            raise
        return _fail(
            f"{type(err).__name__}: {_first_line(err)} (KERAS_IG_DEBUG=1 shows the traceback)"
        )


def _fail(message: str) -> int:
    print(f"{PROG}: error: {escaped(message)}", file=sys.stderr)
    return 1


def _warn(message: str, kind: str = "warning") -> None:
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


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# --------------------------------------------------------------------------
# TensorFlow start-up


@contextlib.contextmanager
def _stderr_into(file: Any) -> Iterator[None]:
    """Point file descriptor 2 (C++ logging included) at `file` for a while."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def start_tensorflow() -> None:
    """Import TensorFlow and pick its devices with the C++ start-up log held back.

    TensorFlow's native start-up lines (oneDNN, CUDA probing) ignore
    `TF_CPP_MIN_LOG_LEVEL`; on a machine without a GPU they read like errors.
    They are replayed if start-up fails, and shown when `KERAS_IG_DEBUG` is set.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if os.environ.get("KERAS_IG_DEBUG"):
        import tensorflow as tf

        tf.config.list_physical_devices()
        return
    with tempfile.TemporaryFile() as log:
        try:
            with _stderr_into(log):
                import tensorflow as tf

                tf.config.list_physical_devices()
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace"))
            raise


# --------------------------------------------------------------------------
# keras-ig demo


def _run_demo(args: argparse.Namespace) -> int:
    start_tensorflow()
    from keras_ig._io import demo as _demo

    _demo.run(
        epochs=args.epochs,
        steps=args.steps,
        logdir=args.logdir,
        seed=args.seed,
        quick=args.quick,
    )
    return 0


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
        _require_trust(path, trust)
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


def _require_trust(path: Path, trust: bool) -> None:
    # A SavedModel is a TensorFlow graph: serving it runs whatever ops it
    # holds (file writes included), and nothing like Keras' safe_mode guards it.
    if not trust:
        raise CLIError(
            f"{path} is a SavedModel, whose graph runs its own operations (it could "
            f"write files); {_TRUST_HINT}"
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
            if _file_id(target) in inputs:
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


def _file_id(path: Path) -> tuple[int, int]:
    """Device and inode: the same file under any name, hard links included."""
    info = os.stat(path)
    return info.st_dev, info.st_ino


# --------------------------------------------------------------------------
# keras-ig explain: models and inputs


@dataclass(frozen=True)
class InputSpec:
    """What one input row of the model looks like.

    Attributes:
        shape: the row shape without the batch axis; None for a free axis.
        dtype: the input dtype name, e.g. `"float32"` or `"int32"`.
    """

    shape: tuple[int | None, ...]
    dtype: str

    @property
    def image_layout(self) -> bool:
        """`[H, W]` or `[H, W, C]` with 1, 3 or 4 channels."""
        return len(self.shape) == 2 or (len(self.shape) == 3 and self.shape[-1] in (1, 3, 4))

    @property
    def floating(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.floating)

    def describe(self) -> str:
        dims = ["?" if d is None else str(d) for d in self.shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def load_model(path: Path, *, trust: bool = False) -> Any:
    """A Keras model from a .keras/.h5 file or a SavedModel directory.

    Args:
        path: the model.
        trust: allow code that comes with the model to run: a SavedModel's
            graph, and Python (Lambda) layers in .keras/.h5 files (Keras'
            `safe_mode=False`).

    Raises:
        CLIError: the model does not load, or needs `trust`.
    """
    import keras

    if path.is_dir():
        _require_trust(path, trust)
        return _load_saved_model(path)
    try:
        # compile=False: no optimizer or metrics are needed to explain, and it
        # avoids Keras's warnings about unbuilt metrics.
        return keras.models.load_model(path, compile=False, safe_mode=not trust)
    except Exception as err:  # Keras raises many types for a bad file
        if "safe_mode" in str(err):
            raise CLIError(
                f"{path} holds Python code (e.g. a Lambda layer) that Keras only runs "
                f"on request; {_TRUST_HINT}"
            ) from None
        raise CLIError(f"cannot load {path} as a Keras model: {_first_line(err)}") from None


def _load_saved_model(path: Path) -> Any:
    """Wrap a SavedModel's serving endpoint in a one-input Keras model."""
    import keras
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as err:  # TF raises many types for a bad directory
        raise CLIError(f"cannot load SavedModel {path}: {_first_line(err)}") from None
    # `serve` is what model.export() writes; serving_default is the TF default.
    endpoints = [name for name in ("serve", "serving_default") if name in loaded.signatures]
    if not endpoints:
        raise CLIError(
            f"SavedModel {path} has no serve/serving_default signature "
            f"(it has {sorted(loaded.signatures)})"
        )
    signature = loaded.signatures[endpoints[0]]
    specs = tf.nest.flatten(signature.structured_input_signature)
    if len(specs) != 1:
        raise CLIError(
            f"SavedModel {path} takes {len(specs)} inputs; keras-ig explain handles one "
            "(use keras_ig.explain from Python)"
        )
    spec = specs[0]
    layer = keras.layers.TFSMLayer(str(path), call_endpoint=endpoints[0])
    inp = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name)
    out = layer(inp)
    if isinstance(out, dict):
        if len(out) != 1:
            raise CLIError(
                f"SavedModel {path} returns {len(out)} outputs ({sorted(out)}); "
                "keras-ig explain handles one (use keras_ig.explain from Python)"
            )
        out = next(iter(out.values()))
    return keras.Model(inp, out)


def input_spec(model: Any) -> InputSpec:
    """The model's single input, or a `CLIError` saying why it has none."""
    try:
        inputs = list(model.inputs or [])
    except (AttributeError, ValueError):
        inputs = []
    if len(inputs) > 1:
        raise CLIError(
            f"the model takes {len(inputs)} inputs; keras-ig explain handles one "
            "(use keras_ig.explain from Python)"
        )
    if not inputs:
        raise CLIError("cannot tell the model's input shape (a subclassed model never built?)")
    shape = tuple(None if d is None else int(d) for d in inputs[0].shape[1:])
    return InputSpec(shape=shape, dtype=str(inputs[0].dtype))


def output_units(model: Any) -> int | None:
    """Units of the model's one `[N, units]` output; None when it has another form."""
    try:
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):
        return None
    if len(outputs) != 1 or len(outputs[0].shape) != 2 or outputs[0].shape[-1] is None:
        return None
    return int(outputs[0].shape[-1])


def check_target(target: int | None, units: int | None) -> None:
    """`--target` against the model's output units, before any work is shown."""
    if target is not None and units is not None and target >= units:
        raise CLIError(
            f"--target {target} is out of range: the model has {units} output unit(s) "
            f"(0 to {units - 1})"
        )


def read_image(
    path: Path, spec: InputSpec, resize: bool, stretched: list[str] | None = None
) -> np.ndarray:
    """An image as one model input row, in [0, 1].

    Args:
        path: the image file.
        spec: the model's input.
        resize: resize an image of another size (else a `CLIError`).
        stretched: if given, gets a note for an image whose aspect ratio the
            resize changes (it is stretched, not cropped).

    Returns:
        `float32[H, W]` or `float32[H, W, C]`, as `spec`.
    """
    from PIL import Image, UnidentifiedImageError

    if not spec.image_layout:
        raise CLIError(
            f"{path}: the model takes inputs of shape {spec.describe()}, not images; "
            "give .npy files"
        )
    if not spec.floating:
        raise CLIError(f"{path}: the model takes {spec.dtype} inputs, not images")
    channels = 1 if len(spec.shape) == 2 else spec.shape[-1]
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    try:
        with Image.open(path) as img:
            picture = img.convert(mode)  # first frame; loads the pixels
    except (UnidentifiedImageError, OSError) as err:
        raise CLIError(f"{path}: not a readable image ({_first_line(err)})") from None
    height, width = spec.shape[0], spec.shape[1]
    wanted = (width or picture.width, height or picture.height)
    if picture.size != wanted:
        if not resize:
            raise CLIError(
                f"{path}: image is {picture.width}x{picture.height} pixels; the model "
                f"expects {wanted[0]}x{wanted[1]} (leave out --no-resize to resize)"
            )
        _note_stretch(path, picture.size, wanted, stretched)
        picture = picture.resize(wanted, Image.Resampling.BILINEAR)
    row = np.asarray(picture, dtype=np.float32) / 255.0
    if len(spec.shape) == 3 and channels == 1:
        row = row[..., None]  # [H, W] -> [H, W, 1]
    return row


def _note_stretch(
    path: Path, size: tuple[int, int], wanted: tuple[int, int], stretched: list[str] | None
) -> None:
    """Record `path` when resizing `size` to `wanted` (both `(W, H)`) changes its shape."""
    if stretched is not None and size[0] * wanted[1] != size[1] * wanted[0]:
        stretched.append(f"{path} ({size[0]}x{size[1]})")


def read_array(
    path: Path, spec: InputSpec, resize: bool, stretched: list[str] | None = None
) -> list[np.ndarray]:
    """Rows of a .npy file: one input, or a batch along the first axis.

    Args: as `read_image`.
    """
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CLIError(f"{path}: not a readable .npy file ({_first_line(err)})") from None
    if arr.dtype.kind not in "biuf":
        raise CLIError(f"{path}: holds {arr.dtype} values, not numbers")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise CLIError(f"{path}: contains NaN or inf")
    rank = len(spec.shape)
    if arr.ndim == rank:
        rows = [arr]
    elif arr.ndim == rank + 1:
        rows = list(arr)
        if not rows:
            raise CLIError(f"{path}: holds an empty batch")
    elif arr.ndim == rank - 1 and spec.shape[-1] == 1:
        rows = [arr[..., None]]  # greyscale [H, W] for a [H, W, 1] model
    else:
        raise CLIError(
            f"{path}: array of shape {arr.shape} does not fit the model's input "
            f"{spec.describe()} (one input, or a batch of them)"
        )
    if spec.floating:
        rows = [r.astype(np.float32) for r in rows]
    elif arr.dtype.kind == "f":
        raise CLIError(f"{path}: holds floats; the model takes {spec.dtype} inputs")
    else:
        rows = [r.astype(spec.dtype) for r in rows]
    return [_fit_row(r, spec, resize, path, stretched) for r in rows]


def _fit_row(
    row: np.ndarray, spec: InputSpec, resize: bool, path: Path, stretched: list[str] | None
) -> np.ndarray:
    mismatch = [e is not None and e != g for e, g in zip(spec.shape, row.shape, strict=True)]
    if not any(mismatch):
        return row
    # Only the spatial axes of an image-like array can be resized sensibly.
    spatial_only = spec.image_layout and not any(mismatch[2:]) and spec.floating
    if not resize or not spatial_only:
        hint = " (leave out --no-resize to resize it)" if spatial_only else ""
        raise CLIError(
            f"{path}: array of shape {row.shape}; the model expects {spec.describe()}{hint}"
        )
    import tensorflow as tf

    size = [spec.shape[0] or row.shape[0], spec.shape[1] or row.shape[1]]
    _note_stretch(path, (row.shape[1], row.shape[0]), (size[1], size[0]), stretched)
    image = row if row.ndim == 3 else row[..., None]
    resized = tf.image.resize(image, size, method="bilinear").numpy()
    return resized if row.ndim == 3 else resized[..., 0]


# --------------------------------------------------------------------------
# keras-ig explain: the run


@dataclass
class _Item:
    source: Path
    name: str
    row: np.ndarray


class _Problems:
    """Inputs that failed: each reported on its own line, counted for the exit status."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, message: str) -> None:
        self.count += 1
        _warn(message, kind="error")


def _unique_names(paths: Sequence[Path], counts: Sequence[int]) -> list[list[str]]:
    """Output stems: the file stem, `stem-i` for batches, `-2`, `-3` on clashes."""
    used: set[str] = set()
    names = []
    for path, count in zip(paths, counts, strict=True):
        stems = [path.stem] if count == 1 else [f"{path.stem}-{i}" for i in range(count)]
        unique = []
        for stem in stems:
            candidate, k = stem, 2
            while candidate in used:
                candidate, k = f"{stem}-{k}", k + 1
            used.add(candidate)
            unique.append(candidate)
        names.append(unique)
    return names


def _chunks(items: Sequence[_Item]) -> Iterator[list[_Item]]:
    """Runs of at most `_CHUNK` consecutive items with equal shapes."""
    chunk: list[_Item] = []
    for item in items:
        if chunk and (len(chunk) == _CHUNK or item.row.shape != chunk[0].row.shape):
            yield chunk
            chunk = []
        chunk.append(item)
    if chunk:
        yield chunk


def _run_explain(args: argparse.Namespace) -> int:
    model_path = Path(args.model)
    check_model_path(model_path, trust=args.trust_model)
    method = method_name(args.method)
    quadrature(method, args.steps)  # a bad --steps fails before TensorFlow starts
    problems = _Problems()
    files = collect_inputs(args.inputs, problems)
    if not files:
        return 1  # every input already reported
    out = OutDir(Path(args.out))
    why = out.blocked("summary.csv", set())
    if why is not None:
        raise CLIError(why)

    start_tensorflow()
    model = load_model(model_path, trust=args.trust_model)
    spec = input_spec(model)
    units = output_units(model)
    check_target(args.target, units)
    if not spec.floating and args.layer is None:
        raise CLIError(
            f"the model takes {spec.dtype} inputs (token ids?), which have no gradient; "
            "pass --layer NAME to attribute at a layer's output, e.g. the Embedding"
        )
    stretched: list[str] = []
    items = _read_items(files, spec, not args.no_resize, out, problems, stretched)
    if not items:
        return 1
    header = (
        f"{escaped(model_path.name)}: input {spec.describe()}, {len(items)} input(s); "
        f"F = {_describe_f(args.target, units, args.logits)}; baseline {args.baseline}; "
        f"{method}, {args.steps} steps"
    )

    def started() -> None:  # the run goes ahead: say what it does
        print(header)
        _warn_stretched(stretched)

    try:
        results = _explain_items(model, items, args, method, out, started)
        _finish(results, out, args.steps)
    except BaseException:
        out.discard_if_empty()
        raise
    return 1 if problems.count else 0


def _describe_f(target: int | None, units: int | None, logits: bool) -> str:
    """What F is, in words: `"logit of the predicted class"`, `"output of unit 3"`."""
    kind = "logit" if logits else "output"
    if target is not None:
        return f"{kind} of unit {target}"
    if units == 1:
        # A regression or a single sigmoid: there is no class to predict.
        return f"the model's single {kind}"
    return f"{kind} of the predicted class"


def _read_items(
    files: Sequence[Path],
    spec: InputSpec,
    resize: bool,
    out: OutDir,
    problems: _Problems,
    stretched: list[str],
) -> list[_Item]:
    """The input rows, named; an unreadable file or one whose outputs cannot be
    written is reported to `problems` and left out; stretched images are
    noted in `stretched`."""
    readable, rows_per_file = [], []
    for path in files:
        try:
            rows = (
                read_array(path, spec, resize, stretched)
                if path.suffix.lower() in ARRAY_SUFFIXES
                else [read_image(path, spec, resize, stretched)]
            )
        except CLIError as err:
            problems(str(err))
            continue
        readable.append(path)
        rows_per_file.append(rows)
    names = _unique_names(readable, [len(r) for r in rows_per_file])
    # Every input counts, readable or not: none may be replaced by an output.
    inputs = {_file_id(p) for p in files if p.exists()}
    items = []
    for path, rows, stems in zip(readable, rows_per_file, names, strict=True):
        why = next(
            (w for s in stems for ext in (".npy", ".png") if (w := out.blocked(s + ext, inputs))),
            None,
        )
        if why is not None:
            problems(f"{path}: skipped: {why}")
            continue
        items.extend(_Item(path, name, row) for row, name in zip(rows, stems, strict=True))
    return items


def _warn_stretched(stretched: Sequence[str]) -> None:
    """One line for all images whose aspect ratio the resize changed."""
    if stretched:
        _warn(
            f"{len(stretched)} input(s) resized to the model's size with another aspect "
            f"ratio, so stretched: {', '.join(stretched[:3])}"
            + (", ..." if len(stretched) > 3 else "")
            + " (--no-resize refuses them)"
        )


def _explain_items(
    model: Any,
    items: Sequence[_Item],
    args: argparse.Namespace,
    method: str,
    out: OutDir,
    started: Callable[[], None],
) -> list[dict[str, Any]]:
    """Explain `items` chunk by chunk and write each one's arrays and picture.

    `started` runs once the first chunk is explained: by then the library has
    checked every option (`--logits`, `--layer`, ...), so nothing is announced
    for a run that is refused.
    """
    import keras

    from keras_ig._api.explain import explain

    # A progress bar only where someone watches: in a pipe or a log file its
    # redraws are ANSI escape codes.
    show = len(items) > 1 and sys.stdout.isatty()
    progress = None
    results = []
    for chunk in _chunks(items):
        exp = explain(
            model,
            np.stack([item.row for item in chunk]),
            target=args.target,
            baseline=args.baseline,
            steps=args.steps,
            method=method,
            batch_size=args.batch_size,
            layer=args.layer,
            output="logits" if args.logits else None,
            seed=args.seed,
            warn=False,  # the gap is printed per input, and summarised below
        )
        try:
            # Drawn by shape: image panels, token strips, bar charts.
            pictures = exp.to_images()
        except (ValueError, TypeError):
            pictures = [None] * len(chunk)  # no picture suits this shape; .npy only
        if not results:
            started()
            if show:
                progress = keras.utils.Progbar(len(items), unit_name="input")
        for i, item in enumerate(chunk):
            results.append(_write_one(item, exp, i, pictures[i], out))
        if progress is not None:
            progress.add(len(chunk))
    return results


def _write_one(item: _Item, exp: Any, i: int, image: Any, out: OutDir) -> dict[str, Any]:
    attr = np.asarray(exp.attributions[i], dtype=np.float32)
    array_path = out.write(f"{item.name}.npy", lambda f: np.save(f, attr))
    picture = f"{item.name}.png"
    if image is not None:
        out.write(picture, lambda f: image.save(f, format="PNG"))
    return {
        "input": item.name,
        "source": str(item.source),
        **summary_row(exp, i),
        "picture": picture if image is not None else "",
        "attributions": array_path.name,
    }


def summary_row(exp: Any, i: int) -> dict[str, Any]:
    """The numbers of input `i` of an `Explanation`, as summary.csv holds them.

    Returns:
        `target` (int, or "" for a callable target), `score`, `baseline_score`,
        `gap` and `relative_gap` (floats; `relative_gap` is NaN when any of
        the others is not finite, inf when the gap is not 0 but F(x) = F(baseline)).
    """
    score, base, gap = float(exp.scores[i]), float(exp.baseline_scores[i]), float(exp.delta[i])
    finite = math.isfinite(score) and math.isfinite(base) and math.isfinite(gap)
    return {
        "target": "" if exp.target is None else int(exp.target[i]),
        "score": score,
        "baseline_score": base,
        "gap": gap,
        # A gap that cannot be computed is unknown, never small (not 0.0).
        "relative_gap": float(exp.relative_delta[i]) if finite else math.nan,
    }


def _same_scores(row: dict[str, Any]) -> bool:
    """F(x) ≈ F(baseline) (`keras_ig.completeness.flat`): little to attribute."""
    return bool(completeness.flat(np.array([row["score"]]), np.array([row["baseline_score"]]))[0])


def _gap_kind(row: dict[str, Any]) -> str:
    """`"unknown"` (not finite), `"same"` (F(x) ≈ F(baseline)), `"loose"` or `"ok"`."""
    if math.isnan(row["relative_gap"]):
        return "unknown"
    if _same_scores(row):
        return "same"
    return "loose" if row["relative_gap"] > completeness.TOLERANCE else "ok"


def relative_gap_text(row: dict[str, Any]) -> str:
    """The relative gap as a percentage, or why there is none (never inf% or nan%)."""
    kind = _gap_kind(row)
    if kind == "unknown":
        return "n/a (not finite)"
    if kind == "same":
        return "n/a (F(x) ≈ F(baseline))"
    return f"{row['relative_gap']:.2%}"


def _finish(results: Sequence[dict[str, Any]], out: OutDir, steps: int) -> None:
    """The table, summary.csv and the notes on completeness."""
    _print_table(results)

    def save_csv(binary: Any) -> None:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
        text.flush()
        text.detach()  # the binary file is closed by OutDir.write

    out.write("summary.csv", save_csv)
    drawn = sum(1 for r in results if r["picture"])
    print(
        f"wrote {drawn} picture(s), {len(results)} .npy file(s) and summary.csv to "
        f"{escaped(str(out.path))}"
    )
    kinds = [_gap_kind(r) for r in results]
    loose, same, unknown = (kinds.count(k) for k in ("loose", "same", "unknown"))
    if loose:
        _warn(
            f"completeness gap above {completeness.TOLERANCE:.0%} of |F(x) - F(baseline)| for "
            f"{loose} input(s); raise --steps (now {steps}) for more faithful "
            "attributions",
            kind="note",
        )
    if same:
        _warn(
            f"F(x) ≈ F(baseline) for {same} input(s): there is almost nothing to "
            "attribute and more --steps will not change that; try another --baseline "
            "or --target (or --logits for a saturated softmax)",
            kind="note",
        )
    if unknown:
        _warn(
            f"F or the gap is not finite for {unknown} input(s); check --baseline",
            kind="note",
        )


def _print_table(results: Sequence[dict[str, Any]]) -> None:
    names = [escaped(r["input"]) for r in results]
    width = max(12, *(len(n) for n in names))
    print(
        f"{'input':<{width}}  {'target':>6}  {'F(x)':>10}  {'F(baseline)':>11}  "
        f"{'gap':>10}  {'relative gap':>12}"
    )
    for name, r in zip(names, results, strict=True):
        print(
            f"{name:<{width}}  {r['target']!s:>6}  {r['score']:>10.4g}  "
            f"{r['baseline_score']:>11.4g}  {r['gap']:>10.2e}  {relative_gap_text(r):>12}"
        )


if __name__ == "__main__":
    sys.exit(main())
