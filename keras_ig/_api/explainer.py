"""`Explainer`: one `ScoreFunction`, one `Engine`, one `JobBuilder`, many calls."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from keras_ig import completeness
from keras_ig._api.expected import expected_explanation
from keras_ig._api.explanation import Explanation, warn_if_incomplete
from keras_ig._api.noise import smoothed
from keras_ig._api.results import build_explanation
from keras_ig._api.stream import check_one_tensor, check_out, explain_dataset
from keras_ig._engine import devices, workers
from keras_ig._engine.expected import ExpectedGradients
from keras_ig._engine.idgi import idgi_integral
from keras_ig._engine.integral import Engine
from keras_ig._engine.job import Job, JobBuilder, chunk_rows
from keras_ig._engine.options import Options
from keras_ig._engine.refine import refine
from keras_ig._engine.score import ScoreFunction
from keras_ig._numpy.quadrature import quadrature


class Explainer:
    """Host side of `explain` for one model and one (target, layer, output)."""

    def __init__(
        self,
        model: Any,
        *,
        target_fn: Callable | None = None,
        layer: Any = None,
        output: Any = None,
        jit_compile: bool = False,
        weak: bool = False,
    ) -> None:
        self.score_fn = ScoreFunction(
            model, target_fn=target_fn, layer=layer, output=output, weak=weak
        )
        self.engine = Engine(self.score_fn, jit_compile=jit_compile)
        self.jobs = JobBuilder(self.score_fn)
        self._engines = {(True, "straight"): self.engine}
        self._expected: ExpectedGradients | None = None

    def engine_for(self, multiply_by_inputs: bool = True, path: str = "straight") -> Engine:
        """The engine of a path method (`Options.path`), built on first use."""
        key = (bool(multiply_by_inputs) or path != "straight", path)
        engine = self._engines.get(key)
        if engine is None:
            if path == "idgi":
                engine = Engine(
                    self.score_fn,
                    jit_compile=self.engine.jit_compile,
                    finish="path",
                    integral=idgi_integral,
                )
            else:
                engine = Engine(
                    self.score_fn, jit_compile=self.engine.jit_compile, finish="gradient"
                )
            self._engines[key] = engine
        return engine

    def expected_engine(self) -> ExpectedGradients:
        """Expected Gradients on this explainer's F, built on first use."""
        if self._expected is None:
            self._expected = ExpectedGradients(self.engine)
        return self._expected

    def predict(self, x: Any, target: Any = None) -> np.ndarray | None:
        """`int32[N]`: the output unit F explains at `x` (the predicted class for None).

        None when F is a callable target (no unit to predict).
        """
        if self.score_fn.target_fn is not None:
            return None
        job = self.prepare(x, target=target)
        batch_size = chunk_rows(job.plan.z_shapes, None, job.n)
        fn = self.engine.predictor(job.plan, batch_size)
        return devices.call(fn, (list(job.leaves), job.targets, np.int32(batch_size))).numpy()

    @property
    def model(self) -> Any:
        return self.score_fn.model

    def prepare(
        self,
        x: Any,
        *,
        target: Any = None,
        baseline: Any = "zeros",
        n_baselines: int = 8,
        seed: int | None = None,
    ) -> Job:
        """Validate `x`, `target`, `baseline` into a `Job` (see `JobBuilder.build`)."""
        return self.jobs.build(
            x, target=target, baseline=baseline, n_baselines=n_baselines, seed=seed
        )

    def integrate(
        self,
        job: Job,
        alphas: np.ndarray,
        weights: np.ndarray,
        batch_size: int | None,
        strategy: tf.distribute.Strategy | None = None,
        engine: Engine | None = None,
    ) -> dict[str, Any]:
        """Run the engine (default IG's) on `job` (see `keras_ig._engine.devices.run`)."""
        engine = self.engine if engine is None else engine
        return devices.run(engine, job, alphas, weights, batch_size, strategy)

    def build(self, job: Job, raw: dict, steps: int, method: str, **extra: Any) -> Explanation:
        """The `Explanation` of raw engine results (see `build_explanation`)."""
        return build_explanation(
            job,
            raw,
            steps=steps,
            method=method,
            indexed=self.score_fn.target_fn is None,
            layer_mode=self.score_fn.layer is not None,
            **extra,
        )

    def runner(
        self, job: Job, steps: int, method: str, batch_size: int | None = None
    ) -> Callable[[], Explanation]:
        """A reusable engine call on a fixed `job`, e.g. a callback's probes.

        The arguments become tensors and the concrete graph is looked up once;
        each call then only runs the graph and builds the `Explanation`, with
        whatever weights the model has at that moment. For repeated calls on
        the same inputs this saves the host work of `explain` (validation,
        baselines, argument conversion, function dispatch: about 2 ms a call).

        Args:
            job: from `prepare`.
            steps: quadrature points.
            method: quadrature rule.
            batch_size: most rows per model call; None for the default.

        Returns:
            A function of no arguments returning an `Explanation` of `job`.
        """
        alphas, weights = quadrature(method, steps)
        batch_size = chunk_rows(job.plan.z_shapes, batch_size, job.n * job.k * len(alphas))
        consts = (alphas.astype(np.float32), weights.astype(np.float32), np.int32(batch_size))
        args = tf.nest.map_structure(tf.convert_to_tensor, job.args(*consts))
        graph = self.engine.compiled(job.plan, batch_size).get_concrete_function(*args)

        def run() -> Explanation:
            return self.build(job, devices.to_numpy(graph(*args)), steps, method)

        return run

    def explain(self, x: Any, **options: Any) -> Explanation:
        """See `keras_ig.explain`; `options` are the fields of `Options`."""
        opts = Options(**options).checked()
        if workers.is_multi_worker(opts.strategy):
            x, opts = _for_this_worker(x, opts)
        if opts.out is not None:
            check_out(opts.out)
        return self.run(x, opts)

    def run(self, x: Any, opts: Options) -> Explanation:
        """Validate -> build the job -> integrate or refine -> the result.

        Args:
            x: arrays (or a `tf.data.Dataset`) as in `keras_ig.explain`.
            opts: checked `Options`.
        """
        if isinstance(x, tf.data.Dataset):
            per_batch = dataclasses.replace(opts, out=None, verbose="auto", warn=False)
            return explain_dataset(
                lambda batch: self.run(batch, per_batch),
                x,
                model=self.model,
                out=opts.out,
                verbose=opts.verbose,
                warn=opts.warn,
                tolerance=opts.tolerance,
            )
        if opts.noise is not None:
            exp = smoothed(
                lambda copies, target, baseline: self.run(
                    copies,
                    dataclasses.replace(
                        opts,
                        target=target,
                        # A background is shared by every input: never repeated per copy.
                        baseline=opts.baseline if opts.path == "expected" else baseline,
                        noise=None,
                        out=None,
                        warn=False,
                    ),
                ),
                x,
                explainer=self,
                target=opts.target,
                baseline=opts.baseline,
                noise=opts.noise,
                out=opts.out,
            )
            return self.finish(exp, opts)
        if opts.path == "expected":
            return self.finish(expected_explanation(self, x, opts), opts)
        job = self.prepare(
            x,
            target=opts.target,
            baseline=opts.baseline,
            n_baselines=opts.n_baselines,
            seed=opts.seed,
        )
        check_one_tensor(opts.out, len(job.base_values))
        engine = self.engine_for(opts.multiply_by_inputs, opts.path)

        def integrate(j: Job, alphas: np.ndarray, weights: np.ndarray) -> dict[str, Any]:
            return self.integrate(j, alphas, weights, opts.batch_size, opts.strategy, engine)

        if opts.path == "idgi":  # IDGI's points: k / steps, k = 0 .. steps - 1
            raw = integrate(job, *quadrature("riemann_left", opts.steps))
            exp = self.build(job, raw, opts.steps, "idgi", out=opts.out)
        elif opts.tolerance is None:
            raw = integrate(job, *quadrature(opts.method, opts.steps))
            exp = self.build(job, raw, opts.steps, opts.method, out=opts.out)
        else:
            done = refine(integrate, job, opts.method, opts.steps, opts.max_steps, opts.tolerance)
            exp = self.build(
                done.job,
                done.raw,
                int(done.steps_used.max()),
                opts.method,
                steps_used=done.steps_used,
                converged=done.converged,
                out=opts.out,
            )
        return self.finish(exp, opts)

    def finish(self, exp: Explanation, opts: Options) -> Explanation:
        """`exp`, after warning (`opts.warn`) if its completeness gap is large."""
        if opts.warn:
            tolerance = completeness.TOLERANCE if opts.tolerance is None else opts.tolerance
            warn_if_incomplete(exp, tolerance)
        return exp


def _for_this_worker(x: Any, opts: Options) -> tuple[Any, Options]:
    """This worker's shard of `x`, `out=` file and local devices (`workers.for_this_worker`)."""
    shard, local, out = workers.for_this_worker(x, opts.strategy, opts.out)
    return shard, dataclasses.replace(opts, strategy=local, out=out)
