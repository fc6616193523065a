"""Benchmark: prediction and metrics over persisted blocks, against one read of X.

The bench problem of ``scripts/bench.py`` (2,000,000 x 100 float64, 16 row
blocks) is generated on ``dmltk.connect``'s 2 worker processes x 1 thread
and persisted; a model is fitted (untimed). Then each operation is timed as
a median of ``--repeats`` calls after an untimed one, every call computing
anew (the scheduler is left to forget the previous result first):

- ``predict_proba``, ``predict``, ``decision_function``: the lazy result
  persisted on the workers (``persist()`` and ``wait``);
- ``score(X, y)``, and ``dmltk.metrics``' ``accuracy_score``, ``log_loss``
  and ``roc_auc_score`` on the lazy predictions: a number on the client;
- the same three metrics on predictions already persisted (as a pipeline
  that keeps its predictions would score them): the labels, probabilities
  or margins are read, X is not.

The reference is one read of X in memory (``X.sum()`` on 2 threads, the
floor of an evaluation) and on the cluster (one task per worker summing its
blocks); the target of the issue on evaluations is at most 1.5x one
in-memory read. scikit-learn runs the same operations on the same data in
memory, in its own child process, for comparison.

Run with::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_predict.py

Options: ``--quick`` (200,000 rows), ``--n``, ``--dtype float32``,
``--repeats N``, ``--no-sklearn``, ``--no-wait``, ``--json FILE``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmltk_benchmarks import report, runner, suites
from dmltk_benchmarks.problems import get_problem

QUICK_N = 200_000
TARGET = 1.5  # times one in-memory read of X


def table(rows: list[dict]) -> str:
    """Median seconds per operation and system, and dmltk's over the reads."""
    by_label = {row["label"]: row for row in rows if "error" not in row}
    dmltk = by_label.get("dmltk")
    sklearn = by_label.get("sklearn")
    names = list((dmltk or sklearn or {"seconds": {}})["seconds"])
    lines = []
    for name in names:
        line = {"operation": name}
        if dmltk:
            seconds = dmltk["seconds"][name]
            line["dmltk"] = seconds
            line["numpy_ratio"] = seconds / dmltk["numpy_read"]
            line["cluster_ratio"] = seconds / dmltk["cluster_baselines"]["read"]
            line["verdict"] = "PASS" if line["numpy_ratio"] <= TARGET else "MISS"
        if sklearn:
            line["sklearn"] = sklearn["seconds"][name]
        lines.append(line)
    columns = [
        ("operation", "operation", ""),
        ("dmltk", "dmltk s", ".3f"),
        ("numpy_ratio", "/ numpy read", ".2f"),
        ("cluster_ratio", "/ cluster read", ".2f"),
        ("verdict", f"<= {TARGET}x", ""),
        ("sklearn", "sklearn s", ".3f"),
    ]
    return report.format_table(lines, columns)


def main(argv=None) -> None:
    """Run dmltk's and scikit-learn's children; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="rows (default 2M)")
    parser.add_argument("--quick", action="store_true", help=f"n={QUICK_N:,}")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-4,
                        help="tolerance of the (untimed) fit")  # fmt: skip
    parser.add_argument("--no-sklearn", action="store_true")
    suites.add_problem_options(parser)
    suites.add_run_options(parser)
    args = parser.parse_args(argv)
    n = args.n if args.n is not None else (QUICK_N if args.quick else None)
    problem = get_problem("binary", n, blocks=16, dtype=args.dtype)
    kwargs = {"problem": problem.to_json(), "tol": args.tol, "repeats": args.repeats}
    systems = ["dmltk"] + ([] if args.no_sklearn else ["sklearn"])
    runs = [runner.Run(system, system, "predict", kwargs) for system in systems]
    rows = runner.run_all(runs, suites.options_from(args, "bench_predict"))
    print("\n".join(report.header_lines("dmltk prediction benchmark", rows)[1:]))
    print(f"data: {problem.n:,} x {problem.d} {problem.dtype}, 16 row blocks, "
          "2 workers x 1 thread")  # fmt: skip
    for row in rows:
        if "error" in row:
            print("\n".join(report.system_notes([row])))
        elif row["label"] == "dmltk":
            base = row["cluster_baselines"]
            print(f"one read of X: {row['numpy_read'] * 1e3:.1f} ms in memory "
                  f"(2 threads), {base['read'] * 1e3:.1f} ms on the cluster; "
                  f"no-op graph {base['noop'] * 1e3:.1f} ms")  # fmt: skip
    print()
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=float))


if __name__ == "__main__":
    main()
