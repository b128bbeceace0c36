"""Issue 9, documentation items: what a user reads matches what the code does."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_ig import render
from keras_ig._io import demo

ROOT = Path(__file__).parents[2]
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


@pytest.mark.slow
def test_example_hides_tensorflow_native_startup_lines(quickstart) -> None:
    assert not NATIVE_LOG.search(quickstart.stderr), quickstart.stderr


def test_every_example_holds_back_the_native_log_before_importing_keras() -> None:
    for path in (ROOT / "examples").glob("[!_]*.py"):
        text = path.read_text()
        start = text.index("start_tensorflow()")
        first_tf = min(text.index(m) for m in ("import keras", "import tensorflow") if m in text)
        assert start < first_tf, path.name


@pytest.mark.slow
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
    files = [ROOT / "README.md", ROOT / "keras_ig" / "_io" / "demo.py"]
    files += list((ROOT / "examples").glob("*.py"))
    for path in files:
        assert "ocalisation" not in path.read_text(), path.name


def test_demo_table_epochs_are_tensorboard_steps(capsys) -> None:
    rows = demo._epoch_rows(
        {"accuracy": [0.2, 0.5], "val_accuracy": [0.3, 0.6]},
        [{"epoch": 0, "localization_mean": 0.4}, {"epoch": 1, "localization_mean": 0.7}],
    )
    assert [r["epoch"] for r in rows] == [0, 1]  # the callback's 0-based steps
    assert [r["localization"] for r in rows] == [0.4, 0.7]
    demo._report(rows, 0.1, 0.3, None, Path("p.png"), Path("logs"), 1.0)
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
    wrapper = (ROOT / "keras_ig" / "_api" / "layer.py").read_text()
    for text in (README, wrapper):
        assert 'tf.saved_model.load("served").serve' not in text
        assert 'loaded = tf.saved_model.load("served")' in text
        assert "loaded.serve(x)" in text


def test_readme_documents_every_picture_option() -> None:
    import inspect

    from keras_ig._io import pictures as _images

    options = set(inspect.signature(_images.to_images).parameters) - {"exp"}
    options |= {"grid", "cols"}
    for name in options:
        assert f"`{name}" in README, name


def _image_exp(a: np.ndarray, x: np.ndarray):
    from keras_ig._api.explanation import Explanation

    n = len(a)
    return Explanation(
        attributions=a,
        inputs=x,
        target=np.arange(n),
        scores=np.full(n, 2.5),
        baseline_scores=np.zeros(n),
        delta=np.zeros(n),
        steps=8,
        method="gausslegendre",
    )


def test_a_tiny_map_does_not_look_like_a_real_one() -> None:
    from keras_ig import render
    from keras_ig._numpy import colors

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(1, 8, 8, 1)).astype(np.float32)
    a = rng.normal(size=x.shape)
    (real,) = _image_exp(a, x).to_images(min_size=64)
    (tiny,) = _image_exp(a * 1e-13, x).to_images(min_size=64)
    panel = render.image_panel(x[0], a[0], min_size=64)
    # Unlabelled, both maps give the very same panel; the scale tells them apart.
    assert np.array_equal(np.asarray(panel), np.asarray(render.image_panel(x[0], a[0] * 1e-13,
                                                                        min_size=64)))  # fmt: skip
    assert real.size == tiny.size and real.height > panel.height
    assert not np.array_equal(np.asarray(real), np.asarray(tiny))
    scale = colors.full_colour_value(np.full((2, 2), 1.3e-13), 100.0)
    assert render.scale_text(scale, True) == "\u00b11.3e-13"


def test_image_pictures_have_titles_scale_and_caption() -> None:
    from keras_ig import render

    rng = np.random.default_rng(1)
    x = rng.uniform(size=(2, 8, 8, 1)).astype(np.float32)
    a = rng.normal(size=x.shape)
    pictures = _image_exp(a, x).to_images(min_size=64)
    panel = render.image_panel(x[0], a[0], min_size=64)
    top = render.compose.header(64, render.PANEL_TITLES).height
    for picture in pictures:
        pixels = np.asarray(picture).astype(int)
        header = pixels[:top]
        part = (panel.width - 8) // 3
        for c in range(3):  # a title (dark text) over each column
            column = header[:, c * (part + 4) : c * (part + 4) + part]
            assert (column.sum(-1) < 200).any()
        below = pixels[top + panel.height :]
        # The colour bar runs from blue (negative) to red (positive).
        bar = below[2]
        assert bar[0, 2] > bar[0, 0] and bar[150, 0] > bar[150, 2]
    # The caption names the target: only the target differs, so only the
    # lines under the panel differ.
    other = _image_exp(a, x)
    other.target = np.array([7, 1])
    (changed, _) = other.to_images(min_size=64)
    first = np.asarray(pictures[0])
    second = np.asarray(changed)
    cut = top + panel.height + 10
    assert np.array_equal(first[:cut], second[:cut])
    assert not np.array_equal(first[cut:], second[cut:])


def test_token_pictures_carry_a_colour_scale_with_its_range() -> None:
    from keras_ig._api.explanation import Explanation

    def picture_of(scale: float) -> np.ndarray:
        exp = Explanation(
            attributions=np.array([[1.0, -0.5, 0.25]], np.float32) * scale,
            delta=np.zeros(1, np.float32),
            scores=np.ones(1, np.float32),
            baseline_scores=np.zeros(1, np.float32),
            target=None,
            steps=8,
            method="gausslegendre",
            inputs=np.array([[4, 5, 6]], np.int32),
        )
        (img,) = exp.to_images(kind="text", pad_id=None, clip_percentile=100.0)
        return np.asarray(img)

    real, tiny = picture_of(1.0), picture_of(1e-13)
    tokens = render.token_image(["4", "5", "6"], np.array([1.0, -0.5, 0.25]), clip_percentile=100.0)
    assert real.shape[0] > tokens.height  # the scale sits under the tokens
    # The same colours (normalised), but the printed ranges differ below them.
    np.testing.assert_array_equal(real[: tokens.height], tiny[: tokens.height])
    assert not np.array_equal(real[tokens.height :], tiny[tokens.height :])
