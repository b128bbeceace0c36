"""`IGCallback` with texts as probes on a KerasHub classifier (`callbacks/_text_probes.py`).

A tiny BERT classifier is fine-tuned for 2 epochs with the callback; the
events read back hold one token picture and one token table per probe per
epoch, and the last epoch's numbers equal `keras_ig.explain_text` on the
trained model.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

pytest.importorskip("keras_hub")

import keras_ig
from keras_ig.callbacks import IGCallback
from tests.helpers.events import read_events
from tests.helpers.hub_models import bert_classifier

TAG = "integrated_gradients"
PROBES = ["the movie was good", "a dog sat on the mat", "the cat was not bad"]
TARGET = [1, 0, 0]


def _data() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    words = ("good", "bad")
    subjects = ("the movie", "the cat", "a dog")
    picks = rng.integers(2, size=(16, 2))
    texts = [f"{subjects[s % 3]} was {words[w]}" for s, w in picks]
    return texts, picks[:, 1].astype(np.int32) ^ 1  # label 1 for "good"


@pytest.mark.slow
def test_text_probes_log_token_pictures_and_tables_equal_to_explain_text(
    tmp_path, monkeypatch
) -> None:
    from keras_ig._api import text

    tokenized = []
    real_inputs = text.as_numpy_inputs
    monkeypatch.setattr(text, "as_numpy_inputs", lambda x: tokenized.append(1) or real_inputs(x))
    model = bert_classifier(num_classes=2, sequence_length=8, seed=3)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    cb = IGCallback(PROBES, tmp_path, target=TARGET, baseline="pad", steps=8)
    texts, labels = _data()
    model.fit(texts, labels, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[cb])
    assert len(tokenized) == 1  # the probes are tokenized once per fit, not per epoch

    logged = read_events(tmp_path / TAG)
    for i in range(len(PROBES)):
        assert set(logged["images"][f"{TAG}/probe_{i}"]) == {0, 1}
        assert all(f == "PNG" for f, _ in logged["images"][f"{TAG}/probe_{i}"].values())
        assert set(logged["text"][f"{TAG}/tokens/probe_{i}"]) == {0, 1}

    # The final epoch's logs are explain_text on the trained model.
    exp = keras_ig.explain_text(model, PROBES, target=TARGET, baseline="pad", steps=8, warn=False)
    last = cb.last_explanation
    assert isinstance(last, keras_ig.TextExplanation)
    for mine, theirs in zip(last.attributions, exp.attributions, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-8)
    gaps = [logged["scalars"][f"{TAG}/completeness_gap/probe_{i}"][1] for i in range(3)]
    np.testing.assert_allclose(gaps, exp.delta, rtol=1e-4, atol=1e-8)
    scores = [logged["scalars"][f"{TAG}/score/probe_{i}"][1] for i in range(3)]
    np.testing.assert_allclose(scores, exp.scores, rtol=1e-5)
    top = logged["scalars"][f"{TAG}/completeness_gap/max_abs"][1]
    np.testing.assert_allclose(top, np.abs(exp.delta).max(), rtol=1e-4, atol=1e-8)
    # The pictures are TextExplanation.to_images's (tokens, scale and caption).
    drawn = exp.to_images()
    for i in range(len(PROBES)):
        assert logged["images"][f"{TAG}/probe_{i}"][1][1] == drawn[i].size
    # The table lists each token with its attribution (4 significant digits).
    table = logged["text"][f"{TAG}/tokens/probe_0"][1]
    for t, (token, value) in enumerate(zip(exp.tokens[0], exp.attributions[0], strict=True)):
        assert f"| {t} | {token} | {value:+.4g} |" in table
    # The maps moved with training: the two epochs' logs differ.
    first = logged["scalars"][f"{TAG}/score/probe_0"][0]
    assert first != scores[0]
    assert cb.history[-1]["epoch"] == 1 and np.isfinite(cb.history[-1]["delta"]).all()


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"method": "idgi"}, "path method"),
        ({"layer": "embedding"}, "layer"),
        ({"masks": np.ones((3, 4), bool)}, "masks"),
        ({"metrics": ("deletion",)}, "metrics"),
        ({"kind": "text"}, "kind"),
    ],
)
def test_text_probes_refuse_array_only_settings_by_name(options: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        IGCallback(PROBES, "logs", **options)


def test_text_probes_on_a_model_without_preprocessor_fail_at_train_begin(tmp_path) -> None:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    cb = IGCallback(PROBES, tmp_path)
    cb.set_model(model)
    with pytest.raises(ValueError, match=r"IGCallback: text probes: model: .*no preprocessor"):
        cb.on_train_begin()


@pytest.mark.slow
def test_text_probes_with_background_ig_are_explained_in_on_epoch_end(tmp_path) -> None:
    from keras_ig.callbacks import IGCallbackWarning

    model = bert_classifier(num_classes=2, sequence_length=8, seed=3)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    cb = IGCallback(PROBES, tmp_path, target=TARGET, baseline="pad", steps=8, background_ig=True)
    texts, labels = _data()
    with pytest.warns(IGCallbackWarning, match="background_ig: text probes"):
        model.fit(texts, labels, epochs=1, batch_size=8, shuffle=False, verbose=0, callbacks=[cb])
    assert cb._replica is None and [h["epoch"] for h in cb.history] == [0]
    exp = keras_ig.explain_text(model, PROBES, target=TARGET, baseline="pad", steps=8, warn=False)
    for mine, theirs in zip(cb.last_explanation.attributions, exp.attributions, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-8)
