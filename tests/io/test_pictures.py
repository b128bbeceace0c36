"""`Explanation.to_images` / `.save`: the right picture for each kind of input."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from PIL import Image

import keras_ig
from keras_ig import render
from keras_ig._api.explanation import Explanation
from keras_ig._io import pictures as _images

VOCAB = ["<pad>", "<unk>", "the", "film", "was", "great", "awful"]


def _exp(attributions, inputs, n=None) -> Explanation:
    n = n or len(np.asarray(inputs if inputs is not None else attributions))
    zeros = np.zeros(n, np.float32)
    return Explanation(
        attributions=attributions,
        delta=zeros,
        scores=zeros + 1,
        baseline_scores=zeros,
        target=np.zeros(n, np.int32),
        steps=8,
        method="gausslegendre",
        inputs=inputs,
    )


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


def _over_scale(picture: Image.Image, tokens: Image.Image) -> bool:
    """`picture` is the token picture `tokens` with a colour scale below it."""
    top = np.asarray(picture)[: tokens.height]
    return (
        picture.width == tokens.width
        and picture.height > tokens.height
        and np.array_equal(top, np.asarray(tokens))
    )


# Image pictures carry column titles above the panel (issue 9).
_TOP = render.compose.header(64, ("input",)).height


def _shows(picture: Image.Image, panel: Image.Image) -> bool:
    """`picture` is `panel` under its titles, with a colour scale below."""
    inner = np.asarray(picture)[_TOP : _TOP + panel.height]
    return (
        picture.width == panel.width
        and picture.height > _TOP + panel.height
        and np.array_equal(inner, np.asarray(panel))
    )


def test_image_inputs_give_the_render_panel():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(3, 12, 10, 1)).astype(np.float32)
    a = rng.normal(size=x.shape).astype(np.float32)
    masks = np.zeros((3, 12, 10), bool)
    masks[:, 2:6, 3:7] = True
    pictures = _exp(a, x).to_images(masks=masks, clip_percentile=95.0)
    assert len(pictures) == 3
    for i, picture in enumerate(pictures):
        # 10 px short side -> factor 13 to reach 128; three panels, two gaps.
        expected = render.image_panel(x[i], a[i], mask=masks[i], clip_percentile=95.0)
        assert expected.size == (3 * 10 * 13 + 8, 12 * 13)
        assert _shows(picture, expected)
        outline = np.all(np.asarray(picture) == render.OUTLINE_RGB, axis=-1)
        assert outline.any()


def test_rgb_and_grey_images_without_channel_axis():
    rng = np.random.default_rng(1)
    rgb = rng.uniform(size=(2, 8, 8, 3)).astype(np.float32)
    grey = rgb[..., 0]
    for x in (rgb, grey):
        a = rng.normal(size=x.shape).astype(np.float32)
        (picture, _) = _exp(a, x).to_images(min_size=16)
        assert _shows(picture, render.image_panel(x[0], a[0], min_size=16))


def test_layer_map_that_does_not_line_up_is_drawn_alone():
    x = np.zeros((2, 16, 16, 1), np.float32)
    a = np.random.default_rng(2).normal(size=(2, 7, 7, 4)).astype(np.float32)
    (picture, _) = _exp(a, x).to_images(signed=False)
    assert _shows(picture, render.attribution_map(a[0], signed=False))
    with pytest.raises(ValueError, match="mask"):
        _exp(a, x).to_images(masks=np.zeros((2, 7, 7), bool))


@pytest.mark.parametrize("source", ["list", "tuple", "string_lookup", "text_vectorization"])
def test_text_tokens_from_a_vocabulary(source):
    ids = np.array([[2, 3, 4, 5, 0, 0], [2, 3, 4, 6, 1, 0]], np.int32)
    a = np.random.default_rng(3).normal(size=(2, 6, 4)).astype(np.float32)
    if source == "list":
        vocabulary, words = VOCAB, VOCAB
    elif source == "tuple":
        vocabulary, words = tuple(VOCAB), VOCAB
    elif source == "string_lookup":
        vocabulary = keras.layers.StringLookup(vocabulary=VOCAB[2:], mask_token="<pad>")
        words = vocabulary.get_vocabulary()
    else:
        vocabulary = keras.layers.TextVectorization(vocabulary=VOCAB[2:])
        words = vocabulary.get_vocabulary()
    pictures = _exp(a, ids).to_images(vocabulary=vocabulary)
    # Trailing padding (id 0) is not drawn; scores are summed over D.
    lengths = [4, 5]
    for i, picture in enumerate(pictures):
        n = lengths[i]
        tokens = [words[t] for t in ids[i, :n]]
        expected = render.token_image(tokens, a[i, :n].sum(-1), clip_percentile=99.0)
        assert _over_scale(picture, expected)


def test_text_options_pad_id_and_no_vocabulary():
    ids = np.array([[7, 8, 0]], np.int32)
    scores = np.array([[0.5, -1.0, 0.25]], np.float32)  # already one per token
    (picture,) = _exp(scores, ids).to_images(pad_id=None, clip_percentile=100.0)
    assert _over_scale(picture, render.token_image(["7", "8", "0"], scores[0]))
    (short,) = _exp(scores, ids).to_images(clip_percentile=100.0)
    assert _over_scale(short, render.token_image(["7", "8"], scores[0, :2]))


def test_text_views_keep_every_score_for_statistics():
    ids = np.array([[2, 5, 0, 0]], np.int32)
    a = np.ones((1, 4, 3), np.float32)
    (row,) = _images.views(_exp(a, ids), vocabulary=VOCAB)
    (view,) = row
    assert view.kind == "text"
    np.testing.assert_array_equal(view.scores, [3.0, 3.0, 3.0, 3.0])
    assert view.tokens == ["the", "great", "<pad>", "<pad>"]
    assert view.length == 2


def test_tabular_rows_give_bar_charts():
    x = np.random.default_rng(4).normal(size=(2, 5)).astype(np.float32)
    a = x * np.array([1.0, -2.0, 0.5, 0.0, 3.0], np.float32)
    names = ["age", "income", "debt", "rooms", "score"]
    pictures = _exp(a, x).to_images(feature_names=names, chart_width=300)
    for i, picture in enumerate(pictures):
        assert _same(picture, render.bar_chart(a[i], names, width=300))
    with pytest.raises(ValueError, match="feature_names"):
        _exp(a, x).to_images(feature_names=names[:3])


def test_multi_input_explanations_are_drawn_side_by_side():
    rng = np.random.default_rng(5)
    x = {"image": rng.uniform(size=(2, 8, 8, 1)).astype(np.float32),
         "meta": rng.normal(size=(2, 3)).astype(np.float32)}  # fmt: skip
    a = {"image": rng.normal(size=(2, 8, 8, 1)).astype(np.float32), "meta": None}
    (picture, _) = _exp(a, x, n=2).to_images(min_size=8)
    assert _shows(picture, render.image_panel(x["image"][0], a["image"][0], min_size=8))
    a["meta"] = x["meta"]
    (both, _) = _exp(a, x, n=2).to_images(min_size=8)
    panel = render.image_panel(x["image"][0], a["image"][0], min_size=8)
    bars = render.bar_chart(a["meta"][0])
    assert both.width == panel.width + 4 + bars.width
    left = np.asarray(both)[_TOP : _TOP + panel.height, : panel.width]
    np.testing.assert_array_equal(left, np.asarray(panel))


def test_kind_can_be_forced_and_unknown_shapes_are_refused():
    x = np.random.default_rng(6).uniform(size=(1, 6, 6)).astype(np.float32)
    (as_bars,) = _exp(x, x).to_images(kind="tabular")
    assert _same(as_bars, render.bar_chart(x[0].reshape(-1)))
    with pytest.raises(ValueError, match="kind"):
        _exp(x, x).to_images(kind="video")
    five = np.zeros((1, 2, 2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="kind="):
        _exp(five, five).to_images()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"vocabulary": 3}, TypeError, "vocabulary"),
        ({"vocabulary": ["a", 1]}, TypeError, r"vocabulary\[1\]"),
        ({"feature_names": "abc"}, TypeError, "feature_names"),
        ({"masks": np.zeros((1, 4, 4))}, TypeError, "masks"),
        ({"masks": np.zeros((2, 4, 4), bool)}, ValueError, "masks"),
        ({"pad_id": 1.5}, TypeError, "pad_id"),
    ],
)
def test_bad_options_are_named(options, error, match):
    x = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(error, match=match):
        _exp(x, x).to_images(**options)


def test_save_grid_and_one_file_per_input(tmp_path):
    rng = np.random.default_rng(7)
    x = rng.uniform(size=(3, 8, 8, 1)).astype(np.float32)
    exp = _exp(rng.normal(size=x.shape).astype(np.float32), x)
    pictures = exp.to_images()

    (grid_file,) = exp.save(tmp_path / "out" / "ig")  # suffix added, folder made
    assert grid_file == tmp_path / "out" / "ig.png"
    with Image.open(grid_file) as img:
        assert img.format == "PNG"
        assert _same(img.convert("RGB"), render.grid(pictures))

    files = exp.save(str(tmp_path / "each.png"), grid=False)
    assert files == [tmp_path / f"each_{i}.png" for i in range(3)]
    for file, picture in zip(files, pictures, strict=True):
        with Image.open(file) as img:
            assert _same(img.convert("RGB"), picture)

    with pytest.raises(ValueError, match="png"):
        exp.save(tmp_path / "ig.jpg")
    with pytest.raises(TypeError, match="grid"):
        exp.save(tmp_path / "ig.png", grid="yes")


def test_explain_on_an_embedding_model_renders_tokens():
    inp = keras.Input((5,), dtype="int32")
    h = keras.layers.Embedding(len(VOCAB), 3, name="emb")(inp)
    out = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(h))
    model = keras.Model(inp, out)
    ids = np.array([[2, 3, 4, 5, 0]], np.int32)
    exp = keras_ig.explain(model, ids, layer="emb", steps=4)
    (picture,) = exp.to_images(vocabulary=VOCAB)
    scores = exp.attributions[0].sum(-1)
    expected = render.token_image(["the", "film", "was", "great"], scores[:4], clip_percentile=99.0)
    assert _over_scale(picture, expected)
