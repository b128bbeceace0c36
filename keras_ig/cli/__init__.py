"""The `keras-ig` command line: `demo`, `explain`, `explain-text`, `explain-generation`.

    keras-ig demo                                   # train, watch in TensorBoard
    keras-ig explain model.keras cat.png dog.png --out ig/
    keras-ig explain-text clf.keras --text "a good movie" --out ig/
    keras-ig explain-generation lm.keras --prompt "the cat" --out ig/

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
import os
import sys
from collections.abc import Sequence

from keras_ig import baselines
from keras_ig._numpy.quadrature import ALIASES, RULES
from keras_ig._version import __version__
from keras_ig.cli._errors import PROG, CLIError, cli_words, fail, first_line
from keras_ig.cli._flags import positive_int, target_index
from keras_ig.cli._models import input_spec, load_model
from keras_ig.cli._run import relative_gap_text, run_explain, summary_row
from keras_ig.cli._startup import start_tensorflow
from keras_ig.cli._text import add_text_commands

# What tests, examples and users reach as `keras_ig.cli.<name>`.
__all__ = [
    "CLIError",
    "build_parser",
    "cli_words",
    "input_spec",
    "load_model",
    "main",
    "relative_gap_text",
    "start_tensorflow",
    "summary_row",
]


BASELINE_NAMES = baselines.NAMED


# --------------------------------------------------------------------------
# argument parsing


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
    """The `keras-ig` argument parser: `demo`, `explain` and the KerasHub commands."""
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
        "--epochs", type=positive_int, metavar="N", help="training epochs (default 8)"
    )
    demo.add_argument(
        "--steps",
        type=positive_int,
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
        type=target_index,
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
        type=positive_int,
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
        type=positive_int,
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
    explain.set_defaults(handler=run_explain)
    add_text_commands(commands)
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
        return fail(str(err))
    except (ValueError, TypeError) as err:
        # The library validates with named ValueError/TypeError: the message
        # is already the explanation, once its argument names are the flags.
        if os.environ.get("KERAS_IG_DEBUG"):
            raise
        return fail(cli_words(first_line(err)))
    except Exception as err:  # a user never sees a traceback
        if os.environ.get("KERAS_IG_DEBUG"):
            raise
        return fail(
            f"{type(err).__name__}: {first_line(err)} (KERAS_IG_DEBUG=1 shows the traceback)"
        )


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
