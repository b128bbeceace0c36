"""Walkers of nested inputs (dicts, lists, tuples of leaves). Pure Python.

One order everywhere, `tf.nest`'s: dict keys sorted, sequences in order.
Unlike `tf.nest`, `None` is a leaf, so an input held fixed (baseline None)
keeps its place in a packed structure.

Example:
    >>> paths({"b": 0, "a": [0, 0]})
    ("x['a'][0]", "x['a'][1]", "x['b']")
    >>> pack({"b": 0, "a": 0}, [1, None])
    {'a': 1, 'b': None}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def paths(structure: Any, root: str = "x") -> tuple[str, ...]:
    """The name of every leaf of `structure`, e.g. `x['ids']` or `x[1]`.

    Args:
        structure: a leaf (also None: a single input, named `root`), or a
            dict / list / tuple of them, nested.
        root: the name of the whole structure.

    Returns:
        One name per leaf, in `flatten` order.
    """
    found: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key in sorted(node):
                walk(node[key], f"{prefix}[{key!r}]")
        elif isinstance(node, (list, tuple)):
            for i, item in enumerate(node):
                walk(item, f"{prefix}[{i}]")
        else:
            found.append(prefix)

    walk(structure, root)
    return tuple(found)


def flatten(tree: Any) -> list[Any]:
    """The leaves of `tree` (None included), dict keys sorted, sequences in order."""
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in flatten(tree[key])]
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in flatten(item)]
    return [tree]


def pack(structure: Any, flat: list[Any]) -> Any:
    """`flat` (in `flatten` order) packed like `structure`; None leaves kept.

    Args:
        structure: the nesting to rebuild (its leaves are ignored).
        flat: one value per leaf of `structure`.

    Returns:
        Dicts with sorted keys, lists and tuples of the same types as in
        `structure`.
    """
    it: Iterator[Any] = iter(flat)

    def build(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: build(node[key]) for key in sorted(node)}
        if isinstance(node, (list, tuple)):
            return type(node)(build(v) for v in node)
        return next(it)

    return build(structure)
