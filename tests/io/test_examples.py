"""Every example runs, with tiny but sufficient settings, and shows what it claims."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

EXAMPLES = Path(__file__).parents[2] / "examples"

# Tiny settings integrate with few steps: the completeness gap may exceed the
# 5% that triggers the warning; the examples' defaults use enough steps.
# Each example runs end to end (some as subprocesses): slow, run by default.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::keras_ig.CompletenessWarning")]


def _load(name: str) -> ModuleType:
    # As under `python examples/NAME.py`: examples/ on sys.path, for `_shapes`.
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_test() -> None:
    tested = {
        "quickstart",
        "image_classifier",
        "shortcut",
        "text_sentiment",
        "tabular_regression",
        "class_contrast",
        "serving",
        "choose_a_method",
        # KerasHub examples, tested in tests/text/test_hub_examples.py.
        "text_classifier_hub",
        "text_generation",
    }
    # Modules starting with "_" (the shared `_shapes`) are helpers, not examples.
    assert {p.stem for p in EXAMPLES.glob("[!_]*.py")} <= tested


def test_quickstart(capsys) -> None:
    _load("quickstart").main()
    assert "completeness gap" in capsys.readouterr().out


def test_choose_a_method_prints_the_table_and_saves_the_picture(tmp_path: Path, capsys) -> None:
    argv = ["--train", "128", "--epochs", "1", "--probes", "4", "--steps", "4", "--filters", "4"]
    result = _load("choose_a_method").main([*argv, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    comparison = result["comparison"]
    assert str(comparison) in out
    assert "localization (higher is better)" in out
    for row in comparison.table:
        assert f"| {row['method']} " in out
        assert 0.0 <= row["localization"] <= 1.0
    assert len(comparison.methods) == 8
    assert result["picture"] == tmp_path / "compare.png"
    with Image.open(result["picture"]) as picture:
        assert picture.format == "PNG"


def test_image_classifier_logs_localization_per_epoch(tmp_path: Path, capsys) -> None:
    argv = ["--train", "128", "--epochs", "2", "--steps", "4", "--filters", "4"]
    result = _load("image_classifier").main([*argv, "--logdir", str(tmp_path)])
    assert len(result["localization"]) == 2
    assert all(0.0 <= v <= 1.0 for v in result["localization"])
    assert (tmp_path / "integrated_gradients").is_dir()
    with Image.open(result["picture"]) as picture:
        assert picture.mode == "RGB"
    assert f"tensorboard --logdir {tmp_path}" in capsys.readouterr().out


def test_shortcut_attribution_moves_from_watermark_to_object(tmp_path: Path) -> None:
    argv = ["--train", "400", "--epochs", "3", "--probes", "8", "--steps", "16"]
    result = _load("shortcut").main([*argv, "--out", str(tmp_path)])
    shortcut, fixed = result["shortcut"], result["fixed"]
    # The watermark is 9 of 1024 pixels; the shortcut model puts a large part
    # of its evidence there, the retrained one hardly any.
    assert shortcut["watermark"] > 0.25
    assert shortcut["watermark"] > 5 * fixed["watermark"]
    assert fixed["object"] > shortcut["object"] + 0.05
    # Accuracy alone looks perfect on data with the same flaw.
    assert shortcut["accuracy"] == 1.0
    assert (tmp_path / "shortcut.png").is_file()


def test_text_keywords_carry_the_attribution(tmp_path: Path) -> None:
    argv = ["--train", "500", "--epochs", "3", "--probes", "16", "--steps", "16"]
    result = _load("text_sentiment").main([*argv, "--out", str(tmp_path)])
    assert result["keyword_share"] > 2 * result["chance"]
    assert result["keyword_share"] > 0.5
    assert (tmp_path / "tokens.png").is_file()


def test_tabular_completeness_and_irrelevant_features(tmp_path: Path) -> None:
    argv = ["--train", "500", "--epochs", "10", "--rows", "16", "--steps", "64"]
    result = _load("tabular_regression").main([*argv, "--out", str(tmp_path)])
    assert result["max_abs_gap"] < 0.01 * result["span"]
    assert result["irrelevant"] < 0.2 * result["relevant"]
    assert (tmp_path / "row0.png").is_file()


def test_class_contrast_each_f_is_complete(tmp_path: Path) -> None:
    argv = ["--train", "200", "--epochs", "1", "--probes", "4", "--steps", "16"]
    result = _load("class_contrast").main([*argv, "--out", str(tmp_path)])
    assert set(result) == {"probability", "logit", "disc - square"}
    for name, r in result.items():
        assert r["max_relative_gap"] < 0.05, name
    # The probability is bounded; a logit and a difference of logits are not.
    assert 0.0 <= result["probability"]["F(x)"] <= 1.0
    assert (tmp_path / "contrast.png").is_file()


def test_serving_returns_the_same_attributions_after_export(tmp_path: Path) -> None:
    argv = ["--train", "128", "--epochs", "1", "--steps", "16"]
    result = _load("serving").main([*argv, "--export-dir", str(tmp_path / "served")])
    assert result["shapes"] == {"probabilities": (5, 4), "attributions": (5, 32, 32, 1)}
    assert result["max_abs_diff"] < 1e-5
    assert (tmp_path / "served" / "saved_model.pb").is_file()
