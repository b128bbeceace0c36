"""`python -m keras_ig.beam`: files in, attribution shards and dead letters out."""

from __future__ import annotations

import csv
import io
import pathlib
import subprocess
import sys

import numpy as np
import pytest

beam = pytest.importorskip("apache_beam")

import keras  # noqa: E402
from PIL import Image  # noqa: E402

import keras_ig  # noqa: E402
from keras_ig import completeness  # noqa: E402
from keras_ig.beam import pipeline  # noqa: E402
from keras_ig.beam.decode import RowSpec, Unreadable, read_image, read_npy, read_rows  # noqa: E402
from tests.helpers.models import rand  # noqa: E402

SPEC = RowSpec((8, 8, 1), "float32")
ATOL = 1e-5


def _npy(arr: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, arr)
    return buffer.getvalue()


def _png(value: int, size: tuple[int, int], mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, value if mode == "L" else (value,) * 3).save(buffer, format="PNG")
    return buffer.getvalue()


def test_npy_one_row_a_batch_and_greyscale():
    row = rand(8, 8, 1, seed=1)
    (one,) = read_npy(_npy(row), SPEC)
    np.testing.assert_array_equal(one, row)
    batch = read_npy(_npy(rand(3, 8, 8, 1, seed=2)), SPEC)
    assert len(batch) == 3
    np.testing.assert_array_equal(batch[2], rand(3, 8, 8, 1, seed=2)[2])
    (grey,) = read_npy(_npy(row[..., 0]), SPEC)  # [H, W] for a [H, W, 1] model
    np.testing.assert_array_equal(grey, row)
    (ints,) = read_npy(_npy(np.full((8, 8, 1), 3, np.uint8)), SPEC)
    assert ints.dtype == np.float32 and float(ints.max()) == 3.0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not an array", "not a readable .npy"),
        (_npy(np.full((8, 8, 1), np.nan, np.float32)), "NaN"),
        (_npy(np.zeros((4, 4, 1), np.float32)), r"\(4, 4, 1\) does not fit"),
        (_npy(np.zeros((0, 8, 8, 1), np.float32)), "empty batch"),
        (_npy(np.array(["a", "b"])), "not numbers"),
    ],
)
def test_unreadable_npy_gives_the_reason(data, reason):
    with pytest.raises(Unreadable, match=reason):
        read_npy(data, SPEC)


def test_images_are_scaled_to_0_1_and_resized_to_the_model():
    row = read_image(_png(51, (20, 13)), SPEC)  # 20x13 pixels -> the model's 8x8
    assert row.shape == (8, 8, 1) and row.dtype == np.float32
    np.testing.assert_allclose(row, 51 / 255, atol=1e-6)  # a flat image stays flat
    rgb = read_image(_png(255, (8, 8), "RGB"), RowSpec((8, 8, 3), "float32"))
    np.testing.assert_allclose(rgb, 1.0)
    with pytest.raises(Unreadable, match="not a readable image"):
        read_image(b"\x89PNG broken", SPEC)
    with pytest.raises(Unreadable, match="model takes"):
        read_image(_png(0, (8, 8)), RowSpec((5,), "float32"))
    with pytest.raises(Unreadable, match="neither"):
        read_rows("notes.txt", b"hello", SPEC)


def _inputs(folder: pathlib.Path) -> dict[tuple[str, int], np.ndarray]:
    """Four rows, a batch of three, an image; a corrupt .npy and a text file.

    Returns:
        The row each readable `(file, row)` must become.
    """
    folder.mkdir()
    expected = {}
    for i in range(4):
        path = folder / f"x{i}.npy"
        expected[(str(path), 0)] = rand(8, 8, 1, seed=10 + i)
        np.save(path, expected[(str(path), 0)])
    batch = rand(3, 8, 8, 1, seed=20)
    np.save(folder / "batch.npy", batch)
    for j in range(3):
        expected[(str(folder / "batch.npy"), j)] = batch[j]
    (folder / "grey.png").write_bytes(_png(102, (16, 16)))
    expected[(str(folder / "grey.png"), 0)] = np.full((8, 8, 1), 102 / 255, np.float32)
    (folder / "corrupt.npy").write_bytes(b"\x93NUMPY broken")
    (folder / "notes.txt").write_text("not an input")
    return expected


def _read_output(output: pathlib.Path) -> tuple[dict, dict, dict]:
    """(rows by (file, row): CSV line, attributions by (file, row), dead letters by file)."""
    rows, attributions = {}, {}
    for summary in sorted(output.glob("summary-*-of-*.csv")):
        shard = np.load(str(summary).replace("summary-", "attributions-")[:-4] + ".npy")
        with summary.open() as fh:
            lines = list(csv.DictReader(fh))
        assert len(lines) == len(shard)
        for line in lines:
            key = (line["file"], int(line["row"]))
            assert key not in rows  # each input in exactly one shard
            rows[key] = line
            attributions[key] = shard[int(line["index"])]
    dead = {}
    for letter in output.glob("dead_letter-*.csv"):
        with letter.open() as fh:
            dead.update({line["file"]: line["reason"] for line in csv.DictReader(fh)})
    return rows, attributions, dead


