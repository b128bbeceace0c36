"""`keras_ig.compare`: every method scored by the metrics themselves, on the same targets."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from PIL import Image

import keras_ig
from keras_ig import metrics

STEPS = 4
N, SIZE = 4, 16


def _cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            layers.Conv2D(4, 3, padding="same", activation="relu", bias_initializer="ones"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(3),
        ]
    )


@pytest.fixture(scope="module")
def setup():
    model = _cnn()
    x = np.random.default_rng(0).random((N, SIZE, SIZE, 1)).astype("float32")
    masks = np.zeros((N, SIZE, SIZE), bool)
    masks[:, 3:9, 5:12] = True
    weights = [w.copy() for w in model.get_weights()]
    result = keras_ig.compare(
        model,
        x,
        steps=STEPS,
        masks=masks,
        metrics=("deletion", "insertion", "infidelity", "localization"),
    )
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # the user's model is never changed
    return model, x, masks, result


@pytest.mark.slow
def test_every_default_method_is_scored_on_the_predicted_class(setup):
    model, x, _, c = setup
    assert c.methods == (
        "ig_zeros",
        "ig_blur",
        "ig_uniform",
        "smoothgrad_ig",
        "expected_gradients",
        "idgi",
        "blur_ig",
        "guided_ig",
    )
    assert c.notes == ()
    predicted = np.argmax(np.asarray(model(x)), axis=-1)
    np.testing.assert_array_equal(c.target, predicted)
    for name, exp in c.explanations.items():
        np.testing.assert_array_equal(exp.target, predicted, err_msg=name)
        assert exp.attributions.shape == x.shape


def test_scores_equal_the_metrics_called_directly(setup):
    model, x, masks, c = setup
    for name, exp in c.explanations.items():
        a = exp.attributions
        got = c.scores[name]
        want = {
            "deletion": metrics.deletion(model, x, a, target=c.target).scores,
            "insertion": metrics.insertion(model, x, a, target=c.target).scores,
            "infidelity": metrics.infidelity(model, x, a, target=c.target, seed=0),
            "localization": metrics.localization(a, masks),
        }
        for metric, value in want.items():
            np.testing.assert_allclose(got[metric], value, rtol=1e-6, err_msg=f"{name} {metric}")
            assert got[metric].shape == (N,)


@pytest.mark.slow
def test_methods_are_the_methods_themselves(setup):
    model, x, _, c = setup
    ig = keras_ig.explain(model, x, target=c.target, steps=STEPS, warn=False)
    np.testing.assert_allclose(c.explanations["ig_zeros"].attributions, ig.attributions, rtol=1e-5)
    eg = keras_ig.expected_gradients(
        model, x, x, samples=STEPS, seed=0, target=c.target, warn=False
    )
    np.testing.assert_allclose(
        c.explanations["expected_gradients"].attributions, eg.attributions, rtol=1e-5
    )
    guided = keras_ig.guided_ig(model, x, target=c.target, steps=STEPS, warn=False)
    np.testing.assert_allclose(
        c.explanations["guided_ig"].attributions, guided.attributions, rtol=1e-5
    )


def test_table_and_markdown(setup):
    _, _, _, c = setup
    table = c.table
    assert [row["method"] for row in table] == list(c.methods)
    for row in table:
        assert set(row) == {
            "method",
            "deletion",
            "insertion",
            "infidelity",
            "localization",
            "gap",
            "seconds",
        }
        for metric in c.metrics:
            assert row[metric] == pytest.approx(float(np.mean(c.scores[row["method"]][metric])))
        gap = c.explanations[row["method"]].relative_delta
        assert row["gap"] == pytest.approx(float(np.mean(gap)))
        assert row["seconds"] > 0
    means = {m: np.mean(c.scores[m]["deletion"]) for m in c.methods}
    assert c.best("deletion") == min(means, key=means.get)
    means = {m: np.mean(c.scores[m]["localization"]) for m in c.methods}
    assert c.best("localization") == max(means, key=means.get)
    lines = str(c).splitlines()
    assert lines == c.to_markdown().splitlines()
    assert "deletion (lower is better)" in lines[0]
    assert "insertion (higher is better)" in lines[0]
    assert "localization (higher is better)" in lines[0]
    assert len(lines) == 2 + len(c.methods)
    assert len({len(line) for line in lines}) == 1  # aligned
    ig_line = next(line for line in lines if line.startswith("| ig_zeros "))
    assert f"{table[0]['insertion']:.3f}" in ig_line
    with pytest.raises(ValueError, match="metric"):
        c.best("sensitivity_max")


def test_save_writes_a_png_with_a_row_per_method(setup, tmp_path):
    _, _, _, c = setup
    path = tmp_path / "compare.png"
    c.save(path, max_inputs=2)
    with Image.open(path) as picture:
        assert picture.format == "PNG"
        # The inputs' row and one row per method, each at least a 96-pixel map high.
        assert picture.height >= (1 + len(c.methods)) * 96
        assert picture.width >= 2 * 96


def test_a_user_method_and_bare_attributions(setup):
    model, x, _, c = setup

    def half(m, batch):
        return keras_ig.explain(m, batch, target=c.target, baseline=0.5, steps=STEPS, warn=False)

    def input_as_map(m, batch):
        return np.array(batch)  # bare attributions: no Explanation, so no gap

    r = keras_ig.compare(model, x, methods={"half": half, "bare": input_as_map}, steps=STEPS)
    assert r.methods == ("half", "bare")
    a = half(model, x).attributions
    np.testing.assert_allclose(
        r.scores["half"]["deletion"],
        metrics.deletion(model, x, a, target=c.target).scores,
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        r.scores["bare"]["insertion"],
        metrics.insertion(model, x, x, target=c.target).scores,
        rtol=1e-6,
    )
    assert math.isnan(r.table[1]["gap"]) and "n/a" in str(r).splitlines()[-1]


def test_a_chosen_subset_and_sensitivity(setup):
    model, x, _, c = setup
    r = keras_ig.compare(
        model, x[:2], methods=["ig_zeros"], metrics=["sensitivity_max"], steps=STEPS
    )
    assert r.methods == ("ig_zeros",)

    def explain_fn(batch):
        return keras_ig.explain(model, batch, target=c.target[:2], steps=STEPS, warn=False)

    want = metrics.sensitivity_max(explain_fn, x[:2], seed=0)
    np.testing.assert_allclose(r.scores["ig_zeros"]["sensitivity_max"], want, rtol=1e-5)


@pytest.mark.slow
def test_a_callable_target_is_used_by_every_method_and_metric(setup):
    model, x, _, _ = setup

    def contrast(y):
        return y[:, 0] - y[:, 1]

    r = keras_ig.compare(model, x, target=contrast, methods=["ig_zeros", "idgi"], steps=STEPS)
    assert r.target is None
    ig = keras_ig.explain(model, x, target=contrast, steps=STEPS, warn=False)
    np.testing.assert_allclose(r.explanations["ig_zeros"].attributions, ig.attributions, rtol=1e-5)
    want = metrics.deletion(model, x, ig.attributions, target=contrast).scores
    np.testing.assert_allclose(r.scores["ig_zeros"]["deletion"], want, rtol=1e-6)


@pytest.mark.slow
def test_non_images_leave_blur_out_with_a_note(tmp_path):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    x = np.random.default_rng(1).normal(size=(3, 5)).astype("float32")
    r = keras_ig.compare(model, x, steps=2, metrics=("deletion",))
    assert "ig_blur" not in r.methods and "blur_ig" not in r.methods
    assert len(r.methods) == 6
    assert any("blur_ig" in n for n in r.notes) and any("ig_blur" in n for n in r.notes)
    assert str(r).splitlines()[-2:] == [f"note: {n}" for n in r.notes]
    r.save(tmp_path / "rows.png", max_inputs=2)  # bar charts, no inputs' row
    with Image.open(tmp_path / "rows.png") as picture:
        assert picture.format == "PNG"


class _Untouchable:
    """A 'model' that fails the test if anything calls it."""

    def __call__(self, *args, **kwargs):
        raise AssertionError("the model ran before the arguments were checked")


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"methods": ["ig_zeros", "lime"]}, ValueError, "methods"),
        ({"methods": "ig_zeros"}, TypeError, "methods"),
        ({"methods": {"mine": 3}}, TypeError, "methods"),
        ({"methods": []}, ValueError, "methods"),
        ({"metrics": ("deletion", "auc")}, ValueError, "metrics"),
        ({"metrics": ("deletion", "deletion")}, ValueError, "metrics"),
        ({"metrics": ("localization",)}, ValueError, "masks"),
        ({"metrics": ("localization",), "masks": np.ones((N, 3, 3), bool)}, ValueError, "masks"),
        ({"steps": 0}, ValueError, "steps"),
        ({"batch_size": 1.5}, TypeError, "batch_size"),
        ({"seed": -1}, ValueError, "seed"),
        ({"background": np.zeros((2, 8, 8, 1), "float32")}, ValueError, "background"),
    ],
)
def test_bad_input_names_the_argument_before_any_work(kwargs, error, name):
    x = np.zeros((N, SIZE, SIZE, 1), "float32")
    with pytest.raises(error, match=name):
        keras_ig.compare(_Untouchable(), x, **kwargs)


def test_bad_x_and_blur_on_rows():
    with pytest.raises(TypeError, match="x"):
        keras_ig.compare(_Untouchable(), [np.zeros((2, 3))])
    with pytest.raises(ValueError, match="x"):
        keras_ig.compare(_Untouchable(), np.zeros((2, 3), "int32"))
    with pytest.raises(ValueError, match="methods"):
        keras_ig.compare(_Untouchable(), np.zeros((2, 3), "float32"), methods=["blur_ig"])
