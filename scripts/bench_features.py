"""Benchmark dmltk's multinomial and L1 fits against scikit-learn and Spark MLlib.

A benchmark, not a test. Two problems, each generated deterministically (block
``i`` from ``default_rng([seed, i])``, see ``_bench_common``) and fed
identically to every system:

``multinomial``
    1,000,000 x 50 dense, 10 classes drawn from the softmax of ``X @ W_true``,
    scikit-learn's objective at C=1, l1_ratio=0. dmltk ``solver="lbfgs"`` on
    a LocalCluster of 2 worker processes x 1 thread (16 row blocks persisted,
    8 per worker), scikit-learn lbfgs in memory, Spark MLlib
    ``family="multinomial"``.
``l1``
    1,000,000 x 50 dense binary, half of the true weights zero, l1_ratio=1 and
    ``C = 1/sqrt(n)``: on an irrelevant column the loss gradient grows like
    sqrt(n) and on a relevant one like n, so this C zeroes the irrelevant
    half at any n. dmltk ``solver="owlqn"``, scikit-learn saga (columns are
    centred and of unit-ish scale, so saga is not handicapped), Spark MLlib
    ``elasticNetParam=1``.

Spark's parameters are ``regParam = 1/(C n)``, ``elasticNetParam = l1_ratio``,
``standardization=False``: its mean loss + penalty is then scikit-learn's
objective divided by ``C n``. Spark's fit is the warm (second) fit of the
session, as /work/shared/PEERS.md says.

Every system runs in its own child process (this script re-run with hidden
options), one after the other, while the parent samples the memory of the
child's process tree and the CPU used by anything else. The parent then
regenerates each problem in memory and scores every system's coefficients
there in float64 numpy: objective (with the L1 term), relative gap to the best
objective of any system, exact zeros, training accuracy.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_features.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python scripts/bench_features.py --rows 50000 --systems sklearn,spark

(The two OpenBLAS variables are unset because they slow current numpy down.)
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import _bench_common as common
import numpy as np
from scipy.special import logsumexp

REFERENCE_TOL = 1e-6
MAX_ITER = 1000
GB = 1e9
CHILD_TIMEOUT_SECONDS = 3600
# The targets of issue 5, as (problem, peer's reference system): dmltk's fit
# at tol 1e-6 must be faster.
TARGETS = (("multinomial", "sklearn"), ("multinomial", "spark"), ("l1", "spark"))


@dataclass(frozen=True)
class Task:
    """One benchmark problem: data, labels and the objective's C and l1_ratio.

    Attributes
    ----------
    name : str
        ``"multinomial"`` or ``"l1"``.
    problem : _bench_common.Problem
        Size, blocks and seed.
    classes : int
        Classes of the labels (2 for ``"l1"``).
    """

    name: str
    problem: common.Problem
    classes: int

    @property
    def C(self) -> float:
        """Inverse penalty strength (see the module docstring for l1)."""
        return 1.0 if self.name == "multinomial" else 1.0 / np.sqrt(self.problem.n)

    @property
    def l1_ratio(self) -> float:
        """0 (pure L2) for multinomial, 1 (pure L1) for l1."""
        return 0.0 if self.name == "multinomial" else 1.0

    def parameters(self) -> dict:
        """The generating parameters (true weights, column scales)."""
        if self.name == "multinomial":
            return common.multinomial_parameters(self.problem, self.classes)
        return common.sparse_binary_parameters(self.problem)

    @property
    def label_function(self):
        """``(X_block, seed, index, params) -> labels`` of this problem."""
        if self.name == "multinomial":
            return common.multinomial_label_block
        return common.label_block

    def numpy_data(self) -> tuple[np.ndarray, np.ndarray]:
        """X and y in memory, the same bits as the blocks on the cluster."""
        return common.labelled_numpy_data(
            self.problem, self.parameters(), self.label_function
        )

    def numpy_blocks(self):
        """Yield ``(X_i, y_i)`` block by block, without holding all of X."""
        params = self.parameters()
        chunks = self.problem.row_chunks
        for index, rows in enumerate(chunks):
            X = common.feature_block(self.problem.seed, index, rows, params)
            yield X, self.label_function(X, self.problem.seed, index, params)


# System variants of each problem, run in this order: name -> (family, runner,
# keyword arguments). --systems selects families.
VARIANTS = {
    "multinomial": {
        "dmltk": ("dmltk", "run_dmltk", {"solver": "lbfgs", "tol": REFERENCE_TOL}),
        "dmltk-tol1e-4": ("dmltk", "run_dmltk", {"solver": "lbfgs", "tol": 1e-4}),
        "sklearn": ("sklearn", "run_sklearn", {"solver": "lbfgs", "tol": 1e-6}),
        "sklearn-tol1e-4": ("sklearn", "run_sklearn", {"solver": "lbfgs", "tol": 1e-4}),
        "spark": ("spark", "run_spark", {}),
    },
    "l1": {
        "dmltk": ("dmltk", "run_dmltk", {"solver": "owlqn", "tol": REFERENCE_TOL}),
        "dmltk-tol1e-4": ("dmltk", "run_dmltk", {"solver": "owlqn", "tol": 1e-4}),
        "sklearn-saga": ("sklearn", "run_sklearn", {"solver": "saga", "tol": 1e-4}),
        "spark": ("spark", "run_spark", {}),
    },
}
FAMILIES = ("dmltk", "sklearn", "spark")


# ============================================================ child processes
def _persist_pinned(client, task: Task):
    """X and y as dask arrays computed on the workers, block i on worker i*W//B.

    Pinned as bench.py pins them: left to the scheduler, the generating tasks
    sometimes land unevenly, which would make a timing depend on luck. The
    arrays are lazy templates (never computed) rebuilt on the futures under
    their own keys, as ``persist`` does.
    """
    import dask.array as da
    from distributed import wait

    problem, params = task.problem, task.parameters()
    name = f"features-{task.name}-{problem.n}-{problem.d}-{problem.seed}"
    X = da.zeros(
        (problem.n, problem.d),
        chunks=(problem.row_chunks, (problem.d,)),
        name=f"{name}-X",
    )
    y = da.zeros((problem.n,), chunks=(problem.row_chunks,), name=f"{name}-y")
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    x_futures, y_futures = {}, {}
    keys = zip(common.block_keys(X), common.block_keys(y), strict=True)
    for index, ((x_key, y_key), rows) in enumerate(
        zip(keys, problem.row_chunks, strict=True)
    ):
        where = [workers[index * len(workers) // problem.blocks]]
        x_futures[x_key] = client.submit(
            common.feature_block, problem.seed, index, rows, params,
            key=x_key, workers=where, pure=False,
        )  # fmt: skip
        y_futures[y_key] = client.submit(
            task.label_function, x_futures[x_key], problem.seed, index, params,
            key=y_key, workers=where, pure=False,
        )  # fmt: skip
    wait([*x_futures.values(), *y_futures.values()])
    return common.as_persisted(X, x_futures), common.as_persisted(y, y_futures)


def run_dmltk(task: Task, solver: str, tol: float) -> dict:
    """Fit dmltk on X and y persisted on a 2-process x 1-thread LocalCluster."""
    import dmltk

    client = dmltk.connect(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    try:
        X, y = _persist_pinned(client, task)
        blocks_per_worker = sorted(
            Counter(workers[0] for workers in client.who_has(X).values()).values()
        )
        # Import dmltk (and scikit-learn) on the workers before timing, as
        # scikit-learn is imported before its fit is timed.
        import_seconds = max(client.run(common.import_seconds, ["dmltk"]).values())
        worker_blas = next(iter(client.run(common.blas_info).values()))
        extra = {"l1_ratio": task.l1_ratio} if task.l1_ratio else {}
        model = dmltk.LogisticRegression(
            C=task.C, solver=solver, tol=tol, max_iter=MAX_ITER, **extra
        )
        timing = common.timed_fit(lambda: model.fit(X, y))
        return {
            **timing,
            "coef": np.asarray(model.coef_).tolist(),
            "intercept": np.asarray(model.intercept_).tolist(),
            "n_iter": int(np.max(model.n_iter_)),
            "settings": f"solver={solver} tol={tol:g}",
            "blocks_per_worker": blocks_per_worker,
            "worker_import_seconds": import_seconds,
            "worker_blas": worker_blas,
            "checksums": {
                "x_sum": float(X.sum().compute()),
                "y_sum": float(y.sum().compute()),
            },
        }
    finally:
        client.close()


def run_sklearn(task: Task, solver: str, tol: float) -> dict:
    """Fit scikit-learn on the same blocks, concatenated in memory."""
    from sklearn.linear_model import LogisticRegression

    X, y = task.numpy_data()
    model = LogisticRegression(
        C=task.C, l1_ratio=task.l1_ratio, solver=solver, tol=tol, max_iter=MAX_ITER
    )
    timing = common.timed_fit(lambda: model.fit(X, y))
    unit = "epochs" if solver == "saga" else "iterations"
    return {
        **timing,
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
        "n_iter": int(np.max(model.n_iter_)),
        "settings": f"solver={solver} tol={tol:g} ({unit})",
        "blas": common.blas_info(),
    }


def _spark_frame(spark, task: Task, directory: Path):
    """The blocks as one cached ``(label, features)`` DataFrame.

    Written as Parquet files, one per block: Spark's vectorised Parquet
    reader loads them far faster than pandas blocks sent from Python.
    Returns the DataFrame and the seconds spent writing the files.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyspark.ml.feature import VectorAssembler

    names = [f"x{j}" for j in range(task.problem.d)]
    start = time.perf_counter()
    for index, (X, y) in enumerate(task.numpy_blocks()):
        columns = [pa.array(X[:, j]) for j in range(task.problem.d)] + [pa.array(y)]
        table = pa.Table.from_arrays(columns, names=[*names, "label"])
        pq.write_table(
            table, directory / f"block-{index:04d}.parquet", compression="none"
        )
    write_seconds = time.perf_counter() - start
    frame = spark.read.parquet(str(directory))
    assembler = VectorAssembler(inputCols=names, outputCol="features")
    data = assembler.transform(frame).select("label", "features").cache()
    data.count()
    return data, write_seconds


