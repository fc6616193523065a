"""Benchmark dmltk.LogisticRegression against dask-ml, scikit-learn and Spark.

A benchmark, not a test: it times fits of the same L2-penalised binary
logistic regression (scikit-learn's objective, C=1) on the same synthetic
dense data in every system, then reports fit time, iterations, distance to the
best objective, accuracy and peak memory, and checks dmltk's targets.

Every system runs in its own child process (this script, re-run with a hidden
``--_child`` option), one after the other, so that its peak memory can be
measured on its own process tree and nothing else runs during its timing.
The parent samples the memory, then, once all children are done, regenerates
the data in memory and scores every system's coefficients there.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench.py --quick
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench.py --spark

(The two OpenBLAS variables are unset because they slow current numpy down.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import _bench_common as common
import numpy as np

C = 1.0
REFERENCE_TOL = 1e-6
MAX_ITER = 1000
GB = 1e9
QUICK_N = 200_000
CHILD_TIMEOUT_SECONDS = 3600
SKIPPED_NOTE = "dask-ml admm skipped: 405 s on 2M x 100 here, and it ignores tol."

# name -> (runner, keyword arguments). Run in this order.
SYSTEMS = {
    "dmltk": ("run_dmltk", {"tol": REFERENCE_TOL, "measure_overhead": True}),
    "dmltk-tol1e-4": ("run_dmltk", {"tol": 1e-4, "measure_overhead": False}),
    "dask-ml-newton": ("run_dask_ml", {"solver": "newton"}),
    "dask-ml-lbfgs": ("run_dask_ml", {"solver": "lbfgs"}),
    "sklearn": ("run_sklearn", {"tol": REFERENCE_TOL}),
    "sklearn-tol1e-4": ("run_sklearn", {"tol": 1e-4}),
    "spark": ("run_spark", {}),
}
DEFAULT_SYSTEMS = [name for name in SYSTEMS if name != "spark"]

# dmltk's targets: measured quantity -> (relation, bound).
TARGETS = {
    "dmltk fit / sklearn fit": ("<=", 0.8),
    "fastest dask-ml fit / dmltk fit": (">=", 3.0),
    "spark warm fit / dmltk fit": (">=", 5.0),
    "one evaluation / one read": ("<=", 2.5),
    "dmltk peak memory, GB": ("<=", 4.0),
}


# ============================================================ child processes
def _persist_pinned(client, problem: common.Problem):
    """X and y computed on the workers, block i on worker ``i * W // blocks``.

    The blocks are those of :func:`common.dask_data` (same keys, same
    functions of ``[seed, i]``), but each is submitted with a worker
    restriction: left to the scheduler, the generating tasks landed 5/11 on
    the two workers in one child of six, which would make that system's
    timing depend on luck. Contiguous halves is the layout a balanced
    persist gives. Each y block is computed where its X block is.
    """
    from distributed import wait

    X, y = common.dask_data(problem)
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    params = problem.parameters()
    x_futures, y_futures = {}, {}
    keys = zip(common.block_keys(X), common.block_keys(y), strict=True)
    blocks = zip(keys, problem.row_chunks, strict=True)
    for i, ((x_key, y_key), rows) in enumerate(blocks):
        where = [workers[i * len(workers) // problem.blocks]]
        x_futures[x_key] = client.submit(
            common.feature_block, problem.seed, i, rows, params,
            key=x_key, workers=where, pure=False,
        )  # fmt: skip
        y_futures[y_key] = client.submit(
            common.label_block, x_futures[x_key], problem.seed, i, params,
            key=y_key, workers=where, pure=False,
        )  # fmt: skip
    wait([*x_futures.values(), *y_futures.values()])
    return common.as_persisted(X, x_futures), common.as_persisted(y, y_futures)


@contextlib.contextmanager
def _dask_session(problem: common.Problem, modules: list[str]):
    """A 2-process LocalCluster with the problem's X and y persisted on it.

    ``modules`` are imported on every worker before anything is timed, as
    scikit-learn is imported before its fit is timed: a fresh worker
    otherwise imports the package (and scikit-learn) inside the first fit.

    Yields ``(client, X, y, info)``; ``info`` says how the blocks are spread
    over the workers, which BLAS they loaded and how long the imports took.
    """
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            # A random port: the other engineer's tests may hold 8787.
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        X, y = _persist_pinned(client, problem)
        info = {
            "blocks_per_worker": sorted(
                Counter(workers[0] for workers in client.who_has(X).values()).values()
            ),
            "worker_blas": next(iter(client.run(common.blas_info).values())),
            "worker_import_seconds": max(
                client.run(common.import_seconds, modules).values()
            ),
        }
        yield client, X, y, info


def _dmltk_evaluation(X, y):
    """``coef -> packed loss and gradient`` through dmltk's own evaluator."""
    from dmltk._distributed import BlockEvaluator

    evaluator = BlockEvaluator(X, y)
    return lambda coef: evaluator.loss_gradient(coef, True)


