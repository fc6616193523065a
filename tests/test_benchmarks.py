"""Golden master of the benchmarks: their problems, tiny, through their runner.

Runs each registered fit problem of ``scripts/dmltk_benchmarks`` at 600 x 5
through the same runner as ``scripts/bench.py`` (a child process per
system) for dmltk and scikit-learn, and checks that both reach the same
reference objective (``dmltk._testing.sklearn_objective``, relative 1e-6)
and that the generated data has not changed. Spark and dask-ml are left out
to keep this short; ``scripts/bench.py --spark`` exercises them.
"""

import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from dmltk_benchmarks import runner, suites  # noqa: E402
from dmltk_benchmarks.problems import get_problem  # noqa: E402

# problem -> (options, the suite's dmltk and scikit-learn runs, golden sums
# of X (float64) and y at 600 x 5 in 3 blocks, seed 0)
CASES = {
    "binary": (
        {"dtype": "float32", "zero_mean": True},
        (suites.BINARY, "dmltk", "sklearn"),
        (-26.210603449297196, 311.0),
    ),
    "multinomial": (
        {"classes": 3},
        (suites.FEATURES["multinomial"], "dmltk", "sklearn"),
        (733.7581847132575, 621.0),
    ),
    "l1": (
        {},
        (suites.FEATURES["l1"], "dmltk", "sklearn-saga"),
        (-21.530511064657937, 317.0),
    ),
}
# Tight enough that both systems end within 1e-6 of the optimum; dmltk on
# threads in its child process, which starts in a fraction of a second.
TIGHT = {"tol": 1e-10, "max_iter": 20000}


def _runs(problem, variants, labels):
    runs = suites.fit_runs(problem, variants, labels)
    for run in runs:
        run.kwargs.update(TIGHT)
        if run.system == "dmltk":
            run.kwargs["cluster_options"] = {"processes": False}
    return runs


@pytest.mark.parametrize("name", list(CASES))
def test_benchmark_problem_agrees_through_the_runner(name, tmp_path):
    options, (variants, ours, peer), golden = CASES[name]
    problem = get_problem(name, 600, 5, blocks=3, seed=0, **options)
    run_options = runner.Options(retries=0, wait=False, timeout=300, log=print)
    rows = runner.run_all(_runs(problem, variants, [ours, peer]), run_options)
    assert [row.get("error") for row in rows] == [None, None], rows
    facts = runner.score_fits(problem, rows)
    assert (facts["x_sum"], facts["y_sum"]) == pytest.approx(golden, rel=1e-12)
    by_label = {row["label"]: row for row in rows}
    assert by_label[ours]["objective"] == pytest.approx(
        by_label[peer]["objective"], rel=1e-6
    )
    assert runner.same_data(by_label[ours], facts)
    assert by_label[ours]["fit_stats"]["evaluations"] > 0
