"""Benchmark dmltk's regressors against scikit-learn, dask-ml and Spark MLlib.

A benchmark, not a test. One registered problem of ``dmltk_benchmarks`` per
family, 1,000,000 x 50 dense float64 by default (block ``i`` from
``default_rng([seed, i])``, its targets from ``default_rng([seed, i, 1])``),
fed identically to every system, each system in its own child process:

``squared-error``
    y = linear predictor + normal noise. dmltk ``Ridge``; scikit-learn
    ``Ridge`` (its direct solve: ``sklearn-ridge``) and lbfgs on the same
    objective (``TweedieRegressor(power=0)``); dask-ml ``LinearRegression``;
    Spark ``LinearRegression``.
``poisson``, ``gamma``, ``tweedie``
    y drawn from the family (Tweedie power 1.5: compound Poisson-Gamma)
    around ``exp(linear predictor)``. dmltk and scikit-learn
    ``PoissonRegressor`` / ``GammaRegressor`` / ``TweedieRegressor`` (lbfgs),
    dask-ml ``PoissonRegression`` (Poisson only), Spark
    ``GeneralizedLinearRegression`` (IRLS).

Every system minimises ``mean half deviance + alpha/2 ||w||^2`` (scikit-
learn's GLM objective; Ridge's divided by 2n), its parameters translated by
its adapter; every fit is then scored in the parent on one numpy function,
``dmltk_benchmarks.objectives.regression_objective``: relative gap to the
best, D^2, peer / dmltk fit seconds, and the issue's targets.

Usage::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_glm.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python scripts/bench_glm.py --n 20000 --families poisson --no-wait

(The two OpenBLAS variables are unset because they slow current numpy down.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dmltk_benchmarks import report, suites
from dmltk_benchmarks.problems import REGRESSION_ALPHA, get_problem

PEERS = ("sklearn", "dask-ml", "spark")
# Issue targets: dmltk (tol 1e-6) ahead of the fastest run of every peer on
# every family, and this many times faster than dask-ml's.
DASK_ML_FACTOR = 5.0
CANNOT = {
    "dask-ml": "dask-glm has no {family} family (Logistic, Normal and Poisson "
    "only): not run",
}
COLUMNS = [
    ("problem", "family", ""),
    ("label", "system", ""),
    ("fit_seconds", "fit s", ".2f"),
    ("n_iter", "iters", "d"),
    ("objective", "objective", ".10g"),
    ("gap", "rel gap", ".1e"),
    ("d2", "D2", ".4f"),
    ("peak_gb", "peak GB", ".2f"),
    ("fit_peak_gb", "fit peak GB", ".2f"),
    ("per_dmltk", "/ dmltk", ".2f"),
    ("other_cores", "others", ".2f"),
]
LEGEND = [
    "objective: mean half deviance + alpha/2 ||w||^2 in float64 numpy from each "
    "system's coefficients (dmltk_benchmarks.objectives);",
    "rel gap: to the best objective of any system on that family; D2: share of "
    "the deviance explained; / dmltk: fit seconds over dmltk's;",
    "peak GB: resident memory of the system's whole process tree; others: cores "
    "used by other processes while it was timed; iters '-': a direct solve.",
]


def _system(label: str) -> str:
    return next(peer for peer in ("dmltk", *PEERS) if label.startswith(peer))


def objective_notes(rows: list[dict], problems: dict) -> list[str]:
    """Where a peer's own objective is not the reference one, and by how much."""
    lines = []
    for row in rows:
        if "error" in row or row["system"] != "dask-ml":
            continue
        problem = problems[row["problem"]]
        extra = 0.5 * problem.alpha * row["intercept"][0] ** 2
        if "newton" in row["label"]:
            lines.append(
                f"  {row['problem']}/{row['label']}: fits NO penalty (dask-ml's "
                "newton drops C): not the reference objective"
            )
            continue
        lines.append(
            f"  {row['problem']}/{row['label']}: penalises its intercept too: its "
            f"objective is the reference + alpha/2 b^2 = {extra:.3g} "
            f"({extra / row['objective']:.1e} relative; what its optimum loses "
            "on the reference is its rel gap)"
        )
    return lines


def cannot_lines(problems: dict, systems: list[str]) -> list[str]:
    """Peers asked for that cannot express a family's objective."""
    lines = []
    for name, problem in problems.items():
        present = {_system(label) for label in suites.GLM[name]}
        for system in systems:
            if system not in present and system in CANNOT:
                note = CANNOT[system].format(family=problem.family)
                lines.append(f"  {name}/{system}: {note}")
    return lines


def ratio_lines(rows: list[dict]) -> list[str]:
    """Each run's fit seconds over dmltk's on the same family."""
    fitted = [row for row in rows if "error" not in row]
    lines = ["ratios (fit s / dmltk fit s, same family; > 1: dmltk faster):"]
    for name in suites.GLM:
        ours = next((r for r in fitted if r["problem"] == name and r["label"] ==
                     "dmltk"), None)  # fmt: skip
        if ours is None:
            continue
        parts = [
            f"{row['label']} {row['fit_seconds'] / ours['fit_seconds']:.2f}"
            for row in fitted
            if row["problem"] == name and row["label"] != "dmltk"
        ]
        lines.append(f"  {name}: " + ", ".join(parts))
    return lines


