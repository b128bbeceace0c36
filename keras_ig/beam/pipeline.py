"""`python -m keras_ig.beam`: explain `.npy` files and images on any Beam runner.

    python -m keras_ig.beam --model model.keras --input 'data/*.npy' --output out/ \\
        [--steps 32 ...] [--runner DirectRunner --direct_num_workers 2 ...]

Our flags are read first; everything else is a standard Beam pipeline
option, so the same command runs on Dataflow, Flink or Spark by changing
`--runner` and the runner's own flags. The graph:

    MatchFiles -> ReadMatches -> DecodeFile --rows--> RunInference(keyed IG)
                                     |                  -> shard by file -> WriteShard
                                     '--dead letter--> dead_letter-*.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from keras_ig import baselines
from keras_ig.beam.decode import DEAD_LETTER, DecodeFile, RowSpec, first_line
from keras_ig.beam.handler import METRICS_NAMESPACE, IGModelHandler
from keras_ig.beam.sinks import DEAD_LETTER_COLUMNS, WriteShard, csv_line, shard_of

DEFAULT_SHARDS = 4


@dataclass(frozen=True)
class RunSummary:
    """What one pipeline run did (from the runner's metrics).

    Attributes:
        rows: input rows explained.
        dead_letters: files that could not be read.
        output: the output folder.
    """

    rows: int
    dead_letters: int
    output: str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m keras_ig.beam",
        description="Integrated Gradients for .npy files and images on any Apache Beam runner. "
        "Flags not listed here are Beam pipeline options (--runner, --direct_num_workers, "
        "--project, ...).",
        allow_abbrev=False,  # a Beam flag must never be read as an abbreviation of ours
    )
    parser.add_argument("--model", required=True, help="a .keras/.h5 model, any Beam filesystem")
    parser.add_argument("--input", required=True, help="glob of .npy files and images")
    parser.add_argument("--output", required=True, help="folder for shards and dead letters")
    parser.add_argument("--steps", type=int, default=32, help="quadrature points (default 32)")
    parser.add_argument("--method", default="gausslegendre", help="quadrature rule")
    parser.add_argument("--target", type=int, default=None, help="output unit (default: argmax)")
    parser.add_argument(
        "--baseline", default="zeros", help=f"one of {', '.join(baselines.NAMED)}, or a number"
    )
    parser.add_argument("--layer", default=None, help="attribute at this layer's output")
    parser.add_argument(
        "--logits", action="store_true", help="explain the logits of a softmax/sigmoid head"
    )
    parser.add_argument("--batch_size", type=int, default=None, help="most rows per model call")
    parser.add_argument("--min_batch_size", type=int, default=None, help="Beam batching")
    parser.add_argument("--max_batch_size", type=int, default=None, help="Beam batching")
    parser.add_argument(
        "--num_shards", type=int, default=DEFAULT_SHARDS, help="attribution/summary file pairs"
    )
    return parser


def _baseline(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


def make_handler(args: argparse.Namespace, spec: RowSpec | None = None) -> IGModelHandler:
    """The (unkeyed) handler for the parsed flags; its options are checked here.

    A model with a free axis (`[None, None, 3]` images) takes rows of any
    size, and rows of different sizes cannot be stacked: such a model gets
    one input per batch unless `--max_batch_size` says otherwise.
    """
    max_batch_size = args.max_batch_size
    if max_batch_size is None and spec is not None and None in spec.shape:
        max_batch_size = 1
    options = {
        "steps": args.steps,
        "method": args.method,
        "target": args.target,
        "baseline": _baseline(args.baseline),
        "layer": args.layer,
        "output": "logits" if args.logits else None,
        "batch_size": args.batch_size,
    }
    return IGModelHandler(
        args.model,
        min_batch_size=args.min_batch_size,
        max_batch_size=max_batch_size,
        **options,
    )


def build(pipeline: beam.Pipeline, args: argparse.Namespace, spec: RowSpec) -> None:
    """Add the explain graph for `args` to `pipeline` (see the module docstring)."""
    handler = make_handler(args, spec)
    decoded = (
        pipeline
        | "Match" >> fileio.MatchFiles(args.input)
        | "Read" >> fileio.ReadMatches(skip_directories=True)
        | "Decode" >> beam.ParDo(DecodeFile(spec)).with_outputs(DEAD_LETTER, main="rows")
    )
    shards = args.num_shards
    (
        decoded.rows
        | "Explain" >> RunInference(KeyedModelHandler(handler))
        | "Shard" >> beam.Map(lambda kv: (shard_of(kv[0][0], shards), kv))
        | "Group" >> beam.GroupByKey()
        | "Write" >> beam.ParDo(WriteShard(args.output, shards))
    )
    (
        decoded[DEAD_LETTER]
        | "DeadLetterCSV" >> beam.Map(csv_line)
        | "DeadLetter"
        >> beam.io.WriteToText(
            FileSystems.join(args.output, "dead_letter"),
            file_name_suffix=".csv",
            header=",".join(DEAD_LETTER_COLUMNS),
        )
    )


def run(argv: Sequence[str] | None = None) -> RunSummary:
    """Parse `argv` (ours, then Beam's), check everything cheap, run, summarize.

    Raises:
        SystemExit: a bad flag, a glob that matches nothing, a model that
            does not load (argparse's one-line error, exit status 2).
    """
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    if args.num_shards < 1:
        parser.error(f"--num_shards must be >= 1, got {args.num_shards}")
    try:
        make_handler(args)  # the explain options, before anything is loaded
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    if not FileSystems.match([args.input])[0].metadata_list:
        parser.error(f"--input: no file matches {args.input}")
    spec = _row_spec(parser, args.model)
    if not FileSystems.exists(args.output):
        FileSystems.mkdirs(args.output)
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    build(pipeline, args, spec)
    result = pipeline.run()
    result.wait_until_finish()
    return RunSummary(
        rows=_counter(result, METRICS_NAMESPACE, "num_inferences"),
        dead_letters=_counter(result, METRICS_NAMESPACE, "dead_letters"),
        output=args.output,
    )


def _row_spec(parser: argparse.ArgumentParser, model: str) -> RowSpec:
    """The model's input row, read once here so workers can decode without the model."""
    import keras

    try:
        loaded = keras.saving.load_model(model, compile=False)
    except Exception as err:  # Keras raises many types for a bad file
        parser.error(f"--model: cannot load {model}: {first_line(err)}")
    try:
        return RowSpec.of(loaded)
    except ValueError as err:
        parser.error(str(err))


def _counter(result: Any, namespace: str, name: str) -> int:
    query = result.metrics().query(MetricsFilter().with_namespace(namespace).with_name(name))
    counters = query["counters"]
    if not counters:
        return 0
    return int(sum((c.committed if c.committed is not None else c.attempted) for c in counters))


def main(argv: Sequence[str] | None = None) -> int:
    summary = run(argv)
    print(
        f"explained {summary.rows} rows into {summary.output} "
        f"(attributions-*.npy, summary-*.csv); {summary.dead_letters} unreadable "
        f"file(s) in dead_letter-*.csv",
        file=sys.stdout,
    )
    return 0
