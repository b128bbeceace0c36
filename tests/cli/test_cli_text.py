"""`keras-ig explain-text` and `keras-ig explain-generation` on saved tiny KerasHub models.

The good runs are subprocesses (started together: each spends seconds
importing TensorFlow); their CSV numbers are checked against
`keras_ig.explain_text` / `explain_generation` on the same model in this
process. The many ways a flag can be wrong run in-process.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras_hub")

import keras_ig
from keras_ig import cli
from tests.helpers.hub_models import bert_classifier, gpt2_lm

TEXTS = ["a good movie", "the cat sat on the mat"]
FILE_TEXTS = ["not a bad movie", "", "the dog"]  # the blank line is skipped
PROMPT = "the cat"
WORDS_TEXT = "the movies was goods"  # "movies" and "goods" are two pieces each
CONTINUATION = " sat on the mat"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("hub_cli")
    clf, lm = bert_classifier(num_classes=3, seed=1), gpt2_lm(seed=2)
    clf.save(root / "clf.keras")
    lm.save(root / "lm.keras")
    (root / "texts.txt").write_text("\n".join(FILE_TEXTS) + "\n", encoding="utf-8")
    return {"root": root, "clf": clf, "lm": lm}


def _start(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, "-m", "keras_ig", *args],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(models: dict) -> dict:
    root = models["root"]
    procs = {
        "text": _start(
            root, "explain-text", "clf.keras", "--text", TEXTS[0], "--text", TEXTS[1],
            "--file", "texts.txt", "--target", "2", "--steps", "16", "--out", "t",
        ),
        "gen": _start(
            root, "explain-generation", "lm.keras", "--prompt", PROMPT,
            "--max-new-tokens", "3", "--steps", "8", "--score", "prob", "--out", "g",
        ),
        "words": _start(
            root, "explain-text", "clf.keras", "--text", WORDS_TEXT, "--merge", "words",
            "--baseline", "zeros", "--steps", "8", "--out", "w",
        ),
        "given": _start(
            root, "explain-generation", "lm.keras", "--prompt", PROMPT, "--continuation",
            CONTINUATION, "--baseline", "zeros", "--score", "logit", "--steps", "8", "--out", "c",
        ),
    }  # fmt: skip
    done = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        done[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return done


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_explain_text_csv_equals_explain_text(models: dict, runs: dict) -> None:
    proc = runs["text"]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and "4 text(s), target 2,2,2,2" in lines[0]
    exp = keras_ig.explain_text(
        models["clf"], [*TEXTS, "not a bad movie", "the dog"], target=2, steps=16, warn=False
    )
    rows = _rows(models["root"] / "t" / "text.csv")
    expected = [
        (i, j, token, value)
        for i, (tokens, values) in enumerate(zip(exp.tokens, exp.attributions, strict=True))
        for j, (token, value) in enumerate(zip(tokens, values, strict=True))
    ]
    assert [(int(r["text"]), int(r["position"]), r["token"]) for r in rows] == [
        e[:3] for e in expected
    ]
    got = np.array([float(r["attribution"]) for r in rows])
    np.testing.assert_allclose(got, [e[3] for e in expected], rtol=1e-5, atol=1e-7)
    # The numbers are real attributions: they sum to F(text) - F(pad baseline).
    for i in range(len(exp)):
        total = sum(float(r["attribution"]) for r in rows if int(r["text"]) == i)
        expected_total = exp.scores[i] - exp.baseline_scores[i]
        assert abs(total - expected_total) < 0.05 * abs(expected_total) + 1e-6
    with Image.open(models["root"] / "t" / "text.png") as picture:
        assert picture.mode == "RGB" and picture.height > 4 * 20


@pytest.mark.slow
def test_explain_generation_csv_equals_explain_generation(models: dict, runs: dict) -> None:
    proc = runs["gen"]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and "3 generated token(s), mean prob" in lines[0]
    gen = keras_ig.explain_generation(
        models["lm"], PROMPT, max_new_tokens=3, steps=8, score="prob", warn=False
    )
    rows = _rows(models["root"] / "g" / "gen.csv")
    p = len(gen.prompt_tokens)
    assert [r["token"] for r in rows] == gen.generated_tokens
    assert [int(r["position"]) for r in rows] == list(range(p, p + len(gen)))
    for key, values in (
        ("score", gen.scores),
        ("baseline_score", gen.baseline_scores),
        ("delta", gen.delta),
    ):
        np.testing.assert_allclose([float(r[key]) for r in rows], values, rtol=1e-5, atol=1e-7)
    matrix = np.load(models["root"] / "g" / "gen.npy")
    np.testing.assert_allclose(matrix, gen.attributions, rtol=1e-5, atol=1e-7)
    with Image.open(models["root"] / "g" / "gen.png") as picture:
        assert picture.mode == "RGB" and picture.width > (p + len(gen)) * 18


TEXT_ARGV = ["explain-text", "m.keras", "--text", "a", "--out", "o"]
GEN_ARGV = ["explain-generation", "m.keras", "--prompt", "a", "--out", "o"]


@pytest.mark.slow
def test_merged_words_and_a_zero_baseline_reach_explain_text(models: dict, runs: dict) -> None:
    proc = runs["words"]
    assert proc.returncode == 0, proc.stderr
    exp = keras_ig.explain_text(
        models["clf"], [WORDS_TEXT], baseline="zeros", steps=8, merge="words", warn=False
    )
    assert len(exp.pieces[0]) > len(exp.tokens[0])  # something was merged
    rows = _rows(models["root"] / "w" / "text.csv")
    assert [r["token"] for r in rows] == exp.tokens[0]
    np.testing.assert_allclose(
        [float(r["attribution"]) for r in rows], exp.attributions[0], rtol=1e-5, atol=1e-7
    )


@pytest.mark.slow
def test_a_given_continuation_is_scored_as_explain_generation_scores_it(
    models: dict, runs: dict
) -> None:
    proc = runs["given"]
    assert proc.returncode == 0, proc.stderr
    assert "given token(s), mean logit" in proc.stdout
    gen = keras_ig.explain_generation(
        models["lm"], PROMPT, continuation=CONTINUATION, baseline="zeros", score="logit",
        steps=8, warn=False,
    )  # fmt: skip
    rows = _rows(models["root"] / "c" / "gen.csv")
    assert [r["token"] for r in rows] == gen.generated_tokens
    np.testing.assert_allclose([float(r["score"]) for r in rows], gen.scores, rtol=1e-5)
    np.testing.assert_allclose(
        np.load(models["root"] / "c" / "gen.npy"), gen.attributions, rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        ([*TEXT_ARGV, "--baseline", "blur"], "--baseline"),
        ([*TEXT_ARGV, "--baseline", "-1"], "--baseline"),
        ([*TEXT_ARGV, "--steps", "0"], "--steps"),
        ([*TEXT_ARGV, "--target", "x"], "--target"),
        ([*TEXT_ARGV, "--merge", "chars"], "--merge"),
        (["explain-text", "m.keras", "--out", "o"], "--text"),
        (["explain-text", "m.keras", "--file", "nowhere.txt", "--out", "o"], "--file"),
        (["explain-generation", "m.keras", "--out", "o"], "--prompt"),
        ([*GEN_ARGV, "--score", "x"], "--score"),
        ([*GEN_ARGV, "--max-new-tokens", "0"], "--max-new-tokens"),
    ],
)
def test_a_bad_flag_is_a_usage_error_naming_it(
    argv: list[str], flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("keras-ig explain-") and flag in last, last
    assert not (tmp_path / "o").exists()


def _one_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("keras-ig")]
    assert len(err) == 1 and err[0].startswith("keras-ig: error: "), err
    return err[0]


def test_the_wrong_kind_of_model_is_one_line_naming_model(models: dict, capsys) -> None:
    root = models["root"]
    argv = ["explain-text", str(root / "lm.keras"), "--text", "a", "--out", str(root / "x")]
    assert cli.main(argv) == 1
    assert "MODEL is a GPT2CausalLM" in _one_error(capsys)
    argv = ["explain-generation", str(root / "clf.keras"), "--prompt", "a"]
    argv += ["--out", str(root / "x")]
    assert cli.main(argv) == 1
    assert "MODEL is a BertTextClassifier" in _one_error(capsys)
    assert not (root / "x").exists()


def test_a_library_error_names_the_flag(models: dict, capsys) -> None:
    root = models["root"]
    argv = ["explain-text", str(root / "clf.keras"), "--text", "a", "--baseline", "99999"]
    assert cli.main([*argv, "--out", str(root / "y")]) == 1
    assert "--baseline" in _one_error(capsys) and not (root / "y").exists()


def test_without_keras_hub_the_error_says_how_to_install_it(
    models: dict, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "keras_hub", None)  # import keras_hub fails
    argv = ["explain-text", str(models["root"] / "clf.keras"), "--text", "a", "--out", "z"]
    assert cli.main(argv) == 1
    assert 'pip install -e ".[hub]"' in _one_error(capsys)


def test_the_parser_takes_every_baseline_and_score_of_the_library() -> None:
    from keras_ig._api.hub import BASELINES
    from keras_ig._engine.sequence import SCORES

    parser = cli.build_parser()
    for name in BASELINES:
        assert parser.parse_args([*GEN_ARGV, "--baseline", name]).baseline == name
    for name in SCORES:
        assert parser.parse_args([*GEN_ARGV, "--score", name]).score == name
    assert parser.parse_args([*GEN_ARGV, "--baseline", "7"]).baseline == 7
