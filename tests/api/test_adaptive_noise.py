"""SmoothGrad over Blur IG and Guided IG (`noise=`): the mean over the very noisy copies."""

from __future__ import annotations

import numpy as np
import pytest

import keras_ig
from keras_ig._numpy import noise as _noise
from tests.helpers import pair


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


def test_noise_with_a_dataset_is_refused_naming_noise():
    import tensorflow as tf

    model, x = pair.image_cnn(), pair.images()[:2]
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2)
    with pytest.raises(ValueError, match="noise"):
        keras_ig.guided_ig(model, ds, steps=4, noise=keras_ig.Noise(2, 0.1, seed=0))
    with pytest.raises(TypeError, match="noise"):
        keras_ig.blur_ig(model, x, steps=4, noise=0.1)