def run_spark(task: Task) -> dict:
    """Fit Spark MLlib in local[2]; report the warm (second) fit."""
    from pyspark.ml.classification import LogisticRegression

    start = time.perf_counter()
    spark = common.spark_session("dmltk-bench-features")
    session_seconds = time.perf_counter() - start
    # The Parquet files stay until the end: Spark rereads them if it evicts
    # a cached partition.
    with tempfile.TemporaryDirectory(prefix="dmltk-bench-spark-") as directory:
        try:
            start = time.perf_counter()
            data, write_seconds = _spark_frame(spark, task, Path(directory))
            load_seconds = time.perf_counter() - start
            family = "multinomial" if task.classes > 2 else "binomial"
            estimator = LogisticRegression(
                regParam=1.0 / (task.C * task.problem.n),
                elasticNetParam=task.l1_ratio,
                standardization=False,
                family=family,
                fitIntercept=True,
                maxIter=MAX_ITER,
                tol=REFERENCE_TOL,
            )
            cold = common.timed_fit(lambda: estimator.fit(data))
            models = []
            timing = common.timed_fit(lambda: models.append(estimator.fit(data)))
            model = models[0]
            if family == "multinomial":
                coef = model.coefficientMatrix.toArray()
                intercept = model.interceptVector.toArray()
            else:
                coef = model.coefficients.toArray()[None, :]
                intercept = np.array([model.intercept])
            return {
                **timing,
                "coef": coef.tolist(),
                "intercept": intercept.tolist(),
                "n_iter": int(model.summary.totalIterations),
                "settings": f"family={family} tol={REFERENCE_TOL:g}, warm fit",
                "session_seconds": session_seconds,
                "load_seconds": load_seconds,
                "parquet_write_seconds": write_seconds,
                "cold_fit_seconds": cold["fit_seconds"],
            }
        finally:
            spark.stop()


