"""The benchmarks of ``scripts/``, as data: which systems run with which
settings, plus the command-line options and report pieces they share.

``scripts/bench.py``, ``bench_features.py``, ``bench_glm.py``,
``bench_layouts.py``, ``bench_read.py`` and ``bench_workflow.py`` are thin
wrappers over this.
"""

from __future__ import annotations

import argparse

import numpy as np

from . import monitor, report, runner, timing
from .problems import Problem

REFERENCE_TOL = 1e-6

# label -> (system, settings), run in this order.
BINARY = {
    "dmltk": ("dmltk", {"tol": REFERENCE_TOL, "baselines": True}),
    "dmltk-tol1e-4": ("dmltk", {"tol": 1e-4}),
    "dask-ml-newton": ("dask-ml", {"solver": "newton"}),
    "dask-ml-lbfgs": ("dask-ml", {"solver": "lbfgs"}),
    "sklearn": ("sklearn", {"tol": REFERENCE_TOL}),
    "sklearn-tol1e-4": ("sklearn", {"tol": 1e-4}),
    "spark": ("spark", {"tol": REFERENCE_TOL}),
}
FEATURES = {
    "multinomial": {
        "dmltk": ("dmltk", {"solver": "lbfgs", "tol": REFERENCE_TOL}),
        "dmltk-tol1e-4": ("dmltk", {"solver": "lbfgs", "tol": 1e-4}),
        "sklearn": ("sklearn", {"solver": "lbfgs", "tol": REFERENCE_TOL}),
        "sklearn-tol1e-4": ("sklearn", {"solver": "lbfgs", "tol": 1e-4}),
        "spark": ("spark", {"tol": REFERENCE_TOL}),
    },
    "l1": {
        "dmltk": ("dmltk", {"solver": "owlqn", "tol": REFERENCE_TOL}),
        "dmltk-tol1e-4": ("dmltk", {"solver": "owlqn", "tol": 1e-4}),
        # Columns are centred and of unit-ish scale: saga is not handicapped.
        "sklearn-saga": ("sklearn", {"solver": "saga", "tol": 1e-4}),
        "spark": ("spark", {"tol": REFERENCE_TOL}),
    },
}


def _glm_suite(problem: str) -> dict:
    """The runs of one regression problem (``bench_glm.py``).

    scikit-learn's ``Ridge`` has no lbfgs without ``positive=True``: its
    default direct solve runs as ``sklearn-ridge``, and lbfgs on the same
    objective as ``sklearn`` (``TweedieRegressor(power=0)``). dask-ml has
    the squared error and Poisson families only, and PEERS.md's lbfgs (its
    newton drops the penalty, admm ignores tol).
    """
    suite = {"dmltk": ("dmltk", {"tol": REFERENCE_TOL})}
    if problem == "squared-error":
        suite["sklearn-ridge"] = ("sklearn", {"solver": "auto", "tol": REFERENCE_TOL})
    suite["sklearn"] = ("sklearn", {"solver": "lbfgs", "tol": REFERENCE_TOL})
    if problem in ("squared-error", "poisson"):
        suite["dask-ml"] = ("dask-ml", {"solver": "lbfgs", "tol": REFERENCE_TOL})
    suite["spark"] = ("spark", {"tol": REFERENCE_TOL})
    # Not run unless named (--systems): other solvers of the same systems.
    suite["dmltk-newton"] = ("dmltk", {"solver": "newton", "tol": REFERENCE_TOL})
    suite["sklearn-newton-cholesky"] = (
        "sklearn", {"solver": "newton-cholesky", "tol": REFERENCE_TOL}
    )  # fmt: skip
    if problem in ("squared-error", "poisson"):
        suite["dask-ml-newton"] = ("dask-ml", {"solver": "newton"})
    return suite


GLM = {name: _glm_suite(name) for name in ("squared-error", "poisson", "gamma",
                                           "tweedie")}  # fmt: skip
GLM_EXTRAS = ("dmltk-newton", "sklearn-newton-cholesky", "dask-ml-newton")

FIT_COLUMNS = [
    ("label", "system", ""),
    ("fit_seconds", "fit s", ".2f"),
    ("n_iter", "iters", "d"),
    ("gap", "rel gap", ".1e"),
    ("zeros", "zeros", "d"),
    ("accuracy", "accuracy", ".4f"),
    ("peak_gb", "peak GB", ".2f"),
    ("fit_peak_gb", "fit peak GB", ".2f"),
    ("per_dmltk", "/ dmltk", ".2f"),
    ("other_cores", "others", ".2f"),
]
FIT_LEGEND = [
    "rel gap: to the best reference objective (dmltk._testing, float64) of any "
    "system on that problem; zeros: exact zeros in coef;",
    "peak GB: resident memory of the system's whole process tree; others: "
    "cores used by other processes while it was timed.",
]


def fit_runs(problem: Problem, variants: dict, labels: list[str]) -> list[runner.Run]:
    """A ``fit`` run of ``problem`` for each chosen label of ``variants``."""
    return [
        runner.Run(label, system, "fit", {"problem": problem, **settings})
        for label, (system, settings) in variants.items()
        if label in labels
    ]


