"""SmoothGrad over Blur IG and Guided IG (`noise=`): the mean over the very noisy copies."""

from __future__ import annotations

import numpy as np
import pytest

import keras_ig
from keras_ig._numpy import noise as _noise
from tests.helpers import pair


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["smoothgrad", "smoothgrad_sq", "vargrad"])
@pytest.mark.parametrize("method", ["blur_ig", "guided_ig"])
def test_noise_combines_the_method_over_the_seeded_copies(method, kind):
    model, x = pair.image_cnn(), pair.images()[:2]
    fn = getattr(keras_ig, method)
    opts = {"max_sigma": 3.0} if method == "blur_ig" else {}
    noise = keras_ig.Noise(samples=3, stdev=0.05, kind=kind, seed=7)
    target = np.array([1, 2])
    got = fn(model, x, target=target, steps=8, noise=noise, warn=False, **opts)

    (copies,) = _noise.noisy_copies([x], [True], noise)  # the same seeded draws
    each = fn(model, copies, target=np.repeat(target, 3), steps=8, warn=False, **opts)
    a = each.attributions.reshape(2, 3, *x.shape[1:])
    want = {"smoothgrad": a.mean(1), "smoothgrad_sq": (a**2).mean(1), "vargrad": a.var(1)}[kind]
    np.testing.assert_allclose(got.attributions, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got.delta, each.delta.reshape(2, 3).mean(1), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(got.target, target)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["blur_ig", "guided_ig"])
def test_noise_over_a_dataset_smooths_each_batch_as_on_its_own(method):
    # As keras_ig.explain: each batch of the dataset gets the seeded copies of an array batch.
    import tensorflow as tf

    model, x = pair.image_cnn(), pair.images(5)
    fn = getattr(keras_ig, method)
    opts = {"max_sigma": 3.0} if method == "blur_ig" else {}
    noise = keras_ig.Noise(samples=2, stdev=0.1, seed=3)
    data = tf.data.Dataset.from_tensor_slices((x, np.zeros(5))).batch(3)  # (x, y) as for fit
    got = fn(model, data, target=None, steps=6, noise=noise, verbose=0, warn=False, **opts)
    parts = [
        fn(model, x[a:b], steps=6, noise=noise, warn=False, **opts) for a, b in ((0, 3), (3, 5))
    ]
    want = np.concatenate([p.attributions for p in parts])
    np.testing.assert_allclose(got.attributions, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got.delta, np.concatenate([p.delta for p in parts]), atol=1e-7)
    # The batches' copies differ from one whole-array draw: it really is per batch.
    whole = fn(model, x, steps=6, noise=noise, warn=False, **opts)
    assert not np.allclose(whole.attributions[3:], want[3:], atol=1e-6)


def test_a_bad_noise_is_refused_naming_noise():
    model, x = pair.image_cnn(), pair.images()[:2]
    with pytest.raises(TypeError, match="noise"):
        keras_ig.blur_ig(model, x, steps=4, noise=0.1)
    with pytest.raises(TypeError, match="noise"):
        keras_ig.guided_ig(model, x, steps=4, noise="smooth")
