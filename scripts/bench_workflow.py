"""Benchmark: the whole workflow, dmltk vs Spark MLlib, on a libsvm file of ~1 GB.

The workflow people run with Spark MLlib today: read a libsvm file, split it
80/20, fit a logistic regression on the 80%, predict the 20%, report the
accuracy. Each stage is timed, and the total, in two settings:

- **warm, one session**: a dmltk cluster and a Spark session stay up and the
  two take turns, run after run (so that both meet the same background load),
  after one untimed warm-up round each (worker imports; the JVM compiling its
  hot code). Starts are timed apart. Medians of ``--repeats`` runs.
- **as a job**: every run in a fresh process, as the CLI and a scheduled job
  run: the wall time from spawn to exit (imports, cluster or JVM start, one
  cold run), alternating dmltk and Spark. Medians of ``--repeats`` runs.

- dmltk: ``LocalCluster`` of 2 worker processes x 1 thread;
  ``read_libsvm`` -> ``train_test_split`` (persisted) -> ``LogisticRegression
  .fit`` -> ``metrics.accuracy_score(y_test, model.predict(X_test))``.
- Spark: ``local[2]``, ``spark.driver.memory=12g``; ``read.format("libsvm")``
  with ``numFeatures`` -> ``cache().count()`` -> ``randomSplit([0.8, 0.2])``
  (both halves cached and counted, the whole released) ->
  ``LogisticRegression.fit`` -> ``MulticlassClassificationEvaluator
  (accuracy)`` on ``transform(test)``. Also the same pipeline as it is
  usually written, with no explicit cache (total only: Spark's fit then
  caches its own copy of the training rows, and the evaluation reads the
  file again).

Both fit the same objective: scikit-learn's ``C sum logloss + ||w||^2 / 2``
is Spark's ``mean logloss + regParam/2 ||w||^2`` times ``C n_train`` with
``regParam = 1/(C n_train)``, ``standardization=False``,
``elasticNetParam=0``. Each stops by its own rule (dmltk: scikit-learn's
``tol=1e-4`` on the scaled gradient; Spark: its default ``tol=1e-6`` on the
relative change of the loss), so the table also shows iterations, and
Spark's model is scored on dmltk's split (objective on the training rows,
accuracy on the test rows) to show that both reach the same solution.

The file is ``scripts/bench_read.py``'s (its generator: 1,000,000 rows x 100
dense features, about 1.08 GB, written once into ``--data-dir``, then
reused), read from the page cache.

Run with::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_workflow.py

Options: ``--quick`` (100,000 rows), ``--repeats N``, ``--mode
both|session|job``, ``--no-spark``, ``--no-spark-uncached``, ``--data-dir DIR``.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_read import (
    FEATURES,
    QUICK_ROWS,
    ROWS,
    data_file,
    format_table,
    versions,
    warm_page_cache,
)

C = 1.0
TEST_SIZE = 0.2
SEED = 0
MAX_ITER = 100
DMLTK_TOL = 1e-4  # scikit-learn's default
SPARK_TOL = 1e-6  # Spark's default
STAGES = ("read", "split", "fit", "predict + accuracy")


def _wait_until_released(client) -> None:
    """Wait until the scheduler holds no task: the next read must parse
    again, not find the previous run's blocks under the same keys."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        held = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
        if held == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("the scheduler still holds tasks after 60 s")


def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


# ---------------------------------------------------------------------- dmltk
def dmltk_workflow(path: Path, features: int) -> dict:
    """One run of the workflow on the current client; seconds per stage."""
    import dask
    from distributed import wait

    import dmltk
    from dmltk import metrics

    seconds = {}
    start = time.perf_counter()
    X, y = dmltk.read_libsvm(path, features)
    seconds["read"] = time.perf_counter() - start

    start = time.perf_counter()
    split = dask.persist(
        *dmltk.train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)
    )
    wait(split)
    seconds["split"] = time.perf_counter() - start
    del X, y  # one copy of the data on the workers
    X_train, X_test, y_train, y_test = split

    start = time.perf_counter()
    model = dmltk.LogisticRegression(C=C, tol=DMLTK_TOL, max_iter=MAX_ITER)
    model.fit(X_train, y_train)
    seconds["fit"] = time.perf_counter() - start

    start = time.perf_counter()
    accuracy = metrics.accuracy_score(y_test, model.predict(X_test))
    seconds["predict + accuracy"] = time.perf_counter() - start
    return {
        "seconds": seconds,
        "accuracy": accuracy,
        "n_iter": int(model.n_iter_[0]),
        "n_train": X_train.shape[0],
        "model": model,
        "split": split,
    }


