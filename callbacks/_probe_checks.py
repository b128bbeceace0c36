"""`IGCallback`'s set-up at train begin: the dry run, its checks of the probes against the model.

They need the model (the dry run's `Explanation` says how many rows it saw
and what each attributed input looks like), so they run at train begin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig._api.explain import Explainer, explainer_for
from keras_ig._api.explanation import Explanation
from keras_ig._io import pictures
from keras_ig._numpy import nest
from keras_ig.callbacks import _messages, _methods, _settings, _text_probes


def check_against(
    dry: Explanation,
    *,
    probes: Any,
    num_probes: int,
    kind: str | None,
    vocab: list[str] | None,
    pad_id: int | None,
    masks: np.ndarray | None,
    feature_names: list[str] | None,
) -> None:
    """Probes, masks, vocabulary and feature_names against what the model saw.

    Args:
        dry: IG of the probes with one step.
        probes: the probes as the callback holds them.
        num_probes: P.
        kind, vocab, pad_id: how the probes are viewed (`pictures.views`).
        masks: `bool[P, *map]` or None.
        feature_names: names of tabular features or None.

    Raises:
        ValueError, TypeError: prefixed "IGCallback:", naming the argument.
    """
    if len(dry) != num_probes:
        raise ValueError(
            f"IGCallback: probes were read as {num_probes} rows per input, but "
            f"the model sees {len(dry)}; a list of arrays is one array per model "
            "input: for a single-input model pass one array [P, ...]"
        )
    try:
        rows = pictures.views(dry, kind=kind, vocabulary=vocab, pad_id=pad_id)
    except (TypeError, ValueError) as err:
        raise type(err)(f"IGCallback: {err}") from None
    first = rows[0]
    kinds = sorted({view.kind for view in first})
    if masks is not None:
        if len(first) != 1:
            raise ValueError(
                f"IGCallback: masks need one attributed input; this model has {len(first)}"
            )
        view = first[0]
        want = (num_probes, *view.scores.shape)
        if masks.shape != want:
            raise ValueError(
                f"IGCallback: masks has shape {masks.shape}; expected {want}, one "
                f"region per probe shaped like its {view.kind} attribution map "
                f"{view.scores.shape}"
            )
    if feature_names is not None:
        sizes = {view.scores.size for view in first if view.kind == "tabular"}
        if not sizes:
            raise ValueError(
                f"IGCallback: feature_names given, but the probes are {kinds}, not tabular"
            )
        if len(feature_names) not in sizes or len(sizes) > 1:
            raise ValueError(
                f"IGCallback: feature_names has {len(feature_names)} names; the "
                f"probes have {sorted(sizes)} features"
            )
    if vocab is not None:
        if "text" not in kinds:
            raise ValueError(
                f"IGCallback: vocabulary given, but the probes are {kinds}, not "
                "token ids explained at an embedding (layer=)"
            )
        ids = [leaf for leaf in nest.flatten(probes) if leaf.dtype.kind in "iu"]
        top = max(int(leaf.max()) for leaf in ids) if ids else -1
        if top >= len(vocab):
            raise ValueError(
                f"IGCallback: vocabulary has {len(vocab)} tokens but the "
                f"probes contain token id {top}"
            )


def dry_run(
    explainer: Explainer,
    probes: Any,
    *,
    target: Any,
    baseline: Any,
    n_baselines: int,
    seed: int | None,
    steps: int,
    method: str,
    batch_size: int | None,
    method_run: Callable[[], Explanation] | None = None,
) -> tuple[Explanation, Callable[[], Explanation]]:
    """IG of the probes with one quadrature point, and the epochs' runner.

    The run checks probes, target, layer and baseline against the model; it
    also prepares the probes (targets, baselines) once per `fit` and compiles
    the graph that every epoch then reuses through the returned runner:
    alphas and weights are inputs of the graph, so `steps` and `method` do
    not retrace.

    `method_run`, for a path method other than IG (`callbacks/_methods.py`),
    is that method's full run: its first call is the check and the compile.

    Returns:
        `(dry, run)`: the one-step `Explanation`, and a zero-argument
        function giving this epoch's `Explanation` with `steps` of `method`.

    Raises:
        TypeError, ValueError: prefixed "IGCallback:", for settings that do
            not fit the model.
        RuntimeError: the model's own code raised (its exception is the
            `__cause__`).
    """
    try:
        if method_run is not None:
            return method_run(), method_run
        job = explainer.prepare(
            probes,
            target=target,
            baseline=baseline,
            n_baselines=n_baselines,
            seed=seed,
        )
        dry = explainer.runner(job, 1, "riemann_middle", batch_size)()
    except (TypeError, ValueError) as err:
        cls = TypeError if isinstance(err, TypeError) else ValueError
        raise cls(f"IGCallback: {_settings.for_probes(str(err))}") from None
    except tf.errors.OpError as err:
        raise ValueError(
            f"IGCallback: probes could not be explained with this model: {_messages.short(err)}"
        ) from None
    except Exception as err:  # raised by the model's own Python code
        raise RuntimeError(
            "IGCallback: the dry run at on_train_begin (Integrated Gradients of the "
            "probes with one step, to check them against the model) failed: "
            f"{_messages.short(err)}"
        ) from err
    return dry, explainer.runner(job, steps, method, batch_size)


def prepare(
    model: Any,
    settings: Any,
    *,
    vocab: list[str] | None,
    texts: list[str] | None,
    layer: Any,
    output: Any,
) -> tuple[Explainer | None, Callable[[], Any]]:
    """Check the settings against `model` with a one-step run; this fit's runner.

    Args:
        model: the model explained at each epoch (the user's, or its clone).
        settings: the callback (the attributes of `_settings.Settings`).
        vocab: the resolved vocabulary, or None.
        texts: the probes as texts for a KerasHub classifier, or None.
        layer, output: `settings.layer` / `settings.output`, or their
            counterparts in `model`.

    Returns:
        `(explainer, run)`: the compiled engine (None for text probes) and a
        zero-argument function giving this epoch's explanation.

    Raises:
        TypeError, ValueError, RuntimeError: as `dry_run` and `check_against`.
    """
    s = settings
    if texts is not None:  # explain_text at each epoch, checked with one step now
        run = _text_probes.runner(
            model, texts, target=s.target, baseline=s.baseline,
            steps=s.steps, method=s.method, batch_size=s.batch_size,
        )  # fmt: skip
        return None, run
    try:
        explainer = explainer_for(model, target=s.target, layer=layer, output=output)
    except (TypeError, ValueError) as err:
        raise type(err)(f"IGCallback: {err}") from None
    method_run = None
    if _methods.is_path_method(s.method):
        method_run = _methods.runner(
            s.method, model, s.probes, target=s.target, baseline=s.baseline,
            steps=s.steps, output=output, layer=layer, batch_size=s.batch_size,
            seed=s.seed, options=s.method_options,
        )  # fmt: skip
    # One quadrature point: checks probes/target/layer/baseline against
    # the model and compiles the graph every epoch then reuses (alphas
    # and weights are graph inputs, so `steps` does not retrace).
    dry, run = dry_run(
        explainer, s.probes, target=s.target, baseline=s.baseline,
        n_baselines=s.n_baselines, seed=s.seed, steps=s.steps, method=s.method,
        batch_size=s.batch_size, method_run=method_run,
    )  # fmt: skip
    check_against(
        dry, probes=s.probes, num_probes=s.num_probes, kind=s.kind, vocab=vocab,
        pad_id=s.pad_id, masks=s.masks, feature_names=s.feature_names,
    )  # fmt: skip
    return explainer, run
