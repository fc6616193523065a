"""Benchmark dmltk's LassoCV and RidgeCV against one dmltk fit and
scikit-learn's LassoCV and RidgeCV.

A benchmark, not a test. The ``squared-error`` problem of
``dmltk_benchmarks`` (1,000,000 x 50 dense float64 by default, block ``i``
from ``default_rng([seed, i])``), fed identically to both systems, each in
its own child process:

``lasso`` (default)
    ``LassoCV(alphas=100, cv=5)`` at ``tol=1e-4``: dmltk on its 2 x 1
    cluster (hashed folds; on whole rows, one pass over X sums every fold's
    normal equations, and the paths run by coordinate descent on them),
    then one ``Lasso`` fit at the chosen alpha on the same blocks;
    scikit-learn in memory with ``n_jobs=2`` (its "auto" precomputes each
    fold's Gram matrix, the fastest it has for more rows than columns).
``ridge``
    ``RidgeCV`` over 10 alphas from 1e-3 to 1e6, ``--folds 0`` for
    scikit-learn's default leave-one-out (dmltk: two passes), else
    ``cv=folds`` (one pass).

The tolerances mean different things (dmltk: the pseudo-gradient;
scikit-learn: the duality gap), so the table shows the chosen alpha and the
held-out error of both.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_regression_cv.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python scripts/bench_regression_cv.py --search ridge --folds 0 --no-wait

(The two OpenBLAS variables are unset because they slow current numpy down.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from dmltk_benchmarks import report, runner, suites
from dmltk_benchmarks.problems import get_problem

SYSTEMS = ("dmltk", "sklearn")
COLUMNS = [
    ("label", "system", ""),
    ("fit_seconds", "search s", ".2f"),
    ("alpha", "alpha chosen", ".4g"),
    ("held_out", "held-out error", ".6g"),
    ("passes", "passes", "d"),
    ("peak_gb", "peak GB", ".2f"),
    ("per_dmltk", "/ dmltk", ".2f"),
    ("other_cores", "others", ".2f"),
]


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--search", choices=("lasso", "ridge"), default="lasso")
    parser.add_argument("--n", type=int, default=1_000_000, help="rows")
    parser.add_argument("--d", type=int, default=50, help="columns")
    parser.add_argument("--blocks", type=int, default=16, help="row blocks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--alphas", type=int, default=100, help="LassoCV's alphas")
    parser.add_argument("--folds", type=int, default=5, help="0: leave-one-out")
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
    if args.search == "lasso" and args.folds < 2:
        parser.error("LassoCV needs --folds of at least 2")
    return args


def main(argv=None) -> None:
    """Run the chosen systems on one problem; print the table."""
    args = parse_args(argv)
    options = suites.options_from(args, "bench_regression_cv")
    problem = get_problem(
        "squared-error", args.n, args.d, blocks=args.blocks, seed=args.seed
    )
    alphas = args.alphas if args.search == "lasso" else np.logspace(-3, 6, 10).tolist()
    task = {"search": args.search, "alphas": alphas, "folds": args.folds,
            "tol": args.tol}  # fmt: skip
    runs = [
        runner.Run(system, system, "regression_cv",
                   {"problem": problem.to_json(), **task})
        for system in SYSTEMS
        if system in args.systems
    ]  # fmt: skip
    rows = runner.run_all(runs, options)
    fitted = [row for row in rows if "error" not in row]
    ours = next((row for row in fitted if row["label"] == "dmltk"), None)
    for row in fitted:
        if ours is not None:
            row["per_dmltk"] = row["fit_seconds"] / ours["fit_seconds"]
    name = "LassoCV" if args.search == "lasso" else "RidgeCV"
    folds = f"{args.folds} folds" if args.folds else "leave-one-out"
    grid = f"{args.alphas} alphas" if args.search == "lasso" else "10 alphas"
    lines = [
        *report.header_lines(f"dmltk {name} benchmark", rows),
        f"data: {problem.name} {args.n} x {args.d} dense float64, "
        f"{args.blocks} row blocks; {grid} x {folds}, tol={args.tol:g}",
        "",
        report.format_table(fitted, COLUMNS),
        "search s: the whole search (every fold path, the scores, the refit); "
        "held-out error: the least mean squared error over folds (Lasso) or "
        "the best score (Ridge); passes: dmltk's passes over X.",
        "",
        *report.system_notes(rows),
    ]
    if ours is not None:
        ratio = ours["fit_seconds"] / ours["single_seconds"]
        lines.append(
            f"dmltk one fit at the chosen alpha: {ours['single_seconds']:.2f} s "
            f"(the search is {ratio:.2f}x it)"
        )
    print("\n".join(lines))
    if args.json:
        arguments = {k: v for k, v in vars(args).items() if not k.startswith("_")}
        payload = {"arguments": arguments, "versions": report.versions(),
                   "machine": report.machine(), "blas": report.blas_info(),
                   "systems": suites.json_rows(rows)}  # fmt: skip
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
