"""The public surface: what `import keras_ig` exposes, and what it costs."""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import keras_ig

PURE = [
    "keras_ig._numpy.checks",
    "keras_ig._numpy.quadrature",
    "keras_ig.baselines",
    "keras_ig._numpy.colors",
    "keras_ig.render",
    "keras_ig._io.pictures",
    "keras_ig.datasets",
    "keras_ig._numpy.metrics",
    "keras_ig._numpy.faithfulness",
    "keras_ig._numpy.words",
    "keras_ig._io.text_pictures",
]


def test_public_names_resolve() -> None:
    for name in keras_ig.__all__:
        assert getattr(keras_ig, name) is not None
    assert set(keras_ig.__all__) <= set(dir(keras_ig))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        keras_ig.nope  # noqa: B018


@pytest.mark.slow
def test_import_does_not_load_tensorflow_until_needed() -> None:
    code = (
        "import sys, keras_ig, keras_ig.render, keras_ig.baselines, keras_ig.datasets;"
        "print('tensorflow' in sys.modules);"
        "keras_ig.explain;"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_tensorflow_or_keras(name: str) -> None:
    tree = ast.parse(pathlib.Path(importlib.import_module(name).__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"tensorflow", "keras"}
