"""dask-ml's adapter: its LogisticRegression on the same cluster and blocks.

``normalize=False`` stops dask-glm from standardising X (a different
problem); ``C`` becomes its ``lamduh = 1/C`` (newton ignores it: at C=1 and
n >= 200,000 the penalty changes the objective by less than 1e-8). Binary
only, no sample weights (see /work/shared/PEERS.md).
"""

from __future__ import annotations

import numpy as np

from . import cluster
from .problems import Problem
from .timing import timed_fit

MAX_ITER = 1000


def _iteration_counter(solver: str):
    """Extra solver kwargs and a dict that will hold dask-glm's iterations.

    dask-ml reports no ``n_iter_``. For lbfgs, wrap the scipy call dask-glm
    makes to read its ``info``; for newton, whose loop computes the Hessian
    once per iteration, pass a Logistic family that counts Hessians. This
    instruments the peer, never dmltk.
    """
    from dask_glm import algorithms
    from dask_glm.families import Logistic

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

    class CountingLogistic(Logistic):
        @staticmethod
        def hessian(Xbeta, X):
            counts["iterations"] += 1
            return Logistic.hessian(Xbeta, X)

    return {"family": CountingLogistic}, counts


def fit(problem: Problem, *, tol: float = 1e-4, solver: str = "lbfgs",
        max_iter: int = MAX_ITER) -> dict:  # fmt: skip
    """Fit ``dask_ml.linear_model.LogisticRegression`` (binary problems only).

    Parameters and returned keys as :func:`dmltk_benchmarks.bench_sklearn.fit`
    (``tol`` is dask-glm's).
    """
    from dask_ml.linear_model import LogisticRegression

    if problem.classes != 2 or problem.l1_ratio:
        raise ValueError(f"dask-ml fits binary L2 problems only; got {problem.name}.")
    extra, counts = _iteration_counter(solver)
    client = cluster.local_client()
    try:
        X, y = cluster.persist_pinned(client, problem)
        info = cluster.worker_info(
            client, X, ["dask_ml.linear_model", "dask_glm.algorithms"]
        )
        model = LogisticRegression(
            C=problem.C, solver=solver, max_iter=max_iter, tol=tol,
            solver_kwargs={"normalize": False, **extra},
        )  # fmt: skip
        timing = timed_fit(lambda: model.fit(X, y))
        return {
            **timing,
            "coef": np.atleast_2d(np.asarray(model.coef_, dtype=float)).tolist(),
            "intercept": np.atleast_1d(np.asarray(model.intercept_, float)).tolist(),
            "n_iter": counts["iterations"],
            "evaluations": counts["evaluations"],
            "settings": f"solver={solver}, normalize=False",
            **info,
        }
    finally:
        client.close()
