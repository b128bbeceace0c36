"""`keras-ig demo`: the quick run end to end, read back from TensorBoard's files."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_ig._io import demo as _demo
from tests.helpers.events import read_events


def _scalars(run_dir: Path, tag: str) -> dict[int, float]:
    """`{step: value}` of one scalar tag in a folder of event files."""
    return dict(read_events(run_dir)["scalars"][tag])


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[_demo.DemoResult, str]:
    logdir = tmp_path_factory.mktemp("demo") / "runs"
    # A module-scoped fixture cannot use capsys: capture stdout directly.
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        result = _demo.run(quick=True, logdir=logdir, seed=3, verbose=0)
    return result, buffer.getvalue()


@pytest.mark.slow
def test_quick_demo_logs_localization_to_tensorboard(quick) -> None:
    result, _ = quick
    assert len(result.epochs) == _demo.QUICK.epochs
    logged = _scalars(
        result.logdir / "integrated_gradients", "integrated_gradients/localization/mean"
    )
    # One value per epoch, with the 0-based epoch as the step, and the very
    # numbers the demo printed.
    assert sorted(logged) == list(range(_demo.QUICK.epochs))
    printed = [row["localization"] for row in result.epochs]
    np.testing.assert_allclose([logged[e] for e in sorted(logged)], printed, rtol=1e-5)
    assert all(0.0 <= v <= 1.0 for v in printed)
    # Keras's own curves sit next to the attributions.
    assert list((result.logdir / "train").glob("events.out.tfevents.*"))
    assert list((result.logdir / "validation").glob("events.out.tfevents.*"))


def test_quick_demo_prints_chance_scores_and_the_tensorboard_command(quick) -> None:
    result, out = quick
    assert 0.0 < result.chance < 0.5
    assert f"{result.chance:.1%}" in out  # the mask's share of the image
    assert "chance" in out and "localization" in out
    assert out.rstrip().splitlines()[-1].strip() == f"tensorboard --logdir {result.logdir}"


def test_quick_demo_saves_the_final_attributions(quick) -> None:
    result, _ = quick
    assert result.picture == result.logdir / "attributions.png"
    with Image.open(result.picture) as picture:
        assert picture.mode == "RGB" and picture.width > 100 and picture.height > 100


@pytest.mark.slow
def test_demo_is_deterministic_in_its_seed(quick, tmp_path: Path, capsys) -> None:
    first, _ = quick
    again = _demo.run(quick=True, logdir=tmp_path, seed=3, verbose=0, epochs=1)
    capsys.readouterr()
    assert again.chance == first.chance
    assert again.untrained == pytest.approx(first.untrained, rel=1e-4)
    assert again.epochs[0]["localization"] == pytest.approx(
        first.epochs[0]["localization"], rel=1e-3
    )


@pytest.mark.slow
def test_python_m_keras_ig_demo(tmp_path: Path) -> None:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "keras_ig", "demo", "--quick", "--epochs", "1", "--logdir", "logs"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    # Keras's own progress line, with the localisation score on it.
    assert "accuracy:" in proc.stdout and "localization:" in proc.stdout
    assert "tensorboard --logdir logs" in proc.stdout
    assert (tmp_path / "logs" / "attributions.png").is_file()
