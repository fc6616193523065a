"""Benchmark: read a libsvm file of about 1 GB with dmltk, scikit-learn and Spark.

The file (generated once, then cached in ``--data-dir``) holds 1,000,000 rows
of 100 dense features (standard normal, 4 decimals; labels 0/1 drawn from a
logistic model), written by scikit-learn's ``dump_svmlight_file`` with
1-based indices: about 1.08 GB, 100 million stored values. Dense rows are the
hardest case for a libsvm parser (every cell is a token) and the shape of
dmltk's fit benchmark.

Measured, each from the page cache (the file is read once, untimed, first):

- dmltk: ``dmltk.read_libsvm(path, n_features)`` on a ``LocalCluster`` of 2
  worker processes x 1 thread, until X and y are persisted on the workers
  (parsing included); also with the width inferred (``n_features=None``).
- scikit-learn: ``load_svmlight_file(path, n_features=...)``, one process.
- Spark: ``spark.read.format("libsvm").option("numFeatures", ...)`` in
  ``local[2]`` (``spark.driver.memory=12g``), forced by ``count()``, and by
  ``cache().count()`` (rows kept in memory, as dmltk keeps its blocks).

The cluster and the Spark session start once, timed apart. The readers then
take turns, repeat after repeat, so that all of them meet the same background
load; the table shows the median and the fastest of the repeats.

Run with::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_read.py

Options: ``--quick`` (100,000 rows), ``--no-spark``, ``--repeats N``,
``--data-dir DIR``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS = 1_000_000
QUICK_ROWS = 100_000
FEATURES = 100
SEED = 0
# Rows generated and written at a time, to bound the generator's memory.
WRITE_ROWS = 50_000
READ_CHUNK = 64 * 1024**2


# ----------------------------------------------------------------------- data
def data_file(data_dir: Path, rows: int, features: int) -> Path:
    """The benchmark file, written once (atomically) and then reused."""
    path = data_dir / f"dense-{rows}x{features}-seed{SEED}.libsvm"
    if path.exists():
        return path
    from scipy.special import expit
    from sklearn.datasets import dump_svmlight_file

    data_dir.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng([SEED]).standard_normal(features)
    weights *= 2.0 / np.sqrt(features)
    print(f"writing {path} (once) ...", flush=True)
    start = time.perf_counter()
    with tempfile.NamedTemporaryFile(dir=data_dir, suffix=".tmp", delete=False) as f:
        try:
            for index, first in enumerate(range(0, rows, WRITE_ROWS)):
                n = min(WRITE_ROWS, rows - first)
                rng = np.random.default_rng([SEED, index])
                X = np.round(rng.standard_normal((n, features)), 4)
                y = (rng.random(n) < expit(X @ weights + 0.3)).astype(np.int64)
                dump_svmlight_file(X, y, f, zero_based=False)
        except BaseException:
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
    print(f"  written in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def warm_page_cache(path: Path) -> None:
    """Read the file once so that every reader is timed from memory."""
    with open(path, "rb") as f:
        while f.read(READ_CHUNK):
            pass


# -------------------------------------------------------------------- readers
# Each reader's read() is timed and returns the shape it read; settle() (not
# timed) releases what the read kept, before the next reader's turn.
class SklearnReader:
    def read(self, path: Path, features: int) -> tuple[int, int]:
        from sklearn.datasets import load_svmlight_file

        X, _ = load_svmlight_file(str(path), n_features=features, zero_based=False)
        return X.shape

    def settle(self) -> None:
        gc.collect()

    def close(self) -> None:
        pass


class DmltkReader:
    """dmltk.read_libsvm on a LocalCluster of 2 worker processes x 1 thread."""

    def __init__(self):
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="10GiB",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        )
        self.client = Client(self.cluster)
        self.blocks = None

    def read(self, path: Path, features: int | None) -> tuple[int, int]:
        from distributed import wait

        import dmltk

        X, y = dmltk.read_libsvm(path, features)
        wait([X, y])  # every block parsed and held by a worker
        self.blocks = X.numblocks[0]
        return X.shape

    def settle(self) -> None:
        """Wait until the scheduler has forgotten the blocks: the next read
        must parse again, not find them under the same keys."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            held = self.client.run_on_scheduler(
                lambda dask_scheduler: len(dask_scheduler.tasks)
            )
            if held == 0:
                return
            time.sleep(0.05)
        raise RuntimeError("the scheduler still holds tasks after 60 s")

    def close(self) -> None:
        self.client.close()
        self.cluster.close()


