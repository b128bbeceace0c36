"""`keras-ig explain`: read, explain in chunks, write arrays, pictures, the table and CSV."""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from keras_ig import completeness
from keras_ig._numpy.quadrature import method_name, quadrature
from keras_ig.cli._errors import CLIError, escaped, warn
from keras_ig.cli._files import ARRAY_SUFFIXES, OutDir, check_model_path, collect_inputs, file_id
from keras_ig.cli._inputs import read_array, read_image
from keras_ig.cli._models import InputSpec, check_target, input_spec, load_model, output_units
from keras_ig.cli._startup import start_tensorflow

# Inputs explained per engine call: big enough to batch the path points of
# small images, small enough for the progress bar to move.
_CHUNK = 16


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
        warn(message, kind="error")


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


def run_explain(args: argparse.Namespace) -> int:
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
    inputs = {file_id(p) for p in files if p.exists()}
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
        warn(
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


def _gap_kind(row: dict[str, Any]) -> str:
    """`"unknown"` (not finite), `"same"` (F(x) ≈ F(baseline)), `"loose"` or `"ok"`.

    Judged by `keras_ig.completeness`, as the library's own warning is.
    """
    if math.isnan(row["relative_gap"]):
        return "unknown"
    score, base = np.array([row["score"]]), np.array([row["baseline_score"]])
    if completeness.flat(score, base)[0]:
        return "same"
    ok = completeness.within_tolerance(np.array([row["gap"]]), score, base, completeness.TOLERANCE)
    return "ok" if ok[0] else "loose"


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
        warn(
            f"completeness gap above {completeness.TOLERANCE:.0%} of |F(x) - F(baseline)| for "
            f"{loose} input(s); raise --steps (now {steps}) for more faithful "
            "attributions",
            kind="note",
        )
    if same:
        warn(
            f"F(x) ≈ F(baseline) for {same} input(s): there is almost nothing to "
            "attribute and more --steps will not change that; try another --baseline "
            "or --target (or --logits for a saturated softmax)",
            kind="note",
        )
    if unknown:
        warn(
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