def objective_and_accuracy(coef, intercept, split) -> tuple[float, float]:
    """scikit-learn's objective divided by ``C n_train`` on dmltk's training
    rows, and the accuracy on its test rows, of the model ``coef, intercept``
    (computed on the workers)."""
    import dmltk
    from dmltk import metrics

    X_train, X_test, y_train, y_test = split
    model = dmltk.LogisticRegression(C=C)
    model.coef_ = np.asarray(coef, dtype=np.float64).reshape(1, -1)
    model.intercept_ = np.array([intercept], dtype=np.float64)
    model.classes_ = np.array([0.0, 1.0])
    model.n_features_in_ = model.coef_.shape[1]
    mean_loss = metrics.log_loss(y_train, model.predict_proba(X_train))
    penalty = float(model.coef_[0] @ model.coef_[0]) / (2 * C * X_train.shape[0])
    accuracy = metrics.accuracy_score(y_test, model.predict(X_test))
    return mean_loss + penalty, accuracy


def _start_cluster(Client, LocalCluster):
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        memory_limit="10GiB",
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    return cluster, Client(cluster)


# ---------------------------------------------------------------------- Spark
def _spark_session():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("dmltk-bench-workflow")
        .config("spark.driver.memory", "12g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _spark_estimator(n_train: int):
    from pyspark.ml.classification import LogisticRegression

    return LogisticRegression(
        regParam=1.0 / (C * n_train),
        elasticNetParam=0.0,
        standardization=False,
        family="binomial",
        fitIntercept=True,
        maxIter=MAX_ITER,
        tol=SPARK_TOL,
    )


def _spark_accuracy(model, test) -> float:
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    return evaluator.evaluate(model.transform(test))


def spark_workflow(spark, path: Path, features: int) -> dict:
    """One run, every stage materialised (cached and counted) before the next."""
    seconds = {}

    def read():
        frame = (
            spark.read.format("libsvm")
            .option("numFeatures", features)
            .load(str(path))
            .cache()
        )
        frame.count()
        return frame

    data, seconds["read"] = _timed(read)

    def split():
        train, test = data.randomSplit([1 - TEST_SIZE, TEST_SIZE], seed=SEED)
        train, test = train.cache(), test.cache()
        n_train = train.count()
        test.count()
        data.unpersist(blocking=True)
        return train, test, n_train

    (train, test, n_train), seconds["split"] = _timed(split)
    model, seconds["fit"] = _timed(lambda: _spark_estimator(n_train).fit(train))
    accuracy, seconds["predict + accuracy"] = _timed(
        lambda: _spark_accuracy(model, test)
    )
    train.unpersist(blocking=True)
    test.unpersist(blocking=True)
    return {
        "seconds": seconds,
        "accuracy": accuracy,
        "n_iter": int(model.summary.totalIterations),
        "n_train": n_train,
        "coef": model.coefficients.toArray(),
        "intercept": float(model.intercept),
    }


def spark_workflow_uncached(spark, path: Path, features: int) -> dict:
    """The same pipeline as usually written: no explicit cache, total only."""

    def run():
        data = spark.read.format("libsvm").option("numFeatures", features)
        data = data.load(str(path))
        train, test = data.randomSplit([1 - TEST_SIZE, TEST_SIZE], seed=SEED)
        # regParam needs n_train: one count, as a user would do.
        model = _spark_estimator(train.count()).fit(train)
        return _spark_accuracy(model, test), model

    (accuracy, model), total = _timed(run)
    return {
        "total": total,
        "accuracy": accuracy,
        "n_iter": int(model.summary.totalIterations),
    }


def run_session(path: Path, features: int, repeats: int, spark: bool, uncached: bool):
    """Warm runs: a dmltk cluster and a Spark session stay up, and the
    systems take turns, run after run, so that both meet the same background
    load. The first round is an untimed warm-up (worker imports, the JVM
    compiling its hot code). Spark's last model is then scored on dmltk's
    last split."""
    from distributed import Client, LocalCluster

    results = {"dmltk": [], "spark": [], "spark_uncached": []}
    session, results["spark_start"] = _timed(_spark_session) if spark else (None, 0)
    (cluster, client), results["dmltk_start"] = _timed(
        lambda: _start_cluster(Client, LocalCluster)
    )
    try:
        for index in range(repeats + 1):
            label = "warm-up" if index == 0 else f"run {index}"
            if session is not None:
                warm_page_cache(path)
                run = spark_workflow(session, path, features)
                print(f"  Spark {label}: {_stage_line(run['seconds'])}", flush=True)
                results["spark"].append(run)
            if session is not None and uncached and index > 0:
                warm_page_cache(path)
                run = spark_workflow_uncached(session, path, features)
                print(f"  Spark without cache(): {run['total']:.1f} s", flush=True)
                results["spark_uncached"].append(run)
            warm_page_cache(path)
            run = dmltk_workflow(path, features)
            print(f"  dmltk {label}: {_stage_line(run['seconds'])}", flush=True)
            results["dmltk"].append(run)
            if index < repeats:
                # The next read must parse again, not find these blocks.
                del run["split"], run["model"]
                gc.collect()
                _wait_until_released(client)
        last = results["dmltk"][-1]
        last["objective"], _ = objective_and_accuracy(
            last["model"].coef_, last["model"].intercept_[0], last["split"]
        )
        if results["spark"]:
            run = results["spark"][-1]
            results["spark_scored_here"] = objective_and_accuracy(
                run["coef"], run["intercept"], last["split"]
            )
        del last["split"], last["model"]
    finally:
        client.close()
        cluster.close()
        if session is not None:
            session.stop()
    # Leave the warm-up rounds out.
    results["dmltk"], results["spark"] = results["dmltk"][1:], results["spark"][1:]
    return results


# ------------------------------------------------------------------ as a job
def job_child(system: str, path: Path, features: int) -> None:
    """Start, run the workflow once, print the timings as JSON (last line)."""
    if system == "dmltk":
        from distributed import Client, LocalCluster

        (cluster, client), start = _timed(lambda: _start_cluster(Client, LocalCluster))
        try:
            run = dmltk_workflow(path, features)
            del run["split"], run["model"]
        finally:
            client.close()
            cluster.close()
    else:
        spark, start = _timed(_spark_session)
        try:
            run = spark_workflow(spark, path, features)
            del run["coef"]
        finally:
            spark.stop()
    print(json.dumps({"start": start, **run}), flush=True)


def run_jobs(path: Path, repeats: int, systems: list[str]) -> dict:
    """Each run in a fresh process, as a scheduled job runs: the wall time
    from spawn to exit (imports, cluster or JVM start, one cold run)."""
    results = {system: [] for system in systems}
    for _ in range(repeats):
        for system in systems:
            warm_page_cache(path)
            command = [sys.executable, __file__, "--_job", system, "--_path", path]
            start = time.perf_counter()
            finished = subprocess.run(
                list(map(str, command)), capture_output=True, text=True, check=True
            )
            wall = time.perf_counter() - start
            run = json.loads(finished.stdout.strip().splitlines()[-1])
            run["wall"] = wall
            results[system].append(run)
            print(
                f"  {system} job: {wall:.1f} s wall (start {run['start']:.1f} s; "
                f"{_stage_line(run['seconds'])})",
                flush=True,
            )
    return results


# ------------------------------------------------------------------ reporting
def _stage_line(seconds: dict) -> str:
    parts = [f"{stage} {seconds[stage]:.1f} s" for stage in STAGES]
    return ", ".join(parts) + f"; total {sum(seconds.values()):.1f} s"


def _median_seconds(runs: list[dict]) -> dict:
    medians = {
        stage: statistics.median(run["seconds"][stage] for run in runs)
        for stage in STAGES
    }
    medians["total"] = statistics.median(sum(run["seconds"].values()) for run in runs)
    return medians


def _ratio_rows(names: list[str], dmltk_values: list, spark_values: list | None):
    rows = []
    for index, name in enumerate(names):
        row = [name, f"{dmltk_values[index]:.2f}"]
        if spark_values is not None:
            ratio = spark_values[index] / dmltk_values[index]
            row += [f"{spark_values[index]:.2f}", f"{ratio:.1f}x"]
        rows.append(row)
    return rows


def report_session(results: dict) -> float | None:
    """The warm table; returns Spark's total over dmltk's (None without Spark)."""
    names = [*STAGES, "total"]
    dmltk_seconds = _median_seconds(results["dmltk"])
    spark_seconds = _median_seconds(results["spark"]) if results["spark"] else None
    header = ["warm, one session (median s)", "dmltk"]
    if spark_seconds:
        header += ["Spark", "Spark / dmltk"]
    rows = [header]
    rows.extend(
        _ratio_rows(
            names,
            [dmltk_seconds[name] for name in names],
            [spark_seconds[name] for name in names] if spark_seconds else None,
        )
    )
    if results["spark_uncached"]:
        total = statistics.median(run["total"] for run in results["spark_uncached"])
        ratio = total / dmltk_seconds["total"]
        rows.append(
            ["total, Spark without cache()", "", f"{total:.2f}", f"{ratio:.1f}x"]
        )
    print()
    print(format_table(rows))
    starts = f"dmltk LocalCluster(2 x 1) start {results['dmltk_start']:.1f} s"
    if spark_seconds:
        starts += f"; Spark session local[2] start {results['spark_start']:.1f} s"
    print(f"not included above: {starts}")
    last = results["dmltk"][-1]
    print(
        f"dmltk: {last['n_iter']} iterations, accuracy {last['accuracy']:.4f}, "
        f"objective {last['objective']:.8f} (on its {last['n_train']:,} training rows)"
    )
    if not spark_seconds:
        return None
    run = results["spark"][-1]
    objective, accuracy = results["spark_scored_here"]
    print(
        f"Spark: {run['n_iter']} iterations, accuracy {run['accuracy']:.4f} on its "
        f"own split; on dmltk's split: objective {objective:.8f}, accuracy "
        f"{accuracy:.4f}"
    )
    for plain in results["spark_uncached"][-1:]:
        print(
            f"Spark without cache(): {plain['n_iter']} iterations, accuracy "
            f"{plain['accuracy']:.4f}"
        )
    return spark_seconds["total"] / dmltk_seconds["total"]


def report_jobs(results: dict) -> float | None:
    """The job table; returns Spark's wall time over dmltk's."""
    names = ["process wall time", "  start (cluster / JVM session)", *STAGES]

    def medians(runs):
        return [
            statistics.median(run["wall"] for run in runs),
            statistics.median(run["start"] for run in runs),
            *(statistics.median(run["seconds"][s] for run in runs) for s in STAGES),
        ]

    spark = results.get("spark")
    header = ["as a job, fresh process (median s)", "dmltk"]
    if spark:
        header += ["Spark", "Spark / dmltk"]
    rows = [header]
    rows.extend(
        _ratio_rows(names, medians(results["dmltk"]), medians(spark) if spark else None)
    )
    print()
    print(format_table(rows))
    if not spark:
        return None
    return medians(spark)[0] / medians(results["dmltk"])[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/dmltk-bench"))
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--mode",
        choices=["both", "session", "job"],
        default="both",
        help="warm runs in one session, fresh processes as jobs, or both",
    )
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-spark-uncached", action="store_true")
    parser.add_argument("--_job", choices=["dmltk", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--_path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._job:
        job_child(args._job, args._path, FEATURES)
        return

    rows = QUICK_ROWS if args.quick else ROWS
    path = data_file(args.data_dir, rows, FEATURES)
    print(
        f"file: {path} ({path.stat().st_size / 1e9:.2f} GB, {rows:,} rows x "
        f"{FEATURES} features)\nmachine: {os.cpu_count()} cores; {versions()}",
        flush=True,
    )
    ratios = {}
    if args.mode in ("both", "session"):
        results = run_session(
            path,
            FEATURES,
            args.repeats,
            spark=not args.no_spark,
            uncached=not args.no_spark_uncached,
        )
        ratios["warm, one session"] = report_session(results)
    if args.mode in ("both", "job"):
        systems = ["dmltk"] + ([] if args.no_spark else ["spark"])
        ratios["as a job"] = report_jobs(run_jobs(path, args.repeats, systems))
    print()
    for name, ratio in ratios.items():
        if ratio is not None:
            verdict = "meets" if ratio >= 3 else "MISSES"
            print(f"{name}: Spark / dmltk = {ratio:.1f}x ({verdict} the 3x target)")


if __name__ == "__main__":
    main()
