"""Overhead of `python -m keras_ig.beam` on DirectRunner against plain `explain`.

Run by hand from the repository root, in the project's venv (beam extra):

    export TF_CPP_MIN_LOG_LEVEL=2
    python benchmarks/bench_beam.py [--n 2000] [--steps 32] [--repeats 1]
                                    [--max-batch-size 0]

Workload: the demo's CNN (`keras_ig._io.demo.build_model` with the demo's
sizes: 32x32x1, three conv layers, global average pooling, softmax over 4
classes; untrained: speed does not depend on the weights) saved as a
`.keras` file, and `--n` images of `keras_ig.datasets.make_shapes`, one
`.npy` file per image (as a job over a bucket of images would read them).
Every arm explains all of them with `--steps` Gauss-Legendre points on the
logits, the predicted class as the target, and writes the attributions.

Arms, each a fresh subprocess timed from start to exit (start-up, model
loading, reading and writing included, as a user would see it):
- plain: one process loads the model, reads every file, calls
  `keras_ig.explain` once on the stacked array and saves one `.npy`;
- beam, 1 worker: `python -m keras_ig.beam ... --direct_num_workers 1`
  (in-memory DirectRunner: one process);
- beam, 2 workers: `--direct_running_mode multi_processing
  --direct_num_workers 2` (a launcher and two SDK worker processes).
Throughput is inputs / wall second (median over rounds); each Beam arm's
ratio is the median over rounds of plain wall / its wall in the same round
(arms interleaved, the order reversed every other round).
Peak memory: every process of an arm's tree is sampled (`/proc`, VmRSS)
every 0.1 s and its peak reported: the launcher, and each worker. The
explain time alone inside the plain arm is printed too, so the fixed
start-up cost of a process can be told from the per-input cost.

On 2 shared CPU cores a second worker cannot speed anything up; the target
is overhead: beam with 1 worker >= 0.8x the plain throughput.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from keras_ig.datasets import make_shapes

PLAIN = """
import sys, time, glob
import numpy as np, keras
import keras_ig
model_path, pattern, out, steps = sys.argv[1:5]
model = keras.saving.load_model(model_path, compile=False)
files = sorted(glob.glob(pattern))
x = np.stack([np.load(f) for f in files])
start = time.perf_counter()
exp = keras_ig.explain(model, x, steps=int(steps), output="logits", warn=False)
print("EXPLAIN_SECONDS", time.perf_counter() - start)
np.save(out, exp.attributions)
"""


def _tree(root: int) -> list[int]:
    """`root` and every process below it (from /proc's parent links)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_mib(pid: int) -> tuple[str, float] | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            rss = next(line for line in fh if line.startswith("VmRSS:"))
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, StopIteration):
        return None
    return cmd, int(rss.split()[1]) / 1024


def run_sampled(cmd: list[str]) -> tuple[float, str, dict[int, tuple[str, float]]]:
    """Run `cmd`; (wall seconds, stdout, {pid: (command line, peak RSS MiB)})."""
    peaks: dict[int, tuple[str, float]] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            for pid in _tree(proc.pid):
                got = _rss_mib(pid)
                if got and got[1] > peaks.get(pid, ("", 0.0))[1]:
                    peaks[pid] = got
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode:
        sys.exit(f"{' '.join(cmd[:4])} ... failed:\n{err[-3000:]}")
    return wall, out, peaks


