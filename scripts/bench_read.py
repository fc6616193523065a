"""Benchmark: read a libsvm file of about 1 GB with dmltk, scikit-learn and Spark.

The file (``dmltk_benchmarks.files``: generated once, then cached in
``--data-dir``) holds 1,000,000 rows of 100 dense features, about 1.08 GB.
Each system runs in its own child process of the ``dmltk_benchmarks`` runner
(task ``read``), from the page cache (the file is read once, untimed,
first); the child starts its cluster or session (timed apart), then reads
``--repeats`` times, its variants taking turns:

- dmltk: ``dmltk.read_libsvm(path, n_features)`` on ``dmltk.connect``'s 2
  worker processes x 1 thread, until X and y are persisted on the workers
  (parsing included); also with the width inferred (``n_features=None``).
- scikit-learn: ``load_svmlight_file(path, n_features=...)``, one process.
- Spark: ``spark.read.format("libsvm").option("numFeatures", ...)`` in
  ``local[2]`` (``spark.driver.memory=12g``), forced by ``count()``, and by
  ``cache().count()`` (rows kept in memory, as dmltk keeps its blocks).

The table shows the median and the fastest of the repeats, and the peak
memory of each system's process tree.

Run with::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_read.py

Options: ``--quick`` (100,000 rows), ``--no-spark``, ``--no-sklearn``, ``--repeats N``,
``--data-dir DIR``, ``--no-wait``.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from dmltk_benchmarks import files, report, runner, suites


def table(path: Path, rows: list[dict]) -> str:
    """Median and fastest seconds, MB/s and time over dmltk's, per reader."""
    size = path.stat().st_size
    measured = {
        name: (times, row)
        for row in rows
        if "error" not in row
        for name, times in row["runs"].items()
    }
    reference = statistics.median(
        measured.get("dmltk read_libsvm", ([float("nan")],))[0]
    )
    lines = []
    for name, (times, row) in measured.items():
        median = statistics.median(times)
        lines.append({
            "reader": name, "median": median, "min": min(times),
            "rate": size / 1e6 / median, "ratio": median / reference,
            "peak_gb": row["peak_gb"],
        })  # fmt: skip
    columns = [
        ("reader", "reader", ""),
        ("median", "median s", ".2f"),
        ("min", "min s", ".2f"),
        ("rate", "MB/s", ".0f"),
        ("ratio", "time / dmltk's", ".2f"),
        ("peak_gb", "peak GB", ".2f"),
    ]
    return report.format_table(lines, columns)  # fmt: skip


def main(argv=None) -> None:
    """Read the file with every system, each in a child process; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/dmltk-bench"))
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--rows", type=int, default=None, help="rows (overrides)")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-sklearn", action="store_true",
                        help="skip scikit-learn (about 90 s a read here)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    suites.add_run_options(parser, json=False)
    args = parser.parse_args(argv)
    rows = args.rows or (files.QUICK_ROWS if args.quick else files.ROWS)
    path = files.data_file(args.data_dir, rows, files.FEATURES)
    files.warm_page_cache(path)
    print(
        f"file: {path} ({path.stat().st_size / 1e9:.2f} GB, {rows} rows x "
        f"{files.FEATURES} features)\nmachine: {os.cpu_count()} cores",
        flush=True,
    )
    systems = (["dmltk"] + ([] if args.no_sklearn else ["sklearn"])
               + ([] if args.no_spark else ["spark"]))  # fmt: skip
    kwargs = {"path": path, "features": files.FEATURES, "repeats": args.repeats}
    runs = [runner.Run(system, system, "read", kwargs) for system in systems]
    results = runner.run_all(runs, suites.options_from(args, "bench_read"))
    print("\n".join(report.header_lines("dmltk reading benchmark", results)[1:]))
    print()
    print(table(path, results))
    print()
    for row in results:
        if "error" in row:
            print("\n".join(report.system_notes([row])))
        elif row["start_seconds"]:
            print(f"{row['label']} start (not included above): "
                  f"{row['start_seconds']:.1f} s")  # fmt: skip
        if row.get("blocks"):
            print(f"dmltk read {row['blocks']} row blocks (blocksize 64MiB)")


if __name__ == "__main__":
    main()
