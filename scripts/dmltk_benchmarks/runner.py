"""One runner for every benchmark: a child process per system, memory
sampled, an optional wait for a quiet machine, reruns when disturbed.

A :class:`Run` says which system does which task (``fit``, ``read`` or
``workflow``) with which arguments; :func:`run_all` runs them one after the
other and returns one row (a dict) per run. :func:`score_fits` then judges
every fit on one reference objective: :func:`dmltk._testing.sklearn_objective`
for classification, :func:`dmltk_benchmarks.objectives.regression_objective`
for regression.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import monitor, objectives
from .problems import Problem

GB = 1e9
SCRIPTS = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    """One system's run: ``label`` in the table, adapter ``system``, ``task``
    (a function of the adapter) and its keyword arguments."""

    label: str
    system: str
    task: str
    kwargs: dict = field(default_factory=dict)


@dataclass
class Options:
    """How to run: reruns of a disturbed timing, the quiet wait, a timeout.

    ``wait=False`` (``--no-wait``) never waits for a quiet machine.
    """

    retries: int = 2
    quiet_wait: float = 300.0
    wait: bool = True
    timeout: float = 3600.0
    log: Callable[[str], None] = field(
        default=lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True)
    )


def _child_env() -> dict:
    # The child, and the Dask workers it spawns, import this package.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(SCRIPTS), env.get("PYTHONPATH")) if part
    )
    return env


def _spec(run: Run) -> dict:
    kwargs = {
        key: (value.to_json() if isinstance(value, Problem) else
              str(value) if isinstance(value, Path) else value)
        for key, value in run.kwargs.items()
    }  # fmt: skip
    return {"system": run.system, "task": run.task, "kwargs": kwargs}


def _spawn(specs: list[dict], workdir: Path, timeout: float):
    """Run ``specs`` in one child process while sampling its process tree.

    Returns ``(results or None, log tail, sampler, wall seconds)``.
    """
    stem = workdir / f"{len(list(workdir.iterdir()))}-{specs[0]['system']}"
    spec_path, result_path, log_path = (
        stem.with_suffix(suffix) for suffix in (".in", ".json", ".log")
    )
    spec_path.write_text(json.dumps(specs))
    module = f"{__package__}.child"
    command = [sys.executable, "-m", module, str(spec_path), str(result_path)]
    start = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                 env=_child_env())  # fmt: skip
        with monitor.TreeSampler(child.pid) as sampler:
            code = child.wait(timeout=timeout)
    seconds = time.perf_counter() - start
    if code != 0 or not result_path.exists():
        tail = [f"exit code {code}", *log_path.read_text().strip().splitlines()[-15:]]
        return None, tail, sampler, seconds
    return json.loads(result_path.read_text()), [], sampler, seconds


def _row(run: Run, result: dict | None, tail: list, sampler, seconds: float):
    """The run's result plus ``child_seconds``, ``peak_gb`` (the whole tree),
    ``fit_peak_gb`` and ``other_cores`` (CPU used by anything else while it
    was timed); or ``error`` and ``log_tail``."""
    row = {"label": run.label, "system": run.system, "task": run.task,
           "child_seconds": seconds}  # fmt: skip
    if result is None:
        return {**row, "error": tail[0], "log_tail": tail[1:]}
    row.update(result)
    first, last = row.get("fit_start"), row.get("timed_end", row.get("fit_end"))
    row["peak_gb"] = sampler.peak_rss() / GB
    if first is not None:
        row["fit_peak_gb"] = sampler.peak_rss(first, row["fit_end"]) / GB
    row["other_cores"] = sampler.other_cores(first, last)
    return row


def run_child(run: Run, workdir: Path, timeout: float = 3600.0) -> dict:
    """Run ``run`` alone in a child process; its row (see :func:`_row`)."""
    results, tail, sampler, seconds = _spawn([_spec(run)], workdir, timeout)
    return _row(run, results and results[0], tail, sampler, seconds)


def run_in_one_child(runs: list[Run], workdir: Path, timeout: float = 600.0):
    """Run several runs one after the other in a single child process.

    For the golden-master test, where process start-up would dominate: the
    rows' ``peak_gb`` and ``child_seconds`` are then the whole child's.
    """
    results, tail, sampler, seconds = _spawn([_spec(r) for r in runs], workdir, timeout)
    results = results or [None] * len(runs)
    return [
        _row(run, result, tail, sampler, seconds)
        for run, result in zip(runs, results, strict=True)
    ]


def run_undisturbed(run: Run, workdir: Path, options: Options) -> dict:
    """Run ``run``; rerun it while other processes disturbed its timing.

    Waits for a quiet machine before each attempt (unless ``options.wait``
    is false); keeps the least disturbed of at most ``1 + retries`` attempts.
    """
    attempts = []
    for number in range(1 + options.retries):
        if options.wait:
            monitor.wait_until_quiet(
                monitor.QUIET_CORES, options.quiet_wait, options.log
            )
        options.log(f"{run.label} (attempt {number + 1}) ...")
        row = run_child(run, workdir, options.timeout)
        if "error" in row:
            options.log(f"{run.label}: {row['error']}")
            return row
        row["attempt"] = number + 1
        attempts.append(row)
        options.log(f"{run.label}: {describe(row)}")
        if not row["other_cores"] > monitor.QUIET_CORES:
            break
    kept = min(attempts, key=lambda row: np.nan_to_num(row["other_cores"]))
    kept["attempts_made"] = len(attempts)
    return kept


def describe(row: dict) -> str:
    """One line about a finished run, for the log."""
    parts = [f"child {row['child_seconds']:.1f} s"]
    if "fit_seconds" in row:
        fit = f"fit {row['fit_seconds']:.2f} s"
        if "n_iter" in row:  # a search (Spark's CrossValidator) may not say
            steps = row["n_iter"]
            fit += ", a direct solve" if steps is None else f", {steps} iterations"
        parts.insert(0, fit)
    parts.append(f"others used {row['other_cores']:.2f} cores")
    return ", ".join(parts)


def run_all(runs: list[Run], options: Options) -> list[dict]:
    """Run every run in turn, each in its own child process; their rows."""
    with tempfile.TemporaryDirectory(prefix="dmltk-bench-") as workdir:
        return [run_undisturbed(run, Path(workdir), options) for run in runs]


# ------------------------------------------------------------------ scoring
def accuracy(X, y, coef, intercept) -> float:
    """Share of rows whose predicted class is the label."""
    margins = np.asarray(X @ coef.T, dtype=np.float64) + intercept
    if coef.shape[0] == 1:
        predicted = (margins[:, 0] > 0).astype(np.float64)
    else:
        predicted = np.argmax(margins, axis=1).astype(np.float64)
    return float(np.mean(predicted == y))


def objective(problem: Problem, X, y, coef, intercept) -> float:
    """The reference objective of ``problem`` at ``coef``, ``intercept``."""
    if problem.is_regression:
        return objectives.regression_objective(
            X, y, coef, intercept, problem.power, problem.alpha
        )
    from dmltk._testing import sklearn_objective

    return sklearn_objective(X, y, coef, intercept, problem.C,
                             l1_ratio=problem.l1_ratio)  # fmt: skip


def score_fits(problem: Problem, rows: list[dict], reference: str = "dmltk") -> dict:
    """Judge every fit of ``problem`` on the reference objective, in float64.

    Adds ``objective``, ``gap`` (relative, to the best of all rows),
    ``accuracy`` (classification) or ``d2`` (regression: the share of the
    deviance explained), ``zeros`` (exact zeros in coef) and ``per_dmltk``
    (fit seconds over the ``reference`` row's) to each row. Returns facts
    about the data: best objective, the true model's accuracy or D^2,
    checksums.
    """
    X, y = problem.numpy_data()
    fitted = [row for row in rows if "error" not in row]
    for row in fitted:
        coef, intercept = np.asarray(row["coef"]), np.asarray(row["intercept"])
        row["objective"] = objective(problem, X, y, coef, intercept)
        if problem.is_regression:
            row["d2"] = objectives.d2_score(X, y, coef, intercept, problem.power)
        else:
            row["accuracy"] = accuracy(X, y, coef, intercept)
        row["zeros"] = int(np.sum(coef == 0.0))
    best = min((row["objective"] for row in fitted), default=np.nan)
    base = next((row for row in fitted if row["label"] == reference), None)
    for row in fitted:
        row["gap"] = (row["objective"] - best) / abs(best)
        if base is not None:
            row["per_dmltk"] = row["fit_seconds"] / base["fit_seconds"]
    return {"best_objective": best, **_data_facts(problem, X, y)}


def _data_facts(problem: Problem, X, y) -> dict:
    facts = {
        "y_sum": float(y.sum()),
        "x_sum": float(X.sum(dtype=np.float64)) if isinstance(X, np.ndarray) else None,
    }
    params = problem.parameters()
    if problem.is_regression:
        true_coef, true_intercept = params["weights"][:, 0], params["intercept"]
        return {
            **facts,
            "y_mean": float(y.mean()),
            "y_zero_share": float(np.mean(y == 0.0)),
            "true_model_d2": objectives.d2_score(
                X, y, true_coef, true_intercept, problem.power
            ),
            "true_model_objective": objective(problem, X, y, true_coef, true_intercept),
        }
    facts["class_shares"] = (np.bincount(y.astype(np.intp)) / y.size).round(3).tolist()
    if params:
        true_coef = params["weights"].T
        facts["true_model_accuracy"] = accuracy(X, y, true_coef, params["intercept"])
        facts["true_zeros"] = int(np.sum(true_coef == 0.0))
    return facts


def same_data(row: dict, facts: dict) -> bool | None:
    """Whether the cluster's checksums match the in-memory copy (None: unknown).

    Both sums to 1e-9 relative: they are taken in different orders (a tree
    over blocks against numpy's pairwise sum), which rounds fractional
    targets (Gamma, Tweedie) differently; labels and counts agree exactly.
    """
    sums = row.get("checksums")
    if not sums or facts.get("x_sum") is None:
        return None
    return bool(
        np.isclose(sums["y_sum"], facts["y_sum"], rtol=1e-9)
        and np.isclose(sums["x_sum"], facts["x_sum"], rtol=1e-9)
    )
