"""Explain a regression model feature by feature.

    python examples/tabular_regression.py     # about 10 s on 2 CPU cores

`make_regression` draws standard-normal features and a target with known
coefficients, `y = X @ w + 0.3 + 0.5 * x0 * x1 + noise`, where some
features have weight 0 (`irrelevant`). An MLP learns it; IG explains its
single output unit.

Two things to check, because here the truth is known:

- Completeness: for each row the attributions add up to
  `F(x) - F(baseline)`, the prediction's distance from the prediction at the
  baseline. The baseline is the all-zero row, which is also the mean row of
  standardised features: "how does this row differ from an average one?".
- Irrelevant features get (almost) nothing, and for the linear part each
  feature's attribution is close to `w_i * x_i`, its true contribution.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from keras_ig.cli import start_tensorflow

# As the CLI does: TF_CPP_MIN_LOG_LEVEL=2, and the C++ start-up lines
# (oneDNN, cuInit) that ignore it held back unless start-up fails.
start_tensorflow()

import keras
import numpy as np

import keras_ig
from keras_ig import render
from keras_ig.datasets import make_regression


def main(argv: Sequence[str] | None = None) -> dict:
    """Train an MLP regressor, explain held-out rows, compare with the truth.

    Returns:
        `{"max_abs_gap": float, "span": float, "irrelevant": float,
        "relevant": float, "r2": float}`: the largest completeness gap, the
        spread of the predictions, the mean |attribution| of irrelevant and
        of relevant features, and the test R^2.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="training rows")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--rows", type=int, default=64, help="rows explained")
    parser.add_argument("--steps", type=int, default=128, help="integration steps")
    parser.add_argument("--out", default="runs/tabular", help="folder for the picture")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    data = make_regression(args.train, seed=args.seed)
    n_features = data.features.shape[1]
    model = keras.Sequential(
        [
            keras.Input((n_features,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(data.features, data.targets, epochs=args.epochs, batch_size=64, verbose=0)

    test = make_regression(args.rows, seed=args.seed + 1000)
    predictions = model.predict(test.features, verbose=0)[:, 0]
    r2 = 1 - np.mean((predictions - test.targets) ** 2) / np.var(test.targets)
    # One output unit: target=None explains it. The baseline is the zero row.
    exp = keras_ig.explain(model, test.features, steps=args.steps)
    attr = exp.attributions  # [rows, features]

    # Completeness, on the regression output itself.
    total = attr.sum(axis=1)
    gap = np.abs(total - (exp.scores - exp.baseline_scores))
    print(f"test R^2 {r2:.3f}; F(baseline) = {exp.baseline_scores[0]:.3f}")
    print(
        f"completeness: |sum(attributions) - (F(x) - F(baseline))| <= {gap.max():.2e} "
        f"(predictions span {np.ptp(exp.scores):.2f})"
    )

    mean_abs = np.abs(attr).mean(axis=0)
    relevant = [i for i in range(n_features) if i not in data.irrelevant]
    truth = data.coefficients * test.features  # linear contributions w_i * x_i
    print(f"\n{'feature':<10}{'weight':>8}{'mean |IG|':>11}{'corr(IG, w*x)':>15}")
    for i, name in enumerate(data.feature_names):
        if data.coefficients[i] != 0:
            corr = f"{np.corrcoef(attr[:, i], truth[:, i])[0, 1]:>15.3f}"
        else:
            corr = f"{'-':>15}"
        print(f"{name:<10}{data.coefficients[i]:>8.2f}{mean_abs[i]:>11.3f}{corr}")
    irrelevant = float(mean_abs[list(data.irrelevant)].mean())
    print(
        f"\nmean |attribution|: irrelevant features {irrelevant:.3f}, "
        f"relevant ones {mean_abs[relevant].mean():.3f}"
    )

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "row0.png")
    render.bar_chart(attr[0], list(data.feature_names)).save(path)
    print(f"Attributions of the first row: {path}")
    return {
        "max_abs_gap": float(gap.max()),
        "span": float(np.ptp(exp.scores)),
        "irrelevant": irrelevant,
        "relevant": float(mean_abs[relevant].mean()),
        "r2": float(r2),
    }


if __name__ == "__main__":
    main()