def child_main(args: argparse.Namespace) -> None:
    """Run one system on one problem; write its result as JSON."""
    task = _task(args._problem, args)
    _, runner_name, kwargs = VARIANTS[task.name][args._child]
    result = globals()[runner_name](task, **kwargs)
    Path(args._result).write_text(json.dumps(result))


# ============================================================ parent process
def _task(name: str, args: argparse.Namespace) -> Task:
    problem = common.Problem(n=args.rows, d=args.d, blocks=args.blocks, seed=args.seed)
    return Task(name, problem, args.classes if name == "multinomial" else 2)


def run_child(task: Task, system: str, workdir: Path, args) -> dict:
    """Run one system in a child process while sampling its process tree."""
    result_path = workdir / f"{task.name}-{system}.json"
    log_path = result_path.with_suffix(".log")
    command = [
        sys.executable, str(Path(__file__).resolve()),
        "--_child", system, "--_problem", task.name, "--_result", str(result_path),
        "--rows", str(args.rows), "--d", str(args.d), "--classes", str(args.classes),
        "--blocks", str(args.blocks), "--seed", str(args.seed),
    ]  # fmt: skip
    start = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        with common.TreeSampler(child.pid) as sampler:
            code = child.wait(timeout=CHILD_TIMEOUT_SECONDS)
    wall = time.perf_counter() - start
    row = {"problem": task.name, "system": system}
    if code != 0 or not result_path.exists():
        tail = log_path.read_text().strip().splitlines()[-15:]
        return {**row, "error": f"exit code {code}", "log_tail": tail}
    result = json.loads(result_path.read_text())
    return {
        **row,
        **result,
        "child_seconds": wall,
        "peak_gb": sampler.peak_rss() / GB,
        "fit_peak_gb": sampler.peak_rss(result["fit_start"], result["fit_end"]) / GB,
        "other_cores": sampler.other_cores(result["fit_start"], result["fit_end"]),
    }


