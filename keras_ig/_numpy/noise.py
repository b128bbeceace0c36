"""SmoothGrad's noise (Captum's NoiseTunnel): the record, the draws, the combination.

Pure numpy. A method runs on `samples` noisy copies of each input; the
copies of input n are rows `n * samples + s` of one batch, so that they go
through the engine with the rest (memory bounded by `batch_size`), and are
combined per input by `kind`:

* `"smoothgrad"`: the mean of the copies' attributions;
* `"smoothgrad_sq"`: the mean of their squares;
* `"vargrad"`: their variance (population: divided by `samples`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keras_ig._numpy import checks

KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


@dataclass(frozen=True)
class Noise:
    """SmoothGrad over a method: `samples` copies of x with Gaussian noise.

    Args:
        samples: noisy copies per input, `>= 1`.
        stdev: standard deviation of the noise, `>= 0`, absolute (in input units).
        kind: how the copies' attributions are combined, one of `KINDS`.
        seed: seed of the noise, a non-negative int, or None (fresh noise).

    Example:
        >>> keras_ig.explain(model, x, noise=keras_ig.Noise(samples=16, stdev=0.1))
    """

    samples: int = 16
    stdev: float = 0.1
    kind: str = "smoothgrad"
    seed: int | None = None

    def __post_init__(self) -> None:
        checks.integer(self.samples, "noise.samples", 1)
        checks.non_negative(self.stdev, "noise.stdev")
        if self.kind not in KINDS:
            raise ValueError(f"noise.kind must be one of {KINDS}, got {self.kind!r}")
        checks.integer(self.seed, "noise.seed", 0, optional=True)


def check_noise(noise: object) -> Noise | None:
    """`noise` as a `Noise` or None.

    Raises:
        TypeError: naming `noise`, for anything else.
    """
    if noise is None or isinstance(noise, Noise):
        return noise
    raise TypeError(f"noise must be None or a keras_ig.Noise, got {type(noise).__name__}")


def noisy_copies(leaves: list[np.ndarray], noised: list[bool], noise: Noise) -> list[np.ndarray]:
    """`samples` copies of each row, Gaussian noise added where `noised`.

    Args:
        leaves: the flat inputs, each `[N, ...]`.
        noised: per leaf, whether it gets noise (float inputs on the path);
            the others are repeated unchanged.
        noise: the settings; the same seed gives the same noise.

    Returns:
        Per leaf `[N * samples, ...]`, row `n * samples + s` copy s of input n,
        in the leaf's dtype.
    """
    rng = np.random.default_rng(noise.seed)
    out = []
    for leaf, add in zip(leaves, noised, strict=True):
        copies = np.repeat(leaf, noise.samples, axis=0)
        if add:
            draw = rng.standard_normal(copies.shape) * noise.stdev
            copies = (copies + draw).astype(leaf.dtype)
        out.append(copies)
    return out


def combine(values: np.ndarray, samples: int, kind: str) -> np.ndarray:
    """Per input, the `kind` of its copies' values.

    Args:
        values: `[N * samples, ...]`, copies of an input in consecutive rows.
        samples: copies per input.
        kind: one of `KINDS`.

    Returns:
        `float32[N, ...]`.
    """
    per = values.reshape((-1, samples, *values.shape[1:])).astype(np.float64)
    if kind == "smoothgrad":
        result = per.mean(axis=1)
    elif kind == "smoothgrad_sq":
        result = (per**2).mean(axis=1)
    elif kind == "vargrad":
        result = per.var(axis=1)
    else:
        raise ValueError(f"noise.kind must be one of {KINDS}, got {kind!r}")
    return result.astype(np.float32)


def mean_of_copies(values: np.ndarray, samples: int) -> np.ndarray:
    """`float32[N]`: the mean over each input's copies of `values[N * samples]`."""
    return values.reshape(-1, samples).mean(axis=1, dtype=np.float64).astype(np.float32)
