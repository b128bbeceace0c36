"""`keras-ig explain-text` and `keras-ig explain-generation`: saved KerasHub models.

    keras-ig explain-text classifier.keras --text "a good movie" --out ig/
    keras-ig explain-generation lm.keras --prompt "the cat" --max-new-tokens 8 --out ig/

Each writes its picture (text.png / gen.png) and a CSV (text.csv: one row
per token; gen.csv: one row per generated token) into `--out`, and prints
one summary line. A bad flag is a usage error naming it (exit status 2);
a model that does not load or is not the right KerasHub task is one error
line (exit status 1). `keras_hub` is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from keras_ig._numpy.quadrature import method_name, quadrature
from keras_ig.cli._errors import CLIError, escaped
from keras_ig.cli._files import OutDir, check_model_path, file_id
from keras_ig.cli._flags import positive_int, target_index
from keras_ig.cli._models import load_model
from keras_ig.cli._startup import start_tensorflow

# As keras_ig._api.hub.BASELINES, spelled out here: importing that module
# imports Keras, which the parser must not wait for (a test keeps them equal).
TEXT_BASELINES = ("pad", "zeros")
# As keras_ig._engine.sequence.SCORES (which imports TensorFlow; tested equal).
GENERATION_SCORES = ("log_prob", "prob", "logit")
HUB_HINT = 'the KerasHub commands need keras-hub: pip install -e ".[hub]"'


def _text_baseline(text: str) -> str | int:
    if text in TEXT_BASELINES:
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {', '.join(TEXT_BASELINES)} or a token id, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a token id must be >= 0, got {value}")
    return value


def _common(command: argparse.ArgumentParser) -> None:
    """The flags both commands share: model, output, quadrature, trust."""
    command.add_argument("model", metavar="MODEL", help="a KerasHub task saved with model.save()")
    command.add_argument("--out", required=True, metavar="DIR", help="output directory")
    command.add_argument(
        "--baseline",
        type=_text_baseline,
        default="pad",
        metavar="pad|zeros|ID",
        help="pad (non-special tokens replaced by the pad token, the default), zeros "
        "(zero embeddings) or a token id used like the pad token",
    )
    command.add_argument(
        "--batch-size", type=positive_int, metavar="N", help="most rows sent through at once"
    )
    command.add_argument(
        "--trust-model",
        action="store_true",
        help="allow a model file with Python (Lambda) layers; only from a source you trust",
    )


def add_text_commands(commands: Any) -> None:
    """Add `explain-text` and `explain-generation` to the `keras-ig` subparsers."""
    text = commands.add_parser(
        "explain-text",
        help="explain a saved KerasHub text classifier, token by token",
        description=(
            "Tokenize each text with the classifier's own preprocessor, attribute its "
            "output to the tokens at the token embedding and write text.png (the tokens "
            "on a diverging colour scale) and text.csv (text, position, token, "
            "attribution) into --out."
        ),
    )
    _common(text)
    text.add_argument(
        "--text", action="append", default=[], metavar="TEXT", help="a text (repeatable)"
    )
    text.add_argument(
        "--file", metavar="FILE", help="more texts, one per line (blank lines skipped)"
    )
    text.add_argument(
        "--target",
        type=target_index,
        default=None,
        metavar="N|predicted",
        help="class to explain (default: the predicted class)",
    )
    text.add_argument(
        "--steps", type=positive_int, default=64, metavar="N", help="integration steps (64)"
    )
    text.add_argument("--merge", choices=("words",), help="sum sub-word pieces into words")
    text.epilog = 'example: keras-ig explain-text clf.keras --text "a good movie" --out ig/'
    text.set_defaults(handler=run_explain_text, check=_check_texts(text))

    gen = commands.add_parser(
        "explain-generation",
        help="explain what a saved KerasHub causal LM's generated tokens used",
        description=(
            "Generate greedily from --prompt (or score --continuation as given), "
            "attribute each generated token's score to every token before it and write "
            "gen.png (generated x context tokens), gen.csv (position, token, score, "
            "baseline_score, delta) and gen.npy (the [G, P + G] matrix) into --out."
        ),
    )
    _common(gen)
    gen.add_argument("--prompt", required=True, metavar="TEXT", help="the prompt")
    gen.add_argument("--continuation", metavar="TEXT", help="score this text instead of generating")
    gen.add_argument(
        "--max-new-tokens", type=positive_int, default=16, metavar="N", help="most new tokens (16)"
    )
    gen.add_argument(
        "--steps", type=positive_int, default=32, metavar="N", help="integration steps (32)"
    )
    gen.add_argument(
        "--score", choices=GENERATION_SCORES, default="log_prob", help="F per token (log_prob)"
    )
    gen.epilog = 'example: keras-ig explain-generation lm.keras --prompt "the cat" --out ig/'
    gen.set_defaults(handler=run_explain_generation)


def _check_texts(parser: argparse.ArgumentParser) -> Any:
    """After parsing: the texts of `--text` and `--file`, or a usage error naming them."""

    def check(args: argparse.Namespace) -> None:
        texts = list(args.text)
        if args.file is not None:
            try:
                lines = Path(args.file).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as err:
                parser.error(f"--file {args.file}: cannot read it ({err})")
            texts += [line for line in lines if line.strip()]
        if not texts:
            parser.error("give at least one --text or a --file with texts")
        args.texts = texts

    return check


def _load_hub_model(
    args: argparse.Namespace, outputs: Sequence[str], extra: Sequence[Path], causal: bool
) -> tuple[Any, OutDir]:
    """Checks that need no TensorFlow, then `import keras_hub` and the model.

    Args:
        causal: the command needs a `CausalLM` (True) or a classifier (False).
    """
    model_path = Path(args.model)
    check_model_path(model_path, trust=args.trust_model)
    quadrature(method_name("gausslegendre"), args.steps)  # a bad --steps fails now
    out = OutDir(Path(args.out))
    inputs = {file_id(p) for p in (model_path, *extra) if p.exists()}
    for name in outputs:
        why = out.blocked(name, inputs)
        if why is not None:
            raise CLIError(why)
    start_tensorflow()
    try:
        import keras_hub  # registers its classes for loading
    except ImportError:
        raise CLIError(HUB_HINT) from None
    model = load_model(model_path, trust=args.trust_model)
    # The wrong kind of task fails deep inside otherwise, in other words.
    if isinstance(model, keras_hub.models.CausalLM) != causal:
        kind = type(model).__name__
        if causal:
            raise CLIError(f"MODEL is a {kind}, not a KerasHub CausalLM; try explain-text")
        raise CLIError(f"MODEL is a {kind}, a causal LM; use explain-generation")
    return model, out


def _write_csv(out: OutDir, name: str, rows: list[dict[str, Any]]) -> None:
    def save(binary: Any) -> None:
        text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        text.flush()
        text.detach()  # the binary file is closed by OutDir.write

    out.write(name, save)


def _picture(pictures: list[Any]) -> Any:
    from keras_ig.render import grid

    return pictures[0] if len(pictures) == 1 else grid(pictures, cols=1)


def _largest_gap(relative: np.ndarray) -> str:
    finite = relative[np.isfinite(relative)]
    return f"{float(finite.max()):.2%}" if finite.size else "n/a"


def run_explain_text(args: argparse.Namespace) -> int:
    args.check(args)
    extra = [Path(args.file)] if args.file else []
    model, out = _load_hub_model(args, ("text.png", "text.csv"), extra, causal=False)
    from keras_ig._api.text import explain_text

    try:
        exp = explain_text(
            model,
            args.texts,
            target=args.target,
            baseline=args.baseline,
            steps=args.steps,
            batch_size=args.batch_size,
            merge=args.merge,
            warn=False,  # the largest gap is in the summary line
        )
        picture = _picture(exp.to_images())
        out.write("text.png", lambda f: picture.save(f, format="PNG"))
        rows = [
            {"text": i, "position": j, "token": token, "attribution": float(value)}
            for i, (tokens, values) in enumerate(zip(exp.tokens, exp.attributions, strict=True))
            for j, (token, value) in enumerate(zip(tokens, values, strict=True))
        ]
        _write_csv(out, "text.csv", rows)
    except BaseException:
        out.discard_if_empty()
        raise
    targets = "predicted" if exp.target is None else ",".join(str(int(t)) for t in exp.target)
    print(
        f"{escaped(Path(args.model).name)}: {len(exp)} text(s), target {targets}, "
        f"baseline {args.baseline}, {args.steps} steps, largest relative gap "
        f"{_largest_gap(exp.relative_delta)}; wrote text.png and text.csv to "
        f"{escaped(str(out.path))}"
    )
    return 0


def run_explain_generation(args: argparse.Namespace) -> int:
    model, out = _load_hub_model(args, ("gen.png", "gen.csv", "gen.npy"), [], causal=True)
    from keras_ig._api.generation import explain_generation

    try:
        gen = explain_generation(
            model,
            args.prompt,
            continuation=args.continuation,
            max_new_tokens=args.max_new_tokens,
            steps=args.steps,
            score=args.score,
            baseline=args.baseline,
            batch_size=args.batch_size,
            warn=False,
        )
        picture = gen.to_image()
        out.write("gen.png", lambda f: picture.save(f, format="PNG"))
        p = len(gen.prompt_tokens)
        rows = [
            {
                "position": p + g,
                "token": token,
                "score": float(gen.scores[g]),
                "baseline_score": float(gen.baseline_scores[g]),
                "delta": float(gen.delta[g]),
            }
            for g, token in enumerate(gen.generated_tokens)
        ]
        _write_csv(out, "gen.csv", rows)
        matrix = np.asarray(gen.attributions, np.float32)
        out.write("gen.npy", lambda f: np.save(f, matrix))
    except BaseException:
        out.discard_if_empty()
        raise
    mean = float(np.mean(gen.scores))
    print(
        f"{escaped(Path(args.model).name)}: {p} prompt token(s), {len(gen)} "
        f"{'given' if args.continuation is not None else 'generated'} token(s), mean "
        f"{gen.score} {mean:.4g}{'' if math.isfinite(mean) else ' (not finite)'}, largest "
        f"relative gap {_largest_gap(gen.relative_delta)}; wrote gen.png, gen.csv and "
        f"gen.npy to {escaped(str(out.path))}"
    )
    return 0