class SparkReader:
    """Spark's libsvm data source in local[2]."""

    def __init__(self):
        from pyspark.sql import SparkSession

        self.spark = (
            SparkSession.builder.master("local[2]")
            .appName("dmltk-bench-read")
            .config("spark.driver.memory", "12g")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        self.cached = None

    def read(self, path: Path, features: int, cache: bool = False):
        frame = (
            self.spark.read.format("libsvm")
            .option("numFeatures", features)
            .load(str(path))
        )
        if cache:
            frame = self.cached = frame.cache()
        return frame.count(), features

    def settle(self) -> None:
        if self.cached is not None:
            self.cached.unpersist(blocking=True)
            self.cached = None

    def close(self) -> None:
        self.spark.stop()


def timed_start(factory) -> tuple[object, float]:
    start = time.perf_counter()
    reader = factory()
    return reader, time.perf_counter() - start


# ------------------------------------------------------------------ reporting
def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def versions() -> str:
    names = ("dmltk", "dask", "distributed", "scikit-learn", "pyspark")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    return ", ".join(found)


def report(path: Path, measured: dict[str, list[float]], starts: dict) -> None:
    size = path.stat().st_size
    reference = statistics.median(measured["dmltk read_libsvm"])
    rows = [["reader", "median s", "min s", "MB/s", "time / dmltk's"]]
    for name, times in measured.items():
        median = statistics.median(times)
        rows.append(
            [
                name,
                f"{median:.2f}",
                f"{min(times):.2f}",
                f"{size / 1e6 / median:.0f}",
                f"{median / reference:.2f}",
            ]
        )
    print()
    print(format_table(rows))
    print()
    for name, seconds in starts.items():
        print(f"{name} start (not included above): {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/dmltk-bench"))
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rows = QUICK_ROWS if args.quick else ROWS
    path = data_file(args.data_dir, rows, FEATURES)
    warm_page_cache(path)
    print(
        f"file: {path} ({path.stat().st_size / 1e9:.2f} GB, {rows} rows x "
        f"{FEATURES} features)\nmachine: {os.cpu_count()} cores; {versions()}",
        flush=True,
    )

    starts = {}
    dmltk_reader, starts["dmltk LocalCluster(2 x 1)"] = timed_start(DmltkReader)
    sklearn_reader = SklearnReader()
    # (name, reader, read arguments)
    runs = [
        ("dmltk read_libsvm", dmltk_reader, (FEATURES,)),
        ("dmltk read_libsvm, width inferred", dmltk_reader, (None,)),
        ("scikit-learn load_svmlight_file", sklearn_reader, (FEATURES,)),
    ]
    readers = [dmltk_reader, sklearn_reader]
    if not args.no_spark:
        spark_reader, starts["Spark session local[2]"] = timed_start(SparkReader)
        readers.append(spark_reader)
        runs += [
            ("Spark libsvm, count()", spark_reader, (FEATURES,)),
            ("Spark libsvm, cache().count()", spark_reader, (FEATURES, True)),
        ]
    measured = {name: [] for name, _, _ in runs}
    try:
        for repeat in range(args.repeats):
            for name, reader, read_args in runs:
                start = time.perf_counter()
                shape = reader.read(path, *read_args)
                seconds = time.perf_counter() - start
                reader.settle()
                assert tuple(shape) == (rows, FEATURES), (name, shape)
                measured[name].append(seconds)
                print(f"repeat {repeat + 1}: {name}: {seconds:.2f} s", flush=True)
    finally:
        for reader in readers:
            reader.close()
    print(f"dmltk read {dmltk_reader.blocks} row blocks (blocksize 64MiB)")
    report(path, measured, starts)


if __name__ == "__main__":
    main()
