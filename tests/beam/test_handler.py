"""`IGModelHandler` under Beam's DirectRunner: the numbers of `keras_ig.explain`."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest

beam = pytest.importorskip("apache_beam")

import keras  # noqa: E402
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

import keras_ig  # noqa: E402
from keras_ig.beam import IGModelHandler  # noqa: E402
from tests.beam.collect import Collect, collected  # noqa: E402
from tests.helpers.models import rand  # noqa: E402

ATOL = 1e-5
MULTI = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def _run(handler, elements, folder: pathlib.Path, beam_args=()) -> list:
    folder.mkdir()
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as p:
        _ = p | beam.Create(elements) | RunInference(handler) | Collect(folder)
    return collected(folder)


def _match(results, x: np.ndarray) -> list[int]:
    """Index into `x` of each result's example (unkeyed results come in any order)."""
    found = []
    for r in results:
        hits = np.flatnonzero(np.all(x.reshape(len(x), -1) == r.example.reshape(1, -1), axis=1))
        assert len(hits) == 1
        found.append(int(hits[0]))
    return found


def _check(inference: dict, ref: keras_ig.Explanation, i: int) -> None:
    np.testing.assert_allclose(inference["attributions"], ref.attributions[i], atol=ATOL)
    np.testing.assert_allclose(inference["score"], ref.scores[i], atol=ATOL)
    np.testing.assert_allclose(inference["baseline_score"], ref.baseline_scores[i], atol=ATOL)
    np.testing.assert_allclose(inference["delta"], ref.delta[i], atol=ATOL)
    expected = None if ref.target is None else int(ref.target[i])
    assert inference["target"] == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"target": 1, "baseline": 0.5, "method": "trapezoid", "batch_size": 2},
        {"output": "logits", "steps": 7, "method": "riemann_left"},
        {"layer": 0, "target": 2},  # the model's first layer, by name
        {"target": lambda y: y[:, 0] - y[:, 2]},
    ],
    ids=["defaults", "target-baseline-method", "logits", "layer", "callable-target"],
)
def test_in_process_results_equal_explain(mlp_path, tmp_path, options):
    model = keras.saving.load_model(mlp_path, compile=False)
    if "layer" in options:
        options = {**options, "layer": model.layers[options["layer"]].name}
    x = rand(10, 4, seed=3)
    handler = IGModelHandler(str(mlp_path), max_batch_size=3, **options)
    results = _run(handler, list(x), tmp_path / "out")
    assert len(results) == len(x)
    ref = keras_ig.explain(model, x, steps=options.pop("steps", 32), warn=False, **options)
    for r, i in zip(results, _match(results, x), strict=True):
        _check(r.inference, ref, i)
        assert r.model_id == str(mlp_path)
    assert sorted(_match(results, x)) == list(range(len(x)))


@pytest.mark.slow
def test_multi_processing_two_workers_equal_explain(mlp_path, tmp_path):
    x = rand(12, 4, seed=4)
    handler = KeyedModelHandler(IGModelHandler(str(mlp_path), steps=16, max_batch_size=4))
    keyed = [(f"row{i}", row) for i, row in enumerate(x)]
    results = _run(handler, keyed, tmp_path / "out", MULTI)
    model = keras.saving.load_model(mlp_path, compile=False)
    ref = keras_ig.explain(model, x, steps=16, warn=False)
    assert sorted(k for k, _ in results) == sorted(k for k, _ in keyed)
    for key, r in results:
        _check(r.inference, ref, int(key[3:]))


_LOADS = []


def _counting_loader() -> keras.Model:
    """A zero-argument loader that records its calls (in-process runner: one list)."""
    _LOADS.append(1)
    return _model_for_loader()


def _model_for_loader() -> keras.Model:
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(2)]
    )
    return model


def test_keyed_input_keeps_keys_and_loader_runs_once(tmp_path):
    _LOADS.clear()
    x = rand(9, 4, seed=6)
    keyed = [(f"k{i}", row) for i, row in enumerate(x)]
    handler = KeyedModelHandler(IGModelHandler(_counting_loader, steps=8, max_batch_size=2))
    results = _run(handler, keyed, tmp_path / "out")
    ref = keras_ig.explain(_model_for_loader(), x, steps=8, warn=False)
    assert sorted(k for k, _ in results) == sorted(k for k, _ in keyed)
    for key, r in results:
        np.testing.assert_array_equal(r.example, x[int(key[1:])])
        _check(r.inference, ref, int(key[1:]))
        assert r.model_id is None
    assert len(_LOADS) == 1  # five batches, one model


def test_a_baseline_stack_stays_a_stack_in_a_batch_of_its_size(mlp_path, tmp_path):
    # K = 3 stacked baselines and batches of exactly 3: explain alone would
    # read the array as one baseline per input.
    x = rand(6, 4, seed=7)
    stack = rand(3, 4, seed=8)
    handler = IGModelHandler(
        str(mlp_path), steps=8, baseline=stack, min_batch_size=3, max_batch_size=3
    )
    results = _run(handler, list(x), tmp_path / "out")
    model = keras.saving.load_model(mlp_path, compile=False)
    ref = keras_ig.explain(model, x, steps=8, baseline=keras_ig.BaselineStack(stack), warn=False)
    for r, i in zip(results, _match(results, x), strict=True):
        _check(r.inference, ref, i)