def target_lines(rows: list[dict], families: list[str]) -> list[str]:
    """PASS/MISS: dmltk ahead of each peer's fastest run; DASK_ML_FACTOR x dask-ml."""
    fitted = [row for row in rows if "error" not in row]
    lines = [
        "targets (dmltk at tol 1e-6 against the fastest run of each peer; "
        f"dask-ml at least {DASK_ML_FACTOR:g}x slower):"
    ]
    for name in families:
        ours = next((r for r in fitted if r["problem"] == name and r["label"] ==
                     "dmltk"), None)  # fmt: skip
        for peer in PEERS:
            runs = [
                r for r in fitted
                if r["problem"] == name and r["system"] == peer
            ]  # fmt: skip
            if not any(_system(label) == peer for label in suites.GLM[name]):
                lines.append(f"  ----  {name}: {peer} cannot fit this family")
                continue
            if ours is None or not runs:
                lines.append(f"  ----  {name}: ahead of {peer}: not measured")
                continue
            best = min(runs, key=lambda r: r["fit_seconds"])
            factor = DASK_ML_FACTOR if peer == "dask-ml" else 1.0
            ratio = best["fit_seconds"] / ours["fit_seconds"]
            verdict = "PASS" if ratio > factor else "MISS"
            goal = f"{factor:g}x faster than" if factor > 1 else "ahead of"
            lines.append(
                f"  {verdict}  {name}: {goal} {peer} ({best['label']} "
                f"{best['fit_seconds']:.2f} s, gap {best['gap']:.1e}): dmltk "
                f"{ours['fit_seconds']:.2f} s, gap {ours['gap']:.1e}, ratio {ratio:.2f}"
            )
    return lines


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options."""
    labels = list(dict.fromkeys(label for suite in suites.GLM.values()
                                for label in suite))  # fmt: skip
    default = [label for label in labels if label not in suites.GLM_EXTRAS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="rows")
    parser.add_argument("--d", type=int, default=50, help="columns")
    parser.add_argument("--blocks", type=int, default=16, help="row blocks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--alpha",
        type=float,
        default=REGRESSION_ALPHA,
        help="L2 strength of the normalised objective (scikit-learn's GLM "
        f"alpha; Ridge's is alpha * n); default {REGRESSION_ALPHA:g}",
    )
    parser.add_argument(
        "--families",
        default=",".join(suites.GLM),
        help=f"comma-separated subset of: {', '.join(suites.GLM)}",
    )
    parser.add_argument(
        "--systems",
        default=",".join(default),
        help=f"comma-separated subset of: {', '.join(labels)} (the last "
        f"{len(suites.GLM_EXTRAS)} only when named)",
    )
    suites.add_problem_options(parser)
    suites.add_run_options(parser)
    args = parser.parse_args(argv)
    args.families = [name.strip() for name in args.families.split(",")]
    args.systems = [name.strip() for name in args.systems.split(",")]
    unknown = sorted(set(args.families) - set(suites.GLM)) + sorted(
        set(args.systems) - set(labels)
    )
    if unknown:
        parser.error(f"unknown family(ies) or system(s) {unknown}; families: "
                     f"{list(suites.GLM)}, systems: {labels}")  # fmt: skip
    return args


def main(argv=None) -> None:
    """Run every chosen system on every chosen family; score, print, check."""
    args = parse_args(argv)
    options = suites.options_from(args, "bench_glm")
    families = [name for name in suites.GLM if name in args.families]
    rows, facts, data, problems = [], {}, [], {}
    for name in families:
        problem = get_problem(name, args.n, args.d, blocks=args.blocks,
                              seed=args.seed, dtype=args.dtype,
                              zero_mean=args.zero_mean, alpha=args.alpha)  # fmt: skip
        problems[name] = problem
        variants = suites.GLM[name]
        chosen = [label for label in variants if label in args.systems]
        problem_rows, facts[name] = suites.run_fits(
            problem, suites.fit_runs(problem, variants, chosen), options
        )
        for row in problem_rows:
            row["problem"] = name
        data += suites.data_lines(problem, facts[name], problem_rows)
        rows += problem_rows
    fitted = [row for row in rows if "error" not in row]
    systems = sorted({_system(label) for label in args.systems})
    lines = [
        *report.header_lines("dmltk GLM benchmark", rows),
        *data,
        "",
        report.format_table(fitted, COLUMNS),
        *LEGEND,
        "",
        *report.system_notes(
            [{**row, "label": f"{row['problem']}/{row['label']}"} for row in rows]
        ),
        "",
        "not the reference objective, or not expressible:",
        *(objective_notes(rows, problems) + cannot_lines(problems, systems)
          or ["  (none)"]),
        "",
        *ratio_lines(rows),
        "",
        *target_lines(rows, families),
    ]  # fmt: skip
    print("\n".join(lines))
    if args.json:
        arguments = {k: v for k, v in vars(args).items() if not k.startswith("_")}
        payload = {"arguments": arguments, "versions": report.versions(),
                   "machine": report.machine(), "blas": report.blas_info(),
                   "data": facts, "systems": suites.json_rows(rows)}  # fmt: skip
        Path(args.json).write_text(json.dumps(payload, indent=2, default=float))


if __name__ == "__main__":
    main()
