"""Pictures and HTML of text and generation explanations decode and fit."""

from __future__ import annotations

import pytest

pytest.importorskip("keras_hub")

import html

from PIL import Image

import keras_ig
from tests.helpers import hub_models


@pytest.fixture(scope="module")
def text_exp():
    model = hub_models.bert_classifier(num_classes=2)
    return keras_ig.explain_text(model, ["the movie was good", "a bad cats"], steps=8)


@pytest.fixture(scope="module")
def gen():
    lm = hub_models.gpt2_lm(sequence_length=16, seed=2)
    return keras_ig.explain_generation(lm, "the cat", max_new_tokens=4, steps=8)


@pytest.mark.slow
def test_text_pictures_decode(text_exp, tmp_path):
    path = text_exp.save(tmp_path / "text.png")
    assert path == tmp_path / "text.png"
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG" and img.mode == "RGB"
        assert 40 <= img.width <= 820 and 40 <= img.height <= 400
    pictures = text_exp.to_images(max_width=300)
    assert len(pictures) == 2 and all(p.width <= 300 for p in pictures)
    # A positive token is drawn red-ish, so the colours carry the sign.
    assert any(p.getcolors(1 << 16) and len(p.getcolors(1 << 16)) > 10 for p in pictures)


@pytest.mark.slow
def test_generation_matrix_decodes_with_a_cell_per_entry(gen, tmp_path):
    path = gen.save(tmp_path / "gen")
    assert path.suffix == ".png"
    g, length = gen.attributions.shape
    with Image.open(path) as img:
        img.load()
        assert img.mode == "RGB"
        assert img.width >= length * 18 and img.height >= g * 18
        assert img.width <= length * 18 + 400 and img.height <= g * 18 + 400
    small = gen.to_image(cell=6)
    assert small.width < gen.to_image(cell=18).width


def test_html_shows_every_token_and_cell(text_exp, gen):
    page = text_exp._repr_html_()
    for tokens in text_exp.tokens:
        for t in tokens:
            assert html.escape(t) in page
    table = gen._repr_html_()
    assert table.count("<td") == gen.attributions.size
    assert all(html.escape(t) in table for t in gen.tokens)


def test_bad_paths_and_options_are_named(text_exp, gen, tmp_path):
    with pytest.raises(ValueError, match="path"):
        text_exp.save(tmp_path / "text.jpg")
    with pytest.raises(TypeError, match="path"):
        gen.save(3)
    with pytest.raises(ValueError, match="cell"):
        gen.to_image(cell=1)
