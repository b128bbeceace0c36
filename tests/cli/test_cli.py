"""The `keras-ig` command line: subprocesses for the user's paths, in-process
calls for the many ways input can be wrong."""

from __future__ import annotations

import configparser
import csv
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from keras_ig import cli

SIZE = 16


# The command lines run as subprocesses. They are started together (see
# `runs`): each spends seconds importing TensorFlow, and in parallel that
# overlaps.
COMMANDS = {
    "good": ["explain", "model.keras", "photo.png", "batch.npy", "--out", "out", "--logits"],
    "missing_input": ["explain", "model.keras", "nowhere.png", "--out", "o"],
    "not_a_model": ["explain", "notes.keras", "photo.png", "--out", "o"],
    "wrong_size": ["explain", "model.keras", "small.npy", "--out", "o", "--no-resize"],
    "bad_method": ["explain", "model.keras", "photo.png", "--out", "o", "--method", "simpson"],
}


def _our_lines(stderr: str) -> list[str]:
    """Lines keras-ig wrote (TensorFlow's native start-up lines aside)."""
    return [line for line in stderr.splitlines() if line.startswith("keras-ig")]


def _assert_one_error_line(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    ours = _our_lines(proc.stderr)
    assert len(ours) == 1 and ours[0].startswith("keras-ig: error: "), proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1] == ours[0]
    for fragment in fragments:
        assert fragment in ours[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny softmax CNN saved as .keras, and inputs good and bad."""
    root = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.save(root / "model.keras")
    rng = np.random.default_rng(0)
    # RGB and another size: converted to grey and resized.
    Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)).save(root / "photo.png")
    np.save(root / "batch.npy", rng.random((2, SIZE, SIZE, 1), dtype=np.float32))
    np.save(root / "small.npy", rng.random((SIZE - 4, SIZE - 4, 1), dtype=np.float32))
    (root / "notes.keras").write_text("not a model")
    return root


@pytest.fixture(scope="module")
def runs(files: Path) -> dict[str, subprocess.CompletedProcess]:
    """`python -m keras_ig <COMMANDS[name]>` in `files`, all started at once."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "keras_ig", *argv],
            cwd=files,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, argv in COMMANDS.items()
    }
    done = {}
    for name, proc in started.items():
        out, err = proc.communicate(timeout=300)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


# --------------------------------------------------------------------------
# subprocesses: what a user types


@pytest.mark.slow
def test_explain_writes_pictures_arrays_and_a_complete_summary(files: Path, runs) -> None:
    proc = runs["good"]
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = files / "out"
    for name in ("photo", "batch-0", "batch-1"):
        assert name in proc.stdout
        attr = np.load(out / f"{name}.npy")
        assert attr.shape == (SIZE, SIZE, 1) and attr.dtype == np.float32
        with Image.open(out / f"{name}.png") as picture:
            assert picture.mode == "RGB"
    with (out / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["input"] for r in rows] == ["photo", "batch-0", "batch-1"]
    for r in rows:
        # Completeness, read back from disk: the attributions add up to
        # F(x) - F(baseline) of the logit that was explained.
        total = float(np.load(out / r["attributions"]).sum(dtype=np.float64))
        gap = float(r["score"]) - float(r["baseline_score"])
        assert total == pytest.approx(gap, rel=0.05, abs=1e-4)
        assert 0 <= int(r["target"]) < 3


def test_missing_input_is_one_line(runs) -> None:
    _assert_one_error_line(runs["missing_input"], "input not found", "nowhere.png")


def test_a_file_that_is_no_model_is_one_line(runs) -> None:
    _assert_one_error_line(runs["not_a_model"], "notes.keras", "not a Keras model")


def test_wrong_size_npy_with_no_resize_is_one_line(files: Path, runs) -> None:
    _assert_one_error_line(runs["wrong_size"], "small.npy", "(12, 12, 1)", "(16, 16, 1)")
    assert not (files / "o").exists()  # nothing written before the inputs are checked


def test_bad_method_is_a_usage_error(runs) -> None:
    proc = runs["bad_method"]
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "invalid choice: 'simpson'" in proc.stderr


