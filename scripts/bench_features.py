"""Benchmark dmltk's multinomial and L1 fits against scikit-learn and Spark MLlib.

A benchmark, not a test. Two registered problems of ``dmltk_benchmarks``
(block ``i`` from ``default_rng([seed, i])``), fed identically to every
system, each system in its own child process:

``multinomial``
    1,000,000 x 50 dense, 10 classes drawn from the softmax of ``X @ W_true``,
    C=1, l1_ratio=0. dmltk ``solver="lbfgs"``, scikit-learn lbfgs, Spark
    MLlib ``family="multinomial"``.
``l1``
    1,000,000 x 50 dense binary, half of the true weights zero, l1_ratio=1 and
    ``C = 1/sqrt(n)`` (zeroes the irrelevant half at any n). dmltk
    ``solver="owlqn"``, scikit-learn saga, Spark ``elasticNetParam=1``.

Every fit is scored in the parent on ``dmltk._testing.sklearn_objective``
(L1 term included): relative gap to the best, exact zeros, accuracy.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_features.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python scripts/bench_features.py --rows 50000 --systems sklearn,spark

(The two OpenBLAS variables are unset because they slow current numpy down.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmltk_benchmarks import report, suites
from dmltk_benchmarks.problems import get_problem

FAMILIES = ("dmltk", "sklearn", "spark")
# The targets of issue 5, as (problem, peer's reference run): dmltk's fit at
# tol 1e-6 must be faster.
TARGETS = (("multinomial", "sklearn"), ("multinomial", "spark"), ("l1", "spark"))
PAIRS = [
    ("dmltk", "sklearn"),
    ("dmltk-tol1e-4", "sklearn-tol1e-4"),
    ("dmltk-tol1e-4", "sklearn-saga"),
    ("dmltk", "spark"),
    ("dmltk-tol1e-4", "spark"),
]


def ratio_lines(rows: list[dict]) -> list[str]:
    """Each peer's fit time over dmltk's, per problem, and the targets."""
    fitted = {(r["problem"], r["label"]): r for r in rows if "error" not in r}
    lines = ["ratios (peer fit s / dmltk fit s, same problem; > 1: dmltk faster):"]
    for problem in suites.FEATURES:
        for ours, peer in PAIRS:
            if (problem, ours) in fitted and (problem, peer) in fitted:
                ratio = (
                    fitted[problem, peer]["fit_seconds"]
                    / fitted[problem, ours]["fit_seconds"]
                )
                lines.append(f"  {problem}: {peer} / {ours} = {ratio:.2f}")
    lines.append("targets (issue 5; dmltk at tol 1e-6 vs the peer's reference fit):")
    for problem, peer in TARGETS:
        ours, theirs = fitted.get((problem, "dmltk")), fitted.get((problem, peer))
        if ours is None or theirs is None:
            lines.append(f"  ----  {problem}: ahead of {peer}: not measured")
            continue
        verdict = "PASS" if ours["fit_seconds"] < theirs["fit_seconds"] else "MISS"
        lines.append(
            f"  {verdict}  {problem}: ahead of {peer} ({theirs['fit_seconds']:.2f} s,"
            f" gap {theirs['gap']:.1e}): dmltk {ours['fit_seconds']:.2f} s, gap "
            f"{ours['gap']:.1e}"
        )
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows n")
    parser.add_argument("--d", type=int, default=50, help="columns")
    parser.add_argument("--classes", type=int, default=10, help="multinomial classes")
    parser.add_argument("--blocks", type=int, default=16, help="row blocks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--problems",
        default=",".join(suites.FEATURES),
        help=f"comma-separated subset of: {', '.join(suites.FEATURES)}",
    )
    parser.add_argument(
        "--systems",
        default=",".join(FAMILIES),
        help=f"comma-separated subset of: {', '.join(FAMILIES)}",
    )
    suites.add_problem_options(parser)
    suites.add_run_options(parser)
    args = parser.parse_args(argv)
    args.problems = [name.strip() for name in args.problems.split(",")]
    args.systems = [name.strip() for name in args.systems.split(",")]
    unknown = sorted(set(args.problems) - set(suites.FEATURES)) + sorted(
        set(args.systems) - set(FAMILIES)
    )
    if unknown:
        parser.error(f"unknown problem(s) or system(s) {unknown}; problems: "
                     f"{list(suites.FEATURES)}, systems: {list(FAMILIES)}")  # fmt: skip
    return args


def main(argv=None) -> None:
    """Run every chosen system on every chosen problem; score, print, check."""
    args = parse_args(argv)
    options = suites.options_from(args, "bench_features")
    rows, facts, data = [], {}, []
    for name in (p for p in suites.FEATURES if p in args.problems):
        extra = {"classes": args.classes} if name == "multinomial" else {}
        problem = get_problem(name, args.rows, args.d, blocks=args.blocks,
                              seed=args.seed, dtype=args.dtype,
                              zero_mean=args.zero_mean, **extra)  # fmt: skip
        variants = suites.FEATURES[name]
        labels = [k for k, (system, _) in variants.items() if system in args.systems]
        problem_rows, facts[name] = suites.run_fits(
            problem, suites.fit_runs(problem, variants, labels), options
        )
        for row in problem_rows:
            row["problem"] = name
        data += suites.data_lines(problem, facts[name], problem_rows)
        rows += problem_rows
    columns = [("problem", "problem", ""), *suites.FIT_COLUMNS]
    fitted = [row for row in rows if "error" not in row]
    lines = [
        *report.header_lines("dmltk features benchmark", rows),
        *data,
        "",
        report.format_table(fitted, columns),
        *suites.FIT_LEGEND,
        "",
        *report.system_notes(rows),
        "",
        *ratio_lines(rows),
    ]
    print("\n".join(lines))
    if args.json:
        arguments = {k: v for k, v in vars(args).items() if not k.startswith("_")}
        payload = {"arguments": arguments, "versions": report.versions(),
                   "machine": report.machine(), "blas": report.blas_info(),
                   "data": facts, "systems": suites.json_rows(rows)}  # fmt: skip
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
