"""The package's layering, read from its source: imports point one way.

Each module belongs to a layer (pure numpy -> TensorFlow engine -> the faces
-> I/O); a module may import its own layer or a lower one, never a higher
one. Imports under `TYPE_CHECKING` and inside functions count too: a circle
hidden from the interpreter is still a circle for the reader. A private name
(`_x`) is used only in the module that defines it.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Where each module's source lives: the package, and callbacks/ installed as
# keras_ig.callbacks.
SOURCES = {"keras_ig": ROOT / "keras_ig", "keras_ig.callbacks": ROOT / "callbacks"}

# Layer of a module, by the longest matching prefix of its dotted name.
LAYERS = {
    "keras_ig._version": 0,
    "keras_ig._numpy": 0,
    "keras_ig.baselines": 0,
    "keras_ig.completeness": 0,
    "keras_ig.datasets": 0,
    "keras_ig._engine": 1,
    "keras_ig._api": 2,
    "keras_ig.metrics": 2,
    "keras_ig._io": 3,
    "keras_ig.render": 3,
    "keras_ig.callbacks": 3,
    "keras_ig.beam": 3,
    "keras_ig.cli": 4,
    "keras_ig.__main__": 4,
    # The lazy public surface re-exports from every layer.
    "keras_ig": 5,
}
# The one upward import the layout allows: `Explanation.save` and
# `.to_images` are thin conveniences over the renderer of explanations, which
# itself knows nothing of the `Explanation` class.
# The text records' `save`/`_repr_html_` are the same kind of convenience
# over their own renderer, and so is `Comparison.save`.
ALLOWED_UPWARD = {
    ("keras_ig._api.explanation", "keras_ig._io.pictures"),
    ("keras_ig._api.text_results", "keras_ig._io.text_pictures"),
    ("keras_ig._api.comparison", "keras_ig._io.compare_pictures"),
}
LAYER_NAMES = ("pure numpy", "engine", "faces", "I/O", "command line", "package root")


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if package == "keras_ig" and parts[:1] == ["callbacks"]:
                continue
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import."""
    tree = ast.parse(MODULES[module].read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # `from pkg import module`
                    found.append((sub, None, node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in found if m == "keras_ig" or m.startswith("keras_ig.")]


def _owner(name: str) -> str | None:
    """The project module `name` refers to (a package's __init__ included)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def test_every_module_has_a_layer():
    assert MODULES, "no modules found"
    for module in MODULES:
        _layer(module)  # raises if no prefix matches


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    mine = _layer(module)
    for target, _, line in _imports(module):
        owner = _owner(target)
        if owner is None or owner == module or (module, owner) in ALLOWED_UPWARD:
            continue
        theirs = _layer(owner)
        assert theirs <= mine, (
            f"{module}:{line} imports {owner}: {LAYER_NAMES[mine]} must not import "
            f"{LAYER_NAMES[theirs]}"
        )


def test_no_import_circle():
    graph = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, _ in _imports(module):
            owner = _owner(target)
            # A package importing its own submodules (re-exports) is not a circle.
            if owner and owner != module and not owner.startswith(module + "."):
                graph[module].add(owner)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_modules(module):
    for target, name, line in _imports(module):
        owner = _owner(target)
        if name is not None and _private(name) and owner != module:
            pytest.fail(f"{module}:{line} imports the private name {name} from {target}")
    # `module._name` on a module imported as a whole.
    tree = ast.parse(MODULES[module].read_text())
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("keras_ig"):
                    aliases[a.asname or a.name] = a.name
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for a in node.names:
                if f"{target}.{a.name}" in MODULES:
                    aliases[a.asname or a.name] = f"{target}.{a.name}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
            and f"{aliases[node.value.id]}.{node.attr}" not in MODULES
        ):
            pytest.fail(
                f"{module}:{node.lineno} uses the private name "
                f"{aliases[node.value.id]}.{node.attr}"
            )