def _two_inputs() -> keras.Model:
    keras.utils.set_random_seed(9)
    a = keras.Input((3,), name="a")
    b = keras.Input((2,), name="b")
    h = keras.layers.Dense(5, activation="tanh")(keras.layers.Concatenate()([a, b]))
    return keras.Model({"a": a, "b": b}, keras.layers.Dense(2)(h))


@pytest.mark.slow
def test_dict_elements_of_a_multi_input_model(tmp_path):
    path = tmp_path / "two.keras"
    _two_inputs().save(path)
    xa, xb = rand(5, 3, seed=10), rand(5, 2, seed=11)
    keyed = [(i, {"a": xa[i], "b": xb[i]}) for i in range(5)]
    handler = KeyedModelHandler(IGModelHandler(str(path), steps=8, target=1, baseline=0.25))
    results = _run(handler, keyed, tmp_path / "out")
    model = keras.saving.load_model(path, compile=False)
    ref = keras_ig.explain(model, {"a": xa, "b": xb}, steps=8, target=1, baseline=0.25)
    assert sorted(k for k, _ in results) == list(range(5))
    for i, r in results:
        for name in ("a", "b"):
            np.testing.assert_allclose(
                r.inference["attributions"][name], ref.attributions[name][i], atol=ATOL
            )
        np.testing.assert_allclose(r.inference["delta"], ref.delta[i], atol=ATOL)


def test_update_model_path_loads_and_stamps_the_new_model(mlp_path, tmp_path):
    other = tmp_path / "other.keras"
    _model_for_loader().save(other)
    handler = IGModelHandler(str(mlp_path), steps=4)
    handler.update_model_path(str(other))
    model = handler.load_model()
    x = rand(3, 4, seed=12)
    (result, *_) = handler.run_inference(list(x), model)
    assert model.output_shape == (None, 2)  # the new model, not mlp_path's three units
    assert result.model_id == str(other)
    ref = keras_ig.explain(model, x, steps=4, warn=False)
    _check(result.inference, ref, 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"steps": 0}, ValueError, "steps"),
        ({"method": "simpson"}, ValueError, "method"),
        ({"target": [0, 1]}, ValueError, "target"),
        ({"target": True}, TypeError, "target"),
        ({"target": -1}, ValueError, "target"),
        ({"baseline": "nope"}, ValueError, "baseline"),
        ({"baseline": float("nan")}, ValueError, "baseline"),
        ({"baseline": {"a": "nope"}}, ValueError, "baseline"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"layer": keras.layers.Dense(2)}, TypeError, "layer"),
        ({"output": 3}, TypeError, "output"),
        ({"warn": "yes"}, TypeError, "warn"),
        ({"strategy": object()}, ValueError, "strategy"),
        ({"out": "a.npy"}, ValueError, "out"),
        ({"bogus": 1}, TypeError, "bogus"),
        ({"max_batch_size": 0}, ValueError, "max_batch_size"),
        ({"min_batch_size": 4, "max_batch_size": 2}, ValueError, "min_batch_size"),
    ],
)
def test_bad_options_name_the_argument_at_construction(kwargs, error, name):
    # The model path does not exist: the options are refused before any load.
    with pytest.raises(error, match=name):
        IGModelHandler("/nonexistent/model.keras", **kwargs)


def test_bad_model_argument_is_named():
    with pytest.raises(TypeError, match="model_uri_or_loader"):
        IGModelHandler(3)


def test_inference_args_override_and_are_checked(mlp_path):
    handler = IGModelHandler(str(mlp_path), steps=4)
    with pytest.raises(ValueError, match="steps"):
        handler.validate_inference_args({"steps": 0})
    model = handler.load_model()
    x = rand(2, 4, seed=13)
    results = handler.run_inference(list(x), model, {"target": 2, "steps": 6})
    ref = keras_ig.explain(model, x, steps=6, target=2, warn=False)
    for i, r in enumerate(results):
        _check(r.inference, ref, i)


@pytest.mark.slow
def test_import_keras_ig_does_not_import_beam():
    code = "import sys, keras_ig; keras_ig.explain; print('apache_beam' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["False"]


@pytest.mark.slow
def test_metrics_count_inferences_and_incomplete_rows(mlp_path):
    from apache_beam.metrics.metric import MetricsFilter

    from keras_ig import completeness
    from keras_ig.beam.handler import METRICS_NAMESPACE

    x = rand(8, 4, seed=14, low=-3.0, high=3.0)
    handler = IGModelHandler(str(mlp_path), steps=1, method="left", output="logits")
    p = beam.Pipeline()
    _ = p | beam.Create(list(x)) | RunInference(handler)
    result = p.run()
    result.wait_until_finish()
    model = keras.saving.load_model(mlp_path, compile=False)
    ref = keras_ig.explain(model, x, steps=1, method="left", output="logits", warn=False)
    ok = completeness.within_tolerance(
        ref.delta, ref.scores, ref.baseline_scores, completeness.TOLERANCE
    )
    assert (~ok).sum() > 0  # one left Riemann point: the count is not trivially 0

    def counter(name: str) -> int:
        flt = MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name(name)
        return sum(c.committed for c in result.metrics().query(flt)["counters"])

    assert counter("num_inferences") == len(x)
    assert counter("incomplete") == int((~ok).sum())
