"""`keras-ig explain` hardening (issue 9): inputs never overwritten, no code
run without consent, no inf%, one bad file does not stop the batch, no
empty folders, options checked before anything is printed."""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_ig
from keras_ig import cli
from keras_ig._numpy.quadrature import quadrature

SIZE = 16


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models and inputs, made once; each test copies what it needs."""
    root = tmp_path_factory.mktemp("hardening_cli")
    keras.utils.set_random_seed(0)
    keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    ).save(root / "model.keras")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]).save(root / "reg.keras")
    keras.Sequential(
        [keras.Input((4,)), keras.layers.Lambda(lambda t: 2.0 * t), keras.layers.Dense(2)]
    ).save(root / "lambda.keras")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)).save(root / "square.png")
    Image.fromarray(rng.integers(0, 256, (24, 20), dtype=np.uint8)).save(root / "tall.png")
    np.save(root / "one.npy", rng.random((SIZE, SIZE, 1), dtype=np.float32))
    np.save(root / "rows.npy", rng.random((3, 4), dtype=np.float32))
    return root


@pytest.fixture
def work(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for path in shared.iterdir():
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _main(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, list[str]]:
    code = cli.main(["explain", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip().splitlines()


def _error_lines(err: list[str]) -> list[str]:
    return [line for line in err if line.startswith("keras-ig: error: ")]


# --------------------------------------------------------------------------
# item 1: inputs are never overwritten, links never followed, names escaped


def test_inputs_inside_out_are_never_overwritten(work: Path, capsys) -> None:
    (work / "out1").mkdir()
    shutil.copy(work / "square.png", work / "out1" / "input.png")
    shutil.copy(work / "one.npy", work / "out1" / "keep.npy")
    before = {p: p.read_bytes() for p in (work / "out1").iterdir()}

    code, _, err = _main(
        capsys, "model.keras", "out1/input.png", "out1/keep.npy", "one.npy", "--out", "out1"
    )
    assert code == 1
    for path, data in before.items():
        assert path.read_bytes() == data, path  # the inputs are untouched
    errors = _error_lines(err)
    assert len(errors) == 2
    assert "out1/input.png: skipped: output out1/input.png would overwrite an input" in errors[0]
    assert "out1/keep.npy: skipped: output out1/keep.npy would overwrite an input" in errors[1]
    # The input whose outputs collide with nothing is still explained.
    with (work / "out1" / "summary.csv").open() as f:
        assert [r["input"] for r in csv.DictReader(f)] == ["one"]
    assert np.load(work / "out1" / "one.npy").shape == (SIZE, SIZE, 1)
    # An unreadable input is not replaced by another input's output either.
    (work / "out1" / "twin.npy").write_bytes(b"junk")
    shutil.copy(work / "square.png", work / "twin.png")
    code, _, err = _main(capsys, "model.keras", "out1/twin.npy", "twin.png", "--out", "out1")
    assert code == 1 and (work / "out1" / "twin.npy").read_bytes() == b"junk"
    assert "twin.png: skipped: output out1/twin.npy would overwrite an input" in err[-1]


def test_out_dot_and_hard_links_do_not_overwrite_inputs(work: Path, capsys) -> None:
    data = (work / "square.png").read_bytes()
    code, _, err = _main(capsys, "model.keras", "square.png", "--out", ".")
    assert code == 1 and (work / "square.png").read_bytes() == data
    assert "would overwrite an input" in _error_lines(err)[0]

    (work / "o").mkdir()
    os.link(work / "one.npy", work / "o" / "one.npy")  # one file, two names
    saved = (work / "one.npy").read_bytes()
    code, _, err = _main(capsys, "model.keras", "one.npy", "--out", "o")
    assert code == 1 and (work / "one.npy").read_bytes() == saved
    assert "would overwrite an input" in _error_lines(err)[0]


def test_a_symlink_in_out_is_never_written_through(work: Path, capsys) -> None:
    victim = work / "victim.txt"
    victim.write_text("precious")
    (work / "o").mkdir()
    (work / "o" / "one.npy").symlink_to(victim)
    code, _, err = _main(capsys, "model.keras", "one.npy", "square.png", "--out", "o")
    assert code == 1 and victim.read_text() == "precious"
    assert "o/one.npy is a symbolic link" in _error_lines(err)[0]
    assert (work / "o" / "square.npy").is_file()  # the other input is explained

    # summary.csv a link: refused before any work, one line.
    (work / "p").mkdir()
    (work / "p" / "summary.csv").symlink_to(victim)
    code, out, err = _main(capsys, "model.keras", "square.png", "--out", "p")
    assert code == 1 and victim.read_text() == "precious" and out == ""
    assert len(err) == 1 and "p/summary.csv is a symbolic link" in err[0]
    assert sorted(os.listdir(work / "p")) == ["summary.csv"]


def test_control_characters_in_names_are_escaped(work: Path, capsys) -> None:
    name = "we\x1b[31mird\nname"
    shutil.copy(work / "square.png", work / f"{name}.png")
    code, out, err = _main(capsys, "model.keras", f"{name}.png", "gone\r.png", "--out", "o")
    assert code == 1
    assert "\x1b" not in out and "\r" not in out
    assert err == ["keras-ig: error: input not found: gone\\r.png"]
    assert "we\\x1b[31mird\\nname" in out
    assert (work / "o" / f"{name}.npy").is_file()  # the file itself keeps its name


# --------------------------------------------------------------------------
# item 2: a model runs code of its own only with --trust-model


class _Writer(tf.Module):
    """A SavedModel whose serving function writes a file when it runs."""

    def __init__(self, marker: Path) -> None:
        super().__init__()
        self.marker = str(marker)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def serve(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        tf.io.write_file(self.marker, "ran")
        return {"out": tf.reduce_sum(x * x, axis=1, keepdims=True)}


def test_savedmodel_is_refused_without_trust_model(work: Path, capsys) -> None:
    marker = work / "marker.txt"
    module = _Writer(marker)
    tf.saved_model.save(module, str(work / "served"), signatures={"serve": module.serve})
    marker.unlink(missing_ok=True)

    code, out, err = _main(capsys, "served", "rows.npy", "--out", "o")
    assert code == 1 and out == ""
    assert len(err) == 1 and "--trust-model" in err[0] and "served" in err[0]
    assert not marker.exists() and not (work / "o").exists()
    with pytest.raises(cli.CLIError, match="--trust-model"):
        cli.load_model(work / "served")

    # With consent it loads as before, and its graph does run.
    code, _, err = _main(capsys, "served", "rows.npy", "--out", "o", "--trust-model")
    assert code == 0, err
    assert marker.read_text() == "ran"
    rows = np.load(work / "rows.npy")
    # F = sum(x**2): IG of a quadratic from 0 is exact, x_i**2 per feature.
    np.testing.assert_allclose(np.load(work / "o" / "rows-0.npy"), rows[0] ** 2, rtol=1e-4)


def test_lambda_layers_need_trust_model_not_safe_mode(work: Path, capsys) -> None:
    code, out, err = _main(capsys, "lambda.keras", "rows.npy", "--out", "o")
    assert code == 1 and out == "" and len(err) == 1
    assert "--trust-model" in err[0] and "safe_mode" not in err[0]
    assert not (work / "o").exists()

    code, _, err = _main(capsys, "lambda.keras", "rows.npy", "--out", "o", "--trust-model")
    assert code == 0, err
    assert np.load(work / "o" / "rows-0.npy").shape == (4,)


# --------------------------------------------------------------------------
# item 3: no inf% or nan%; summary.csv keeps floats


def _square_model() -> keras.Model:
    """F(x) = (x - 0.5)**2 on one feature: F(1) = F(0) = 0.25."""
    inp = keras.Input((1,))
    dense = keras.layers.Dense(1)
    h = dense(inp)
    dense.set_weights([np.ones((1, 1), np.float32), np.full(1, -0.5, np.float32)])
    return keras.Model(inp, keras.layers.Multiply()([h, h]))


def test_equal_scores_print_n_a_not_inf_percent(work: Path, capsys) -> None:
    _square_model().save(work / "square_f.keras")
    np.save(work / "x.npy", np.ones((1, 1), np.float32))
    # Two left-Riemann points: attributions -0.5 while F(x) - F(x') = 0.
    code, out, err = _main(
        capsys, "square_f.keras", "x.npy", "--out", "o", "--method", "riemann_left", "--steps", "2"
    )
    assert code == 0, err
    assert "inf" not in out and "nan" not in out
    assert "n/a (F(x) ≈ F(baseline))" in out
    assert any("F(x) ≈ F(baseline) for 1 input(s)" in line for line in err)
    assert not any("raise --steps" in line for line in err)  # it cannot help
    with (work / "o" / "summary.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["gap"]) == pytest.approx(-0.5)
    # Judged against 1% of |F| = 0.0025 (keras_ig.completeness.scale): a float.
    assert float(row["relative_gap"]) == pytest.approx(0.5 / (0.01 * 0.25))


def test_a_gap_that_is_not_finite_is_nan_never_0() -> None:
    exp = keras_ig.Explanation(
        attributions=np.zeros((1, 4), np.float32),
        delta=np.array([np.nan], np.float32),
        scores=np.array([0.4], np.float32),
        baseline_scores=np.array([np.nan], np.float32),
        target=np.array([1], np.int32),
        steps=64,
        method="gausslegendre",
    )
    row = cli.summary_row(exp, 0)
    assert math.isnan(row["relative_gap"])
    assert cli.relative_gap_text(row) == "n/a (not finite)"


# --------------------------------------------------------------------------
# item 4: one unreadable file does not stop the batch


def test_an_unreadable_file_is_reported_and_the_rest_explained(work: Path, capsys) -> None:
    (work / "junk.png").write_bytes(b"not a png")
    code, out, err = _main(
        capsys, "model.keras", "square.png", "junk.png", "missing.npy", "one.npy", "--out", "o"
    )
    assert code == 1
    errors = _error_lines(err)
    assert len(errors) == 2
    assert "missing.npy" in errors[0] and "junk.png: not a readable image" in errors[1]
    with (work / "o" / "summary.csv").open() as f:
        assert [r["input"] for r in csv.DictReader(f)] == ["square", "one"]
    assert "2 input(s)" in out


# --------------------------------------------------------------------------
# items 5, 6: options checked first; failed runs leave no folder


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["model.keras", "square.png", "--target", "99"], "--target 99 is out of range"),
        (["reg.keras", "rows.npy", "--target", "5"], "--target 5 is out of range"),
        (["model.keras", "square.png", "--layer", "nope"], "no layer named 'nope'"),
        (["model.keras", "junk.png"], "junk.png: not a readable image"),
    ],
)
def test_a_failed_run_prints_nothing_and_leaves_no_folder(
    work: Path, capsys, argv: list[str], fragment: str
) -> None:
    (work / "junk.png").write_bytes(b"not a png")
    code, out, err = _main(capsys, *argv, "--out", "a/b/c")
    assert code == 1 and out == ""
    assert len(err) == 1 and fragment in err[0]
    assert not (work / "a").exists()


# --------------------------------------------------------------------------
# items 7, 8: F described right; --logits errors in CLI words


def test_a_one_output_model_is_not_called_a_class(work: Path, capsys) -> None:
    code, out, err = _main(capsys, "reg.keras", "rows.npy", "--out", "o")
    assert code == 0, err
    assert "F = the model's single output;" in out and "class" not in out


def test_logits_errors_name_the_flag(work: Path, capsys) -> None:
    code, out, err = _main(capsys, "reg.keras", "rows.npy", "--out", "o", "--logits")
    assert code == 1 and out == "" and len(err) == 1
    assert err[0].startswith("keras-ig: error: --logits: ")
    assert "leave out --logits" in err[0] and "output=" not in err[0]
    assert not (work / "o").exists()


# --------------------------------------------------------------------------
# item 9: stretching is said; item 10: no progress bar in a pipe


def test_a_non_square_image_warns_that_it_is_stretched(work: Path, capsys) -> None:
    code, _, err = _main(capsys, "model.keras", "square.png", "--out", "o")
    assert code == 0 and err == []
    code, _, err = _main(capsys, "model.keras", "tall.png", "square.png", "--out", "o")
    assert code == 0
    assert len(err) == 1 and "keras-ig: warning: 1 input(s)" in err[0]
    assert "aspect ratio" in err[0] and "tall.png (20x24)" in err[0]


def test_progress_bar_only_on_a_terminal(
    work: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ("model.keras", "square.png", "one.npy", "--out", "o", "--batch-size", "64")
    code, out, _ = _main(capsys, *argv)
    assert code == 0 and "\x1b" not in out and "\r" not in out and "2/2" not in out
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    code = cli.main(["explain", *argv])
    assert code == 0 and "2/2" in capsys.readouterr().out


@pytest.mark.slow
def test_progress_bar_absent_from_a_piped_subprocess(work: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    argv = ["explain", "model.keras", "square.png", "one.npy", "--out", "o"]
    proc = subprocess.run(
        [sys.executable, "-m", "keras_ig", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\r" not in proc.stdout
    assert "square" in proc.stdout and "one" in proc.stdout


# --------------------------------------------------------------------------
# item 11: short method names; item 12: --steps errors name the flag


def test_short_method_names_are_aliases(work: Path, capsys) -> None:
    for short, full in [("left", "riemann_left"), ("trapezoid", "riemann_trapezoid")]:
        for got, want in zip(quadrature(short, 5), quadrature(full, 5), strict=True):
            np.testing.assert_array_equal(got, want)
    model = keras.models.load_model(work / "model.keras")
    x = np.load(work / "one.npy")[None]
    short = keras_ig.explain(model, x, method="trapezoid", steps=9, warn=False)
    full = keras_ig.explain(model, x, method="riemann_trapezoid", steps=9, warn=False)
    assert short.method == "riemann_trapezoid"
    np.testing.assert_array_equal(short.attributions, full.attributions)
    with pytest.raises(TypeError, match="method must be a string"):
        keras_ig.explain(model, x, method=["trapezoid"])

    code, out, err = _main(capsys, "model.keras", "one.npy", "--out", "o", "--method", "trapezoid")
    assert code == 0, err
    assert "riemann_trapezoid" in out


def test_steps_errors_name_the_flag(work: Path, capsys) -> None:
    argv = ("model.keras", "one.npy", "--out", "o", "--method", "riemann_trapezoid")
    code, out, err = _main(capsys, *argv, "--steps", "1")
    assert code == 1 and out == ""
    assert err == ["keras-ig: error: --steps must be >= 2 for 'riemann_trapezoid', got 1"]
    assert not (work / "o").exists()


@pytest.mark.parametrize(
    ("library", "cli_text"),
    [
        ("steps must be <= 4096, got 20000", "--steps must be <= 4096, got 20000"),
        ("with 'gausslegendre' at steps=20000", "with 'gausslegendre' at --steps 20000"),
        ("batch_size must be >= 1", "--batch-size must be >= 1"),
        ("cannot be used with layer=; give zeros", "cannot be used with --layer; give zeros"),
        ("F(baseline) is not finite", "F(baseline) is not finite"),
    ],
)
def test_library_words_become_flags(library: str, cli_text: str) -> None:
    assert cli.cli_words(library) == cli_text
