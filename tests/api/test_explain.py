"""explain(): the mathematics of Integrated Gradients on analytic and Keras models."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._api.explain import explainer_for
from keras_ig._numpy.quadrature import RULES
from tests.helpers.models import cnn, mlp, rand, text_model


def analytic(x: tf.Tensor) -> tf.Tensor:
    """F(x) = 5 x0 + x1^2 + sin(x2), one output unit."""
    return (5 * x[:, 0] + x[:, 1] ** 2 + tf.sin(x[:, 2]))[:, None]


def test_analytic_attributions_match_closed_form() -> None:
    x = np.array([[1.0, 2.0, 3.0], [-0.5, 0.3, 1.0]], np.float32)
    exp = keras_ig.explain(analytic, x, steps=16)
    # With a zero baseline each term is separable: IG_i = f_i(x_i) - f_i(0).
    expected = np.stack([5 * x[:, 0], x[:, 1] ** 2, np.sin(x[:, 2])], axis=1)
    np.testing.assert_allclose(exp.attributions, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(exp.delta, 0, atol=1e-5)
    np.testing.assert_allclose(exp.scores, expected.sum(1), rtol=1e-6)
    assert exp.target.tolist() == [0, 0]


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(RULES))
def test_completeness_gap_falls_with_steps_on_analytic_function(method: str) -> None:
    x = rand(4, 3, low=-2, high=2)
    gaps = [
        np.abs(keras_ig.explain(analytic, x, steps=s, method=method, warn=False).delta).max()
        for s in (4, 32, 256)
    ]
    if method == "gausslegendre":
        assert gaps[2] < 1e-5
    else:
        assert gaps[0] > gaps[1] > gaps[2]
        assert gaps[2] < 0.05


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(RULES))
def test_completeness_on_keras_cnn_every_method(method: str) -> None:
    model = cnn()
    x = rand(3, 12, 12, 1, high=255)
    rel = {
        s: keras_ig.explain(
            model, x, steps=s, method=method, output="logits", warn=False
        ).relative_delta
        for s in (8, 256)
    }
    assert np.median(rel[256]) < 1e-3
    assert np.median(rel[256]) <= np.median(rel[8]) + 1e-6


def test_paper_example_attribution_one_where_gradient_is_zero() -> None:
    def f(x):
        return 1 - tf.nn.relu(1 - x)

    x = np.array([[2.0]], np.float32)
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        y = f(xt)
    assert float(tape.gradient(y, xt)[0, 0]) == 0.0  # plain gradients say "no effect"
    exp = keras_ig.explain(f, x, steps=64, method="riemann_middle")
    assert exp.attributions[0, 0] == pytest.approx(1.0, abs=1e-6)
    assert exp.delta[0] == pytest.approx(0.0, abs=1e-6)


def test_ignored_feature_gets_exactly_zero() -> None:
    model = mlp(6, 3)
    kernel, bias = model.layers[0].get_weights()
    kernel[4] = 0.0
    model.layers[0].set_weights([kernel, bias])
    exp = keras_ig.explain(model, rand(5, 6), steps=16)
    assert np.all(exp.attributions[:, 4] == 0.0)
    assert np.all(np.abs(exp.attributions[:, :4]) > 0)


@pytest.mark.slow
def test_implementation_invariance() -> None:
    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(size=(6, 4)), rng.normal(size=(4, 2))
    a = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(2, use_bias=False, activation="tanh")]
    )
    a.set_weights([w1 @ w2])
    b = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, use_bias=False),
            keras.layers.Dense(2, use_bias=False, activation="tanh"),
        ]
    )
    b.set_weights([w1, w2])
    x = rand(4, 6)
    ea, eb = (
        keras_ig.explain(a, x, target=1, steps=32),
        keras_ig.explain(b, x, target=1, steps=32),
    )
    np.testing.assert_allclose(ea.attributions, eb.attributions, atol=1e-5)


@pytest.mark.slow
def test_linearity_of_callable_targets() -> None:
    model, x = mlp(6, 3), rand(4, 6)
    e0 = keras_ig.explain(model, x, target=lambda y: y[:, 0], steps=32)
    e2 = keras_ig.explain(model, x, target=lambda y: y[:, 2], steps=32)
    both = keras_ig.explain(model, x, target=lambda y: 3 * y[:, 0] - y[:, 2], steps=32)
    np.testing.assert_allclose(both.attributions, 3 * e0.attributions - e2.attributions, atol=1e-6)
    assert both.target is None


def test_symmetric_inputs_get_equal_attributions() -> None:
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(5, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    kernel, bias = model.layers[0].get_weights()
    kernel[1] = kernel[0]  # F symmetric in x0 and x1
    model.layers[0].set_weights([kernel, bias])
    x = np.array([[0.7, 0.7, -1.0], [2.0, 2.0, 0.5]], np.float32)
    exp = keras_ig.explain(model, x, steps=32)
    np.testing.assert_allclose(exp.attributions[:, 0], exp.attributions[:, 1], rtol=1e-5)


@pytest.mark.slow
def test_input_equal_to_baseline_gives_zeros() -> None:
    x = rand(3, 6)
    exp = keras_ig.explain(mlp(), x, baseline=x, steps=8)
    assert np.all(exp.attributions == 0)
    np.testing.assert_allclose(exp.scores, exp.baseline_scores)


def test_batch_size_never_changes_results() -> None:
    model, x = cnn(), rand(5, 12, 12, 1, high=255)
    ref = keras_ig.explain(model, x, steps=12, output="logits")
    for bs in (1, 7, 12, 59, 1000):
        exp = keras_ig.explain(model, x, steps=12, batch_size=bs, output="logits")
        np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(exp.scores, ref.scores, rtol=1e-6)
        np.testing.assert_array_equal(exp.target, ref.target)


def test_stacked_baselines_equal_mean_of_separate_runs() -> None:
    model, x = mlp(), rand(3, 6)
    stack = rand(3, 6, seed=5)  # K == N: only BaselineStack makes it a stack
    exp = keras_ig.explain(model, x, baseline=keras_ig.BaselineStack(stack), steps=16, target=1)
    runs = [keras_ig.explain(model, x, baseline=b, steps=16, target=1) for b in stack]
    np.testing.assert_allclose(
        exp.attributions, np.mean([r.attributions for r in runs], 0), atol=1e-6
    )
    np.testing.assert_allclose(
        exp.baseline_scores, np.mean([r.baseline_scores for r in runs], 0), atol=1e-6
    )
    np.testing.assert_allclose(exp.delta, np.mean([r.delta for r in runs], 0), atol=1e-6)
    per_input = keras_ig.explain(model, x, baseline=stack, steps=16, target=1)
    for i in range(3):  # a bare (N, ...) array: baseline i for input i
        np.testing.assert_allclose(per_input.attributions[i], runs[i].attributions[i], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uniform", "gaussian", "blur"])
def test_generated_baselines_complete_and_reproducible(name: str) -> None:
    model, x = cnn(), rand(2, 12, 12, 1, high=255)
    a = keras_ig.explain(model, x, baseline=name, n_baselines=3, seed=1, steps=32, output="logits")
    b = keras_ig.explain(model, x, baseline=name, n_baselines=3, seed=1, steps=32, output="logits")
    np.testing.assert_array_equal(a.attributions, b.attributions)
    assert np.all(a.relative_delta < 1e-3)


def test_targets_int_per_input_and_predicted() -> None:
    model, x = mlp(6, 3), rand(4, 6)
    probs = model.predict(x, verbose=0)
    predicted = keras_ig.explain(model, x, steps=8)
    np.testing.assert_array_equal(predicted.target, probs.argmax(1))
    np.testing.assert_allclose(predicted.scores, probs.max(1), rtol=1e-6)
    fixed = keras_ig.explain(model, x, target=2, steps=8)
    np.testing.assert_allclose(fixed.scores, probs[:, 2], rtol=1e-6)
    per = keras_ig.explain(model, x, target=[0, 1, 2, 0], steps=8)
    np.testing.assert_allclose(per.scores, probs[np.arange(4), [0, 1, 2, 0]], rtol=1e-6)


def test_regression_outputs() -> None:
    inp = keras.Input((4,))
    flat = keras.Model(inp, keras.layers.Reshape(())(keras.layers.Dense(1)(inp)))  # [N]
    x = rand(3, 4)
    exp = keras_ig.explain(flat, x, steps=4)
    np.testing.assert_allclose(exp.scores, flat.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(exp.delta, 0, atol=1e-6)


@pytest.mark.slow
def test_logits_versus_probabilities() -> None:
    model, x = cnn(), rand(3, 12, 12, 1, high=255)
    logits_model = keras.Model(model.input, model.get_layer("logits").output)
    logits = logits_model.predict(x, verbose=0)
    by_flag = keras_ig.explain(model, x, output="logits", target=1, steps=32)
    by_name = keras_ig.explain(model, x, output="logits", target=1, steps=32, batch_size=5)
    direct = keras_ig.explain(logits_model, x, target=1, steps=32)
    np.testing.assert_allclose(by_flag.scores, logits[:, 1], rtol=1e-5)
    np.testing.assert_allclose(by_flag.attributions, direct.attributions, atol=1e-6)
    np.testing.assert_allclose(by_name.attributions, direct.attributions, atol=1e-6)
    probs = keras_ig.explain(model, x, target=1, steps=32)
    assert not np.allclose(probs.attributions, direct.attributions)
    # A Dense(softmax) head: the logits are the Dense layer without activation.
    head = mlp(6, 3, activation="softmax")
    xs = rand(2, 6)
    e = keras_ig.explain(head, xs, output="logits", target=0, steps=8)
    hidden = head.layers[0](xs)
    kernel, bias = head.layers[1].get_weights()
    np.testing.assert_allclose(e.scores, (hidden.numpy() @ kernel + bias)[:, 0], rtol=1e-5)


def test_output_layer_by_name() -> None:
    model, x = cnn(), rand(2, 12, 12, 1, high=255)
    named = keras_ig.explain(model, x, output="logits", target=0, steps=16)
    layer = keras_ig.explain(model, x, output=model.get_layer("logits"), target=0, steps=16)
    np.testing.assert_allclose(named.attributions, layer.attributions, atol=1e-6)


def test_callable_target_on_segmentation_map() -> None:
    inp = keras.Input((8, 8, 1))
    seg = keras.Model(inp, keras.layers.Conv2D(2, 3, padding="same", activation="tanh")(inp))
    x = rand(2, 8, 8, 1)
    exp = keras_ig.explain(seg, x, target=lambda y: y[:, 4, 4, 1], steps=32)
    # Only the 3x3 receptive field of pixel (4, 4) can matter.
    outside = np.ones((8, 8), bool)
    outside[3:6, 3:6] = False
    assert np.all(exp.attributions[:, outside] == 0)
    assert np.all(exp.relative_delta < 1e-4)


def test_text_model_layer_attribution_completes_per_token() -> None:
    model = text_model()
    ids = np.random.default_rng(0).integers(1, 30, size=(4, 7)).astype("int32")
    exp = keras_ig.explain(model, ids, layer="emb", target=1, steps=64)
    assert exp.attributions.shape == (4, 7, 5)
    per_token = exp.attributions.sum(-1)
    np.testing.assert_allclose(per_token.sum(1), exp.scores - exp.baseline_scores, atol=1e-4)
    # The zero-embedding baseline: F(baseline) is the model with all-zero embeddings.
    emb = model.get_layer("emb")
    zero = keras.ops.convert_to_numpy(emb(ids)) * 0
    rest = keras.Sequential(model.layers[2:])
    np.testing.assert_allclose(exp.baseline_scores, rest(zero).numpy()[:, 1], rtol=1e-5)


@pytest.mark.slow
def test_multi_input_dict_with_fixed_mask() -> None:
    a = keras.Input((4,), name="a")
    mask = keras.Input((4,), name="mask")
    out = keras.layers.Dense(1)(
        keras.layers.Multiply()([keras.layers.Dense(4, activation="tanh")(a), mask])
    )
    model = keras.Model({"a": a, "mask": mask}, out)
    x = {"a": rand(3, 4), "mask": np.array([[1, 1, 0, 0]] * 3, np.float32)}
    exp = keras_ig.explain(model, x, baseline={"a": 0.5, "mask": None}, steps=32)
    assert exp.attributions["mask"] is None
    assert exp.attributions["a"].shape == (3, 4)
    np.testing.assert_allclose(exp.delta, 0, atol=1e-5)
    both = keras_ig.explain(model, x, baseline=0.5, steps=32)  # mask interpolated too
    assert both.attributions["mask"].shape == (3, 4)
    # Holding the mask fixed means F(baseline) keeps the mask.
    assert not np.allclose(exp.baseline_scores, both.baseline_scores)


def test_multi_input_list() -> None:
    a, b = keras.Input((3,)), keras.Input((2,))
    model = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Concatenate()([a, b])))
    x = [rand(2, 3), rand(2, 2, seed=1)]
    exp = keras_ig.explain(model, x, target=0, steps=4)
    kernel = model.layers[-1].get_weights()[0][:, 0]
    np.testing.assert_allclose(exp.attributions[0], x[0] * kernel[:3], rtol=1e-5)
    np.testing.assert_allclose(exp.attributions[1], x[1] * kernel[3:], rtol=1e-5)


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="tanh")
        self.head = keras.layers.Dense(3)

    def call(self, x):
        return self.head(self.hidden(x))


def test_subclassed_model() -> None:
    model, x = Subclassed(), rand(3, 5)
    exp = keras_ig.explain(model, x, steps=64)
    assert exp.attributions.shape == (3, 5)
    assert np.all(exp.relative_delta < 1e-4)
    hidden = keras_ig.explain(model, x, layer=model.hidden, steps=16)
    assert hidden.attributions.shape == (3, 8)
    np.testing.assert_allclose(hidden.delta, 0, atol=1e-5)  # linear head: exact


def test_preprocessing_stays_inside_f() -> None:
    model = cnn()  # Rescaling(1/255) is its first layer
    x = rand(2, 12, 12, 1, high=255)
    exp = keras_ig.explain(model, x, output="logits", steps=64)
    assert exp.attributions.shape == x.shape
    assert np.all(exp.relative_delta < 1e-3)


def test_warns_when_steps_too_few() -> None:
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    with pytest.warns(keras_ig.CompletenessWarning, match="raise steps"):
        keras_ig.explain(analytic, x, steps=1, method="riemann_left")


def test_tensor_input_and_repr() -> None:
    exp = keras_ig.explain(mlp(), tf.constant(rand(2, 6)), steps=4)
    assert isinstance(exp.attributions, np.ndarray)
    assert "Explanation(n=2" in repr(exp)


def test_runner_equals_explain_and_follows_the_weights():
    model = mlp()
    x = rand(5, 6, seed=3)
    explainer = explainer_for(model, target=None, layer=None, output=None)
    job = explainer.prepare(x, target=[0, 1, 2, 0, 1], baseline="zeros", n_baselines=1, seed=0)
    run = explainer.runner(job, 16, "gausslegendre")
    traces = explainer.engine.traces
    exp = explainer.explain(x, target=[0, 1, 2, 0, 1], steps=16, warn=False)
    for _ in range(2):
        again = run()
        np.testing.assert_allclose(again.attributions, exp.attributions, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(again.delta, exp.delta, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(again.steps_used, [16] * 5)
    model.set_weights([w * 1.5 for w in model.get_weights()])  # e.g. after an epoch
    moved = run()
    fresh = explainer.explain(x, target=[0, 1, 2, 0, 1], steps=16, warn=False)
    np.testing.assert_allclose(moved.attributions, fresh.attributions, rtol=1e-5, atol=1e-7)
    assert not np.allclose(moved.attributions, exp.attributions, rtol=1e-3)
    assert explainer.engine.traces == traces  # one graph for all of it
