"""`IntegratedGradients`: the engine as a Keras layer."""

from __future__ import annotations

import numbers
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from keras_ig import baselines as _baselines
from keras_ig._api.explainer import Explainer
from keras_ig._api.explanation import Explanation
from keras_ig._engine.inputs import (
    baseline_specs,
    check_target_range,
    resolve_targets,
    split_inputs,
)
from keras_ig._engine.job import chunk_rows, make_plan
from keras_ig._engine.options import OPTION_NAMES
from keras_ig._engine.score import resolve_layer
from keras_ig._numpy import checks as _checks
from keras_ig._numpy import nest
from keras_ig._numpy.quadrature import quadrature

_CALL_BASELINES = (
    "zeros/black, a number, an array shaped like one input, or a BaselineStack of shared baselines"
)


class IntegratedGradients(keras.layers.Layer):
    """Integrated Gradients of a model, as a layer: tensors in, attributions out.

    Calling the layer runs the same compiled engine as `keras_ig.explain`, so
    it can sit in a functional model and be exported to serve attributions:

        inp = keras.Input((28, 28, 1))
        ig = keras_ig.IntegratedGradients(classifier, steps=32)
        server = keras.Model(inp, {"probs": classifier(inp), "ig": ig(inp)})
        server.export("served")
        loaded = tf.saved_model.load("served")  # keep it: .serve needs it alive
        loaded.serve(x)

    Args:
        model: the Keras model to explain (its weights are shared, not copied).
        target, baseline, steps, method, batch_size, layer, output,
        n_baselines, seed, multiply_by_inputs: as in `keras_ig.explain`.
            When the layer is called
            (rather than `.explain()`), the baseline must not depend on the
            input values: zeros, a number, one shared array or a
            `BaselineStack` of shared baselines.
        jit_compile: compile the engine with XLA.

    Call arguments:
        x: `[N, ...]` (the structure of `model.inputs` for multi-input models).
        target: optional `int[N]` tensor overriding the layer's index target,
            each in `[0, units)`: checked on the host for concrete values, by
            in-graph assertions naming `target` in a traced or exported graph.
        An int `target` given at construction is checked against the model's
        output units there.

    Returns:
        `float32` attributions shaped like `x` (like the layer's output with
        `layer=`); for multi-input models, the structure of `x` with zeros for
        inputs held fixed.
    """

    def __init__(
        self,
        model: keras.Model,
        *,
        target: Any = None,
        baseline: Any = "zeros",
        steps: int = 64,
        method: str = "gausslegendre",
        batch_size: int | None = None,
        layer: Any = None,
        output: Any = None,
        n_baselines: int = 8,
        seed: int | None = None,
        jit_compile: bool = False,
        multiply_by_inputs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        quadrature(method, steps)  # fail fast on a bad method or steps
        _checks.integer(batch_size, "batch_size", 1, optional=True)
        _checks.boolean(multiply_by_inputs, "multiply_by_inputs")
        self.model = model
        self._explainer = Explainer(
            model,
            target_fn=target if callable(target) else None,
            layer=layer,
            output=output,
            jit_compile=jit_compile,
        )
        self._config = {
            "target": None if callable(target) else target,
            "baseline": baseline,
            "steps": steps,
            "method": method,
            "batch_size": batch_size,
            "n_baselines": n_baselines,
            "seed": seed,
            "multiply_by_inputs": multiply_by_inputs,
        }
        t = self._config["target"]
        if t is not None and (isinstance(t, bool) or not isinstance(t, numbers.Integral)):
            raise TypeError(
                "target: the layer takes None, an int or a callable; "
                "pass per-input targets to call()"
            )
        self._units = _output_units(model, output)
        if t is not None:
            check_target_range(resolve_targets(int(t), 1), self._units)

    def explain(self, x: Any, **overrides: Any) -> Explanation:
        """`keras_ig.explain` with this layer's settings and compiled graph.

        `x` may be an array, a structure of arrays or a `tf.data.Dataset`.
        Keyword arguments override the layer's `target`, `baseline`, `steps`,
        `method`, `batch_size`, `n_baselines`, `seed` for this call, and
        take `explain`'s `tolerance`, `max_steps`, `strategy`, `out`,
        `verbose` and `warn`.
        """
        unknown = set(overrides) - OPTION_NAMES
        if unknown:
            raise TypeError(f"explain() got unexpected arguments {sorted(unknown)}")
        kwargs = {**self._config, **overrides}
        if self._explainer.score_fn.target_fn is not None:
            kwargs["target"] = None
        return self._explainer.explain(x, **kwargs)

    # -- the layer ------------------------------------------------------------
    def _z_row_shape(self, leaves: list) -> tuple[tuple, tf.DType]:
        layer = self._explainer.score_fn.layer
        out = getattr(layer, "output", None)
        if out is not None:
            return tuple(out.shape[1:]), tf.as_dtype(out.dtype)
        if all(isinstance(v, tf.Tensor) and not _symbolic(v) for v in leaves):
            info = self._explainer.jobs.probe(None, [v.numpy() for v in leaves], ("x",))
            return info["act_shape"], info["act_dtype"]
        raise ValueError(
            f"layer: cannot tell the output shape of {layer.name!r} symbolically; "
            "call the layer once on real data first"
        )

    def call(self, x: Any, target: Any = None) -> Any:
        cfg = self._config
        alphas, weights = quadrature(cfg["method"], cfg["steps"])
        structure, leaves = split_inputs(self.model, x)
        leaves = [tf.convert_to_tensor(v) for v in leaves]
        names = nest.paths(structure)
        layer_mode = self._explainer.score_fn.layer is not None
        spec = cfg["baseline"]
        if isinstance(spec, str) and spec in _baselines.GENERATED:
            raise ValueError(
                f"baseline {spec!r} depends on the input values; calling the layer needs "
                f"{_CALL_BASELINES} (use .explain() for generated baselines)"
            )
        if layer_mode:
            z_shape, z_dtype = self._z_row_shape(leaves)
            z_shapes, z_dtypes, interpolated = (z_shape,), (z_dtype,), ()
            specs = [spec]
        else:
            specs = baseline_specs(spec, structure, names, len(leaves))
            interpolated = tuple(i for i, s in enumerate(specs) if s is not None)
            for i in interpolated:
                if not leaves[i].dtype.is_floating:
                    raise TypeError(
                        f"{names[i]} has dtype {leaves[i].dtype.name}; integer inputs need layer="
                    )
            z_shapes = tuple(tuple(leaves[i].shape[1:]) for i in interpolated)
            z_dtypes = tuple(leaves[i].dtype for i in interpolated)
            specs = [specs[i] for i in interpolated]
        n = tf.shape(leaves[0])[0]
        values, ks = [], []
        for s, shape, dtype in zip(specs, z_shapes, z_dtypes, strict=True):
            fake = np.zeros((1, *shape), dtype.as_numpy_dtype)
            rb = _baselines.resolve(s, fake, name="baseline")
            if rb.values.shape[0] != rb.k:  # per-input rows cannot be served
                raise ValueError(f"baseline: calling the layer needs {_CALL_BASELINES}")
            values.append(rb.values)
            ks.append(rb.k)
        k = _baselines.common_k(ks)
        x_index = tf.repeat(tf.range(n, dtype=tf.int32), k)
        base_index = [tf.tile(tf.range(kk, dtype=tf.int32), [n * (k // kk)]) for kk in ks]
        if target is None:
            t = cfg["target"]
            targets = tf.fill([n], tf.constant(-1 if t is None else t, tf.int32))
        else:
            targets = self._call_targets(target)
        plan = make_plan(structure, names, interpolated, leaves, z_shapes, z_dtypes)
        # The row count is symbolic here: without a batch_size, chunks are the
        # default size capped by the rows there are (XLA takes the default).
        # A chunk never exceeds the rows there are (int32 chunk arithmetic), and
        # holds at least one row: an empty batch then runs no chunk at all and
        # returns empty attributions instead of dividing by zero.
        chunk = chunk_rows(z_shapes, cfg["batch_size"])
        batch_size = tf.minimum(tf.maximum(n * k * cfg["steps"], 1), chunk)
        engine = self._explainer.engine_for(cfg["multiply_by_inputs"])
        out = engine.compiled(plan, chunk)(
            leaves,
            [tf.constant(v) for v in values],
            base_index,
            x_index,
            tf.constant(alphas, tf.float32),
            tf.constant(weights, tf.float32),
            targets,
            tf.cast(batch_size, tf.int32),
        )
        attrs = [
            tf.reduce_mean(tf.reshape(a, tf.concat([[n, k], tf.shape(a)[1:]], 0)), axis=1)
            for a in out["attributions"]
        ]
        if layer_mode or structure is None:
            return attrs[0]
        flat = [tf.zeros_like(v, tf.float32) for v in leaves]
        for i, a in zip(interpolated, attrs, strict=True):
            flat[i] = a
        return tf.nest.pack_sequence_as(structure, flat)

    def _call_targets(self, target: Any) -> tf.Tensor:
        """Per-input targets given to `call`, checked: `int32[N]` in `[0, units)`.

        Concrete values are checked on the host; symbolic ones (a traced or
        exported graph) by in-graph assertions naming `target`.
        """
        if isinstance(target, tf.Tensor) and _symbolic(target):
            targets = tf.cast(tf.reshape(target, [-1]), tf.int32)
            checks = [tf.debugging.assert_non_negative(targets, message="target must be >= 0")]
            if self._units is not None:
                checks.append(
                    tf.debugging.assert_less(
                        targets,
                        self._units,
                        message=f"target is out of range for a model with {self._units} "
                        "output units",
                    )
                )
            with tf.control_dependencies(checks):
                return tf.identity(targets)
        host = np.asarray(target.numpy() if isinstance(target, tf.Tensor) else target)
        resolved = resolve_targets(host.reshape(-1), host.size)
        check_target_range(resolved, self._units)
        return tf.constant(resolved, tf.int32)

    def compute_output_spec(self, x: Any, target: Any = None) -> Any:
        if self._explainer.score_fn.layer is not None:
            out = self._explainer.score_fn.layer.output
            return keras.KerasTensor((None, *out.shape[1:]), dtype="float32")
        return tf.nest.map_structure(lambda v: keras.KerasTensor(v.shape, dtype="float32"), x)

    def get_config(self) -> dict:
        raise NotImplementedError(
            "IntegratedGradients wraps a live model and is not serialisable to .keras; "
            "use model.export() to serve it"
        )


def _output_units(model: Any, output: Any) -> int | None:
    """Units of the single `[N, units]` (or `[N]`: 1) output F indexes, if known."""
    try:
        if output is None or (isinstance(output, str) and output == "logits"):
            outputs = model.outputs
            if not outputs or len(outputs) != 1:
                return None
            shape = tuple(outputs[0].shape)
        else:
            shape = tuple(resolve_layer(model, output, name="output").output.shape)
    except (AttributeError, ValueError, TypeError):  # subclassed or never built
        return None
    if len(shape) == 1:
        return 1
    return int(shape[1]) if len(shape) == 2 and shape[1] is not None else None


def _symbolic(t: tf.Tensor) -> bool:
    return not hasattr(t, "numpy") or not tf.executing_eagerly()
