"""Issue 9, documentation items: what a user reads matches what the code does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_ig import _demo

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()
# TensorFlow's C++ start-up lines: "I0000 00:00:... port.cc:153] oneDNN ...",
# "E0000 ... failed call to cuInit".
NATIVE_LOG = re.compile(r"^[IWE]\d{4} |cuInit|oneDNN|absl::InitializeLog", re.MULTILINE)


def _run_quickstart() -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


@pytest.fixture(scope="module")
def quickstart() -> subprocess.CompletedProcess:
    return _run_quickstart()


def test_example_hides_tensorflow_native_startup_lines(quickstart) -> None:
    assert not NATIVE_LOG.search(quickstart.stderr), quickstart.stderr


def test_every_example_holds_back_the_native_log_before_importing_keras() -> None:
    for path in (ROOT / "examples").glob("[!_]*.py"):
        text = path.read_text()
        start = text.index("start_tensorflow()")
        first_tf = min(text.index(m) for m in ("import keras", "import tensorflow") if m in text)
        assert start < first_tf, path.name


def test_quickstart_features_0_and_1_carry_the_attribution(quickstart) -> None:
    out = quickstart.stdout
    accuracy = float(re.search(r"training accuracy: ([0-9.]+)", out).group(1))
    assert accuracy > 0.95
    block = out.split("mean |attribution| per feature over 64 inputs:")[1]
    means = np.array(block.split("]")[0].strip(" \n[").split(), dtype=float)
    assert means.shape == (6,)
    # Each real feature outweighs every noise feature by far.
    assert means[:2].min() > 10 * means[2:].max()


def test_one_spelling_of_localization() -> None:
    files = [ROOT / "README.md", ROOT / "keras_ig" / "_demo.py"]
    files += list((ROOT / "examples").glob("*.py"))
    for path in files:
        assert "ocalisation" not in path.read_text(), path.name


def test_demo_table_epochs_are_tensorboard_steps(capsys) -> None:
    rows = _demo._epoch_rows(
        {"accuracy": [0.2, 0.5], "val_accuracy": [0.3, 0.6]},
        [{"epoch": 0, "localization_mean": 0.4}, {"epoch": 1, "localization_mean": 0.7}],
    )
    assert [r["epoch"] for r in rows] == [0, 1]  # the callback's 0-based steps
    assert [r["localization"] for r in rows] == [0.4, 0.7]
    _demo._report(rows, 0.1, 0.3, None, Path("p.png"), Path("logs"), 1.0)
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if "localization" in line and "chance" in line)
    assert "step" in header
    table = [line.split() for line in lines if line.strip()[:1].isdigit()]
    assert [int(r[0]) for r in table] == [0, 1]


def test_readme_tags_are_the_written_tags() -> None:
    for tag in ("completeness_gap/{max_abs", "localization/probe_{i}", "localization/mean"):
        assert f"integrated_gradients/{tag}" in README
    assert "`completeness_gap/" not in README
    assert "`localization/" not in README


def test_readme_serving_keeps_the_loaded_object() -> None:
    wrapper = (ROOT / "keras_ig" / "_wrapper.py").read_text()
    for text in (README, wrapper):
        assert 'tf.saved_model.load("served").serve' not in text
        assert 'loaded = tf.saved_model.load("served")' in text
        assert "loaded.serve(x)" in text


def test_readme_documents_every_picture_option() -> None:
    import inspect

    from keras_ig import _images

    options = set(inspect.signature(_images.to_images).parameters) - {"exp"}
    options |= {"grid", "cols"}
    for name in options:
        assert f"`{name}" in README, name
