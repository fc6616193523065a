"""Benchmark: one model, three layouts (rows, columns, 2-D blocks).

Fits dmltk.LogisticRegression on the same data partitioned by rows, by
columns and in 2-D blocks (``dmltk.partition``), each layout in its own child
process of the ``dmltk_benchmarks`` runner on ``dmltk.connect``'s 2 workers x
1 thread, for two registered problems:

- ``binary``, tall and dense (default 2,000,000 x 100): rows should win;
- ``wide-sparse`` (default 100,000 x 2,000,000, 30 non-zeros a row): the row
  layout must ship a d-long coefficient vector and gradient for every block
  at every evaluation, the column layout only n-long vectors.

For each it prints the partition time, fit time, evaluations, bytes the
workers sent per evaluation (``fit_stats_``: all of it, and the part that
went to other workers rather than to the client), ratios against the row
layout, and memory: X's bytes, the peak resident memory of the child's
whole tree (its client and both workers) while the fit ran, and over the
child's life (partitioning included). Not a test: run it by hand, for example::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_layouts.py
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from dmltk_benchmarks import report, runner, suites
from dmltk_benchmarks.problems import get_problem

LAYOUTS = ("rows", "columns", "blocks")
COLUMNS = [
    ("layout", "layout", ""),
    ("grid", "grid", ""),
    ("partition_s", "partition s", ".2f"),
    ("fit_seconds", "fit s", ".2f"),
    ("evaluations", "evals", "d"),
    ("ms_per_eval", "ms/eval", ".1f"),
    ("mb_per_eval", "MB/eval", ".3f"),
    ("mb_workers_per_eval", "w-to-w MB/eval", ".3f"),
    ("fit_per_rows", "fit / rows", ".2f"),
    ("mb_per_rows", "MB / rows", ".3f"),
    ("x_gb", "X GB", ".2f"),
    ("fit_peak_gb", "fit peak GB", ".2f"),
    ("peak_gb", "peak GB", ".2f"),
]


def layout_rows(rows: list[dict]) -> list[dict]:
    """Per-evaluation traffic and ratios to the row layout, from fit_stats."""
    fitted = [row for row in rows if "error" not in row]
    for row in fitted:
        stats = row["fit_stats"]
        evaluations = max(stats["evaluations"], 1)
        row.update(
            layout=row["label"],
            partition_s=row["partition_seconds"] or 0.0,
            evaluations=stats["evaluations"],
            ms_per_eval=1e3 * row["fit_seconds"] / evaluations,
            mb_per_eval=stats["bytes_sent"] / evaluations / 1e6,
            mb_workers_per_eval=stats["bytes_between_workers"] / evaluations / 1e6,
        )
    base = next((row for row in fitted if row["layout"] == "rows"), None)
    for row in fitted if base else []:
        row["fit_per_rows"] = row["fit_seconds"] / base["fit_seconds"]
        if base["mb_per_eval"]:
            row["mb_per_rows"] = row["mb_per_eval"] / base["mb_per_eval"]
    return fitted


def difference_line(rows: list[dict]) -> str:
    """Largest coefficient difference of any layout from the row layout."""
    base = next((row for row in rows if row["layout"] == "rows"), None)
    if base is None or len(rows) < 2:
        return "largest coefficient difference from the row layout: n/a"
    reference = np.asarray(base["coef"])
    gaps = [
        np.max(np.abs(np.asarray(row["coef"]) - reference)) / np.max(np.abs(reference))
        for row in rows
        if row is not base
    ]
    return f"largest coefficient difference from the row layout: {max(gaps):.1e}"


def main(argv=None) -> None:
    """Fit each layout of each shape in a child process; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tall", default="2000000x100", help="n x d of the dense shape"
    )
    parser.add_argument("--wide", default="100000x2000000", help="n x d, sparse")
    parser.add_argument("--nnz", type=int, default=30, help="non-zeros a row, wide")
    parser.add_argument("--blocks", type=int, default=16, help="blocks per layout")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--quick", action="store_true", help="small shapes")
    parser.add_argument("--only", choices=["tall", "wide"], default=None)
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help="subset to fit")
    suites.add_run_options(parser, json=False)
    args = parser.parse_args(argv)
    if args.quick:
        args.tall, args.wide = "200000x50", "20000x200000"
    shapes = {
        "tall": ("binary", args.tall, {}),
        "wide": ("wide-sparse", args.wide, {"nnz": args.nnz}),
    }
    options = suites.options_from(args, "bench_layouts")
    all_rows = []
    for key, (name, shape, extra) in shapes.items():
        if args.only not in (None, key):
            continue
        n, d = (int(v) for v in shape.split("x"))
        problem = get_problem(name, n, d, blocks=args.blocks, **extra)
        runs = [
            runner.Run(by, "dmltk", "fit",
                       {"problem": dataclasses.replace(problem, layout=by),
                        "tol": args.tol, "max_iter": 500})
            for by in args.layouts.split(",")
        ]  # fmt: skip
        rows = runner.run_all(runs, options)
        fitted = layout_rows(rows)
        for row in fitted:
            row["x_gb"] = problem.nbytes / 1e9
        all_rows += rows
        print(f"\n{name}: {n:,} x {d:,}, tol={args.tol}")
        print(report.format_table(fitted, COLUMNS))
        print(difference_line(fitted))
    print()
    print("\n".join(report.header_lines("dmltk layouts benchmark", all_rows)[1:]))
    print("\n".join(report.system_notes(all_rows)))


if __name__ == "__main__":
    main()