# --------------------------------------------------------------------------
# in process: every way the input can be wrong, one line and exit status 1


def _main(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def in_files(files: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(files)
    return files


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["missing.keras", "photo.png"], "model not found: missing.keras"),
        (["model.keras", "notes.keras"], "unsupported input type '.keras'"),
        (["batch.npy", "photo.png"], "MODEL must be a .keras file"),
        (["zipped.keras", "photo.png"], "cannot load zipped.keras as a Keras model"),
        (["model.keras", "junk.png"], "junk.png: not a readable image"),
        (["model.keras", "nan.npy"], "nan.npy: contains NaN or inf"),
        (["model.keras", "vector.npy"], "does not fit the model's input (16, 16, 1)"),
        (["model.keras", "photo.png", "--target", "7"], "target 7 is out of range"),
        (["model.keras", "photo.png", "--layer", "nope"], "no layer named 'nope'"),
        (["model.keras", "empty_dir"], "holds no images or .npy files"),
    ],
)
def test_bad_input_gives_one_error_line(
    in_files: Path, capsys: pytest.CaptureFixture, argv: list[str], fragment: str
) -> None:
    with zipfile.ZipFile(in_files / "zipped.keras", "w") as z:
        z.writestr("readme.txt", "a zip, but not a Keras model")
    (in_files / "junk.png").write_bytes(b"not a png")
    np.save(in_files / "nan.npy", np.full((SIZE, SIZE, 1), np.nan, np.float32))
    np.save(in_files / "vector.npy", np.zeros(5, np.float32))
    (in_files / "empty_dir").mkdir(exist_ok=True)

    code, _, err = _main(capsys, "explain", *argv, "--out", "bad_out")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keras-ig: error: "), err
    assert fragment in lines[0]


def test_small_npy_is_resized_without_no_resize(in_files: Path, capsys) -> None:
    code, out, err = _main(capsys, "explain", "model.keras", "small.npy", "--out", "resized")
    assert code == 0, err
    assert np.load(in_files / "resized" / "small.npy").shape == (SIZE, SIZE, 1)
    assert "small" in out


def test_integer_inputs_need_layer(tmp_path: Path, monkeypatch, capsys) -> None:
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            keras.layers.Embedding(10, 3, name="embedding"),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.save(tmp_path / "text.keras")
    np.save(tmp_path / "ids.npy", np.array([[1, 2, 3, 0, 0]], np.int32))
    monkeypatch.chdir(tmp_path)

    code, _, err = _main(capsys, "explain", "text.keras", "ids.npy", "--out", "o")
    assert code == 1 and "pass --layer NAME" in err

    code, _, err = _main(
        capsys, "explain", "text.keras", "ids.npy", "--out", "o", "--layer", "embedding"
    )
    assert code == 0, err
    assert np.load(tmp_path / "o" / "ids.npy").shape == (5, 3)  # [T, D] at the embedding
    assert (tmp_path / "o" / "ids.png").is_file()


def test_savedmodel_directory_loads(files: Path, tmp_path: Path, capsys) -> None:
    model = keras.models.load_model(files / "model.keras")
    model.export(tmp_path / "served", verbose=False)
    # Loading a SavedModel runs its graph: only on request (--trust-model).
    loaded = cli.load_model(tmp_path / "served", trust=True)
    x = np.load(files / "batch.npy")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert cli.input_spec(loaded).shape == (SIZE, SIZE, 1)


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    for argv in (
        ["explain", "m.keras", "x.png"],  # no --out
        ["explain", "m.keras", "x.png", "--out", "o", "--target", "cat"],
        ["explain", "m.keras", "x.png", "--out", "o", "--baseline", "noise"],
        ["explain", "m.keras", "x.png", "--out", "o", "--steps", "0"],
        ["frobnicate"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_is_declared() -> None:
    # Read setup.cfg rather than installed metadata, which a stale
    # *.egg-info in the checkout can shadow.
    config = configparser.ConfigParser()
    config.read(Path(__file__).parents[2] / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"].strip().splitlines()
    assert "keras-ig = keras_ig.cli:main" in [line.strip() for line in scripts]
