"""The path methods under a `MirroredStrategy` on two logical CPUs (a subprocess)."""

from __future__ import annotations

import pytest

from tests.helpers import two_cpus

SCRIPT = """
    from tests.helpers.models import linear, mlp, rand
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = mlp(activation=None)
    x = rand(5, 6, seed=1)
    diffs = {}
    for name, fn in {
        "idgi": lambda **kw: keras_ig.idgi(model, x, steps=8, **kw),
        "unmultiplied": lambda **kw: keras_ig.explain(
            model, x, steps=8, multiply_by_inputs=False, **kw),
        "noise": lambda **kw: keras_ig.explain(
            model, x, steps=8, noise=keras_ig.Noise(3, 0.1, seed=0), **kw),
    }.items():
        one, two = fn(), fn(strategy=strategy)
        diffs[name] = float(np.abs(one.attributions - two.attributions).max())
        diffs[name + "_delta"] = float(np.abs(one.delta - two.delta).max())
    w = np.array([1.0, -2.0, 3.0, 0.5], np.float32)
    with strategy.scope():
        lin = linear(w)
    xl, bg = rand(5, 4, seed=2), rand(7, 4, seed=3)
    eg = keras_ig.expected_gradients(lin, xl, bg, samples=6, seed=0, strategy=strategy,
                                     warn=False)
    diffs["eg_closed_form"] = float(np.abs(eg.attributions - w * (xl - eg.baseline.mean(1))).max())
    diffs["eg_base_scores"] = float(np.abs(eg.baseline_scores - (bg @ w).mean()).max())
    print(json.dumps(diffs))
    """


@pytest.mark.slow
def test_methods_under_a_mirrored_strategy(tmp_path) -> None:
    diffs = two_cpus.run(SCRIPT, tmp_path, "methods.py")
    assert all(v < 1e-5 for v in diffs.values()), diffs
