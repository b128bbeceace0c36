"""Datasets, tf.distribute, XLA, mixed precision and tolerance-driven steps."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from tests.helpers import two_cpus
from tests.helpers.models import cnn, mlp, rand, text_model


@pytest.mark.parametrize("form", ["x", "xy", "xyw"])
def test_dataset_forms_match_arrays_in_order(form: str) -> None:
    model, x = mlp(), rand(10, 6)
    y, w = np.arange(10), np.ones(10)
    elements = {"x": x, "xy": (x, y), "xyw": (x, y, w)}[form]
    ds = tf.data.Dataset.from_tensor_slices(elements).batch(4)
    ref = keras_ig.explain(model, x, steps=16)
    exp = keras_ig.explain(model, ds, steps=16, verbose=0)
    np.testing.assert_allclose(exp.attributions, ref.attributions, atol=1e-6)
    np.testing.assert_array_equal(exp.target, ref.target)
    np.testing.assert_allclose(exp.delta, ref.delta, atol=1e-6)
    assert exp.steps_used.tolist() == [16] * 10


def test_dataset_streams_into_npy(tmp_path) -> None:
    model, x = cnn(), rand(9, 12, 12, 1, high=255)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(4)
    path = tmp_path / "sub" / "attributions.npy"
    exp = keras_ig.explain(model, ds, steps=8, output="logits", out=path, verbose=0)
    assert isinstance(exp.attributions, np.memmap)
    on_disk = np.load(path)
    assert on_disk.shape == x.shape and on_disk.dtype == np.float32
    ref = keras_ig.explain(model, x, steps=8, output="logits")
    np.testing.assert_allclose(on_disk, ref.attributions, atol=1e-6)


def test_dataset_with_layer_attribution_and_progress(capsys) -> None:
    model = text_model()
    ids = np.random.default_rng(0).integers(1, 30, size=(6, 7)).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((ids, np.zeros(6))).batch(4)
    exp = keras_ig.explain(model, ds, layer="emb", steps=16, target=1, verbose=1)
    ref = keras_ig.explain(model, ids, layer="emb", steps=16, target=1)
    np.testing.assert_allclose(exp.attributions, ref.attributions, atol=1e-6)
    assert "inputs" in capsys.readouterr().out


def test_dataset_bad_input() -> None:
    model = mlp()
    wrong = tf.data.Dataset.from_tensor_slices(rand(4, 5)).batch(2)
    with pytest.raises(ValueError, match=r"dataset's elements have shape \(None, 5\)"):
        keras_ig.explain(model, wrong)
    with pytest.raises(ValueError, match="infinite"):
        keras_ig.explain(model, tf.data.Dataset.from_tensor_slices(rand(4, 6)).batch(2).repeat())
    with pytest.raises(ValueError, match="empty"):
        keras_ig.explain(model, tf.data.Dataset.from_tensor_slices(rand(4, 6)).batch(2).take(0))


@pytest.mark.slow
def test_xla_equals_default_path() -> None:
    model, x = cnn(), rand(5, 12, 12, 1, high=255)
    ref = keras_ig.explain(model, x, steps=16, output="logits", batch_size=7)
    xla = keras_ig.explain(model, x, steps=16, output="logits", batch_size=7, jit_compile=True)
    np.testing.assert_allclose(xla.attributions, ref.attributions, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xla.scores, ref.scores, rtol=1e-5)
    text = text_model()
    ids = np.random.default_rng(1).integers(1, 30, size=(3, 7)).astype("int32")
    a = keras_ig.explain(text, ids, layer="emb", steps=8, target=0, jit_compile=True, batch_size=5)
    b = keras_ig.explain(text, ids, layer="emb", steps=8, target=0)
    np.testing.assert_allclose(a.attributions, b.attributions, rtol=1e-4, atol=1e-6)


@pytest.fixture
def mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.slow
def test_mixed_precision_gives_float32_attributions(mixed_precision) -> None:
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            keras.layers.Conv2D(4, 3, activation="tanh"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, dtype="float32"),
        ]
    )
    x = rand(4, 12, 12, 1)
    exp = keras_ig.explain(model, x, steps=64, target=1)
    assert exp.attributions.dtype == np.float32 and exp.delta.dtype == np.float32
    keras.mixed_precision.set_global_policy("float32")
    full = keras.models.clone_model(model)
    full.set_weights(model.get_weights())
    ref = keras_ig.explain(full, x, steps=64, target=1)
    # float16 compute costs about three significant digits, no more.
    scale = np.abs(ref.attributions).max()
    assert np.abs(exp.attributions - ref.attributions).max() < 3e-3 * scale
    assert np.all(exp.relative_delta < 5e-3)


def test_mixed_precision_layer_attribution(mixed_precision) -> None:
    inp = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 4, name="emb")(inp)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inp, keras.layers.Dense(2, dtype="float32")(h))
    ids = np.random.default_rng(0).integers(1, 20, size=(3, 6)).astype("int32")
    exp = keras_ig.explain(model, ids, layer="emb", steps=16, target=0)
    assert exp.attributions.dtype == np.float32
    assert np.all(exp.relative_delta < 1e-2)


def _sharp() -> keras.Model:
    """A model whose path integrand is sharp for some inputs, smooth for others."""
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )
    kernel, bias = model.layers[0].get_weights()
    model.layers[0].set_weights([kernel * 6, bias])
    return model


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid", "riemann_middle"])
def test_tolerance_converges_and_reports_steps(method: str) -> None:
    model = _sharp()
    x = np.concatenate([rand(6, 4, low=-0.05, high=0.05), rand(2, 4, low=-1, high=1, seed=3)])
    exp = keras_ig.explain(model, x, steps=4, method=method, tolerance=1e-3, max_steps=2048)
    assert exp.converged.all()
    assert np.all(exp.relative_delta <= 1e-3 + 1e-5)
    assert exp.steps_used.min() < exp.steps_used.max()  # near-linear inputs stop early
    assert exp.steps == exp.steps_used.max()
    fixed = keras_ig.explain(model, x, steps=int(exp.steps_used.max()), method=method, warn=False)
    np.testing.assert_allclose(exp.scores, fixed.scores, rtol=1e-6)


def test_nested_refinement_equals_direct_rule() -> None:
    model, x = _sharp(), rand(3, 4, low=-1, high=1, seed=3)
    exp = keras_ig.explain(
        model, x, steps=3, method="riemann_trapezoid", tolerance=1e-9, max_steps=9, warn=False
    )
    assert exp.steps_used.tolist() == [9, 9, 9]  # 3 -> 5 -> 9 points, reusing each
    direct = keras_ig.explain(model, x, steps=9, method="riemann_trapezoid", warn=False)
    np.testing.assert_allclose(exp.attributions, direct.attributions, rtol=1e-5, atol=1e-7)


def test_tolerance_warns_when_max_steps_too_small() -> None:
    model, x = _sharp(), rand(3, 4, low=-1, high=1, seed=3)
    with pytest.warns(keras_ig.CompletenessWarning, match="max_steps"):
        exp = keras_ig.explain(
            model, x, steps=1, method="riemann_left", tolerance=1e-6, max_steps=4
        )
    assert not exp.converged.all()
    assert exp.steps_used.max() == 4


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tolerance": 0}, ValueError, "tolerance must be > 0"),
        ({"tolerance": -0.1}, ValueError, "tolerance must be > 0"),
        ({"tolerance": "small"}, TypeError, "tolerance"),
        ({"tolerance": 0.01, "steps": 64, "max_steps": 32}, ValueError, "max_steps"),
        ({"strategy": "mirrored"}, TypeError, "strategy must be"),
    ],
)
def test_scale_options_validation(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        keras_ig.explain(mlp(), rand(2, 6), **kwargs)


DISTRIBUTED = """
    from tests.helpers.models import cnn, rand
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = cnn()  # variables mirrored on both devices
    x = rand(7, 12, 12, 1, high=255)
    ref = keras_ig.explain(model, x, steps=16, output="logits", baseline="uniform", seed=1)
    dist = keras_ig.explain(model, x, steps=16, output="logits", baseline="uniform", seed=1,
                            strategy=strategy)
    one = keras_ig.explain(model, x[:1], steps=16, output="logits", strategy=strategy)
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(7))).batch(3)
    streamed = keras_ig.explain(model, ds, steps=16, output="logits", strategy=strategy,
                                verbose=0)
    plain = keras_ig.explain(model, x, steps=16, output="logits")
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "max_diff": float(np.abs(dist.attributions - ref.attributions).max()),
        "scale": float(np.abs(ref.attributions).max()),
        "targets_equal": bool((dist.target == ref.target).all()),
        "delta_diff": float(np.abs(dist.delta - ref.delta).max()),
        "one_diff": float(np.abs(one.attributions - plain.attributions[:1]).max()),
        "dataset_diff": float(np.abs(streamed.attributions - plain.attributions).max()),
    }))
    """


@pytest.mark.slow
def test_mirrored_strategy_matches_single_device(tmp_path) -> None:
    result = two_cpus.run(DISTRIBUTED, tmp_path, "distributed.py")
    assert result["replicas"] == 2
    assert result["targets_equal"]
    assert result["max_diff"] <= 1e-5 * result["scale"] + 1e-7
    assert result["delta_diff"] < 1e-5
    assert result["one_diff"] < 1e-6
    assert result["dataset_diff"] < 1e-6
