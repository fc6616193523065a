"""Benchmark: the whole workflow, dmltk vs Spark MLlib, on a libsvm file of ~1 GB.

Read a libsvm file (or, with ``--format parquet``, the same rows as a
Parquet table), split it 80/20, fit a logistic regression on the 80%,
predict the 20%, report the accuracy; each stage timed, and the total, in
two settings, each system in child processes of the ``dmltk_benchmarks``
runner (task ``workflow``):

- **warm, one session**: one child per system keeps its dmltk cluster
  (``dmltk.connect``, 2 workers x 1 thread) or Spark session (``local[2]``,
  12 GB driver) up for one untimed warm-up run (worker imports; the JVM
  compiling its hot code) and ``--repeats`` timed runs. Starts are timed
  apart. Medians.
- **as a job**: every run in a fresh child process, as the CLI and a
  scheduled job run: the wall time from spawn to exit (imports, cluster or
  JVM start, one cold run), alternating dmltk and Spark. Medians.

dmltk: ``read_libsvm`` (``read_table``) -> ``train_test_split`` (persisted)
-> ``fit`` -> ``accuracy_score(y_test, predict(X_test))``. Spark:
``read.format("libsvm")`` (``read.parquet`` and ``VectorAssembler``) ->
``cache().count()`` -> ``randomSplit([0.8, 0.2])`` (both halves cached and
counted) -> ``fit`` -> ``MulticlassClassificationEvaluator(accuracy)``; also
the same pipeline with no explicit cache (total only).

Both fit the same objective (``regParam = 1/(C n_train)``,
``standardization=False``); each stops by its own rule (dmltk: ``tol=1e-4``;
Spark: its default ``tol=1e-6``), so both models are scored here on the whole
file on ``dmltk._testing.sklearn_objective`` (divided by ``C n``) and by
accuracy, to show that they reach the same solution.

Run with::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_workflow.py

Options: ``--format libsvm|parquet``, ``--quick`` (100,000 rows),
``--repeats N``, ``--mode both|session|job``, ``--no-spark``,
``--no-spark-uncached``, ``--data-dir DIR``, ``--no-wait``.

Targets: Spark's time over dmltk's at least 3x warm and 5x as a job.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import numpy as np
from dmltk_benchmarks import files, report, runner, suites

SETTINGS = {
    "C": 1.0,
    "test_size": 0.2,
    "seed": 0,
    "max_iter": 100,
    "tol": 1e-4,  # dmltk: scikit-learn's default
    "spark_tol": 1e-6,  # Spark's default
}
STAGES = ("read", "split", "fit", "predict + accuracy")
TARGETS = {"warm, one session": 3.0, "as a job": 5.0}


def _medians(runs: list[dict]) -> dict:
    medians = {s: statistics.median(r["seconds"][s] for r in runs) for s in STAGES}
    medians["total"] = statistics.median(sum(r["seconds"].values()) for r in runs)
    return medians


def _ratio_table(title: str, names: list[str], dmltk: dict, spark: dict | None):
    rows = []
    for name in names:
        row = {"stage": name, "dmltk": dmltk[name]}
        if spark is not None:
            row.update(spark=spark[name], ratio=spark[name] / dmltk[name])
        rows.append(row)
    columns = [("stage", title, ""), ("dmltk", "dmltk", ".2f")]
    if spark is not None:
        columns += [("spark", "Spark", ".2f"), ("ratio", "Spark / dmltk", ".1f")]
    return report.format_table(rows, columns)


def _numpy_data(path: Path, data_format: str):
    """The whole file as numpy X, y, to score the models on."""
    if data_format == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        X = np.column_stack(
            [table.column(f"x{j}").to_numpy() for j in range(files.FEATURES)]
        )
        return X, table.column("label").to_numpy().astype(np.float64)
    from sklearn.datasets import load_svmlight_file

    return load_svmlight_file(str(path), n_features=files.FEATURES, zero_based=False)


def score_lines(path: Path, rows: list[dict], data_format: str) -> list[str]:
    """Each system's last model on the whole file: objective / (C n), accuracy."""
    from dmltk._testing import sklearn_objective

    X, y = _numpy_data(path, data_format)
    lines = []
    for row in rows:
        last = row["runs"][-1]
        coef, intercept = np.asarray(last["coef"]), np.asarray(last["intercept"])
        objective = sklearn_objective(X, y, coef, intercept, SETTINGS["C"])
        accuracy = runner.accuracy(X, y, coef, intercept)
        mean = objective / (SETTINGS["C"] * X.shape[0])
        own = f"accuracy {last['accuracy']:.4f} on its own split"
        whole = f"objective / (C n) {mean:.8f}, accuracy {accuracy:.4f}"
        lines.append(
            f"{row['label']}: {last['n_iter']} iterations, {own}; whole file: {whole}"
        )
    return lines