def run_undisturbed(task: Task, system: str, workdir: Path, args) -> dict:
    """Run one system in a child process while the machine is quiet (see
    :func:`_bench_common.run_undisturbed`)."""
    return common.run_undisturbed(
        f"{task.name} / {system}",
        lambda: run_child(task, system, workdir, args),
        retries=args.retries,
        quiet_wait=args.quiet_wait,
        log=_log,
        describe=lambda row: (
            f"fit {row['fit_seconds']:.2f} s, {row['n_iter']} iterations, "
            f"others used {row['other_cores']:.2f} cores"
        ),
    )


def objective(X, y, coef, intercept, C: float, l1_ratio: float) -> float:
    """scikit-learn's objective in float64, softmax loss for K > 1 rows of coef.

    ``C * sum_i loss_i + (1 - l1_ratio)/2 ||W||^2 + l1_ratio ||W||_1``, the
    intercepts unpenalised. ``coef`` is (1, d) for a binary problem (margin
    ``x.w + b`` for class 1), else (K, d).
    """
    if coef.shape[0] == 1:
        margins = X @ coef[0] + intercept[0]
        loss = float(np.sum(np.logaddexp(0.0, margins) - y * margins))
    else:
        margins = X @ coef.T + intercept
        picked = np.take_along_axis(margins, y.astype(np.intp)[:, None], 1)
        loss = float(np.sum(logsumexp(margins, axis=1) - picked[:, 0]))
    penalty = (1 - l1_ratio) / 2 * float(np.sum(coef**2)) + l1_ratio * float(
        np.sum(np.abs(coef))
    )
    return C * loss + penalty


def accuracy(X, y, coef, intercept) -> float:
    """Share of training rows whose predicted class is the label."""
    if coef.shape[0] == 1:
        predicted = (X @ coef[0] + intercept[0] > 0).astype(np.float64)
    else:
        predicted = np.argmax(X @ coef.T + intercept, axis=1).astype(np.float64)
    return float(np.mean(predicted == y))


def score(task: Task, rows: list[dict]) -> dict:
    """Score every fitted system of ``task`` on the in-memory data; add ratios.

    Returns facts about the data.
    """
    X, y = task.numpy_data()
    fitted = [row for row in rows if "error" not in row]
    for row in fitted:
        coef, intercept = np.asarray(row["coef"]), np.asarray(row["intercept"])
        row["objective"] = objective(X, y, coef, intercept, task.C, task.l1_ratio)
        row["accuracy"] = accuracy(X, y, coef, intercept)
        row["zeros"] = int(np.sum(coef == 0.0))
    best = min((row["objective"] for row in fitted), default=np.nan)
    for row in fitted:
        row["gap"] = (row["objective"] - best) / abs(best)
    dmltk = next((row for row in fitted if row["system"] == "dmltk"), None)
    for row in fitted:
        if dmltk is not None:
            row["per_dmltk"] = row["fit_seconds"] / dmltk["fit_seconds"]
    params = task.parameters()
    true_coef = np.atleast_2d(params["weights"].T)
    return {
        "C": task.C,
        "l1_ratio": task.l1_ratio,
        "classes": task.classes,
        "best_objective": best,
        "true_model_accuracy": accuracy(
            X, y, true_coef, np.atleast_1d(params["intercept"])
        ),
        "true_zeros": int(np.sum(true_coef == 0.0)),
        "class_shares": (np.bincount(y.astype(np.intp)) / y.size).round(3).tolist(),
        "x_sum": float(X.sum()),
        "y_sum": float(y.sum()),
    }