class _EvaluationCounter:
    """Count and time dmltk's distributed evaluations during a fit.

    Wraps the evaluator's loss-and-gradient method on its class, in this
    child process only, to learn how much of a fit is spent in evaluations.
    """

    def __init__(self):
        from dmltk._distributed import BlockEvaluator

        self._cls, self._name = BlockEvaluator, "loss_gradient"
        self._original = getattr(self._cls, self._name)
        self.durations: list[float] = []

    def __enter__(self):
        original = self._original

        def counted(evaluator, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(evaluator, *args, **kwargs)
            finally:
                self.durations.append(time.perf_counter() - start)

        setattr(self._cls, self._name, counted)
        return self

    def __exit__(self, *exc):
        setattr(self._cls, self._name, self._original)


def _cluster_evaluation_seconds(
    client, X, y, coef: np.ndarray, repeats: int = 10
) -> dict:
    """Median seconds of one evaluation on the cluster, and of its parts.

    ``evaluation``: dmltk's evaluator, as in a fit. The others run a graph
    of the same shape built here (coefficients as one key, one task per
    block, fan-in-4 sum tree), submitted the way dmltk submits: ``graph``,
    with dmltk's block function, shows whether dmltk adds anything to the
    graph's own cost; ``read``, with a block function that only sums its
    block; ``noop``, with one that touches nothing (scheduling and messages
    alone); ``noop_flat``, the same without the sum tree (the 16 results
    gathered and summed by the client), to show what the tree costs.
    """
    from dmltk._loss import loss_gradient_block

    evaluate = _dmltk_evaluation(X, y)
    run = common.GraphRunner(client)
    variants = {
        "graph": (loss_gradient_block, 4),
        "read": (common.read_block, 4),
        "noop": (common.noop_block, 4),
        "noop_flat": (common.noop_block, None),
    }
    seconds = {"evaluation": common.median_seconds(lambda: evaluate(coef), repeats, 2)}
    for name, (function, fan_in) in variants.items():
        seconds[name] = common.median_seconds(
            lambda f=function, k=fan_in: run(*common.reduction_graph(X, y, f, coef, k)),
            repeats,
            warmup=2,
        )
    return seconds


def run_dmltk(problem: common.Problem, tol: float, measure_overhead: bool) -> dict:
    """Fit dmltk on X and y persisted on a 2-worker LocalCluster."""
    import dmltk

    with _dask_session(problem, ["dmltk"]) as (client, X, y, info):
        model = dmltk.LogisticRegression(C=C, tol=tol, max_iter=MAX_ITER)
        with _EvaluationCounter() as counter:
            timing = common.timed_fit(lambda: model.fit(X, y))
        coef = model.coef_.ravel()
        intercept = float(model.intercept_[0])
        result = {
            **timing,
            "coef": coef.tolist(),
            "intercept": intercept,
            "n_iter": int(model.n_iter_[0]),
            "evaluations": len(counter.durations),
            "evaluation_seconds": sum(counter.durations),
            "first_evaluation_seconds": counter.durations[0],
            "later_evaluation_median_seconds": (
                float(np.median(counter.durations[1:]))
                if len(counter.durations) > 1
                else float("nan")
            ),
            **info,
        }
        if measure_overhead:
            packed = np.append(coef, intercept)
            result["cluster_seconds"] = _cluster_evaluation_seconds(
                client, X, y, packed
            )
            result["timed_end"] = time.time()
            # Lets the parent check that its in-memory copy is the same data.
            result["checksums"] = {
                "x_sum": float(X.sum().compute()),
                "y_sum": float(y.sum().compute()),
            }
    return result


def _dask_glm_iteration_counter(solver: str):
    """Extra solver kwargs and a dict that will hold dask-glm's iterations.

    dask-ml reports no ``n_iter_``. For lbfgs, wrap the scipy call dask-glm
    makes to read its ``info``; for newton, whose loop computes the Hessian
    once per iteration, pass a Logistic family that counts Hessians.
    """
    from dask_glm import algorithms
    from dask_glm.families import Logistic

    counts = {"iterations": 0, "evaluations": None}
    if solver == "lbfgs":
        original = algorithms.fmin_l_bfgs_b

        def recording(*args, **kwargs):
            beta, loss, info = original(*args, **kwargs)
            counts["iterations"] = int(info["nit"])
            counts["evaluations"] = int(info["funcalls"])
            return beta, loss, info

        algorithms.fmin_l_bfgs_b = recording
        return {}, counts

    class CountingLogistic(Logistic):
        @staticmethod
        def hessian(Xbeta, X):
            counts["iterations"] += 1
            return Logistic.hessian(Xbeta, X)

    return {"family": CountingLogistic}, counts


def run_dask_ml(problem: common.Problem, solver: str) -> dict:
    """Fit dask-ml's LogisticRegression on the same cluster set-up and data.

    ``normalize=False`` stops dask-glm from standardising X (a different
    problem); ``C`` becomes its ``lamduh = 1/C`` (newton ignores it: at C=1
    and this n the penalty changes the objective by less than 1e-8).
    """
    from dask_ml.linear_model import LogisticRegression

    extra, counts = _dask_glm_iteration_counter(solver)
    modules = ["dask_ml.linear_model", "dask_glm.algorithms"]
    with _dask_session(problem, modules) as (_, X, y, info):
        model = LogisticRegression(
            C=C,
            solver=solver,
            max_iter=MAX_ITER,
            solver_kwargs={"normalize": False, **extra},
        )
        timing = common.timed_fit(lambda: model.fit(X, y))
        return {
            **timing,
            "coef": np.asarray(model.coef_, dtype=float).ravel().tolist(),
            "intercept": float(model.intercept_),
            "n_iter": counts["iterations"],
            "evaluations": counts["evaluations"],
            **info,
        }


def run_sklearn(problem: common.Problem, tol: float) -> dict:
    """Fit scikit-learn's lbfgs on the same blocks, concatenated in memory."""
    from sklearn.linear_model import LogisticRegression

    X, y = common.numpy_data(problem)
    model = LogisticRegression(C=C, tol=tol, max_iter=MAX_ITER)
    timing = common.timed_fit(lambda: model.fit(X, y))
    return {
        **timing,
        "coef": model.coef_.ravel().tolist(),
        "intercept": float(model.intercept_[0]),
        "n_iter": int(model.n_iter_[0]),
        "blas": common.blas_info(),
    }


def _write_parquet(problem: common.Problem, directory: Path) -> None:
    """The blocks as Parquet files, one per block, columns x0.. and label.

    Spark's vectorised Parquet reader loads them far faster than sending
    pandas blocks from Python (54 s for 200,000 x 100 that way here).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"x{j}" for j in range(problem.d)]
    for index, (X, y) in enumerate(common.numpy_blocks(problem)):
        columns = [pa.array(X[:, j]) for j in range(problem.d)] + [pa.array(y)]
        table = pa.Table.from_arrays(columns, names=[*names, "label"])
        pq.write_table(
            table, directory / f"block-{index:04d}.parquet", compression="none"
        )


def _spark_frame(spark, problem: common.Problem, directory: Path):
    """The same blocks as one cached ``(label, features)`` DataFrame.

    Returns the DataFrame and the seconds spent writing the Parquet files.
    """
    from pyspark.ml.feature import VectorAssembler

    start = time.perf_counter()
    _write_parquet(problem, directory)
    write_seconds = time.perf_counter() - start
    frame = spark.read.parquet(str(directory))
    assembler = VectorAssembler(
        inputCols=[f"x{j}" for j in range(problem.d)], outputCol="features"
    )
    data = assembler.transform(frame).select("label", "features").cache()
    data.count()
    return data, write_seconds


def run_spark(problem: common.Problem) -> dict:
    """Fit Spark MLlib in local[2]; report the warm (second) fit.

    ``regParam = 1/(C n)`` and ``standardization=False`` make Spark's mean
    loss + regParam/2 ||w||^2 scikit-learn's objective divided by ``C n``.
    """
    from pyspark.ml.classification import LogisticRegression

    start = time.perf_counter()
    spark = common.spark_session("dmltk-bench")
    session_seconds = time.perf_counter() - start
    # The Parquet files stay until the end: Spark rereads them if it ever
    # evicts a cached partition.
    with tempfile.TemporaryDirectory(prefix="dmltk-bench-spark-") as directory:
        try:
            start = time.perf_counter()
            data, write_seconds = _spark_frame(spark, problem, Path(directory))
            load_seconds = time.perf_counter() - start
            estimator = LogisticRegression(
                regParam=1.0 / (C * problem.n),
                elasticNetParam=0.0,
                standardization=False,
                family="binomial",
                fitIntercept=True,
                maxIter=MAX_ITER,
                tol=REFERENCE_TOL,
            )
            # The first fits in a session are slower (JIT, class loading):
            # time the second one.
            cold = common.timed_fit(lambda: estimator.fit(data))
            models = []
            timing = common.timed_fit(lambda: models.append(estimator.fit(data)))
            model = models[0]
            return {
                **timing,
                "coef": model.coefficients.toArray().tolist(),
                "intercept": float(model.intercept),
                "n_iter": int(model.summary.totalIterations),
                "session_seconds": session_seconds,
                "load_seconds": load_seconds,
                "parquet_write_seconds": write_seconds,
                "cold_fit_seconds": cold["fit_seconds"],
            }
        finally:
            spark.stop()


def child_main(args: argparse.Namespace) -> None:
    """Run one system and write its result as JSON to ``args._result``."""
    runner_name, kwargs = SYSTEMS[args._child]
    result = globals()[runner_name](_problem(args), **kwargs)
    Path(args._result).write_text(json.dumps(result))


# ============================================================ parent process
def _problem(args: argparse.Namespace) -> common.Problem:
    n = args.n if args.n is not None else (QUICK_N if args.quick else 2_000_000)
    return common.Problem(n=n, d=args.d, blocks=args.blocks, seed=args.seed)


def run_child(name: str, problem: common.Problem, workdir: Path) -> dict:
    """Run one system in a child process while sampling its memory."""
    result_path = workdir / f"{name}.json"
    log_path = result_path.with_suffix(".log")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--_child", name,
        "--_result", str(result_path),
        "--n", str(problem.n),
        "--d", str(problem.d),
        "--blocks", str(problem.blocks),
        "--seed", str(problem.seed),
    ]  # fmt: skip
    start = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        with common.TreeSampler(child.pid) as sampler:
            code = child.wait(timeout=CHILD_TIMEOUT_SECONDS)
    wall = time.perf_counter() - start
    if code != 0 or not result_path.exists():
        tail = log_path.read_text().strip().splitlines()[-15:]
        return {"system": name, "error": f"exit code {code}", "log_tail": tail}
    result = json.loads(result_path.read_text())
    result.update(
        system=name,
        child_seconds=wall,
        peak_gb=sampler.peak_rss() / GB,
        fit_peak_gb=sampler.peak_rss(result["fit_start"], result["fit_end"]) / GB,
        # Over everything timed: the fit and, for dmltk, the evaluations after.
        other_cores=sampler.other_cores(
            result["fit_start"], result.get("timed_end", result["fit_end"])
        ),
    )
    return result


def run_undisturbed(
    name: str, problem: common.Problem, workdir: Path, args: argparse.Namespace
) -> dict:
    """Run one system in a child process while the machine is quiet (see
    :func:`_bench_common.run_undisturbed`)."""
    return common.run_undisturbed(
        name,
        lambda: run_child(name, problem, workdir),
        retries=args.retries,
        quiet_wait=args.quiet_wait,
        log=_log,
        describe=lambda row: (
            f"fit {row['fit_seconds']:.2f} s, other processes used "
            f"{row['other_cores']:.2f} cores"
        ),
    )


def _numpy_pass_seconds(X: np.ndarray, y: np.ndarray, coef: np.ndarray) -> dict:
    """Median seconds of one read of X and one fused loss+gradient pass.

    Both with 2 threads over two halves of the rows (numpy releases the GIL),
    BLAS pinned to one thread per half: the in-memory floor for one
    evaluation.
    """
    from threadpoolctl import threadpool_limits

    from dmltk._loss import loss_gradient_block

    halves = list(zip(common.split_rows(X, 2), common.split_rows(y, 2), strict=True))
    start = time.perf_counter(), common.busy_cpu_seconds(), common.own_cpu_seconds()
    with threadpool_limits(limits=1, user_api="blas"):
        read = common.median_seconds(
            lambda: common.threaded_map(lambda part: part[0].sum(), halves, 2), 5
        )
        fused = common.median_seconds(
            lambda: common.threaded_map(
                lambda part: loss_gradient_block(part[0], part[1], coef, True),
                halves,
                2,
            ),
            5,
        )
    end = time.perf_counter(), common.busy_cpu_seconds(), common.own_cpu_seconds()
    others = (end[1] - start[1]) - (end[2] - start[2])
    return {
        "read": read,
        "fused": fused,
        "other_cores": max(0.0, others) / (end[0] - start[0]),
    }


def score(
    rows: list[dict], problem: common.Problem, quiet_wait: float, retries: int
) -> dict:
    """Score every fitted system on the in-memory data; add gaps and ratios.

    Returns facts about the data and the in-memory passes over it.
    """
    X, y = common.numpy_data(problem)
    fitted = [row for row in rows if "error" not in row]
    for row in fitted:
        coef = np.asarray(row["coef"])
        row["objective"] = common.objective(X, y, coef, row["intercept"], C)
        row["accuracy"] = common.accuracy(X, y, coef, row["intercept"])
    best = min((row["objective"] for row in fitted), default=np.nan)
    for row in fitted:
        row["gap"] = (row["objective"] - best) / abs(best)
    by_name = {row["system"]: row for row in fitted}
    for reference, key in (("dmltk", "x_dmltk"), ("sklearn", "x_sklearn")):
        if reference in by_name:
            for row in fitted:
                row[key] = row["fit_seconds"] / by_name[reference]["fit_seconds"]
    params = problem.parameters()
    facts = {
        "best_objective": best,
        "true_model_accuracy": common.accuracy(
            X, y, params["weights"], params["intercept"]
        ),
        "positive_share": float(y.mean()),
        "x_sum": float(X.sum()),
        "y_sum": float(y.sum()),
    }
    coef = np.zeros(problem.d + 1)
    if "dmltk" in by_name:
        coef = np.append(by_name["dmltk"]["coef"], by_name["dmltk"]["intercept"])
    attempts = []
    for _ in range(1 + retries):
        common.wait_until_quiet(common.QUIET_CORES, quiet_wait, _log)
        attempts.append(_numpy_pass_seconds(X, y, coef))
        if not attempts[-1]["other_cores"] > common.QUIET_CORES:
            break
    facts["numpy_seconds"] = min(attempts, key=lambda found: found["other_cores"])
    return facts


COLUMNS = [
    ("system", "system", ""),
    ("fit_seconds", "fit s", ".2f"),
    ("n_iter", "iters", "d"),
    ("gap", "rel gap", ".1e"),
    ("accuracy", "accuracy", ".4f"),
    ("peak_gb", "peak GB", ".2f"),
    ("fit_peak_gb", "fit peak GB", ".2f"),
    ("x_dmltk", "/ dmltk", ".2f"),
    ("x_sklearn", "/ sklearn", ".2f"),
    ("other_cores", "others", ".2f"),
]


def header_lines(problem: common.Problem, rows: list[dict]) -> list[str]:
    """Problem size, machine, versions and BLAS, as report lines."""
    machine = common.machine()
    versions = ", ".join(f"{k} {v}" for k, v in common.versions().items())
    lines = [
        f"LogisticRegression benchmark: n={problem.n:,} d={problem.d} "
        f"blocks={problem.blocks} seed={problem.seed} C={C:g} "
        f"({problem.nbytes / GB:.2f} GB of float64)",
        f"machine: {machine['logical_cores']} logical / "
        f"{machine['physical_cores']} physical cores, {machine['memory_gib']} GiB",
        f"versions: {versions}, python {sys.version.split()[0]}",
    ]
    for lib in common.blas_info():
        lines.append(
            f"BLAS (parent, sklearn): {lib['internal_api']} {lib['version']} "
            f"{lib['architecture']}, {lib['num_threads']} threads"
        )
    for row in rows:
        if row.get("worker_blas"):
            lib = row["worker_blas"][0]
            lines.append(
                f"BLAS (Dask workers): {lib['internal_api']} {lib['architecture']}, "
                f"{lib['num_threads']} thread(s) per worker"
            )
            break
    if machine["openblas_env"]:
        lines.append(
            f"WARNING: {machine['openblas_env']} set: numpy runs slower with them"
        )
    return lines


def system_notes(rows: list[dict]) -> list[str]:
    """One line of detail per system, where there is detail to give."""
    lines = []
    for row in rows:
        name = row["system"]
        if "error" in row:
            lines.append(f"{name}: FAILED ({row['error']})")
            lines.extend(f"    {text}" for text in row["log_tail"])
            continue
        parts = []
        if row.get("evaluations") is not None:
            parts.append(f"{row['evaluations']} evaluations")
        if name.startswith("dmltk"):
            spent = row["evaluation_seconds"]
            parts.append(
                f"{spent:.2f} s in evaluations (first "
                f"{row['first_evaluation_seconds'] * 1e3:.0f} ms, then median "
                f"{row['later_evaluation_median_seconds'] * 1e3:.0f} ms), "
                f"{row['fit_seconds'] - spent:.2f} s outside them"
            )
        if "blocks_per_worker" in row:
            parts.append(
                f"blocks per worker {row['blocks_per_worker']}, worker imports "
                f"{row['worker_import_seconds']:.1f} s (before timing)"
            )
        if name == "spark":
            parts.append(
                f"warm fit; cold fit {row['cold_fit_seconds']:.2f} s, session "
                f"start {row['session_seconds']:.2f} s, load+cache "
                f"{row['load_seconds']:.2f} s (of which writing Parquet "
                f"{row['parquet_write_seconds']:.2f} s)"
            )
        parts.append(f"child process {row['child_seconds']:.0f} s")
        if row.get("attempts_made", 1) > 1:
            parts.append(
                f"kept attempt {row['attempt']} of {row['attempts_made']} (the "
                "least disturbed)"
            )
        lines.append(f"{name}: " + "; ".join(parts))
    lines.append(SKIPPED_NOTE)
    return lines


def overhead(rows: list[dict], facts: dict) -> dict | None:
    """dmltk's per-evaluation numbers, or None when dmltk was not run."""
    dmltk = next((row for row in rows if row["system"] == "dmltk"), None)
    if dmltk is None or "cluster_seconds" not in dmltk:
        return None
    cluster = dmltk["cluster_seconds"]
    numpy_seconds = facts["numpy_seconds"]
    return {
        **{f"cluster_{key}": value for key, value in cluster.items()},
        **{f"numpy_{key}": value for key, value in numpy_seconds.items()},
        "overhead": cluster["evaluation"] - numpy_seconds["read"],
        "evaluation_per_read": cluster["evaluation"] / numpy_seconds["read"],
    }


def overhead_lines(numbers: dict | None) -> list[str]:
    """The per-evaluation section of the report."""
    if numbers is None:
        return ["dmltk per-evaluation overhead: not measured (dmltk not run)"]
    ms = {key: value * 1e3 for key, value in numbers.items()}
    return [
        "dmltk per evaluation (median; numpy: 2 threads on the in-memory copy, "
        f"others used {numbers['numpy_other_cores']:.2f} cores meanwhile):",
        "  one loss+gradient evaluation on the cluster  "
        f"{ms['cluster_evaluation']:8.1f} ms",
        f"  one read of X, numpy X.sum()                 {ms['numpy_read']:8.1f} ms",
        f"  overhead = evaluation - read                 {ms['overhead']:8.1f} ms",
        f"  evaluation / read                            "
        f"{numbers['evaluation_per_read']:8.2f} x",
        "  parts, on the cluster, with a graph of the same shape built by the"
        " benchmark:",
        f"    dmltk's block function {ms['cluster_graph']:.1f} ms, X.sum() blocks "
        f"{ms['cluster_read']:.1f} ms, no-op blocks {ms['cluster_noop']:.1f} ms "
        f"({ms['cluster_noop_flat']:.1f} ms without the sum tree)",
        f"  fused loss+gradient pass in numpy            {ms['numpy_fused']:8.1f} ms",
    ]


def checks(rows: list[dict], numbers: dict | None) -> list[dict]:
    """dmltk's targets (``TARGETS``), each with its measured value."""
    by_name = {row["system"]: row for row in rows if "error" not in row}
    dmltk = by_name.get("dmltk")
    if dmltk is None:
        return []
    fit = dmltk["fit_seconds"]
    measured = {}
    if "sklearn" in by_name:
        measured["dmltk fit / sklearn fit"] = fit / by_name["sklearn"]["fit_seconds"]
    dask_ml = [row for name, row in by_name.items() if name.startswith("dask-ml")]
    if dask_ml:
        fastest = min(row["fit_seconds"] for row in dask_ml)
        measured["fastest dask-ml fit / dmltk fit"] = fastest / fit
    if "spark" in by_name:
        measured["spark warm fit / dmltk fit"] = by_name["spark"]["fit_seconds"] / fit
    if numbers is not None:
        measured["one evaluation / one read"] = numbers["evaluation_per_read"]
    measured["dmltk peak memory, GB"] = dmltk["peak_gb"]
    found = []
    for label, value in measured.items():
        relation, target = TARGETS[label]
        passed = value <= target if relation == "<=" else value >= target
        found.append(
            {
                "check": label,
                "value": value,
                "relation": relation,
                "target": target,
                "pass": passed,
            }
        )
    return found


def check_lines(found: list[dict]) -> list[str]:
    """PASS/MISS lines for the targets."""
    lines = ["targets:"]
    for item in found:
        verdict = "PASS" if item["pass"] else "MISS"
        lines.append(
            f"  {verdict}  {item['check']}: {item['value']:.3f} "
            f"(target {item['relation']} {item['target']:g})"
        )
    return lines


def data_lines(rows: list[dict], facts: dict) -> list[str]:
    """Facts about the data, including whether the cluster held the same."""
    lines = [
        f"data: true-model accuracy {facts['true_model_accuracy']:.4f}, "
        f"positive share {facts['positive_share']:.3f}, best objective "
        f"{facts['best_objective']:.10g}"
    ]
    dmltk = next((row for row in rows if "checksums" in row), None)
    if dmltk is not None:
        sums = dmltk["checksums"]
        same = sums["y_sum"] == facts["y_sum"] and np.isclose(
            sums["x_sum"], facts["x_sum"], rtol=1e-9
        )
        lines.append(
            "data on the cluster and in memory: "
            + ("same (sums of X and y agree)" if same else f"DIFFER: {sums} vs "
               f"x_sum={facts['x_sum']}, y_sum={facts['y_sum']}")
        )  # fmt: skip
    far = [
        row["system"] for row in rows if row.get("gap", 0) > 1e-6 and "error" not in row
    ]
    if far:
        lines.append(f"NOTE: not within 1e-6 of the best objective: {', '.join(far)}")
    disturbed = [
        f"{row['system']} ({row['other_cores']:.2f})"
        for row in rows
        if row.get("other_cores", 0) > common.QUIET_CORES
    ]
    if disturbed:
        lines.append(
            "NOTE: other processes used cores during these fits (column 'others'): "
            + ", ".join(disturbed)
        )
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="rows (default 2,000,000)")
    parser.add_argument("--d", type=int, default=100, help="columns")
    parser.add_argument("--blocks", type=int, default=16, help="row blocks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help=f"n={QUICK_N:,} unless --n is given"
    )
    parser.add_argument("--spark", action="store_true", help="add Spark MLlib")
    parser.add_argument(
        "--systems",
        default=None,
        help=f"comma-separated subset of: {', '.join(SYSTEMS)}",
    )
    common.add_run_options(parser)
    args = parser.parse_args(argv)
    if args.systems is None:
        args.systems = DEFAULT_SYSTEMS + (["spark"] if args.spark else [])
    else:
        args.systems = [name.strip() for name in args.systems.split(",")]
        if args.spark and "spark" not in args.systems:
            args.systems.append("spark")
    unknown = [name for name in args.systems if name not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {unknown}; choose from {list(SYSTEMS)}")
    # Run in the canonical order whatever order they were given in.
    args.systems = [name for name in SYSTEMS if name in args.systems]
    return args


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv=None) -> None:
    """Run every chosen system in turn, then score, print and check."""
    args = parse_args(argv)
    if args._child is not None:
        child_main(args)
        return
    problem = _problem(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dmltk-bench-") as workdir:
        for name in args.systems:
            rows.append(run_undisturbed(name, problem, Path(workdir), args))
    _log("scoring on the in-memory data ...")
    facts = score(rows, problem, args.quiet_wait, args.retries)
    numbers = overhead(rows, facts)
    found = checks(rows, numbers)
    fitted = [row for row in rows if "error" not in row]
    report = [
        *header_lines(problem, rows),
        *data_lines(rows, facts),
        "",
        common.format_table(fitted, COLUMNS),
        "rel gap: to the best objective of all rows; peak GB: resident memory of "
        "the system's whole process tree;",
        "others: cores used by other processes on the machine while it was timed.",
        "",
        *system_notes(rows),
        "",
        *overhead_lines(numbers),
        "",
        *check_lines(found),
    ]
    print("\n".join(report))
    if args.json:
        drop = {"coef", "log_tail", "fit_start", "fit_end"}
        payload = {
            "problem": vars(problem),
            "versions": common.versions(),
            "machine": common.machine(),
            "blas": common.blas_info(),
            "data": facts,
            "systems": [
                {k: v for k, v in row.items() if k not in drop} for row in rows
            ],
            "evaluation": numbers,
            "checks": found,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