def run_session(path: Path, systems: list[str], args, options) -> float | None:
    """Warm runs, one child per system; prints the table, returns Spark/dmltk."""
    settings = {**SETTINGS, "uncached": not args.no_spark_uncached}
    kwargs = {"path": path, "features": files.FEATURES, "repeats": args.repeats,
              "warmup": 1, "settings": settings,
              "data_format": args.format}  # fmt: skip
    rows = runner.run_all(
        [runner.Run(s, s, "workflow", kwargs) for s in systems], options
    )
    by = {row["label"]: row for row in rows if "error" not in row}
    print("\n".join(report.system_notes([r for r in rows if "error" in r])))
    if "dmltk" not in by:
        return None
    spark = _medians(by["spark"]["runs"]) if "spark" in by else None
    print()
    print(_ratio_table("warm, one session (median s)", [*STAGES, "total"],
                       _medians(by["dmltk"]["runs"]), spark))  # fmt: skip
    starts = [
        f"{row['label']} start {row['start_seconds']:.1f} s" for row in by.values()
    ]
    print(f"not included above: {'; '.join(starts)}")
    for plain in by.get("spark", {}).get("uncached", [])[-1:]:
        total = statistics.median(run["total"] for run in by["spark"]["uncached"])
        print(f"Spark without cache(): total {total:.2f} s, {plain['n_iter']} "
              f"iterations, accuracy {plain['accuracy']:.4f}")  # fmt: skip
    print("\n".join(score_lines(path, list(by.values()), args.format)))
    if spark is None:
        return None
    return spark["total"] / _medians(by["dmltk"]["runs"])["total"]


def run_jobs(path: Path, systems: list[str], args, options) -> float | None:
    """Each run in a fresh child; prints the table, returns Spark/dmltk wall."""
    kwargs = {"path": path, "features": files.FEATURES, "repeats": 1, "warmup": 0,
              "settings": SETTINGS, "data_format": args.format}  # fmt: skip
    runs = [
        runner.Run(s, s, "workflow", kwargs)
        for _ in range(args.repeats)
        for s in systems
    ]
    found = {system: [] for system in systems}
    for row in runner.run_all(runs, options):
        if "error" not in row:
            found[row["label"]].append(row)
    names = ["process wall time", "  start (cluster / JVM session)", *STAGES]

    def medians(rows):
        if not rows:
            return None
        values = [statistics.median(r["child_seconds"] for r in rows),
                  statistics.median(r["start_seconds"] for r in rows),
                  *(statistics.median(r["runs"][0]["seconds"][s] for r in rows)
                    for s in STAGES)]  # fmt: skip
        return dict(zip(names, values, strict=True))

    dmltk, spark = medians(found["dmltk"]), medians(found.get("spark"))
    if dmltk is None:
        return None
    print()
    print(_ratio_table("as a job, fresh process (median s)", names, dmltk, spark))
    return None if spark is None else spark[names[0]] / dmltk[names[0]]


def main(argv=None) -> None:
    """Run the chosen modes; print the tables and the targets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/dmltk-bench"))
    parser.add_argument("--format", choices=["libsvm", "parquet"], default="libsvm")
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--rows", type=int, default=None, help="rows (overrides)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--mode",
        choices=["both", "session", "job"],
        default="both",
        help="warm runs in one session, fresh processes as jobs, or both",
    )
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-spark-uncached", action="store_true")  # fmt: skip
    suites.add_run_options(parser, json=False)
    args = parser.parse_args(argv)
    rows = args.rows or (files.QUICK_ROWS if args.quick else files.ROWS)
    if args.format == "libsvm":
        path = files.data_file(args.data_dir, rows, files.FEATURES)
    else:
        path = files.table_file(args.data_dir, rows, files.FEATURES, args.format)
    files.warm_page_cache(path)
    print(
        f"file: {path} ({files.size(path) / 1e9:.2f} GB, {rows:,} rows x "
        f"{files.FEATURES} features)\nmachine: {os.cpu_count()} cores",
        flush=True,
    )
    systems = ["dmltk"] + ([] if args.no_spark else ["spark"])
    options = suites.options_from(args, "bench_workflow")
    ratios = {}
    if args.mode in ("both", "session"):
        ratios["warm, one session"] = run_session(path, systems, args, options)
    if args.mode in ("both", "job"):
        ratios["as a job"] = run_jobs(path, systems, args, options)
    print()
    for name, ratio in ratios.items():
        if ratio is not None:
            target = TARGETS[name]
            verdict = "meets" if ratio >= target else "MISSES"
            print(f"{name}: Spark / dmltk = {ratio:.1f}x ({verdict} the "
                  f"{target:.0f}x target)")  # fmt: skip


if __name__ == "__main__":
    main()
