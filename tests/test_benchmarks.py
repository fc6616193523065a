"""Golden master of the benchmarks: their problems, tiny, through their runner.

Runs each registered fit problem of ``scripts/dmltk_benchmarks`` at 600 x 5
through the same runner, adapters and scoring as ``scripts/bench.py``, for
dmltk and scikit-learn (each system's fits in one child process), and checks
that both reach the same reference objective
(``dmltk._testing.sklearn_objective``, relative 1e-6) and that the generated
data has not changed. Spark and dask-ml are left out to keep this short;
``scripts/bench.py --spark`` exercises them.
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


def _runs(labels_of_system):
    """The suite's runs of every problem, tight, for one system's labels."""
    runs, problems = [], {}
    for name, (options, (variants, *labels), _) in CASES.items():
        problems[name] = get_problem(name, 600, 5, blocks=3, seed=0, **options)
        chosen = [label for label in labels if labels_of_system(label)]
        for run in suites.fit_runs(problems[name], variants, chosen):
            run.kwargs.update(TIGHT)
            if run.system == "dmltk":
                run.kwargs["cluster_options"] = {"processes": False}
            run.label = f"{name}/{run.label}"
            runs.append(run)
    return runs, problems


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Every case's dmltk and scikit-learn fits, each system in one child
    process (starting a process per fit would dominate the run time)."""
    workdir = tmp_path_factory.mktemp("bench")
    rows = []
    for is_dmltk in (True, False):
        runs, problems = _runs(lambda label, d=is_dmltk: label.startswith("dmltk") == d)
        rows += runner.run_in_one_child(runs, workdir, timeout=600)
    return {row["label"]: row for row in rows}, problems


@pytest.mark.parametrize("name", list(CASES))
def test_benchmark_problem_agrees_through_the_runner(name, fitted):
    rows, problems = fitted
    _, (_, ours, peer), golden = CASES[name]
    problem = problems[name]
    mine = [rows[f"{name}/{ours}"], rows[f"{name}/{peer}"]]
    assert [row.get("error") for row in mine] == [None, None], mine
    facts = runner.score_fits(problem, mine, reference=f"{name}/{ours}")
    assert (facts["x_sum"], facts["y_sum"]) == pytest.approx(golden, rel=1e-12)
    assert mine[0]["objective"] == pytest.approx(mine[1]["objective"], rel=1e-6)
    assert runner.same_data(mine[0], facts)
    assert mine[0]["fit_stats"]["evaluations"] > 0
    assert mine[0]["per_dmltk"] == 1.0


def test_per_evaluation_parts_come_from_fit_stats():
    from dmltk_benchmarks import report

    row = {
        "fit_seconds": 1.0,
        "fit_stats": {
            "evaluations": 2,
            "evaluation_seconds": [0.3, 0.2],
            "kernel_seconds": [0.1, 0.15],
        },
    }
    parts = report.evaluation_parts(row)
    assert parts["scheduling"] == pytest.approx([0.2, 0.05])
    assert parts["client"] == pytest.approx(0.25)
    text = "\n".join(report.evaluation_lines(row, numpy_read=0.1, per_evaluation=True))
    assert "n/a" not in text and "client" in text
    del row["fit_stats"]["kernel_seconds"]
    assert "kernel      n/a" in "\n".join(report.evaluation_lines(row))
    del row["fit_stats"]["evaluation_seconds"]
    assert report.evaluation_parts(row) is None
    assert "evaluation n/a" in "\n".join(report.evaluation_lines(row))
