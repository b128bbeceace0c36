"""`IGCallback` on a KerasHub text classifier: probes that are texts.

`IGCallback(["a good movie", ...], log_dir)` on a KerasHub task with its
preprocessor tokenizes the texts once per fit (`prepare_texts`) and runs
`explain_text`'s attribution on them at each logged epoch. Its runner
returns the `TextExplanation`; `views` turns that into the callback's
per-probe `InputView`s (so statistics, histograms and token tables work
unchanged) and `pictures` draws the tokens as
`TextExplanation.to_images` does (`keras_ig._io.text_pictures`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from keras_ig._api.hub import hub_parts
from keras_ig._api.text import explain_prepared, prepare_texts
from keras_ig._api.text_results import TextExplanation
from keras_ig._io import text_pictures
from keras_ig._io.input_views import InputView
from keras_ig._numpy.quadrature import quadrature


def texts(probes: Any) -> list[str] | None:
    """`probes` as a list of texts when it is a non-empty list or tuple of str, else None."""
    if isinstance(probes, list | tuple) and probes and all(isinstance(p, str) for p in probes):
        return list(probes)
    return None


def check_options(method: str, steps: int, **unsupported: Any) -> None:
    """The callback's settings that text probes cannot take, refused by name.

    Args:
        method, steps: a quadrature rule of Integrated Gradients and its steps
            (the path methods take token ids, not texts).
        **unsupported: settings for array probes (`layer`, `output`, `masks`,
            `vocabulary`, `feature_names`, `metrics`, `kind`,
            `method_options`): each must be None or empty.

    Raises:
        ValueError: naming the setting.
    """
    try:
        quadrature(method, steps)
    except ValueError as err:
        raise ValueError(
            f"{err}; text probes (a list of str) take a quadrature rule of Integrated "
            "Gradients, not another path method"
        ) from None
    for name, value in unsupported.items():
        empty = value is None or (isinstance(value, list | tuple | dict) and not value)
        if not empty:
            raise ValueError(
                f"{name} is not used with text probes (a list of str): they are tokenized "
                "by the model's preprocessor and attributed at its token embedding"
            )


def runner(
    model: Any,
    probes: list[str],
    *,
    target: Any,
    baseline: Any,
    steps: int,
    method: str,
    batch_size: int | None,
) -> Callable[[], TextExplanation]:
    """Check the model with a one-step run; a zero-argument runner for the epochs.

    Raises:
        TypeError, ValueError: prefixed "IGCallback:", the model is not a
            KerasHub task with a preprocessor and token embedding, or target
            / baseline do not fit it.
    """
    try:
        hub_parts(model, "model")
        # Tokenized once per fit: the texts and the tokenizer do not change.
        run = functools.partial(
            explain_prepared,
            prepare_texts(model, probes, baseline=baseline),
            target=target,
            batch_size=batch_size,
            warn=False,  # completeness is the callback's to warn about, once per fit
        )
        run(steps=1, method="riemann_middle")  # checks target and baseline, compiles
    except (TypeError, ValueError) as err:
        raise type(err)(f"IGCallback: text probes: {err}") from None
    return functools.partial(run, steps=steps, method=method)


def views(exp: TextExplanation) -> list[list[InputView]]:
    """Per text, its one `"text"` view: tokens and per-token attributions `float64[T_i]`."""
    return [
        [InputView("text", np.asarray(a, np.float64), tokens=list(t), length=len(t))]
        for t, a in zip(exp.tokens, exp.attributions, strict=True)
    ]


def pictures(exp: Any, clip_percentile: float) -> list[Any] | None:
    """`exp`'s token pictures when it is a `TextExplanation`, else None."""
    if not isinstance(exp, TextExplanation):
        return None
    return text_pictures.text_images(exp, clip_percentile=clip_percentile)