def _role(cmd: str) -> str:
    return "worker" if "sdk_worker_main" in cmd or "worker_pool_main" in cmd else "launcher"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="inputs (one .npy file each)")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds")
    parser.add_argument(
        "--max-batch-size", type=int, default=0, help="Beam's max_batch_size (0: Beam's default)"
    )
    args = parser.parse_args()

    import keras

    from keras_ig._io.demo import DEFAULT, build_model

    work = Path(tempfile.mkdtemp(prefix="bench_beam_"))
    keras.utils.set_random_seed(0)
    model_path = work / "demo_cnn.keras"
    build_model(DEFAULT.size, 4, DEFAULT.filters).save(model_path)
    images = make_shapes(args.n, size=DEFAULT.size, seed=0).images
    (work / "in").mkdir()
    for i, image in enumerate(images):
        np.save(work / "in" / f"img{i:06d}.npy", image)
    pattern = str(work / "in" / "*.npy")
    print(f"{args.n} inputs of {images.shape[1:]} in {work}; demo CNN; steps={args.steps}")

    beam_cmd = [sys.executable, "-m", "keras_ig.beam", "--model", str(model_path),
                "--input", pattern, "--steps", str(args.steps), "--logits"]  # fmt: skip
    if args.max_batch_size:
        beam_cmd += ["--max_batch_size", str(args.max_batch_size)]
    arms = {
        "plain explain": lambda r: [sys.executable, "-c", PLAIN, str(model_path), pattern,
                                    str(work / f"plain{r}.npy"), str(args.steps)],
        "beam, 1 worker": lambda r: [*beam_cmd, "--output", str(work / f"b1_{r}"),
                                     "--direct_num_workers", "1"],
        "beam, 2 workers": lambda r: [*beam_cmd, "--output", str(work / f"b2_{r}"),
                                      "--direct_running_mode", "multi_processing",
                                      "--direct_num_workers", "2"],
    }  # fmt: skip
    walls: dict[str, list[float]] = {a: [] for a in arms}
    memory: dict[str, dict[str, float]] = {}
    explain_only: list[float] = []
    for r in range(args.repeats):
        order = list(arms) if r % 2 == 0 else list(reversed(arms))
        for arm in order:
            wall, out, peaks = run_sampled(arms[arm](r))
            walls[arm].append(wall)
            print(f"  round {r} {arm}: {wall:.1f} s", file=sys.stderr, flush=True)
            for line in out.splitlines():
                if line.startswith("EXPLAIN_SECONDS"):
                    explain_only.append(float(line.split()[1]))
            roles: dict[str, list[float]] = {}
            for cmd, peak in peaks.values():
                if "python" in cmd and not cmd.startswith("/bin/sh"):  # not the shell wrappers
                    roles.setdefault(_role(cmd), []).append(peak)
            memory[arm] = {
                "launcher": max(roles.get("launcher", [0.0])),
                "worker": max(roles.get("worker", [0.0])),
                "workers": len(roles.get("worker", [])),
            }
    _check_equal(work, args.repeats - 1)

    plain = statistics.median(walls["plain explain"])
    print()
    head = (f"{'arm':<16} {'wall s':>8} {'inputs/s':>9} {'x plain':>8} "
            f"{'launcher MiB':>13} {'per worker MiB':>15}")  # fmt: skip
    print(head)
    print("-" * len(head))
    # Per-round ratios: the arms of one round ran minutes apart, not hours.
    ratios = {
        arm: statistics.median(p / w for p, w in zip(walls["plain explain"], values, strict=True))
        for arm, values in walls.items()
    }
    for arm, values in walls.items():
        wall = statistics.median(values)
        mem = memory[arm]
        worker = f"{mem['worker']:.0f} x{mem['workers']}" if mem["workers"] else "(in launcher)"
        print(
            f"{arm:<16} {wall:>8.1f} {args.n / wall:>9.1f} {ratios[arm]:>8.2f} "
            f"{mem['launcher']:>13.0f} {worker:>15}"
        )
    if explain_only:
        seconds = statistics.median(explain_only)
        print(
            f"\nplain explain alone (no start-up, loading or files): {seconds:.1f} s, "
            f"{args.n / seconds:.1f} inputs/s; process start-up and I/O: {plain - seconds:.1f} s"
        )
    ratio = ratios["beam, 1 worker"]
    verdict = "met" if ratio >= 0.8 else "NOT met"
    print(f"target: beam with 1 worker >= 0.8x plain: {ratio:.2f}x ({verdict})")


def _check_equal(work: Path, r: int) -> None:
    """The Beam shards hold the plain attributions (a benchmark of wrong numbers is void)."""
    import csv
    import glob

    plain = np.load(work / f"plain{r}.npy")
    files = sorted(glob.glob(str(work / "in" / "*.npy")))
    index = {f: i for i, f in enumerate(files)}
    for out in (work / f"b1_{r}", work / f"b2_{r}"):
        seen = 0
        for summary in sorted(out.glob("summary-*.csv")):
            shard = np.load(str(summary).replace("summary-", "attributions-")[:-4] + ".npy")
            with summary.open() as fh:
                for line in csv.DictReader(fh):
                    got = shard[int(line["index"])]
                    np.testing.assert_allclose(got, plain[index[line["file"]]], atol=1e-5)
                    seen += 1
        if seen != len(files):
            sys.exit(f"{out}: {seen} rows for {len(files)} inputs")


if __name__ == "__main__":
    main()
