"""Issue 9 (hardening), engine items: each test failed before its fix."""

from __future__ import annotations

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig import completeness
from keras_ig._numpy.quadrature import MAX_PANEL_ORDER, quadrature
from tests.helpers.models import mlp, rand


def _sum_model(n_inputs: int = 2, weights: tuple = (1.0, 2.0, 3.0)) -> keras.Model:
    """F = sum_j weights[j] * sum(input j), inputs of shape (2,)."""
    inputs = [keras.Input((2,)) for _ in range(n_inputs)]

    def f(ts):
        return keras.ops.sum(sum(w * t for w, t in zip(weights, ts, strict=False)), axis=1)

    return keras.Model(inputs, keras.layers.Lambda(f)(inputs))


def _one_unit_rank1() -> keras.Model:
    inp = keras.Input((3,))
    return keras.Model(inp, keras.layers.Lambda(lambda t: keras.ops.sum(t, axis=1))(inp))


# -- 1. a multi-input list baseline follows model.inputs -----------------------
def test_list_baseline_starting_with_a_number_is_per_input() -> None:
    model = _sum_model()
    x = [np.full((1, 2), 3.0, np.float32)] * 2
    exp = keras_ig.explain(model, x, baseline=[0.0, 1.0], steps=4)
    np.testing.assert_allclose(exp.attributions[0], [[3.0, 3.0]], rtol=1e-5)
    np.testing.assert_allclose(exp.attributions[1], [[4.0, 4.0]], rtol=1e-5)
    np.testing.assert_allclose(exp.baseline_scores, [4.0], rtol=1e-6)
    tiny = keras_ig.explain(model, x, baseline=[0.0, 1e-5], steps=4)
    np.testing.assert_allclose(tiny.attributions[1], [[6 - 2e-5] * 2], rtol=1e-5)


def test_list_baseline_mixing_number_array_and_none() -> None:
    model = _sum_model(3)
    x = [np.full((1, 2), 3.0, np.float32)] * 3
    exp = keras_ig.explain(model, x, baseline=[0.0, np.ones((1, 2)), None], steps=4)
    np.testing.assert_allclose(exp.attributions[0], [[3.0, 3.0]], rtol=1e-5)
    np.testing.assert_allclose(exp.attributions[1], [[4.0, 4.0]], rtol=1e-5)
    assert exp.attributions[2] is None
    np.testing.assert_allclose(exp.baseline_scores, [0 + 4 + 18], rtol=1e-6)


# -- 2. non-finite gaps and baselines ----------------------------------------
def test_baseline_not_finite_in_input_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="baseline must be finite in the input dtype float32"):
        keras_ig.explain(mlp(), rand(2, 6), baseline=1e39)
    with pytest.raises(ValueError, match="baseline contains NaN or inf"):
        keras_ig.explain(mlp(), rand(2, 6), baseline=np.full(6, 1e39))


def test_nan_gap_is_reported_and_warned_as_non_finite() -> None:
    exp = keras_ig.Explanation(
        attributions=np.zeros((2, 3), np.float32),
        delta=np.array([np.nan, 0.0], np.float32),
        scores=np.array([np.nan, 1.0], np.float32),
        baseline_scores=np.array([0.0, 1.0], np.float32),
        target=None,
        steps=8,
        method="gausslegendre",
    )
    assert np.isnan(exp.relative_delta[0])
    assert not completeness.within_tolerance(exp.delta, exp.scores, exp.baseline_scores, 0.05)[0]
    from keras_ig._api.explanation import warn_if_incomplete

    with pytest.warns(keras_ig.CompletenessWarning, match="not finite") as record:
        warn_if_incomplete(exp)
    assert "nan" not in str(record[0].message).lower().replace("nan or inf", "")