def _check_output(output: pathlib.Path, expected: dict, model_path: pathlib.Path) -> None:
    rows, attributions, dead = _read_output(output)
    keys = sorted(expected)
    assert sorted(rows) == keys
    model = keras.saving.load_model(model_path, compile=False)
    x = np.stack([expected[k] for k in keys])
    ref = keras_ig.explain(model, x, steps=8, output="logits", warn=False)
    for i, key in enumerate(keys):
        np.testing.assert_allclose(attributions[key], ref.attributions[i], atol=ATOL)
        line = rows[key]
        np.testing.assert_allclose(float(line["score"]), ref.scores[i], atol=ATOL)
        np.testing.assert_allclose(float(line["baseline_score"]), ref.baseline_scores[i], atol=ATOL)
        np.testing.assert_allclose(float(line["delta"]), ref.delta[i], atol=ATOL)
        gap = completeness.relative_gap(ref.delta[i : i + 1], ref.scores[i : i + 1],
                                        ref.baseline_scores[i : i + 1])[0]  # fmt: skip
        np.testing.assert_allclose(float(line["relative_gap"]), gap, rtol=1e-3, atol=1e-7)
        assert int(line["target"]) == int(ref.target[i])
    folder = model_path.parent
    assert sorted(dead) == sorted(
        [str(folder / "corrupt.npy"), str(folder / "notes.txt"), str(model_path)]
    )
    assert "not a readable .npy" in dead[str(folder / "corrupt.npy")]


def _argv(folder: pathlib.Path, output: pathlib.Path, model: pathlib.Path) -> list[str]:
    return [
        "--model", str(model), "--input", str(folder / "*"), "--output", str(output),
        "--steps", "8", "--logits", "--num_shards", "3", "--max_batch_size", "4",
    ]  # fmt: skip


@pytest.mark.slow
def test_pipeline_in_process(cnn_path, tmp_path):
    folder = tmp_path / "in"
    expected = _inputs(folder)
    model = folder / "model.keras"  # in the glob too: a dead letter, not a crash
    model.write_bytes(cnn_path.read_bytes())
    summary = pipeline.run(_argv(folder, tmp_path / "out", model))
    assert summary.rows == len(expected) and summary.dead_letters == 3
    _check_output(tmp_path / "out", expected, model)


@pytest.mark.slow
def test_pipeline_as_a_subprocess_on_two_worker_processes(cnn_path, tmp_path):
    folder = tmp_path / "in"
    expected = _inputs(folder)
    model = folder / "model.keras"
    model.write_bytes(cnn_path.read_bytes())
    argv = _argv(folder, tmp_path / "out", model)
    argv += ["--direct_running_mode", "multi_processing", "--direct_num_workers", "2"]
    done = subprocess.run(
        [sys.executable, "-m", "keras_ig.beam", *argv],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"explained {len(expected)} rows" in done.stdout
    assert "3 unreadable" in done.stdout
    _check_output(tmp_path / "out", expected, model)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--steps", "0"], "steps"),
        (["--method", "simpson"], "method"),
        (["--baseline", "nope"], "baseline"),
        (["--num_shards", "0"], "--num_shards"),
    ],
)
def test_bad_flags_stop_before_the_pipeline(tmp_path, capsys, extra, message):
    argv = ["--model", "/nonexistent.keras", "--input", str(tmp_path / "*"), "--output", "o"]
    with pytest.raises(SystemExit) as err:
        pipeline.run(argv + extra)
    assert err.value.code == 2
    assert message in capsys.readouterr().err


def test_no_matching_file_and_a_bad_model_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pipeline.run(["--model", "m.keras", "--input", str(tmp_path / "*.npy"), "--output", "o"])
    assert "--input: no file matches" in capsys.readouterr().err
    np.save(tmp_path / "a.npy", np.zeros((8, 8, 1), np.float32))
    (tmp_path / "broken.keras").write_bytes(b"no zip")
    argv = ["--model", str(tmp_path / "broken.keras"), "--input", str(tmp_path / "*.npy")]
    with pytest.raises(SystemExit):
        pipeline.run([*argv, "--output", str(tmp_path / "o")])
    assert "--model: cannot load" in capsys.readouterr().err


@pytest.mark.slow
def test_a_model_with_free_axes_takes_inputs_of_any_size(tmp_path):
    keras.utils.set_random_seed(3)
    inp = keras.Input((None, None, 1))
    h = keras.layers.Conv2D(2, 3, padding="same", activation="tanh")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h)))
    path = tmp_path / "free.keras"
    model.save(path)
    folder = tmp_path / "in"
    folder.mkdir()
    rows = {"a.npy": rand(5, 7, 1, seed=30), "b.npy": rand(6, 4, 1, seed=31)}
    for name, row in rows.items():
        np.save(folder / name, row)
    (folder / "c.png").write_bytes(_png(204, (9, 3)))  # kept at 9x3: nothing to resize to
    rows["c.png"] = np.full((3, 9, 1), 204 / 255, np.float32)
    argv = ["--model", str(path), "--input", str(folder / "*"), "--output", str(tmp_path / "o")]
    summary = pipeline.run([*argv, "--steps", "8", "--num_shards", "1"])
    assert summary.rows == 3 and summary.dead_letters == 0
    shard = np.load(tmp_path / "o" / "attributions-00000-of-00001.npz")
    with (tmp_path / "o" / "summary-00000-of-00001.csv").open() as fh:
        lines = list(csv.DictReader(fh))
    assert sorted(pathlib.Path(line["file"]).name for line in lines) == sorted(rows)
    for line in lines:
        row = rows[pathlib.Path(line["file"]).name]
        ref = keras_ig.explain(model, row[None], steps=8, warn=False)
        np.testing.assert_allclose(shard[line["index"]], ref.attributions[0], atol=ATOL)
        np.testing.assert_allclose(float(line["delta"]), ref.delta[0], atol=ATOL)