def run_fits(problem: Problem, runs: list[runner.Run], options: runner.Options,
             numpy_read: bool = False) -> tuple[list[dict], dict]:  # fmt: skip
    """Run, then score on the in-memory data; ``(rows, facts)``.

    ``numpy_read``: also time one read of the in-memory X (2 threads).
    """
    rows = runner.run_all(runs, options)
    options.log(f"scoring {problem.name} on the in-memory data ...")
    facts = runner.score_fits(problem, rows)
    if numpy_read:
        if options.wait:
            monitor.wait_until_quiet(
                monitor.QUIET_CORES, options.quiet_wait, options.log
            )
        X, _ = problem.numpy_data()
        if problem.kind == "sparse":  # its data, indices and indptr, once
            facts["numpy_read_seconds"] = timing.csr_read_seconds(X)
            return rows, facts
        facts["numpy_read_seconds"] = timing.numpy_read_seconds(X)
        if X.dtype != np.float64:  # the yardstick of the targets is float64
            X = X.astype(np.float64)
            facts["numpy_read_float64_seconds"] = timing.numpy_read_seconds(X)
    return rows, facts


def _problem_lines(problem: Problem, facts: dict) -> list[str]:
    shape = (
        f"{problem.name}: n={problem.n:,} d={problem.d} blocks={problem.blocks} "
        f"seed={problem.seed} dtype={problem.dtype} zero_mean={problem.zero_mean} "
        f"layout={problem.layout}"
    )
    size = f"({problem.nbytes / 1e9:.2f} GB of X)"
    if problem.is_regression:
        return [
            f"{shape} family={problem.family} power={problem.power:g} "
            f"alpha={problem.alpha:.3g} {size}",
            f"  y mean {facts['y_mean']:.4f}, zeros {facts['y_zero_share']:.3f}; "
            f"true model D2 {facts['true_model_d2']:.4f}, objective "
            f"{facts['true_model_objective']:.10g}; best objective "
            f"{facts['best_objective']:.10g}",
        ]
    return [
        f"{shape} C={problem.C:.3g} l1_ratio={problem.l1_ratio:g} "
        f"classes={problem.classes} {size}",
        f"  class shares {facts['class_shares']}, true-model accuracy "
        f"{facts.get('true_model_accuracy', float('nan')):.4f}, best objective "
        f"{facts['best_objective']:.10g}",
    ]


def data_lines(problem: Problem, facts: dict, rows: list[dict]) -> list[str]:
    """Facts about one problem's data, and whether the cluster held the same."""
    lines = _problem_lines(problem, facts)
    for row in rows:
        same = runner.same_data(row, facts)
        if same is not None:
            verdict = "same (sums agree)" if same else f"DIFFER: {row['checksums']}"
            lines.append(f"  data on the cluster ({row['label']}): {verdict}")
    far = [row["label"] for row in rows if row.get("gap", 0) > 1e-6]
    if far:
        lines.append(f"  NOTE: not within 1e-6 of the best objective: {', '.join(far)}")
    return lines


def add_run_options(parser: argparse.ArgumentParser, json: bool = True) -> None:
    """The options every child-process benchmark takes (``--json`` if it
    writes one)."""
    if json:
        parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="reruns of a system whose timing others disturbed",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="seconds to wait, before each timing, for other work "
        f"on the machine to drop below {monitor.QUIET_CORES} cores",
    )
    parser.add_argument("--no-wait", action="store_true",
                        help="never wait for a quiet machine (smoke runs)")  # fmt: skip


def add_problem_options(parser: argparse.ArgumentParser) -> None:
    """``--dtype`` and ``--zero-mean``: variants of any dense problem."""
    parser.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="dtype of X as every system receives it",
    )
    parser.add_argument("--zero-mean", action="store_true",
                        help="centre the columns and correlate each with its left "
                        "neighbour (X[:, 1:] += 0.3 * X[:, :-1])")  # fmt: skip


def options_from(args: argparse.Namespace, name: str) -> runner.Options:
    """Runner options from the parsed command line."""
    import sys

    return runner.Options(
        retries=args.retries, quiet_wait=args.quiet_wait, wait=not args.no_wait,
        log=lambda message: print(f"[{name}] {message}", file=sys.stderr, flush=True),
    )  # fmt: skip


def fit_report(title: str, rows: list[dict], data: list[str]) -> list[str]:
    """Header, data facts, the table with ratios to dmltk, notes."""
    fitted = [row for row in rows if "error" not in row]
    return [
        *report.header_lines(title, rows),
        *data,
        "",
        report.format_table(fitted, FIT_COLUMNS),
        *FIT_LEGEND,
        "",
        *report.system_notes(rows),
    ]


def json_rows(rows: list[dict]) -> list[dict]:
    """Rows without coefficients and log tails, for ``--json``."""
    drop = {"coef", "log_tail", "fit_start", "fit_end"}
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]
