"""dask-ml's adapter: its GLMs on the same cluster and blocks.

``normalize=False`` stops dask-glm from standardising X (a different
problem); ``C`` becomes its ``lamduh = 1/C`` (newton ignores it: at C=1 and
n >= 200,000 the penalty changes the objective by less than 1e-8). No sample
weights (see /work/shared/PEERS.md).

Classification: ``LogisticRegression``, binary only. Regression:
``LinearRegression`` (dask-glm's ``Normal`` family) and
``PoissonRegression``, the only regression families dask-glm has. dask-glm
minimises a *sum*, ``loglike + lamduh/2 ||beta||^2``: ``loglike`` is the
summed squared error (twice the summed half loss) or the summed Poisson half
loss, and ``beta`` includes the intercept (an appended column of ones, so
the intercept is penalised too). Divided by ``SUM_SCALE[power] * n`` that
is the problem's normalised objective with ``alpha = lamduh / (scale n)``
(plus ``alpha/2 b^2``), so ``C = 1 / (alpha scale n)``. Its lbfgs tolerance
(scipy's ``pgtol``, on the gradient of that sum) is scaled the same way, so
that every system stops at the same gradient of the normalised objective.
"""

from __future__ import annotations

import numpy as np

from . import cluster
from .problems import Problem
from .timing import timed_fit

MAX_ITER = 1000
# Tweedie power -> dask-glm's objective over the normalised one, per row.
SUM_SCALE = {0.0: 2.0, 1.0: 1.0}


def _iteration_counter(solver: str, family):
    """Extra solver kwargs and a dict that will hold dask-glm's iterations.

    dask-ml reports no ``n_iter_``. For lbfgs, wrap the scipy call dask-glm
    makes to read its ``info``; for newton, whose loop computes the Hessian
    once per iteration, pass a subclass of ``family`` (a dask-glm family)
    that counts Hessians. This instruments the peer, never dmltk.
    """
    from dask_glm import algorithms

    counts = {"iterations": 0, "evaluations": None}
    if solver == "lbfgs":
        original = algorithms.fmin_l_bfgs_b

        def recording(*args, **kwargs):
            beta, loss, info = original(*args, **kwargs)
            counts["iterations"] = int(info["nit"])
            counts["evaluations"] = int(info["funcalls"])
            return beta, loss, info

        algorithms.fmin_l_bfgs_b = recording
        return {}, counts

    class Counting(family):
        @staticmethod
        def hessian(Xbeta, X):
            counts["iterations"] += 1
            return family.hessian(Xbeta, X)

    return {"family": Counting}, counts


def estimator(problem: Problem, tol: float, solver: str = "lbfgs"):
    """dask-ml's estimator class of ``problem``, its dask-glm family, and
    its ``C`` and ``tol`` (translated for regression: module docstring;
    newton's ``tol`` bounds its step, and is passed as it is)."""
    from dask_glm import families
    from dask_ml import linear_model as lm

    if not problem.is_regression:
        if problem.classes != 2 or problem.l1_ratio:
            raise ValueError(
                f"dask-ml fits binary L2 problems only; got {problem.name}."
            )
        return lm.LogisticRegression, families.Logistic, {"C": problem.C, "tol": tol}
    if problem.power not in SUM_SCALE:
        raise ValueError(
            f"dask-ml has no {problem.family} family (dask-glm has Logistic, "
            f"Normal and Poisson); got problem {problem.name!r}."
        )
    scale = SUM_SCALE[problem.power] * problem.n
    # alpha = 0: C = inf, which dask-ml turns into lamduh = 0.
    C = 1.0 / (problem.alpha * scale) if problem.alpha else np.inf
    settings = {"C": C,
                "tol": tol if solver == "newton" else tol * scale}  # fmt: skip
    if problem.power == 0:
        return lm.LinearRegression, families.Normal, settings
    return lm.PoissonRegression, families.Poisson, settings


def fit(problem: Problem, *, tol: float = 1e-4, solver: str = "lbfgs",
        max_iter: int = MAX_ITER) -> dict:  # fmt: skip
    """Fit dask-ml's :func:`estimator` of ``problem``.

    Parameters and returned keys as :func:`dmltk_benchmarks.bench_sklearn.fit`.
    ``tol`` is dask-glm's for classification and for newton; for
    regression with lbfgs it is on the gradient of the normalised objective,
    and scaled (module docstring).
    """
    model_class, family, settings = estimator(problem, tol, solver)
    extra, counts = _iteration_counter(solver, family)
    client = cluster.local_client()
    try:
        X, y = cluster.persist_pinned(client, problem)
        info = cluster.worker_info(
            client, X, ["dask_ml.linear_model", "dask_glm.algorithms"]
        )
        model = model_class(
            **settings, solver=solver, max_iter=max_iter,
            solver_kwargs={"normalize": False, **extra},
        )  # fmt: skip
        timing = timed_fit(lambda: model.fit(X, y))
        return {
            **timing,
            "coef": np.atleast_2d(np.asarray(model.coef_, dtype=float)).tolist(),
            "intercept": np.atleast_1d(np.asarray(model.intercept_, float)).tolist(),
            "n_iter": counts["iterations"],
            "evaluations": counts["evaluations"],
            "settings": _describe(model_class, problem, settings, solver),
            **info,
        }
    finally:
        client.close()


def _describe(model_class, problem: Problem, settings: dict, solver: str) -> str:
    """The settings column; for regression, the translated penalty."""
    if not problem.is_regression:
        return f"solver={solver}, normalize=False"
    if solver == "newton":
        # dask-ml drops lamduh for newton; its tol is on the step.
        return (
            f"{model_class.__name__} solver=newton, normalize=False: NO penalty "
            f"(newton ignores C), tol={settings['tol']:.3g} on the step"
        )
    return (
        f"{model_class.__name__} solver={solver}, normalize=False, "
        f"C={settings['C']:.6g} (lamduh = alpha * {SUM_SCALE[problem.power]:g} n; "
        f"intercept penalised too), tol={settings['tol']:.6g} on its summed gradient"
    )