# -- 3. batch_size near 2**31 --------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("batch_size", [2**31 - 1, 2**31, 2**40])
def test_huge_batch_size_gives_the_same_result(batch_size: int) -> None:
    model, x = mlp(), rand(3, 6)
    ref = keras_ig.explain(model, x, steps=8)
    exp = keras_ig.explain(model, x, steps=8, batch_size=batch_size)
    np.testing.assert_allclose(exp.scores, ref.scores, rtol=1e-6)
    np.testing.assert_array_equal(exp.target, ref.target)
    np.testing.assert_allclose(exp.attributions, ref.attributions, rtol=1e-5, atol=1e-7)
    ig = keras_ig.IntegratedGradients(model, steps=8, batch_size=batch_size)
    np.testing.assert_allclose(ig(tf.constant(x)).numpy(), ref.attributions, rtol=1e-5, atol=1e-7)


# -- 4. targets ---------------------------------------------------------------
def test_target_beyond_a_single_output_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="target 5 is out of range for a model with 1 output unit"):
        keras_ig.explain(_one_unit_rank1(), rand(2, 3), target=5)
    assert keras_ig.explain(_one_unit_rank1(), rand(2, 3), target=0).target.tolist() == [0, 0]


@pytest.mark.parametrize(("target", "match"), [(-5, "target must be >= 0"), (7, "target 7 is out")])
def test_layer_target_checked_at_construction(target: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        keras_ig.IntegratedGradients(mlp(n_out=3), target=target)


def test_layer_call_target_out_of_range() -> None:
    ig = keras_ig.IntegratedGradients(mlp(n_out=3), steps=4)
    with pytest.raises(ValueError, match="target 7 is out of range"):
        ig(tf.constant(rand(2, 6)), target=tf.constant([7, 0]))
    with pytest.raises(ValueError, match="target must be >= 0"):
        ig(tf.constant(rand(2, 6)), target=np.array([-1, 0]))
    traced = tf.function(lambda x, t: ig(x, target=t))
    with pytest.raises(tf.errors.InvalidArgumentError, match="target is out of range"):
        traced(tf.constant(rand(2, 6)), tf.constant([7, 0]))
    ok = traced(tf.constant(rand(2, 6)), tf.constant([2, 0]))
    ref = keras_ig.explain(ig.model, rand(2, 6), target=[2, 0], steps=4, warn=False)
    np.testing.assert_allclose(ok.numpy(), ref.attributions, rtol=1e-5, atol=1e-7)


# -- 5. completeness judged on a sensible scale --------------------------------
def test_flat_score_is_not_an_exploding_relative_gap() -> None:
    # F(x) = 0.5 and F(x') = 0.5 + 1e-7: the gap 1e-7 is noise, not 1000%.
    rel = completeness.relative_gap(np.array([1e-4]), np.array([0.5]), np.array([0.5 + 1e-7]))
    assert rel[0] == pytest.approx(1e-4 / (0.01 * (0.5 + 1e-7)), rel=1e-6)
    assert completeness.flat(np.array([0.5]), np.array([0.5 + 1e-7]))[0]
    assert not completeness.flat(np.array([1.0]), np.array([0.0]))[0]
    # Where F moves, the scale is |F(x) - F(x')| as before.
    assert completeness.relative_gap(np.array([0.01]), np.array([1.0]), np.array([0.0]))[0] == (
        pytest.approx(0.01)
    )


def test_flat_inputs_get_a_warning_that_does_not_ask_for_steps() -> None:
    exp = keras_ig.Explanation(
        attributions=np.zeros((1, 3), np.float32),
        delta=np.array([0.1], np.float32),
        scores=np.array([1.0], np.float32),
        baseline_scores=np.array([1.0], np.float32),
        target=None,
        steps=8,
        method="gausslegendre",
    )
    from keras_ig._api.explanation import warn_if_incomplete

    with pytest.warns(keras_ig.CompletenessWarning, match="F\\(x\\) ~ F\\(baseline\\)") as rec:
        warn_if_incomplete(exp)
    message = str(rec[0].message)
    assert "raise steps" not in message and "inf" not in message and "nan" not in message


def test_saturated_sigmoid_probability_does_not_warn() -> None:
    # F ~ 0.99 barely moves (|F(x) - F(x')| ~ 2e-3): a gap of 3e-4 is 16% of
    # that, which used to warn "raise steps", but 3% of the scores' scale.
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.layers[0].set_weights([np.full((4, 1), 0.1, np.float32), np.array([5.0], np.float32)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", keras_ig.CompletenessWarning)
        exp = keras_ig.explain(model, rand(2, 4), steps=1, method="riemann_left")
    assert np.max(np.abs(exp.delta)) > 1e-4
    assert np.all(exp.relative_delta <= completeness.TOLERANCE)


def test_tolerance_constant_has_one_home() -> None:
    import inspect

    from keras_ig._api import explanation

    default = inspect.signature(explanation.warn_if_incomplete).parameters["tolerance"].default
    assert default == completeness.TOLERANCE == 0.05


# -- 6. out= is checked first ---------------------------------------------------
def test_unwritable_out_fails_before_any_work(tmp_path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    calls = []

    class Counting(keras.Model):
        def call(self, x):
            calls.append(1)
            return keras.ops.sum(x, axis=1)

    ds = tf.data.Dataset.from_tensor_slices(rand(4, 3)).batch(2)
    for out in (blocker / "attr.npy", tmp_path):
        with pytest.raises(ValueError, match="out: "):
            keras_ig.explain(Counting(), ds, out=out, verbose=0)
        with pytest.raises(ValueError, match="out: "):
            keras_ig.explain(Counting(), rand(4, 3), out=out)
    assert calls == []


@pytest.mark.parametrize(
    "method",
    [
        keras_ig.explain,
        keras_ig.idgi,
        keras_ig.guided_ig,
        lambda model, x, **kw: keras_ig.expected_gradients(model, x, x, samples=2, **kw),
    ],
    ids=["explain", "idgi", "guided_ig", "expected_gradients"],
)
def test_out_with_several_attributed_inputs_fails_before_integration(tmp_path, method) -> None:
    calls = []

    def f(ts):
        calls.append(1)
        return keras.ops.sum(ts[0] + ts[1], axis=1)

    a, b = keras.Input((2,)), keras.Input((2,))
    model = keras.Model([a, b], keras.layers.Lambda(f)([a, b]))
    calls.clear()

    x = [rand(1, 2), rand(1, 2, seed=1)]
    with pytest.raises(ValueError, match=r"out= needs a single attributed tensor.*got 2"):
        method(model, x, out=tmp_path / "a.npy")
    assert len(calls) <= 1  # at most the one-row probe, no graph traced or run
    assert not os.path.exists(tmp_path / "a.npy")


# -- 7. large steps --------------------------------------------------------------
def test_gausslegendre_large_steps_is_composite(monkeypatch) -> None:
    # leggauss(n) costs n**2 memory and n**3 time: 20000 took minutes and ~7 GB.
    original = np.polynomial.legendre.leggauss
    orders = []

    def spy(n):
        if n > MAX_PANEL_ORDER:
            raise AssertionError(f"leggauss({n}) called")
        orders.append(n)
        return original(n)

    monkeypatch.setattr(np.polynomial.legendre, "leggauss", spy)
    alphas, weights = quadrature("gausslegendre", 20011)
    assert alphas.shape == weights.shape == (20011,)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all((alphas > 0) & (alphas < 1)) and np.all(np.diff(alphas) > 0)


@pytest.mark.parametrize("steps", [MAX_PANEL_ORDER + 1, 1000, 2 * MAX_PANEL_ORDER])
def test_composite_rule_is_exact_for_polynomials(steps: int) -> None:
    alphas, weights = quadrature("gausslegendre", steps)
    panel_order = steps // -(-steps // MAX_PANEL_ORDER)
    for degree in (0, 1, 7, 50, 2 * panel_order - 1):
        assert weights @ alphas**degree == pytest.approx(1 / (degree + 1), rel=1e-10)
    # A smooth non-polynomial integrand: the composite error is negligible.
    assert weights @ np.cos(alphas) == pytest.approx(np.sin(1.0), rel=1e-13)


def test_large_steps_explain_matches_small_steps() -> None:
    model, x = mlp(), rand(2, 6)
    small = keras_ig.explain(model, x, steps=64)
    large = keras_ig.explain(model, x, steps=20000, batch_size=4096)
    np.testing.assert_allclose(large.attributions, small.attributions, rtol=1e-4, atol=1e-6)
    assert np.all(np.abs(large.delta) < 1e-5)


# -- 8. smaller argument checks ---------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"method": ["gausslegendre"]}, TypeError, "method must be a str"),
        ({"seed": -1, "baseline": "uniform"}, ValueError, "seed must be >= 0"),
        ({"seed": 1.5}, TypeError, "seed must be"),
        ({"n_baselines": 10**9, "baseline": "uniform"}, ValueError, "n_baselines=1000000000"),
        ({"n_baselines": 0}, ValueError, "n_baselines must be >= 1"),
    ],
)
def test_small_argument_checks(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        keras_ig.explain(mlp(), rand(2, 6), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_low_precision_float_inputs_are_accepted(dtype: tf.DType) -> None:
    model, x = mlp(), rand(2, 6)
    exp = keras_ig.explain(model, tf.cast(x, dtype), steps=16, warn=False)
    ref = keras_ig.explain(model, x, steps=16)
    np.testing.assert_allclose(exp.scores, ref.scores, atol=0.02)


# -- 9. API errors and Explanation.baseline --------------------------------------
def _dict_model() -> keras.Model:
    a, b = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    return keras.Model({"a": a, "b": b}, keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))


def test_list_for_a_dict_model_names_x_and_the_keys() -> None:
    with pytest.raises(
        ValueError, match=r"x: the model takes a dict of inputs with keys \['a', 'b'\]"
    ):
        keras_ig.explain(_dict_model(), [rand(1, 2), rand(1, 2)])


def test_dict_baseline_missing_a_key_names_it() -> None:
    x = {"a": rand(1, 2), "b": rand(1, 2)}
    with pytest.raises(ValueError, match="baseline has no entry for input 'b'"):
        keras_ig.explain(_dict_model(), x, baseline={"a": 0.0})
    exp = keras_ig.explain(_dict_model(), x, baseline={"a": 0.0, "b": None}, steps=4)
    assert exp.attributions["b"] is None


def test_missing_batch_axis_suggests_indexing() -> None:
    inp = keras.Input((4, 4, 1))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(inp)))
    with pytest.raises(ValueError, match=r"batch axis; pass x\[None\]"):
        keras_ig.explain(model, rand(4, 4, 1))


def test_explanation_carries_the_baselines() -> None:
    model, x = mlp(), rand(3, 6)
    shared = keras_ig.explain(model, x, baseline=0.5, steps=4)
    np.testing.assert_array_equal(shared.baseline, np.full((3, 6), 0.5, np.float32))
    per_input = rand(3, 6, seed=2)
    np.testing.assert_array_equal(
        keras_ig.explain(model, x, baseline=per_input).baseline, per_input
    )
    stack = rand(4, 6, seed=3)
    got = keras_ig.explain(model, x, baseline=stack, steps=4).baseline
    assert got.shape == (3, 4, 6)
    np.testing.assert_array_equal(got[1], stack)
    multi = keras_ig.explain(_sum_model(), [rand(1, 2), rand(1, 2)], baseline=[1.0, None])
    np.testing.assert_array_equal(multi.baseline[0], [[1.0, 1.0]])
    assert multi.baseline[1] is None


def test_tolerance_without_steps_starts_small() -> None:
    model, x = mlp(), rand(2, 6)
    exp = keras_ig.explain(model, x, tolerance=0.5)
    assert exp.steps_used.tolist() == [8, 8]
    assert keras_ig.explain(model, x).steps == 64


def test_a_layer_that_runs_twice_is_refused_naming_layer():
    inp = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    model = keras.Model(inp, keras.layers.Dense(1)(shared(shared(inp))))
    x = np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match=r"layer: 'shared' ran 2 times"):
        keras_ig.explain(model, x, layer="shared", steps=4)
