"""Quadrature rules on [0, 1] for the path integral of Integrated Gradients.

Pure numpy, no TensorFlow: every rule returns the path positions `alphas`
and their `weights`, both `float64[n]`, so that
`sum(weights * g(alphas)) ~= integral_0^1 g(a) da`. Every rule's weights sum
to 1, which is what makes completeness hold for a linear model at any `n`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from keras_ig._numpy import checks

Rule = Callable[[int], tuple[np.ndarray, np.ndarray]]


def riemann_left(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Left Riemann sum: `alphas = i / n`, `i = 0 .. n-1`, equal weights."""
    return np.arange(n, dtype=np.float64) / n, np.full(n, 1.0 / n)


def riemann_right(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Right Riemann sum: `alphas = i / n`, `i = 1 .. n`, equal weights."""
    return np.arange(1, n + 1, dtype=np.float64) / n, np.full(n, 1.0 / n)


def riemann_middle(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Midpoint rule: `alphas = (i + 1/2) / n`, equal weights."""
    return (np.arange(n, dtype=np.float64) + 0.5) / n, np.full(n, 1.0 / n)


def riemann_trapezoid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid rule on `n >= 2` points including both ends.

    The spacing is `1 / (n - 1)` (n points make n - 1 intervals); the end
    points carry half a weight, so the weights sum to 1, not `(n - 1) / n`.
    """
    if n < 2:
        raise ValueError(f"steps must be >= 2 for 'riemann_trapezoid', got {n}")
    alphas = np.linspace(0.0, 1.0, n)
    weights = np.full(n, 1.0 / (n - 1))
    weights[[0, -1]] *= 0.5
    return alphas, weights


# Above this order Gauss-Legendre is composite: leggauss costs n**2 memory
# and n**3 time (minutes and GBs at n = 20000), and a panel of 256 points is
# already exact far beyond what float32 gradients can resolve.
MAX_PANEL_ORDER = 256


def gausslegendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre rule on `n` points; composite above `MAX_PANEL_ORDER`.

    Up to `MAX_PANEL_ORDER` points: one rule, exact for polynomials of degree
    up to `2n - 1`. Above: `P = ceil(n / MAX_PANEL_ORDER)` equal panels of
    width `h = 1 / P`, each a Gauss-Legendre rule of order `q = n // P` or
    `q + 1` (orders summing to `n`), so time and memory grow linearly in `n`.
    The composite rule is exact for polynomials of degree up to `2q - 1`
    (`q >= 128`); its error is the sum of the panels' errors, each
    `h**(2q + 1) * (q!)**4 / ((2q + 1) * ((2q)!)**3) * g^(2q)(xi)` for a
    panel of order `q` and some `xi` in it, so at most
    `h**(2q) * (q!)**4 / ((2q + 1) * ((2q)!)**3) * max|g^(2q)|` for the
    smaller order. Weights sum to 1 and nodes lie in `(0, 1)`, as for the
    single rule. Doubling `n` under `tolerance=` doubles the panels' points
    or their number, so refinement stays a Gauss-Legendre refinement.
    """
    if n <= MAX_PANEL_ORDER:
        alphas, weights = _legendre01(n)
        return alphas.copy(), weights.copy()
    panels = -(-n // MAX_PANEL_ORDER)
    orders = np.full(panels, n // panels)
    orders[: n % panels] += 1  # sum(orders) == n
    alphas, weights = [], []
    for i, q in enumerate(orders):
        nodes, w = _legendre01(int(q))
        alphas.append((i + nodes) / panels)
        weights.append(w / panels)
    return np.concatenate(alphas), np.concatenate(weights)


@functools.lru_cache(maxsize=8)
def _legendre01(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    # leggauss integrates over [-1, 1]; the affine map to [0, 1] halves weights.
    return (nodes + 1.0) / 2.0, weights / 2.0


RULES: dict[str, Rule] = {
    "riemann_left": riemann_left,
    "riemann_right": riemann_right,
    "riemann_middle": riemann_middle,
    "riemann_trapezoid": riemann_trapezoid,
    "gausslegendre": gausslegendre,
}

# Short names, as the README and the CLI's users say them: each stands for
# the rule it names in `RULES` (results report the full name).
ALIASES: dict[str, str] = {
    "left": "riemann_left",
    "right": "riemann_right",
    "middle": "riemann_middle",
    "trapezoid": "riemann_trapezoid",
}


def method_name(method: object) -> str:
    """The `RULES` name of `method`, aliases (`"trapezoid"`, ...) resolved.

    Raises:
        TypeError: `method` is not a string.
        ValueError: `method` names no rule.

    Example:
        >>> method_name("trapezoid")
        'riemann_trapezoid'
    """
    if not isinstance(method, str):
        raise TypeError(f"method must be a string, got {type(method).__name__}")
    name = ALIASES.get(method, method)
    if name not in RULES:
        known = sorted(RULES) + sorted(ALIASES)
        raise ValueError(f"method must be one of {known}, got {method!r}")
    return name


def quadrature(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of a named rule.

    Args:
        method: one of `RULES`, or an alias of one (`ALIASES`).
        steps: number of points, `>= 1` (`>= 2` for the trapezoid rule).

    Returns:
        `(alphas, weights)`, each `float64[steps]`, `alphas` in `[0, 1]`.

    Raises:
        ValueError: unknown `method` or bad `steps`.
        TypeError: `steps` not an integer.

    Example:
        >>> alphas, weights = quadrature("gausslegendre", 4)
        >>> float(weights.sum())
        1.0
    """
    alphas, weights = _cached(method_name(method), checks.integer(steps, "steps", 1))
    return alphas.copy(), weights.copy()


@functools.lru_cache(maxsize=64)
def _cached(method: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    # leggauss solves an eigenproblem: milliseconds at a few hundred points.
    return RULES[method](steps)


# -- refinement: the next rule when `n` points were not enough ---------------
# Rules whose points nest under doubling reuse every gradient already
# computed: left and right Riemann sums (n -> 2n) and the trapezoid rule
# (n -> 2n - 1) add only the new midpoints, `new = old / 2 + midpoint sum`.
# Gauss-Legendre and the midpoint rule do not nest: each round recomputes at
# twice the points (Gauss-Legendre still usually converges in far fewer).
def midpoints(intervals: int, h: float) -> tuple[np.ndarray, np.ndarray]:
    """The midpoints `float64[intervals]` of cells of width `h`, each weighing `h / 2`."""
    return (np.arange(intervals) + 0.5) * h, np.full(intervals, h / 2)


def refinement(method: str, n: int) -> tuple[int, np.ndarray, np.ndarray, bool]:
    """The step after `n` points of `method` (a rule's full name).

    Args:
        method: a rule's full name (see `method_name`).
        n: the points used so far.

    Returns:
        `(following, alphas, weights, nested)`: the next point count; for a
        nested rule, only the added points (weights such that
        `new = old / 2 + sum(weights * g(alphas))`), else the whole rule at
        `following` points; and whether the rule nests.
    """
    if method in ("riemann_left", "riemann_right"):
        alphas, weights = midpoints(n, 1.0 / n)
        return 2 * n, alphas, weights, True
    if method == "riemann_trapezoid":
        alphas, weights = midpoints(n - 1, 1.0 / (n - 1))
        return 2 * n - 1, alphas, weights, True
    alphas, weights = quadrature(method, 2 * n)
    return 2 * n, alphas, weights, False
