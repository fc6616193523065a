"""Golden master of the benchmarks: their problems, tiny, through their runner.

Runs each registered fit problem of ``scripts/dmltk_benchmarks`` at 600 x 5
through the same runner, adapters and scoring as ``scripts/bench.py``,
``bench_features.py`` and ``bench_glm.py``, for dmltk and scikit-learn (each
system's fits in one child process), and checks that both reach the same
reference objective (``dmltk._testing.sklearn_objective``, or
``dmltk_benchmarks.objectives.regression_objective``; relative 1e-6) and that
the generated data has not changed. Spark and dask-ml are left out to keep
this short (``scripts/bench.py --spark`` and ``scripts/bench_glm.py``
exercise them); dask-ml's penalty translation is checked on numpy, and the
reference regression objective against scikit-learn's deviances.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
sys.path.insert(0, str(SCRIPTS))

from dmltk_benchmarks import objectives, runner, suites  # noqa: E402
from dmltk_benchmarks.problems import get_problem  # noqa: E402

# The regression problems with a larger alpha than the benchmark's, so that
# a penalty translated wrongly (Ridge's alpha * n) moves the optimum by more
# than the 1e-6 checked.
GLM_ALPHA = 0.05

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
    "squared-error": (
        {"alpha": GLM_ALPHA},
        (suites.GLM["squared-error"], "dmltk", "sklearn-ridge"),
        (733.7581847132575, 138.06773797226467),
    ),
    "poisson": (
        {"alpha": GLM_ALPHA},
        (suites.GLM["poisson"], "dmltk", "sklearn"),
        (733.7581847132575, 944.0),
    ),
    "gamma": (
        {"alpha": GLM_ALPHA},
        (suites.GLM["gamma"], "dmltk", "sklearn"),
        (733.7581847132575, 911.0330232835192),
    ),
    "tweedie": (
        {"alpha": GLM_ALPHA},
        (suites.GLM["tweedie"], "dmltk", "sklearn"),
        (733.7581847132575, 1011.3021005070626),
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
    if problem.is_regression:
        # Both at the reference optimum, not merely agreeing on one penalty
        # translated alike (Ridge's alpha * n).
        X, y = problem.numpy_data()
        coef = np.append(mine[0]["coef"][0], mine[0]["intercept"][0])
        assert np.abs(_reference_gradient(problem, X, y, coef)).max() < 1e-6


def _reference_gradient(problem, X, y, coef, step=1e-6):
    """Central differences of the reference objective at ``[w, b]``."""

    def f(c):
        return runner.objective(problem, X, y, c[:-1], c[-1:])

    basis = np.eye(coef.size) * step
    return np.array([(f(coef + e) - f(coef - e)) / (2 * step) for e in basis])


@pytest.mark.parametrize("name", ["squared-error", "poisson", "gamma", "tweedie"])
def test_regression_objective_is_sklearns(name):
    """The reference objective: scikit-learn's mean Tweedie deviance / 2 and
    D^2, plus alpha/2 ||w||^2."""
    from sklearn.metrics import d2_tweedie_score, mean_tweedie_deviance

    problem = get_problem(name, 600, 5, blocks=3, alpha=GLM_ALPHA)
    X, y = problem.numpy_data()
    w, b = np.linspace(-0.2, 0.3, 5), 0.1
    mu = X @ w + b if problem.power == 0 else np.exp(X @ w + b)
    expected = mean_tweedie_deviance(y, mu, power=problem.power) / 2
    expected += GLM_ALPHA / 2 * (w @ w)
    found = objectives.regression_objective(X, y, w, b, problem.power, GLM_ALPHA)
    assert found == pytest.approx(expected, rel=1e-12)
    d2 = objectives.d2_score(X, y, w, b, problem.power)
    assert d2 == pytest.approx(d2_tweedie_score(y, mu, power=problem.power), rel=1e-9)


@pytest.mark.parametrize("name", ["squared-error", "poisson"])
def test_dask_ml_penalty_is_the_reference_one(name):
    """dask-glm's objective with the adapter's C is the reference objective
    times ``SUM_SCALE * n``, plus its penalty on the intercept and a term in
    y alone: compared as differences between two coefficient vectors."""
    pytest.importorskip("dask_ml")
    from dask_glm.regularizers import L2
    from dmltk_benchmarks import bench_dask_ml

    problem = get_problem(name, 600, 5, blocks=3, alpha=GLM_ALPHA)
    X, y = problem.numpy_data()
    _, family, settings = bench_dask_ml.estimator(problem, tol=1e-6)
    lamduh = 1.0 / settings["C"]
    ones = np.column_stack([X, np.ones(len(y))])  # dask-ml's appended intercept

    def theirs(beta):
        return family.pointwise_loss(beta, ones, y) + lamduh * L2().f(beta)

    def ours(beta):
        w, b = beta[:-1], beta[-1]
        penalty = GLM_ALPHA / 2 * b**2
        return (
            objectives.regression_objective(X, y, w, b, problem.power, GLM_ALPHA)
            + penalty
        )

    first, second = np.full(6, 0.05), np.linspace(-0.1, 0.2, 6)
    scale = bench_dask_ml.SUM_SCALE[problem.power] * problem.n
    assert (theirs(first) - theirs(second)) / scale == pytest.approx(
        ours(first) - ours(second), rel=1e-10
    )


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
