"""Benchmark dmltk's LogisticRegressionCV against one dmltk fit, scikit-learn's
LogisticRegressionCV and Spark MLlib's CrossValidator.

A benchmark, not a test. The ``binary`` problem of ``dmltk_benchmarks``
(2,000,000 x 100 dense float64 by default, block ``i`` from
``default_rng([seed, i])``), fed identically to every system, each in its own
child process; 10 values of C (scikit-learn's grid, 1e-4 to 1e4) x 5 folds =
50 fits, log loss as the score, ``tol=1e-4`` (scikit-learn's default) for
everyone:

``dmltk``
    ``LogisticRegressionCV(Cs=10, cv=5)``: folds by hashed row position, the
    5 fold paths in the same passes over X, warm-started along C; after it,
    in the same child and on the same blocks, one ``LogisticRegression`` fit
    at C=1 and the same tolerance (the "one fit" of the target).
``sklearn``
    ``LogisticRegressionCV(Cs=10, cv=5, n_jobs=2)`` in memory (stratified
    folds, one process per fold path).
``spark``
    ``CrossValidator`` over ``regParam = 1/(C n_train)``, ``numFolds=5``,
    ``parallelism=2``, ``local[2]``, the warm run (the cold one first).

Targets (issue 12): dmltk's search in at most 3x one dmltk fit; at least 10x
faster than scikit-learn's and 20x faster than Spark's.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_cv.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python scripts/bench_cv.py --n 200000 --systems dmltk,sklearn --no-wait

(The two OpenBLAS variables are unset because they slow current numpy down.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from dmltk_benchmarks import report, runner, suites
from dmltk_benchmarks.problems import get_problem

SYSTEMS = ("dmltk", "sklearn", "spark")
TARGETS = {"one fit": 3.0, "sklearn": 10.0, "spark": 20.0}
COLUMNS = [
    ("label", "system", ""),
    ("fit_seconds", "search s", ".2f"),
    ("C", "C chosen", ".4g"),
    ("n_iter", "iterations", "d"),
    ("passes", "passes", "d"),
    ("models_per_pass", "models/pass", "d"),
    ("peak_gb", "peak GB", ".2f"),
    ("per_dmltk", "/ dmltk", ".2f"),
    ("other_cores", "others", ".2f"),
]


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2_000_000, help="rows")
    parser.add_argument("--d", type=int, default=100, help="columns")
    parser.add_argument("--blocks", type=int, default=16, help="row blocks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cs", type=int, default=10, help="values of C")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated subset of: {', '.join(SYSTEMS)}",
    )
    suites.add_run_options(parser)
    args = parser.parse_args(argv)
    args.systems = [name.strip() for name in args.systems.split(",")]
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown system(s) {unknown}; systems: {list(SYSTEMS)}")
    return args


def target_lines(rows: list[dict]) -> list[str]:
    """PASS/MISS for each of the issue's three targets."""
    found = {row["label"]: row for row in rows if "error" not in row}
    ours = found.get("dmltk")
    lines = ["targets:"]
    if ours is None:
        return [*lines, "  ----  dmltk not measured"]
    one_fit = ours["fit_seconds"] / ours["single_seconds"]
    verdict = "PASS" if one_fit <= TARGETS["one fit"] else "MISS"
    lines.append(
        f"  {verdict}  search in at most {TARGETS['one fit']:g}x one dmltk fit: "
        f"{ours['fit_seconds']:.2f} s / {ours['single_seconds']:.2f} s "
        f"({ours['single_n_iter']} iterations) = {one_fit:.2f}x"
    )
    for peer in ("sklearn", "spark"):
        if peer not in found:
            lines.append(f"  ----  {TARGETS[peer]:g}x faster than {peer}: not measured")
            continue
        ratio = found[peer]["fit_seconds"] / ours["fit_seconds"]
        verdict = "PASS" if ratio >= TARGETS[peer] else "MISS"
        lines.append(
            f"  {verdict}  at least {TARGETS[peer]:g}x faster than {peer}: "
            f"{found[peer]['fit_seconds']:.2f} s / {ours['fit_seconds']:.2f} s "
            f"= {ratio:.2f}x"
        )
    return lines


def main(argv=None) -> None:
    """Run the chosen systems on one problem; print the table and targets."""
    args = parse_args(argv)
    options = suites.options_from(args, "bench_cv")
    problem = get_problem("binary", args.n, args.d, blocks=args.blocks, seed=args.seed)
    Cs = np.logspace(-4, 4, args.cs).tolist()
    task = {"tol": args.tol, "Cs": Cs, "folds": args.folds}
    runs = [
        runner.Run(system, system, "cv", {"problem": problem.to_json(), **task})
        for system in SYSTEMS
        if system in args.systems
    ]
    rows = runner.run_all(runs, options)
    fitted = [row for row in rows if "error" not in row]
    ours = next((row for row in fitted if row["label"] == "dmltk"), None)
    for row in fitted:
        if ours is not None:
            row["per_dmltk"] = row["fit_seconds"] / ours["fit_seconds"]
    lines = [
        *report.header_lines("dmltk cross-validation benchmark", rows),
        f"data: {problem.name} {args.n} x {args.d} dense float64, "
        f"{args.blocks} row blocks; {len(Cs)} Cs x {args.folds} folds = "
        f"{len(Cs) * args.folds} fits, tol={args.tol:g}, log loss",
        "",
        report.format_table(fitted, COLUMNS),
        "search s: the whole search (every fold path, the scores, the refit); "
        "/ dmltk: search seconds over dmltk's;",
        "passes: dmltk's loss-and-gradient passes over X (each serves every "
        "model still running).",
        "",
        *report.system_notes(rows),
    ]
    if ours is not None:
        lines.append(
            f"dmltk one fit (C=1, tol={args.tol:g}): {ours['single_seconds']:.2f} s, "
            f"{ours['single_n_iter']} iterations"
        )
    lines += ["", *target_lines(rows)]
    print("\n".join(lines))
    if args.json:
        arguments = {k: v for k, v in vars(args).items() if not k.startswith("_")}
        payload = {"arguments": arguments, "versions": report.versions(),
                   "machine": report.machine(), "blas": report.blas_info(),
                   "systems": suites.json_rows(rows)}  # fmt: skip
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
