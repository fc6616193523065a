"""Benchmark dmltk.LogisticRegression against dask-ml, scikit-learn and Spark.

A benchmark, not a test: it fits the same L2-penalised binary logistic
regression (scikit-learn's objective, C=1) on the same synthetic dense data
in every system, each in its own child process, then reports fit time,
iterations, relative gap to the best reference objective, accuracy, peak
memory of the system's process tree and ratios to dmltk; then dmltk's fit
split per evaluation (from its ``fit_stats_``) against one read of X and a
no-op graph of the same shape; then dmltk's targets.

Everything is in the ``dmltk_benchmarks`` package beside this script
(problem ``binary``, suite ``BINARY``).

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench.py --quick
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench.py --spark
    ... scripts/bench.py --quick --zero-mean --dtype float32
    ... scripts/bench.py --wide-sparse --systems dmltk,sklearn

(The two OpenBLAS variables are unset because they slow current numpy down.)
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from dmltk_benchmarks import report, suites
from dmltk_benchmarks.problems import get_problem

QUICK_N = 200_000
WIDE_N, WIDE_D = 1_000_000, 10_000  # issue 9's wide CSR evaluation
SKIPPED_NOTE = "dask-ml admm skipped: 405 s on 2M x 100 here, and it ignores tol."
DEFAULT_SYSTEMS = [name for name in suites.BINARY if name != "spark"]


def targets_for(problem) -> dict:
    """dmltk's targets (issue 9): measured quantity -> (relation, bound).

    One evaluation is compared with one numpy read of X in float64 whatever
    the dtype of X (float32 must beat it); the bounds on scikit-learn and on
    memory depend on the data.
    """
    float32 = problem.dtype == "float32"
    if problem.kind == "sparse":  # the read is of the CSR arrays
        return {"one evaluation / one float64 read": ("<=", 2.0)}
    return {
        "dmltk fit / sklearn fit": ("<=", 0.6 if problem.zero_mean else 0.3),
        "fastest dask-ml fit / dmltk fit": (">=", 8.0),
        "spark warm fit / dmltk fit": (">=", 10.0),
        "one evaluation / one float64 read": ("<=", 0.8 if float32 else 1.5),
        "dmltk peak memory, GB": ("<=", 1.8 if float32 else 3.0),
    }


def measured_targets(rows: list[dict], facts: dict) -> dict:
    """The quantities of ``TARGETS`` that this run measured."""
    by_label = {row["label"]: row for row in rows if "error" not in row}
    dmltk = by_label.get("dmltk")
    if dmltk is None:
        return {}
    fit, found = dmltk["fit_seconds"], {}
    if "sklearn" in by_label:
        found["dmltk fit / sklearn fit"] = fit / by_label["sklearn"]["fit_seconds"]
    dask_ml = [
        row["fit_seconds"] for k, row in by_label.items() if k.startswith("dask-ml")
    ]
    if dask_ml:
        found["fastest dask-ml fit / dmltk fit"] = min(dask_ml) / fit
    if "spark" in by_label:
        found["spark warm fit / dmltk fit"] = by_label["spark"]["fit_seconds"] / fit
    parts = report.evaluation_parts(dmltk)
    read64 = facts.get("numpy_read_float64_seconds") or facts.get("numpy_read_seconds")
    if parts is not None and read64:
        median = statistics.median(parts["evaluation"][1:] or parts["evaluation"])
        found["one evaluation / one float64 read"] = median / read64
    found["dmltk peak memory, GB"] = dmltk["peak_gb"]
    return found


def target_lines(found: dict, targets: dict) -> list[str]:
    """PASS/MISS per target; n/a for those not measured."""
    lines = ["targets:"]
    for label, (relation, bound) in targets.items():
        if label not in found:
            lines.append(f"  n/a   {label} (not measured)")
            continue
        value = found[label]
        passed = value <= bound if relation == "<=" else value >= bound
        verdict = "PASS" if passed else "MISS"
        lines.append(f"  {verdict}  {label}: {value:.3f} (target {relation} {bound:g})")
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=None, help="rows (default 2,000,000)")
    parser.add_argument("--d", type=int, default=None,
                        help="columns (100; 10,000 with --wide-sparse)")  # fmt: skip
    parser.add_argument("--blocks", type=int, default=16, help="row blocks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help=f"n={QUICK_N:,} unless --n"
    )
    parser.add_argument("--spark", action="store_true", help="add Spark MLlib")
    parser.add_argument(
        "--systems",
        default=None,
        help=f"comma-separated subset of: {', '.join(suites.BINARY)}",
    )
    parser.add_argument("--wide-sparse", action="store_true",
                        help="the wide CSR problem instead: 1,000,000 x 10,000, "
                        "30 non-zeros a row (--n and --d apply)")  # fmt: skip
    parser.add_argument("--per-evaluation", action="store_true",
                        help="print dmltk's parts for every evaluation")  # fmt: skip
    suites.add_problem_options(parser)
    suites.add_run_options(parser)
    args = parser.parse_args(argv)
    chosen = DEFAULT_SYSTEMS if args.systems is None else args.systems.split(",")
    chosen = [name.strip() for name in chosen] + (["spark"] if args.spark else [])
    unknown = sorted(set(chosen) - set(suites.BINARY))
    if unknown:
        parser.error(f"unknown system(s) {unknown}; choose from {list(suites.BINARY)}")
    args.systems = [name for name in suites.BINARY if name in chosen]
    return args


def main(argv=None) -> None:
    """Run every chosen system in turn, then score, print and check."""
    args = parse_args(argv)
    n = args.n if args.n is not None else (QUICK_N if args.quick else None)
    if args.wide_sparse:
        problem = get_problem("wide-sparse", n or WIDE_N, args.d or WIDE_D,
                              blocks=args.blocks, seed=args.seed,
                              dtype=args.dtype)  # fmt: skip
    else:
        problem = get_problem("binary", n, args.d or 100, blocks=args.blocks,
                              seed=args.seed, dtype=args.dtype,
                              zero_mean=args.zero_mean)  # fmt: skip
    options = suites.options_from(args, "bench")
    runs = suites.fit_runs(problem, suites.BINARY, args.systems)
    rows, facts = suites.run_fits(problem, runs, options, numpy_read=True)
    dmltk = next((r for r in rows if r["label"] == "dmltk" and "error" not in r), None)
    found = measured_targets(rows, facts)
    lines = [
        *suites.fit_report("LogisticRegression benchmark", rows,
                           suites.data_lines(problem, facts, rows)),
        SKIPPED_NOTE,
        "",
        *report.evaluation_lines(dmltk, facts.get("numpy_read_seconds"),
                                 args.per_evaluation),
        "",
        *target_lines(found, targets_for(problem)),
    ]  # fmt: skip
    print("\n".join(lines))
    if args.json:
        payload = {
            "problem": problem.to_json(),
            "versions": report.versions(),
            "machine": report.machine(),
            "blas": report.blas_info(),
            "data": facts,
            "systems": suites.json_rows(rows),
            "targets": found,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
