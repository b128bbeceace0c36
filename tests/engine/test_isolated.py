"""Each chunk's forward and backward as a graph of their own (`chunks.isolated`).

Inlined into a `tf.while_loop`, a max-pooling CNN's backward ran Eigen's
`MaxPoolGrad` instead of oneDNN's, several times slower, in up to 4 of 5
fresh processes by the graph (oneDNN's layout pass visits a loop's cyclic
graph in an order that varies). The slow test reads which kernel ran, from the
profiler, in fresh processes; the fast ones check that isolating changes no
number.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_ig
from keras_ig._engine import chunks
from keras_ig._engine.score import ScoreFunction
from tests.helpers.models import pooling_cnn

ROOT = pathlib.Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, os
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np, tensorflow as tf
    import keras_ig
    from tests.helpers.kernels import kernels_run, plain_gradient_kernels
    from tests.helpers.models import pooling_cnn

    model = pooling_cnn()
    x = np.random.default_rng(0).uniform(0, 1, (4, 32, 32, 3)).astype(np.float32)
    kw = dict(target=0, batch_size=16, warn=False)
    calls = {
        "explain": lambda: keras_ig.explain(model, x, steps=8, **kw),
        "explain layer=": lambda: keras_ig.explain(model, x, steps=8, layer=model.layers[2], **kw),
        "idgi": lambda: keras_ig.idgi(model, x, steps=8, **kw),
        "expected_gradients": lambda: keras_ig.expected_gradients(
            model, x, x, samples=8, seed=0, **kw),
        "blur_ig": lambda: keras_ig.blur_ig(model, x, steps=8, **kw),
        "guided_ig": lambda: keras_ig.guided_ig(model, x, steps=8, **kw),
    }
    out = {"plain": sorted(plain_gradient_kernels(model, tf.constant(x)))}
    for name, call in calls.items():
        call()
        out[name] = sorted(kernels_run(call, "MaxPoolGrad"))
    print(json.dumps(out))
    """
)


@pytest.mark.slow
def test_every_method_runs_the_builds_pooling_backward_in_every_process():
    for _ in range(4):  # the order (and so the kernel) was drawn anew in each process
        out = subprocess.run(
            [sys.executable, "-c", CHILD], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        got = json.loads(out.strip().splitlines()[-1])
        plain = got.pop("plain")
        if plain != ["_MklNativeMaxPoolGrad"]:
            pytest.skip(f"this TensorFlow build runs {plain} with no loop: oneDNN is off")
        assert got == {name: plain for name in got}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["explain", "guided_ig", "blur_ig"])
def test_isolating_the_chunk_changes_no_number(monkeypatch, method):
    x = np.random.default_rng(1).uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    kw = dict(target=2, steps=6, batch_size=8, warn=False)
    fn = getattr(keras_ig, method)
    isolated = fn(pooling_cnn(seed=3), x, **kw)
    monkeypatch.setattr(chunks, "isolated", lambda f, score_fn, shared=False: f)
    inlined = fn(pooling_cnn(seed=3), x, **kw)  # a new model: new graphs, now inlined
    np.testing.assert_allclose(isolated.attributions, inlined.attributions, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(isolated.delta, inlined.delta, rtol=1e-5, atol=1e-6)


def test_isolated_is_a_function_of_its_own_for_max_pooling_models_on_cpu():
    fn = chunks.isolated(lambda t: t * 2.0, ScoreFunction(pooling_cnn()))
    assert isinstance(fn, tf.types.experimental.PolymorphicFunction)
    concrete = fn.get_concrete_function(tf.TensorSpec([], tf.float32))
    assert concrete.function_def.attr["_noinline"].b  # optimised apart, never inlined
    assert float(fn(np.float32(3.0))) == 6.0


def test_models_without_max_pooling_are_not_isolated():
    def double(t):
        return t * 2.0

    inp = keras.Input((8, 8, 3))
    pooled = keras.layers.AveragePooling2D(2)(keras.layers.Conv2D(4, 3)(inp))
    no_max = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(pooled)))
    inner = keras.Sequential([keras.Input((8, 3)), keras.layers.MaxPooling1D()])
    nested = keras.Sequential([keras.Input((8, 3)), inner, keras.layers.Flatten()])
    assert chunks.isolated(double, ScoreFunction(no_max)) is double
    # Called from several places in a graph, any model is traced and optimised once.
    shared = chunks.isolated(double, ScoreFunction(no_max), shared=True)
    assert isinstance(shared, tf.types.experimental.PolymorphicFunction)
    assert chunks.isolated(double, ScoreFunction(lambda t: t)) is double  # layers unseen
    assert ScoreFunction(nested).max_pools  # found inside a nested model


MIRRORED = """
from tests.helpers.kernels import kernels_run, plain_gradient_kernels
from tests.helpers.models import pooling_cnn

model = pooling_cnn()
x = np.random.default_rng(0).uniform(0, 1, (6, 32, 32, 3)).astype(np.float32)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
kw = dict(target=1, steps=8, batch_size=16, warn=False)
out = {"plain": [0.0, sorted(plain_gradient_kernels(model, tf.constant(x)))]}
for name in ("explain", "blur_ig", "guided_ig"):
    fn = getattr(keras_ig, name)
    one = fn(model, x, **kw).attributions
    both = lambda: fn(model, x, strategy=strategy, **kw)
    two = both().attributions
    out[name] = [float(np.abs(one - two).max() / np.abs(one).max()),
                 sorted(kernels_run(both, "MaxPoolGrad"))]
print(json.dumps(out))
"""


@pytest.mark.slow
def test_isolated_chunks_under_a_mirrored_strategy(tmp_path):
    from tests.helpers import two_cpus

    got = two_cpus.run(MIRRORED, tmp_path, "mirrored.py")
    _, plain = got.pop("plain")
    for name, (diff, kernels) in got.items():
        assert diff < 1e-5, name  # the replicas' rows equal one device's
        assert kernels == plain, name  # each replica's chunk gets this build's kernel


@pytest.mark.slow
@pytest.mark.parametrize("method", ["explain", "guided_ig"])
def test_isolated_chunks_run_eagerly_as_compiled(method):
    # Predicted targets, and chunks of 5 rows that split inputs and steps unevenly.
    x = np.random.default_rng(2).uniform(0, 1, (3, 32, 32, 3)).astype(np.float32)
    kw = dict(target=None, steps=6, batch_size=5, warn=False)
    fn = getattr(keras_ig, method)
    compiled = fn(pooling_cnn(seed=1), x, **kw)
    tf.config.run_functions_eagerly(True)
    try:
        eager = fn(pooling_cnn(seed=1), x, **kw)
    finally:
        tf.config.run_functions_eagerly(False)
    np.testing.assert_array_equal(eager.target, compiled.target)
    np.testing.assert_allclose(eager.attributions, compiled.attributions, rtol=1e-5, atol=1e-7)
