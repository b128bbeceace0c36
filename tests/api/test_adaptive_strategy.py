"""Blur IG and Guided IG under a `MirroredStrategy` on two logical CPUs (a subprocess)."""

from __future__ import annotations

import pytest

from tests.helpers import two_cpus

SCRIPT = """
    from tests.helpers import pair
    keras.utils.set_random_seed(0)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = pair.image_cnn()
    x = pair.images(5)  # 3 + 2 inputs over the two replicas
    stack = keras_ig.BaselineStack(np.stack([np.zeros_like(x[0]), np.ones_like(x[0])]))
    data = tf.data.Dataset.from_tensor_slices(x).batch(3)
    noise = keras_ig.Noise(2, 0.1, seed=0)
    runs = {
        "blur": lambda **kw: keras_ig.blur_ig(model, x, steps=6, max_sigma=3.0, batch_size=4, **kw),
        "guided": lambda **kw: keras_ig.guided_ig(model, x, steps=8, batch_size=3, **kw),
        "guided_stack": lambda **kw: keras_ig.guided_ig(model, x, baseline=stack, steps=8, **kw),
        "guided_noise": lambda **kw: keras_ig.guided_ig(model, x, steps=6, noise=noise, **kw),
        "blur_dataset": lambda **kw: keras_ig.blur_ig(model, data, steps=6, verbose=0, **kw),
        "one_input": lambda **kw: keras_ig.guided_ig(model, x[:1], steps=6, **kw),
    }
    diffs = {}
    for name, fn in runs.items():
        one, two = fn(target=1, warn=False), fn(target=1, warn=False, strategy=strategy)
        scale = float(np.abs(one.attributions).max())
        diffs[name] = float(np.abs(one.attributions - two.attributions).max()) / scale
        diffs[name + "_delta"] = float(np.abs(one.delta - two.delta).max())
        diffs[name + "_scores"] = float(np.abs(one.baseline_scores - two.baseline_scores).max())
        diffs[name + "_shape"] = float(one.attributions.shape != two.attributions.shape)
    try:
        keras_ig.guided_ig(model, x, steps=4, strategy="two cpus")
        diffs["refused"] = 1.0
    except TypeError as err:
        diffs["refused"] = 0.0 if "strategy" in str(err) else 1.0
    print(json.dumps(diffs))
    """


@pytest.mark.slow
def test_blur_and_guided_ig_under_a_mirrored_strategy_equal_one_device(tmp_path) -> None:
    diffs = two_cpus.run(SCRIPT, tmp_path, "adaptive.py")
    assert all(v < 1e-6 for v in diffs.values()), diffs
