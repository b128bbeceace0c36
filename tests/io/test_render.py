"""Tests for the pure rendering layer (`keras_ig._numpy.colors`, `keras_ig.render`)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from keras_ig import render
from keras_ig._numpy import colors

RED = colors.POSITIVE_RGB
BLUE = colors.NEGATIVE_RGB
WHITE = (255, 255, 255)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _pixels(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img)


def _is(pixels: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.all(pixels == np.asarray(rgb, dtype=np.uint8), axis=-1)


# --------------------------------------------------------------------------
# no TensorFlow


# --------------------------------------------------------------------------
# normalize


def test_normalize_signed_bounds_and_sign():
    a = _rng().normal(size=(16, 16)) * 7.0
    v = colors.normalize(a)
    assert v.shape == a.shape
    assert v.dtype == np.float32
    assert v.min() >= -1.0
    assert v.max() <= 1.0
    assert v.min() == -1.0 or v.max() == 1.0
    np.testing.assert_array_equal(np.sign(v), np.sign(a))


def test_normalize_unsigned_is_magnitude_in_unit_interval():
    a = _rng(1).normal(size=(9, 11))
    u = colors.normalize(a, signed=False, clip_percentile=100.0)
    s = colors.normalize(a, signed=True, clip_percentile=100.0)
    assert u.min() >= 0.0
    assert u.max() == pytest.approx(1.0)
    np.testing.assert_allclose(u, np.abs(s))
    np.testing.assert_allclose(u, np.abs(a) / np.abs(a).max(), rtol=1e-6)


def test_normalize_percentile_clipping_ignores_single_outlier():
    a = np.ones((20, 20))
    a[0, 0] = 0.5
    a[5, 5] = 1000.0  # one outlier among 400 values
    v = colors.normalize(a, clip_percentile=99.0)
    assert v[1, 1] == pytest.approx(1.0)
    assert v[0, 0] == pytest.approx(0.5)
    assert v[5, 5] == pytest.approx(1.0)  # clipped, not 1000
    # Plain max scaling is what the percentile protects against.
    w = colors.normalize(a, clip_percentile=100.0)
    assert w[1, 1] == pytest.approx(0.001)


def test_normalize_negative_outlier_clips_to_minus_one():
    a = np.full((20, 20), -2.0)
    a[3, 3] = -500.0
    v = colors.normalize(a)
    assert v[0, 0] == pytest.approx(-1.0)
    assert v[3, 3] == pytest.approx(-1.0)


def test_normalize_sparse_map_falls_back_to_max():
    a = np.zeros((20, 20))
    a[4, 4] = -3.0  # 99th percentile of |a| is 0
    v = colors.normalize(a)
    assert v[4, 4] == pytest.approx(-1.0)
    assert np.count_nonzero(v) == 1


@pytest.mark.parametrize("signed", [True, False])
def test_normalize_zero_map_gives_zeros(signed):
    v = colors.normalize(np.zeros((5, 6)), signed=signed)
    np.testing.assert_array_equal(v, np.zeros((5, 6), dtype=np.float32))
    assert not np.isnan(v).any()


@pytest.mark.parametrize("pct", [0, 0.0, -1.0, 100.5, 1000])
def test_normalize_rejects_out_of_range_percentile(pct):
    with pytest.raises(ValueError, match="clip_percentile"):
        colors.normalize(np.ones((2, 2)), clip_percentile=pct)


@pytest.mark.parametrize("pct", ["99", None, True])
def test_normalize_rejects_non_numeric_percentile(pct):
    with pytest.raises(TypeError, match="clip_percentile"):
        colors.normalize(np.ones((2, 2)), clip_percentile=pct)


def test_normalize_validates_attr():
    with pytest.raises(ValueError, match="attr"):
        colors.normalize(np.ones(4))
    with pytest.raises(ValueError, match="attr"):
        colors.normalize(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match="attr"):
        colors.normalize(np.array([["a", "b"]]))


# --------------------------------------------------------------------------
# colour maps


def test_diverging_end_points_and_white_zero():
    c = colors.diverging(np.array([1.0, -1.0, 0.0]))
    assert c.dtype == np.uint8
    assert c.shape == (3, 3)
    r, g, b = (int(x) for x in c[0])
    assert r > g + 100 and r > b + 100
    r, g, b = (int(x) for x in c[1])
    assert b > r + 100 and b > g + 50
    assert tuple(c[2]) == WHITE
    assert tuple(c[0]) == RED
    assert tuple(c[1]) == BLUE


def test_diverging_is_linear_from_white_to_each_end():
    v = np.linspace(-1.0, 1.0, 41)
    end = np.where((v >= 0)[:, None], np.array(RED, float), np.array(BLUE, float))
    expected = np.rint(255.0 + np.abs(v)[:, None] * (end - 255.0))
    np.testing.assert_array_equal(colors.diverging(v), expected.astype(np.uint8))


@pytest.mark.parametrize("n", [1, 2, 7, 1024])
@pytest.mark.parametrize("q", [0.5, 50.0, 99.0, 99.9, 100.0])
def test_percentile_is_numpys(n, q):
    values = np.abs(_rng(n).normal(size=n))
    assert colors._percentile(values, q) == pytest.approx(np.percentile(values, q), rel=1e-12)


def test_diverging_is_monotone_towards_end_points_and_clips():
    c = colors.diverging(np.array([0.25, 0.5, 1.0, 3.0, -0.5, -7.0])).astype(int)
    assert c[0, 1] > c[1, 1] > c[2, 1]  # green fades as red strengthens
    assert tuple(c[3]) == RED
    assert tuple(c[5]) == BLUE
    assert c[4, 0] > BLUE[0]  # half-way blue is lighter than full blue


def test_diverging_keeps_leading_shape():
    assert colors.diverging(np.zeros((4, 5))).shape == (4, 5, 3)


def test_sequential_ramp():
    c = colors.sequential(np.array([0.0, 1 / 3, 2 / 3, 1.0, -1.0, 2.0]))
    assert c.dtype == np.uint8
    assert tuple(c[0]) == (0, 0, 0)
    assert tuple(c[1]) == (255, 0, 0)
    assert tuple(c[2]) == (255, 255, 0)
    assert tuple(c[3]) == (255, 255, 255)
    assert tuple(c[4]) == (0, 0, 0)
    assert tuple(c[5]) == (255, 255, 255)


# --------------------------------------------------------------------------
# to_display / reduce_channels


def test_to_display_keeps_unit_range():
    x = _rng(2).uniform(size=(4, 5, 3))
    out = colors.to_display(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, x, rtol=1e-6)


def test_to_display_divides_byte_range():
    x = np.array([[0, 128, 255]], dtype=np.uint8)
    out = colors.to_display(x)
    assert out.shape == (1, 3, 3)
    np.testing.assert_allclose(out[0, :, 0], [0.0, 128 / 255, 1.0], rtol=1e-6)


def test_to_display_min_max_scales_other_ranges():
    x = np.array([[-1.0, 0.0, 3.0]])
    out = colors.to_display(x)
    np.testing.assert_allclose(out[0, :, 1], [0.0, 0.25, 1.0])
    x = np.array([[100.0, 300.0]])  # above 255
    np.testing.assert_allclose(colors.to_display(x)[0, :, 2], [0.0, 1.0])


def test_to_display_constant_out_of_range_image_is_zero():
    out = colors.to_display(np.full((3, 3), -4.0))
    np.testing.assert_array_equal(out, np.zeros((3, 3, 3), dtype=np.float32))


def test_to_display_grey_inputs_repeat_into_three_channels():
    x = _rng(3).uniform(size=(6, 7))
    for grey in (x, x[..., None]):
        out = colors.to_display(grey)
        assert out.shape == (6, 7, 3)
        for ch in range(3):
            np.testing.assert_allclose(out[..., ch], x, rtol=1e-6)


@pytest.mark.parametrize("shape", [(4,), (4, 4, 2), (1, 4, 4, 3), (4, 4, 4)])
def test_to_display_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match="image"):
        colors.to_display(np.zeros(shape))


def test_reduce_channels():
    a = _rng(4).normal(size=(3, 4, 5))
    np.testing.assert_allclose(colors.reduce_channels(a), a.sum(axis=-1))
    b = _rng(5).normal(size=(3, 4))
    np.testing.assert_array_equal(colors.reduce_channels(b), b)
    with pytest.raises(ValueError, match="attr"):
        colors.reduce_channels(np.zeros(3))
    with pytest.raises(ValueError, match="attr"):
        colors.reduce_channels(np.zeros((1, 2, 3, 4)))


# --------------------------------------------------------------------------
# attribution_map


def test_attribution_map_upscales_by_integer_factor_with_nearest():
    a = _rng(6).normal(size=(28, 28))
    img = render.attribution_map(a, min_size=128)
    assert img.mode == "RGB"
    assert img.size == (140, 140)  # ceil(128 / 28) = 5
    px = _pixels(img)
    blocks = px.reshape(28, 5, 28, 5, 3)
    # Each input pixel is a constant 5x5 block of exactly its colour.
    expected = colors.diverging(colors.normalize(a))
    np.testing.assert_array_equal(
        blocks, expected[:, None, :, None, :].repeat(5, axis=1).repeat(5, axis=3)
    )


def test_attribution_map_non_square_and_no_upscale():
    a = _rng(7).normal(size=(10, 40))
    assert render.attribution_map(a).size == (40 * 13, 10 * 13)
    assert render.attribution_map(a, min_size=0).size == (40, 10)
    assert render.attribution_map(a, min_size=10).size == (40, 10)
    assert render.attribution_map(a, min_size=11).size == (80, 20)


def test_attribution_map_sums_channels():
    a = _rng(8).normal(size=(8, 8, 3))
    np.testing.assert_array_equal(
        _pixels(render.attribution_map(a)),
        _pixels(render.attribution_map(a.sum(axis=-1))),
    )


def test_attribution_map_unsigned_uses_sequential_colours():
    a = _rng(9).normal(size=(4, 4))
    img = render.attribution_map(a, signed=False, clip_percentile=100.0, min_size=0)
    expected = colors.sequential(np.abs(a) / np.abs(a).max())
    np.testing.assert_array_equal(_pixels(img), expected)


def test_attribution_map_validation():
    with pytest.raises(ValueError, match="attr"):
        render.attribution_map(np.zeros(5))
    with pytest.raises(ValueError, match="attr"):
        render.attribution_map(np.zeros((1, 4, 4, 3)))
    with pytest.raises(ValueError, match="attr"):
        render.attribution_map(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="min_size"):
        render.attribution_map(np.zeros((4, 4)), min_size=-1)
    with pytest.raises(TypeError, match="min_size"):
        render.attribution_map(np.zeros((4, 4)), min_size=12.5)
    with pytest.raises(TypeError, match="signed"):
        render.attribution_map(np.zeros((4, 4)), signed="yes")
    with pytest.raises(ValueError, match="clip_percentile"):
        render.attribution_map(np.zeros((4, 4)), clip_percentile=0)


# --------------------------------------------------------------------------
# overlay


def test_overlay_zero_attribution_shows_dimmed_grey_probe():
    probe = np.zeros((4, 4, 3))
    probe[0, 0] = 1.0  # white pixel
    img = render.overlay(probe, np.zeros((4, 4)), min_size=0)
    px = _pixels(img).astype(int)
    assert img.size == (4, 4)
    assert np.all(px[..., 0] == px[..., 1]) and np.all(px[..., 1] == px[..., 2])
    assert tuple(px[0, 0]) == (191, 191, 191)  # 0.75 * 255, dimmed white
    assert tuple(px[1, 1]) == (64, 64, 64)  # 0.25 * 255, lifted black


def test_overlay_saturated_attribution_is_pure_colour():
    a = np.zeros((4, 4))
    a[1, 2] = 5.0
    a[3, 0] = -5.0
    probe = np.full((4, 4), 0.5)
    px = _pixels(render.overlay(probe, a, clip_percentile=100.0, min_size=0))
    assert tuple(px[1, 2]) == RED
    assert tuple(px[3, 0]) == BLUE


@pytest.mark.parametrize(
    "probe",
    [
        _rng(10).uniform(size=(12, 12)),
        _rng(11).uniform(size=(12, 12, 1)),
        _rng(12).uniform(size=(12, 12, 3)),
        _rng(13).integers(0, 256, size=(12, 12, 3)).astype(np.uint8),
    ],
    ids=["grey2d", "grey3d", "rgb", "uint8"],
)
def test_overlay_accepts_grey_and_rgb_probes(probe):
    a = _rng(14).normal(size=(12, 12, 3))
    img = render.overlay(probe, a, min_size=128)
    assert img.mode == "RGB"
    assert img.size == (132, 132)  # ceil(128 / 12) = 11


def test_overlay_mask_outline_exactly_around_the_object():
    a = _rng(15).normal(size=(10, 10))
    probe = _rng(16).uniform(size=(10, 10, 3))
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:6, 3:7] = True
    k = 4
    plain = _pixels(render.overlay(probe, a, min_size=40))
    outlined = _pixels(render.overlay(probe, a, mask=mask, min_size=40))
    assert outlined.shape == (40, 40, 3)

    # The ring just outside the upscaled object (rows [8, 24), cols [12, 28)),
    # 4-connected: the pixels above, below, left and right of it.
    r0, r1, c0, c1 = 2 * k, 6 * k, 3 * k, 7 * k
    expected = np.zeros((40, 40), dtype=bool)
    expected[r0:r1, [c0 - 1, c1]] = True
    expected[[r0 - 1, r1], c0:c1] = True

    on_outline = _is(outlined, render.OUTLINE_RGB)
    np.testing.assert_array_equal(on_outline, expected)
    # Everything off the outline, the whole object included, is the plain overlay.
    np.testing.assert_array_equal(outlined[~expected], plain[~expected])
    assert not _is(plain, render.OUTLINE_RGB).any()


def test_overlay_mask_touching_edge_is_closed_by_border():
    mask = np.zeros((5, 5), dtype=bool)
    mask[:2, :] = True
    px = _pixels(render.overlay(np.zeros((5, 5)), np.zeros((5, 5)), mask=mask, min_size=10))
    on = _is(px, render.OUTLINE_RGB)
    assert on[0, :].all()  # the image edge closes the region
    assert on[:4, 0].all() and on[:4, 9].all()
    assert on[4, :].all()  # the ring below the object
    assert not on[1:4, 1:9].any()  # the object's inside stays visible
    assert not on[5:, :].any()


def test_overlay_empty_mask_changes_nothing():
    a = _rng(17).normal(size=(6, 6))
    p = _rng(18).uniform(size=(6, 6))
    np.testing.assert_array_equal(
        _pixels(render.overlay(p, a, mask=np.zeros((6, 6), dtype=bool))),
        _pixels(render.overlay(p, a)),
    )


def test_overlay_validation():
    a = np.zeros((6, 6))
    p = np.zeros((6, 6))
    with pytest.raises(ValueError, match="mask"):
        render.overlay(p, a, mask=np.zeros((6, 5), dtype=bool))
    with pytest.raises(TypeError, match="mask"):
        render.overlay(p, a, mask=np.zeros((6, 6), dtype=int))
    with pytest.raises(ValueError, match="image"):
        render.overlay(np.zeros((5, 6)), a)
    with pytest.raises(ValueError, match="image"):
        render.overlay(np.zeros((6, 6, 2)), a)
    with pytest.raises(ValueError, match="attr"):
        render.overlay(p, np.zeros(6))
    with pytest.raises(ValueError, match="min_size"):
        render.overlay(p, a, min_size=-3)


# --------------------------------------------------------------------------
# image_panel


def test_image_panel_layout_and_parts():
    a = _rng(19).normal(size=(28, 28, 3))
    probe = _rng(20).uniform(size=(28, 28, 1))
    mask = np.zeros((28, 28), dtype=bool)
    mask[10:20, 5:15] = True
    panel = render.image_panel(probe, a, mask=mask)
    gap = render.images.PANEL_GAP
    assert panel.size == (3 * 140 + 2 * gap, 140)
    px = _pixels(panel)

    # The probe part is the probe in [0, 1] as float32, scaled to bytes.
    probe_px = np.repeat(np.repeat(probe.astype(np.float32), 5, axis=0), 5, axis=1)
    expected_probe = np.rint(np.repeat(probe_px, 3, axis=-1) * 255.0)
    expected_probe = expected_probe.astype(np.uint8)
    np.testing.assert_array_equal(px[:, :140], expected_probe)
    assert _is(px[:, 140 : 140 + gap], WHITE).all()
    np.testing.assert_array_equal(px[:, 140 + gap : 280 + gap], _pixels(render.attribution_map(a)))
    assert _is(px[:, 280 + gap : 280 + 2 * gap], WHITE).all()
    np.testing.assert_array_equal(
        px[:, 280 + 2 * gap :], _pixels(render.overlay(probe, a, mask=mask))
    )


def test_image_panel_validation():
    with pytest.raises(ValueError, match="image"):
        render.image_panel(np.zeros((4, 5)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="mask"):
        render.image_panel(np.zeros((4, 4)), np.zeros((4, 4)), mask=np.ones((3, 4), dtype=bool))


# --------------------------------------------------------------------------
# token_image


def test_token_image_backgrounds_follow_sign():
    img = render.token_image(["good", "bad", "meh"], np.array([2.0, -2.0, 0.0]))
    px = _pixels(img)
    # The top row of each box is padding, so it holds only background.
    row = px[render.fonts.MARGIN]
    red_cols = np.flatnonzero(_is(row, RED))
    blue_cols = np.flatnonzero(_is(row, BLUE))
    assert red_cols.size > 5 and blue_cols.size > 5
    assert red_cols.max() < blue_cols.min()  # "good" comes first
    # The neutral token is white; nothing else is coloured.
    assert not (~_is(row, RED) & ~_is(row, BLUE) & ~_is(row, WHITE)).any()


def test_token_image_half_score_is_lighter():
    px = _pixels(render.token_image(["a", "b"], np.array([1.0, 0.5])))
    row = px[render.fonts.MARGIN]
    half = tuple(colors.diverging(np.array(0.5)))
    assert _is(row, RED).any()
    assert _is(row, half).any()


def test_token_image_wraps_within_max_width():
    one_line = render.token_image(["word"], np.array([1.0]))
    tokens = ["token"] * 40
    img = render.token_image(tokens, np.linspace(-1, 1, 40), max_width=200)
    assert img.width <= 200
    assert img.height > 3 * one_line.height - 2 * render.fonts.MARGIN


def test_token_image_long_token_is_cut_to_width():
    img = render.token_image(["x" * 500, "y"], np.array([1.0, -1.0]), max_width=120)
    assert img.width <= 120


def test_token_image_handles_control_and_empty_tokens():
    img = render.token_image(["a\nb", "", "\t"], np.array([1.0, 0.0, -1.0]))
    assert img.height == render.token_image(["a"], np.array([1.0])).height


def test_token_image_validation():
    with pytest.raises(TypeError, match="tokens"):
        render.token_image("abc", np.ones(3))
    with pytest.raises(TypeError, match="tokens"):
        render.token_image(["a", 2], np.ones(2))
    with pytest.raises(ValueError, match="tokens"):
        render.token_image(["a", "b"], np.ones(3))
    with pytest.raises(ValueError, match="scores"):
        render.token_image([], np.ones(0))
    with pytest.raises(ValueError, match="scores"):
        render.token_image(["a"], np.ones((1, 1)))
    with pytest.raises(ValueError, match="scores"):
        render.token_image(["a"], np.array([np.inf]))
    with pytest.raises(ValueError, match="max_width"):
        render.token_image(["a"], np.ones(1), max_width=10)
    with pytest.raises(ValueError, match="clip_percentile"):
        render.token_image(["a"], np.ones(1), clip_percentile=200)


# --------------------------------------------------------------------------
# bar_chart


def _bar_row(px: np.ndarray, row: int) -> np.ndarray:
    row_h = render.bars.bar_row_height(render.fonts.font())
    return px[render.fonts.MARGIN + row * row_h + row_h // 2]


def test_bar_chart_top_k_selection_and_order():
    scores = np.array([0.1, -5.0, 0.2, 3.0, -0.3])
    np.testing.assert_array_equal(render.bars.select_features(scores, 2), [1, 3])
    img = render.bar_chart(scores, max_features=2)
    row_h = render.bars.bar_row_height(render.fonts.font())
    assert img.size == (480, 2 * render.fonts.MARGIN + 2 * row_h)
    px = _pixels(img)
    top, second = _bar_row(px, 0), _bar_row(px, 1)
    assert _is(top, BLUE).any() and not _is(top, RED).any()  # -5 first
    assert _is(second, RED).any() and not _is(second, BLUE).any()  # then 3
    # The negative bar ends where the positive one starts: at the zero line.
    assert np.flatnonzero(_is(top, BLUE)).max() < np.flatnonzero(_is(second, RED)).min()


def test_bar_chart_shows_all_when_few_and_ties_keep_order():
    scores = np.array([1.0, -1.0, 1.0])
    np.testing.assert_array_equal(render.bars.select_features(scores, 30), [0, 1, 2])
    img = render.bar_chart(scores, ["a", "b", "c"])
    row_h = render.bars.bar_row_height(render.fonts.font())
    assert img.height == 2 * render.fonts.MARGIN + 3 * row_h


def test_bar_chart_lengths_are_proportional():
    px = _pixels(render.bar_chart(np.array([1.0, 2.0, 4.0])))
    # +1: the zero line is drawn over the first column of a positive bar.
    lengths = [int(_is(_bar_row(px, r), RED).sum()) + 1 for r in range(3)]
    assert lengths[0] > lengths[1] > lengths[2] > 0  # sorted largest first
    assert lengths[1] == pytest.approx(lengths[0] / 2, abs=1)
    assert lengths[2] == pytest.approx(lengths[0] / 4, abs=1)


def test_bar_chart_all_zero_draws_no_bars():
    px = _pixels(render.bar_chart(np.zeros(4)))
    assert not (_is(px, RED) | _is(px, BLUE)).any()


def test_bar_chart_validation():
    with pytest.raises(ValueError, match="feature_names"):
        render.bar_chart(np.ones(3), ["a", "b"])
    with pytest.raises(TypeError, match="feature_names"):
        render.bar_chart(np.ones(3), "abc")
    with pytest.raises(ValueError, match="scores"):
        render.bar_chart(np.ones(0))
    with pytest.raises(ValueError, match="scores"):
        render.bar_chart(np.ones((2, 2)))
    with pytest.raises(ValueError, match="scores"):
        render.bar_chart(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="max_features"):
        render.bar_chart(np.ones(3), max_features=0)
    with pytest.raises(ValueError, match="width"):
        render.bar_chart(np.ones(3), width=50)
    with pytest.raises(TypeError, match="width"):
        render.bar_chart(np.ones(3), width=300.0)


# --------------------------------------------------------------------------
# grid


def _solid(w: int, h: int, rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (w, h), rgb)


def test_grid_size_and_placement():
    ims = [_solid(10, 10, (255, 0, 0)), _solid(10, 10, (0, 255, 0))]
    ims.append(_solid(10, 10, (0, 0, 255)))
    out = render.grid(ims, pad=4, background=(1, 2, 3))
    assert out.size == (2 * 10 + 3 * 4, 2 * 10 + 3 * 4)  # 2 columns, 2 rows
    px = _pixels(out)
    assert tuple(px[0, 0]) == (1, 2, 3)
    assert tuple(px[4, 4]) == (255, 0, 0)
    assert tuple(px[4, 18]) == (0, 255, 0)
    assert tuple(px[18, 4]) == (0, 0, 255)
    assert tuple(px[18, 18]) == (1, 2, 3)  # empty fourth cell


def test_grid_cols_capped_and_mixed_sizes_centred():
    ims = [_solid(4, 4, (0, 0, 0)), _solid(8, 6, (0, 0, 0))]
    out = render.grid(ims, cols=5, pad=0)
    assert out.size == (16, 6)
    px = _pixels(out)
    assert tuple(px[0, 0]) == WHITE
    assert tuple(px[1, 2]) == (0, 0, 0)
    assert tuple(px[0, 8]) == (0, 0, 0)


def test_grid_composites_transparent_images():
    clear = Image.new("RGBA", (3, 3), (255, 0, 0, 0))
    px = _pixels(render.grid([clear, _solid(3, 3, (9, 9, 9))], background=(7, 7, 7)))
    assert tuple(px[5, 5]) == (7, 7, 7)


def test_grid_validation():
    with pytest.raises(ValueError, match="images"):
        render.grid([])
    with pytest.raises(TypeError, match="images"):
        render.grid([np.zeros((2, 2, 3))])
    with pytest.raises(TypeError, match="images"):
        render.grid(_solid(2, 2, WHITE) for _ in range(2))
    with pytest.raises(ValueError, match="cols"):
        render.grid([_solid(2, 2, WHITE)], cols=0)
    with pytest.raises(ValueError, match="pad"):
        render.grid([_solid(2, 2, WHITE)], pad=-1)
    with pytest.raises(ValueError, match="background"):
        render.grid([_solid(2, 2, WHITE)], background=(1, 2))
    with pytest.raises(ValueError, match="background"):
        render.grid([_solid(2, 2, WHITE)], background=(0, 0, 300))
    with pytest.raises(TypeError, match="background"):
        render.grid([_solid(2, 2, WHITE)], background="white")
