"""Benchmark: read 1,000,000 x 100 (libsvm, Parquet, CSV) with dmltk and its peers.

The files (``dmltk_benchmarks.files``: generated once, then cached in
``--data-dir``) hold the same 1,000,000 rows of 100 dense features: libsvm
about 1.08 GB, Parquet (snappy, 4 files) about 0.46 GB, CSV about 0.71 GB.
Each system runs in its own child process of the ``dmltk_benchmarks`` runner
(task ``read``), from the page cache (the file is read once, untimed,
first); the child starts its cluster or session (timed apart), then reads
``--repeats`` times, its variants taking turns:

- dmltk, on ``dmltk.connect``'s 2 worker processes x 1 thread, until X and
  y are persisted on the workers (parsing included): libsvm by
  ``dmltk.read_libsvm(path, n_features)``, also with the width inferred
  (``n_features=None``); a table by ``dmltk.read_table(path, label=...)``,
  and by ``dask.dataframe``'s reader (frame persisted, then
  ``to_dask_array(lengths=True)`` persisted), as a Dask user would without
  dmltk.
- scikit-learn: ``load_svmlight_file(path, n_features=...)``; a table by
  pandas (``read_parquet``, ``read_csv``) into numpy; one process.
- Spark, in ``local[2]`` (``spark.driver.memory=12g``): libsvm by
  ``spark.read.format("libsvm").option("numFeatures", ...)``, forced by
  ``count()`` and by ``cache().count()`` (rows kept in memory, as dmltk
  keeps its blocks); a table by ``spark.read.parquet`` or
  ``spark.read.csv(header=True, schema=...)`` (the schema given, so not
  inferred), its columns ``cache().count()``, and assembled into the
  ``(label, features)`` vectors MLlib fits on (``VectorAssembler``),
  ``cache().count()``.

The table shows, per format, the median and the fastest of the repeats, the
time over dmltk's reader of that format, and the peak memory of each
system's process tree.

Run with::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_read.py \\
        --formats libsvm,parquet,csv

Options: ``--formats`` (default ``libsvm``), ``--quick`` (100,000 rows),
``--no-spark``, ``--no-sklearn``, ``--repeats N``, ``--data-dir DIR``,
``--no-wait``.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

from dmltk_benchmarks import files, report, runner, suites

FORMATS = ("libsvm", "parquet", "csv")
# The reader each format's ratios are taken against.
REFERENCE = {
    "libsvm": "dmltk read_libsvm",
    "parquet": "dmltk read_table, Parquet",
    "csv": "dmltk read_table, CSV",
}


def table(paths: dict, rows: list[dict]) -> str:
    """Median and fastest seconds, MB/s of the file and time over dmltk's,
    per format and reader."""
    lines = []
    for data_format, path in paths.items():
        measured = {
            name: (times, row)
            for row in rows
            if "error" not in row and row["format"] == data_format
            for name, times in row["runs"].items()
        }
        reference = statistics.median(
            measured.get(REFERENCE[data_format], ([float("nan")],))[0]
        )
        for name, (times, row) in measured.items():
            median = statistics.median(times)
            lines.append({
                "format": data_format, "reader": name, "median": median,
                "min": min(times), "rate": files.size(path) / 1e6 / median,
                "ratio": median / reference, "peak_gb": row["peak_gb"],
            })  # fmt: skip
    columns = [
        ("format", "format", ""),
        ("reader", "reader", ""),
        ("median", "median s", ".2f"),
        ("min", "min s", ".2f"),
        ("rate", "file MB/s", ".0f"),
        ("ratio", "time / dmltk's", ".2f"),
        ("peak_gb", "peak GB", ".2f"),
    ]
    return report.format_table(lines, columns)  # fmt: skip


def main(argv=None) -> None:
    """Read the files with every system, each in a child process; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/dmltk-bench"))
    parser.add_argument("--formats", default="libsvm",
                        help=f"comma-separated, of {', '.join(FORMATS)}")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="100,000 rows")
    parser.add_argument("--rows", type=int, default=None, help="rows (overrides)")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-sklearn", action="store_true",
                        help="skip scikit-learn (90 s a libsvm read here)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3)
    suites.add_run_options(parser, json=False)
    args = parser.parse_args(argv)
    formats = [name.strip() for name in args.formats.split(",") if name.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"unknown format(s) {unknown}; known: {', '.join(FORMATS)}")
    rows = args.rows or (files.QUICK_ROWS if args.quick else files.ROWS)
    paths = {
        name: (files.data_file(args.data_dir, rows, files.FEATURES)
               if name == "libsvm" else
               files.table_file(args.data_dir, rows, files.FEATURES, name))
        for name in formats
    }  # fmt: skip
    for data_format, path in paths.items():
        print(f"{data_format}: {path} ({files.size(path) / 1e9:.2f} GB, {rows} rows x "
              f"{files.FEATURES} features)")  # fmt: skip
    print(f"machine: {os.cpu_count()} cores", flush=True)
    systems = (["dmltk"] + ([] if args.no_sklearn else ["sklearn"])
               + ([] if args.no_spark else ["spark"]))  # fmt: skip
    results = []
    for data_format, path in paths.items():
        files.warm_page_cache(path)
        kwargs = {"path": path, "features": files.FEATURES, "repeats": args.repeats,
                  "data_format": data_format}  # fmt: skip
        runs = [runner.Run(system, system, "read", kwargs) for system in systems]
        for row in runner.run_all(runs, suites.options_from(args, "bench_read")):
            results.append({**row, "format": data_format})
    print("\n".join(report.header_lines("dmltk reading benchmark", results)[1:]))
    print()
    print(table(paths, results))
    print()
    for row in results:
        if "error" in row:
            print("\n".join(report.system_notes([row])))
        elif row["start_seconds"]:
            print(f"{row['label']} ({row['format']}) start (not included above): "
                  f"{row['start_seconds']:.1f} s")  # fmt: skip
        if row.get("blocks"):
            print(f"dmltk read {row['format']} in {row['blocks']} row blocks")


if __name__ == "__main__":
    main()
