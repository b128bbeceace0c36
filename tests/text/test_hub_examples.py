"""The KerasHub examples run end to end as scripts and show what they claim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras_hub")

from PIL import Image

EXAMPLES = Path(__file__).parents[2] / "examples"
pytestmark = pytest.mark.slow


def _run(name: str, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_text_classifier_hub_puts_attribution_on_the_deciding_word(tmp_path):
    stdout = _run("text_classifier_hub", "--steps", "16", "--out", str(tmp_path / "t.png"))
    line = next(s for s in stdout.splitlines() if s.startswith("share of |attribution|"))
    shares = [float(v) for v in line.split(":")[1].strip(" []").split(",")]
    assert len(shares) == 3 and max(shares) > 0.5
    with Image.open(tmp_path / "t.png") as img:
        assert img.mode == "RGB"


def test_text_generation_rows_are_complete(tmp_path):
    stdout = _run("text_generation", "--steps", "16", "--out", str(tmp_path / "g.png"))
    rows = [s for s in stdout.splitlines() if "delta" in s]
    assert len(rows) >= 1
    for row in rows:
        delta = float(row.split("delta")[1].split()[0])
        assert abs(delta) < 1e-2
    with Image.open(tmp_path / "g.png") as img:
        assert img.mode == "RGB"
