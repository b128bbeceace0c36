"""`keras_ig.blur_ig` and `keras_ig.guided_ig`: agreement with PAIR saliency, keywords, checks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from tests.helpers import models, pair

saliency = pytest.importorskip("saliency.core")


@pytest.fixture
def pair_quantile(monkeypatch):
    # PAIR's GuidedIG calls np.quantile(..., interpolation=), gone in NumPy 2.
    monkeypatch.setattr(np, "quantile", pair.quantile_shim(np.quantile))


def test_blur_ig_agrees_with_pair_blur_ig():
    model, x = pair.image_cnn(), pair.images()
    exp = keras_ig.blur_ig(model, x, target=1, max_sigma=5.0, steps=20, batch_size=16, warn=False)
    call = pair.call_model_function(model, 1)
    ref = np.stack(
        [saliency.BlurIG().GetMask(xi, call, max_sigma=5.0, steps=20, batch_size=7) for xi in x]
    )
    # float32 blurs summed in another order (matmuls vs scipy's float64 taps): ~1e-5 of the peak.
    np.testing.assert_allclose(exp.attributions, ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    assert np.abs(ref).max() > 1e-3  # a real map, not zeros


@pytest.mark.slow
@pytest.mark.parametrize("fraction, max_dist", [(0.25, 0.02), (0.1, 0.2)])
def test_guided_ig_agrees_with_pair_guided_ig(pair_quantile, fraction, max_dist):
    model, x = pair.image_cnn(), pair.images()
    exp = keras_ig.guided_ig(
        model, x, target=2, steps=16, fraction=fraction, max_dist=max_dist, warn=False
    )
    call = pair.call_model_function(model, 2)
    ref = np.stack(
        [
            saliency.GuidedIG().GetMask(xi, call, x_steps=16, fraction=fraction, max_dist=max_dist)
            for xi in x
        ]
    )
    # Same float64 path as PAIR, same selections: measured 5e-8 of the peak (float32 output).
    np.testing.assert_allclose(exp.attributions, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    assert np.abs(ref).max() > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_guided_ig_selects_ties_in_the_gradient_together_as_pair_does(pair_quantile, fraction):
    # F = w . relu_0.5(x): |dF/dx| is 0 (below 0.5) or one of {1, 2}: long runs of equal
    # values, so PAIR's rounds end where a run ends, not every `fraction` of the features.
    inp = keras.Input((6, 5, 2))
    h = keras.layers.ReLU(threshold=0.5)(keras.layers.Flatten()(inp))
    dense = keras.layers.Dense(1, use_bias=False)
    model = keras.Model(inp, dense(h))
    w = np.random.default_rng(1).choice([-2.0, -1.0, 1.0, 2.0], size=(60, 1))
    dense.kernel.assign(w.astype("float32"))
    x = pair.images(3)[:, :6, :5, :2] * 0.5 + 0.5
    exp = keras_ig.guided_ig(model, x, target=0, steps=9, fraction=fraction, warn=False)
    call = pair.call_model_function(model, 0)
    ref = np.stack(
        [saliency.GuidedIG().GetMask(xi, call, x_steps=9, fraction=fraction) for xi in x]
    )
    np.testing.assert_allclose(exp.attributions, ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    assert np.abs(ref).max() > 1e-2


def test_blur_ig_completeness_to_the_fully_blurred_image():
    model, x = pair.image_cnn(), pair.images()
    gaps = []
    for steps in (4, 64):
        exp = keras_ig.blur_ig(model, x, target=0, max_sigma=4.0, steps=steps, warn=False)
        blurred = exp.baseline
        f_blur = model(blurred).numpy()[:, 0]
        np.testing.assert_allclose(exp.baseline_scores, f_blur, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            exp.delta, exp.attributions.sum(axis=(1, 2, 3)) - (exp.scores - f_blur), atol=1e-6
        )
        gaps.append(np.abs(exp.delta).max())
    assert gaps[1] < gaps[0] / 4
    assert np.all(np.abs(exp.relative_delta) < 0.05)


@pytest.mark.slow
def test_guided_ig_completeness_improves_with_steps():
    model, x = pair.image_cnn(), pair.images()
    gaps = []
    for steps in (4, 64):
        exp = keras_ig.guided_ig(model, x, target=1, steps=steps, warn=False)
        np.testing.assert_allclose(
            exp.scores - exp.baseline_scores,
            model(x).numpy()[:, 1] - model(0 * x).numpy()[:, 1],
            atol=1e-6,
        )
        gaps.append(np.abs(exp.delta).max())
    assert gaps[1] < gaps[0] / 4
    assert np.all(np.abs(exp.relative_delta) < 0.05)


@pytest.mark.slow
@pytest.mark.parametrize("method", [keras_ig.blur_ig, keras_ig.guided_ig])
def test_batch_size_never_changes_results(method):
    model, x = pair.image_cnn("float64"), pair.images(dtype="float64")
    runs = [method(model, x, steps=8, batch_size=b, target=1, warn=False) for b in (1, 2, 5, None)]
    for other in runs[1:]:
        np.testing.assert_allclose(other.attributions, runs[0].attributions, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(other.delta, runs[0].delta, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("method", [keras_ig.blur_ig, keras_ig.guided_ig])
def test_every_kind_of_target_and_logits(method):
    model, x = pair.image_cnn(softmax=True), pair.images()
    logits = keras.Model(model.input, model.get_layer("logits").output)
    opts = {"steps": 6, "warn": False}
    predicted = np.argmax(model(x).numpy(), 1)
    by_none = method(model, x, **opts)
    np.testing.assert_array_equal(by_none.target, predicted)
    by_rows = method(model, x, target=predicted, **opts)
    np.testing.assert_allclose(by_rows.attributions, by_none.attributions, atol=1e-7)
    by_int = method(model, x, target=2, **opts)
    by_fn = method(model, x, target=lambda y: y[:, 2], **opts)
    assert by_fn.target is None
    np.testing.assert_allclose(by_fn.attributions, by_int.attributions, atol=1e-7)
    via_logits = method(model, x, target=2, output="logits", **opts)
    direct = method(logits, x, target=2, **opts)
    np.testing.assert_allclose(via_logits.attributions, direct.attributions, atol=1e-7)
    assert not np.allclose(via_logits.attributions, by_int.attributions, atol=1e-6)


@pytest.mark.slow
def test_guided_ig_at_a_layer_on_the_line_is_left_riemann_ig():
    # max_dist=0 pins the path to the straight line: IG with the left Riemann rule.
    model = models.text_model()
    ids = np.random.default_rng(0).integers(1, 30, size=(4, 7)).astype("int32")
    exp = keras_ig.guided_ig(model, ids, layer="emb", steps=16, max_dist=0.0, target=1)
    ig = keras_ig.explain(model, ids, layer="emb", steps=16, method="left", target=1, warn=False)
    assert exp.attributions.shape == (4, 7, 5)
    np.testing.assert_allclose(exp.attributions, ig.attributions, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(exp.baseline_scores, ig.baseline_scores, atol=1e-6)


@pytest.mark.slow
def test_datasets_and_out(tmp_path):
    model, x = pair.image_cnn(), pair.images(5)
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(5))).batch(2)
    for method in (keras_ig.blur_ig, keras_ig.guided_ig):
        whole = method(model, x, steps=6, target=1, warn=False)
        path = tmp_path / f"{method.__name__}.npy"
        streamed = method(model, data, steps=6, target=1, out=path, verbose=0, warn=False)
        assert isinstance(streamed.attributions, np.memmap)
        np.testing.assert_allclose(streamed.attributions, whole.attributions, atol=1e-7)
        np.testing.assert_allclose(np.load(path), whole.attributions, atol=1e-7)
        np.testing.assert_allclose(streamed.delta, whole.delta, atol=1e-7)


@pytest.mark.slow
def test_results_render_like_explain(tmp_path):
    model, x = pair.image_cnn(), pair.images(2)
    for method in (keras_ig.blur_ig, keras_ig.guided_ig):
        exp = method(model, x, steps=4, target=0, warn=False)
        assert exp.method == method.__name__ and exp.steps == 4
        exp.save(tmp_path / f"{method.__name__}.png")
        assert (tmp_path / f"{method.__name__}.png").stat().st_size > 0


@pytest.mark.slow
def test_the_users_model_is_untouched():
    model, x = pair.image_cnn(softmax=True), pair.images(2)
    before = [w.copy() for w in model.get_weights()]
    calls = {type(layer): type(layer).__dict__.get("call") for layer in model.layers}
    keras_ig.blur_ig(model, x, steps=4, output="logits", warn=False)
    keras_ig.guided_ig(model, x, steps=4, output="logits", warn=False)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert {type(layer): type(layer).__dict__.get("call") for layer in model.layers} == calls


def test_bad_input_names_the_argument():
    model, x = pair.image_cnn(), pair.images(2)
    with pytest.raises(ValueError, match="layer"):
        keras_ig.blur_ig(model, x, layer="logits")
    flat = models.mlp()
    with pytest.raises(ValueError, match=r"x: blur_ig needs images \[N, H, W, C\]"):
        keras_ig.blur_ig(flat, np.ones((2, 6), "float32"))
    a, b = keras.Input((3,)), keras.Input((2,))
    two = keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    with pytest.raises(ValueError, match=r"^x: .*single-input"):
        keras_ig.blur_ig(two, [np.ones((2, 3), "float32"), np.ones((2, 2), "float32")])
    with pytest.raises(ValueError, match="out="):
        keras_ig.guided_ig(
            two, [np.ones((2, 3), "float32"), np.ones((2, 2), "float32")], out="a.npy"
        )
    bad = [
        (keras_ig.blur_ig, {"max_sigma": 0.0}, ValueError, "max_sigma"),
        (keras_ig.blur_ig, {"grad_step": -1.0}, ValueError, "grad_step"),
        (keras_ig.blur_ig, {"max_sigma": "big"}, TypeError, "max_sigma"),
        (keras_ig.blur_ig, {"steps": 0}, ValueError, "steps"),
        (keras_ig.guided_ig, {"fraction": 0.0}, ValueError, "fraction"),
        (keras_ig.guided_ig, {"max_dist": 1.5}, ValueError, "max_dist"),
        (keras_ig.guided_ig, {"batch_size": 0}, ValueError, "batch_size"),
        (keras_ig.guided_ig, {"target": 7}, ValueError, "target"),
        (keras_ig.guided_ig, {"baseline": np.ones((5, 5))}, ValueError, "baseline"),
    ]
    for method, kwargs, error, name in bad:
        with pytest.raises(error, match=name):
            method(model, x, **kwargs)


@pytest.mark.slow
def test_a_large_gap_warns_by_default():
    model, x = pair.image_cnn(), pair.images(2)
    with pytest.warns(keras_ig.CompletenessWarning, match="guided_ig"):
        keras_ig.guided_ig(model, x, steps=1, max_dist=1.0, fraction=1.0, target=0)
