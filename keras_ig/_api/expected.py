"""The host side of Expected Gradients: background in, `Explanation` out.

`expected_explanation` reads the background into the job's baseline rows
(a `BaselineStack` per attributed tensor, in the layer's space with
`layer=`), runs `keras_ig._engine.expected` on the devices and builds the
`Explanation` from the rows each draw picked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from keras_ig._api.explanation import Explanation
from keras_ig._api.results import build_explanation
from keras_ig._api.stream import check_one_tensor
from keras_ig._engine import devices, inputs
from keras_ig._engine.input_baseline import input_space_values, layer_baseline
from keras_ig._engine.job import chunk_rows
from keras_ig._engine.options import Options
from keras_ig._numpy import nest
from keras_ig.baselines import BaselineStack

METHOD = "expected_gradients"


def background_stack(explainer: Any, x: Any, background: Any) -> Any:
    """The background as the baseline of a job: one `BaselineStack` per tensor.

    Raises:
        ValueError, TypeError: naming `background`, for a missing or
            misshapen background.
    """
    if background is None or isinstance(background, (str, int, float)):
        raise TypeError(
            "background must be an array of background rows [B, ...] (a list/dict of them "
            f"for a multi-input model), got {type(background).__name__}"
        )
    score_fn = explainer.score_fn
    structure, raw = inputs.split_inputs(explainer.model, x)
    names = nest.paths(structure)
    leaves = [inputs.as_array(leaf, name) for leaf, name in zip(raw, names, strict=True)]
    if score_fn.layer is not None:
        source = input_space_values(background)
        if source is None:  # already in the layer's space
            return BaselineStack(_rows(background, None, "background"))
        acts = layer_baseline(
            score_fn,
            source,
            structure,
            leaves,
            names,
            explainer.jobs.check_token_ids,
            background=True,
        )
        return BaselineStack(acts)
    specs = inputs.baseline_specs(background, structure, names, len(leaves))
    stacks = [
        None if spec is None else BaselineStack(_rows(spec, leaf, "background" + name[1:]))
        for spec, leaf, name in zip(specs, leaves, names, strict=True)
    ]
    return stacks[0] if structure is None else nest.pack(structure, stacks)


def _rows(values: Any, leaf: np.ndarray | None, name: str) -> np.ndarray:
    arr = np.asarray(values.numpy() if hasattr(values, "numpy") else values)
    if arr.ndim < 1 or arr.shape[0] < 1:
        raise ValueError(f"{name} needs at least one row, got shape {arr.shape}")
    if leaf is not None and arr.shape[1:] != leaf.shape[1:]:
        raise ValueError(
            f"{name} has shape {arr.shape}; expected (B,) + {leaf.shape[1:]}: background "
            "rows shaped like the inputs' rows"
        )
    return arr


def expected_explanation(explainer: Any, x: Any, opts: Options) -> Explanation:
    """Expected Gradients of one batch `x` (see `keras_ig.expected_gradients`).

    Args:
        explainer: the model's `Explainer` (its `score_fn`, `jobs`, `engine`).
        x: `[N, ...]` or the structure of the model's inputs.
        opts: checked options; `baseline` is the background.
    """
    stack = background_stack(explainer, x, opts.baseline)
    job = explainer.prepare(x, target=opts.target, baseline=stack)
    check_one_tensor(opts.out, len(job.base_values))
    samples = opts.samples
    batch_size = chunk_rows(job.plan.z_shapes, opts.batch_size, job.n * samples)
    seed = opts.seed if opts.seed is not None else int(np.random.default_rng().integers(2**31))
    seed_pair = np.array([seed % 2**31, seed // 2**31], np.int32)
    method = explainer.expected_engine()
    noisy = opts.stdev > 0

    def args_of(part: Any) -> tuple:
        return (
            list(part.leaves),
            list(part.base_values),
            np.int32(samples),
            seed_pair,
            np.float32(opts.stdev),
            part.targets,
            np.int32(batch_size),
        )

    raw = devices.run_graph(
        method.compiled(job.plan, noisy),
        lambda: method.replicated(job.plan, noisy),
        job,
        args_of,
        samples,
        opts.strategy,
    )
    draws = raw.pop("draws").reshape(job.n, samples).astype(np.int32)
    drawn = dataclasses.replace(job, base_index=[draws] * len(job.base_values))
    return build_explanation(
        drawn,
        raw,
        steps=samples,
        method=METHOD,
        indexed=explainer.score_fn.target_fn is None,
        layer_mode=explainer.score_fn.layer is not None,
        out=opts.out,
    )