COLUMNS = [
    ("problem", "problem", ""),
    ("system", "system", ""),
    ("fit_seconds", "fit s", ".2f"),
    ("n_iter", "iters", "d"),
    ("gap", "rel gap", ".1e"),
    ("zeros", "zeros", "d"),
    ("accuracy", "accuracy", ".4f"),
    ("peak_gb", "peak GB", ".2f"),
    ("fit_peak_gb", "fit peak GB", ".2f"),
    ("per_dmltk", "/ dmltk", ".2f"),
    ("other_cores", "others", ".2f"),
]


def header_lines(args: argparse.Namespace, rows: list[dict]) -> list[str]:
    """Sizes, machine, versions and BLAS, as report lines."""
    machine = common.machine()
    versions = ", ".join(f"{k} {v}" for k, v in common.versions().items())
    lines = [
        f"dmltk features benchmark: n={args.rows:,} d={args.d} blocks={args.blocks} "
        f"seed={args.seed} ({args.rows * args.d * 8 / GB:.2f} GB of float64 a "
        "problem)",
        f"machine: {machine['logical_cores']} logical / "
        f"{machine['physical_cores']} physical cores, {machine['memory_gib']} GiB",
        f"versions: {versions}, python {sys.version.split()[0]}",
    ]
    for lib in common.blas_info():
        lines.append(
            f"BLAS (parent, as sklearn's child): {lib['internal_api']} "
            f"{lib['version']} {lib['architecture']}, {lib['num_threads']} threads"
        )
    worker = next((row for row in rows if row.get("worker_blas")), None)
    if worker is not None:
        lib = worker["worker_blas"][0]
        lines.append(
            f"BLAS (Dask workers): {lib['internal_api']} {lib['architecture']}, "
            f"{lib['num_threads']} thread(s) per worker"
        )
    if machine["openblas_env"]:
        lines.append(
            f"WARNING: {machine['openblas_env']} set: numpy runs slower with them"
        )
    return lines


def data_lines(task: Task, facts: dict, rows: list[dict]) -> list[str]:
    """Facts about one problem's data, and whether the cluster held the same."""
    lines = [
        f"{task.name}: C={facts['C']:.3g} l1_ratio={facts['l1_ratio']:g} "
        f"classes={facts['classes']} (shares {facts['class_shares']}), true-model "
        f"accuracy {facts['true_model_accuracy']:.4f}, true zero weights "
        f"{facts['true_zeros']}, best objective {facts['best_objective']:.10g}"
    ]
    for row in rows:
        if "checksums" in row:
            sums = row["checksums"]
            same = sums["y_sum"] == facts["y_sum"] and np.isclose(
                sums["x_sum"], facts["x_sum"], rtol=1e-9
            )
            verdict = "same (sums agree)" if same else f"DIFFER: {sums}"
            lines.append(f"  data on the cluster ({row['system']}): {verdict}")
    return lines


def system_notes(rows: list[dict]) -> list[str]:
    """One line of detail per system run."""
    lines = []
    for row in rows:
        name = f"{row['problem']} / {row['system']}"
        if "error" in row:
            lines.append(f"{name}: FAILED ({row['error']})")
            lines.extend(f"    {text}" for text in row["log_tail"])
            continue
        parts = [row["settings"]]
        if "blocks_per_worker" in row:
            parts.append(
                f"blocks per worker {row['blocks_per_worker']}, worker imports "
                f"{row['worker_import_seconds']:.1f} s before timing"
            )
        if "cold_fit_seconds" in row:
            parts.append(
                f"cold fit {row['cold_fit_seconds']:.2f} s, session start "
                f"{row['session_seconds']:.2f} s, load+cache "
                f"{row['load_seconds']:.2f} s (writing Parquet "
                f"{row['parquet_write_seconds']:.2f} s)"
            )
        parts.append(f"child process {row['child_seconds']:.0f} s")
        if row.get("attempts_made", 1) > 1:
            parts.append(
                f"kept attempt {row['attempt']} of {row['attempts_made']} "
                "(the least disturbed)"
            )
        lines.append(f"{name}: " + "; ".join(parts))
    return lines


def ratio_lines(rows: list[dict]) -> list[str]:
    """Each peer's fit time over dmltk's, per problem, and the targets."""
    lines = ["ratios (peer fit s / dmltk fit s, same problem; > 1: dmltk faster):"]
    fitted = {
        (row["problem"], row["system"]): row for row in rows if "error" not in row
    }
    pairs = [
        ("dmltk", "sklearn"),
        ("dmltk-tol1e-4", "sklearn-tol1e-4"),
        ("dmltk-tol1e-4", "sklearn-saga"),
        ("dmltk", "spark"),
        ("dmltk-tol1e-4", "spark"),
    ]
    for problem in VARIANTS:
        for ours, peer in pairs:
            if (problem, ours) in fitted and (problem, peer) in fitted:
                ratio = (
                    fitted[problem, peer]["fit_seconds"]
                    / fitted[problem, ours]["fit_seconds"]
                )
                lines.append(f"  {problem}: {peer} / {ours} = {ratio:.2f}")
    lines.append("targets (issue 5; dmltk at tol 1e-6 vs the peer's reference fit):")
    for problem, peer in TARGETS:
        ours, theirs = fitted.get((problem, "dmltk")), fitted.get((problem, peer))
        if ours is None or theirs is None:
            lines.append(f"  ----  {problem}: ahead of {peer}: not measured")
            continue
        verdict = "PASS" if ours["fit_seconds"] < theirs["fit_seconds"] else "MISS"
        lines.append(
            f"  {verdict}  {problem}: ahead of {peer} ({theirs['fit_seconds']:.2f} s,"
            f" gap {theirs['gap']:.1e}): dmltk {ours['fit_seconds']:.2f} s, gap "
            f"{ours['gap']:.1e}"
        )
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows n")
    parser.add_argument("--d", type=int, default=50, help="columns")
    parser.add_argument("--classes", type=int, default=10, help="multinomial classes")
    parser.add_argument("--blocks", type=int, default=16, help="row blocks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--problems",
        default=",".join(VARIANTS),
        help=f"comma-separated subset of: {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--systems",
        default=",".join(FAMILIES),
        help=f"comma-separated subset of: {', '.join(FAMILIES)}",
    )
    common.add_run_options(parser)
    parser.add_argument("--_problem", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.problems = [name.strip() for name in args.problems.split(",")]
    args.systems = [name.strip() for name in args.systems.split(",")]
    unknown = [name for name in args.problems if name not in VARIANTS] + [
        name for name in args.systems if name not in FAMILIES
    ]
    if unknown:
        parser.error(
            f"unknown problem(s) or system(s) {unknown}; problems: "
            f"{list(VARIANTS)}, systems: {list(FAMILIES)}"
        )
    return args


def _log(message: str) -> None:
    print(f"[bench_features] {message}", file=sys.stderr, flush=True)


def main(argv=None) -> None:
    """Run every chosen system on every chosen problem; score, print, check."""
    args = parse_args(argv)
    if args._child is not None:
        child_main(args)
        return
    rows, facts, data = [], {}, []
    with tempfile.TemporaryDirectory(prefix="dmltk-bench-features-") as workdir:
        for name in VARIANTS:
            if name not in args.problems:
                continue
            task = _task(name, args)
            task_rows = [
                run_undisturbed(task, system, Path(workdir), args)
                for system, (family, _, _) in VARIANTS[name].items()
                if family in args.systems
            ]
            _log(f"scoring {name} on the in-memory data ...")
            facts[name] = score(task, task_rows)
            data.extend(data_lines(task, facts[name], task_rows))
            rows.extend(task_rows)
    fitted = [row for row in rows if "error" not in row]
    report = [
        *header_lines(args, rows),
        *data,
        "",
        common.format_table(fitted, COLUMNS),
        "rel gap: to the best objective of any system on that problem (computed "
        "here in float64); zeros: exact zeros in coef; peak GB: resident memory "
        "of the system's process tree;",
        "others: cores used by other processes while it was timed.",
        "",
        *system_notes(rows),
        "",
        *ratio_lines(rows),
    ]
    print("\n".join(report))
    if args.json:
        drop = {"coef", "log_tail", "fit_start", "fit_end"}
        payload = {
            "arguments": {
                key: value for key, value in vars(args).items() if key[0] != "_"
            },
            "versions": common.versions(),
            "machine": common.machine(),
            "blas": common.blas_info(),
            "data": facts,
            "systems": [
                {k: v for k, v in row.items() if k not in drop} for row in rows
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
