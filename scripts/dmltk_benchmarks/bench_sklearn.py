"""scikit-learn's adapter: the same blocks, concatenated in memory, one process."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np

from .problems import Problem
from .timing import timed_fit

MAX_ITER = 1000


def estimator(problem: Problem, *, tol: float, solver: str = "lbfgs",
              max_iter: int = MAX_ITER):  # fmt: skip
    """scikit-learn's estimator of ``problem``'s objective.

    Classification: ``LogisticRegression(C, l1_ratio)``. Regression:
    ``PoissonRegressor``, ``GammaRegressor`` or ``TweedieRegressor(power)``
    with ``alpha``; for the squared error, ``Ridge(alpha * n)`` with
    ``solver="auto"`` (a Cholesky solve of the Gram matrix on dense data:
    its ``"lbfgs"`` needs ``positive=True``), and with ``"lbfgs"`` or
    ``"newton-cholesky"`` ``TweedieRegressor(power=0, link="identity")``, the
    same objective divided by ``2 n``.
    """
    from sklearn import linear_model as lm

    if not problem.is_regression:
        return lm.LogisticRegression(
            C=problem.C, l1_ratio=problem.l1_ratio, solver=solver, tol=tol,
            max_iter=max_iter,
        )  # fmt: skip
    if problem.power == 0 and solver == "auto":
        return lm.Ridge(alpha=problem.alpha * problem.n, solver="auto", tol=tol)
    if problem.power == 1:
        return lm.PoissonRegressor(alpha=problem.alpha, solver=solver, tol=tol,
                                   max_iter=max_iter)  # fmt: skip
    if problem.power == 2:
        return lm.GammaRegressor(alpha=problem.alpha, solver=solver, tol=tol,
                                 max_iter=max_iter)  # fmt: skip
    link = "identity" if problem.power == 0 else "log"
    return lm.TweedieRegressor(power=problem.power, link=link, alpha=problem.alpha,
                               solver=solver, tol=tol, max_iter=max_iter)  # fmt: skip


def _describe(model, solver: str, tol: float) -> str:
    """The settings column: estimator (for regression), solver, tolerance."""
    if type(model).__name__ == "LogisticRegression":
        unit = "epochs" if solver == "saga" else "iterations"
        return f"solver={solver} tol={tol:g} ({unit})"
    if type(model).__name__ == "Ridge":
        return f"Ridge solver=auto (ran {model.solver_}: a direct solve)"
    extra = f"(power={model.power:g})" if hasattr(model, "power") else ""
    return f"{type(model).__name__}{extra} solver={solver} tol={tol:g}"


def fit(problem: Problem, *, tol: float, solver: str = "lbfgs", max_iter=MAX_ITER):
    """Fit scikit-learn's :func:`estimator` of ``problem``, in memory.

    Parameters
    ----------
    problem : Problem
    tol : float
    solver : str, default="lbfgs"
        ``"saga"`` for L1 (its only solver for it); ``n_iter`` is then epochs.
        ``"auto"`` for the squared error: Ridge's direct solve.
    max_iter : int

    Returns
    -------
    dict
        ``coef`` (K', d), ``intercept`` (K',), ``n_iter`` (None for a direct
        solve), ``fit_seconds`` and the fit's wall-clock window.
    """
    from .report import blas_info

    X, y = problem.numpy_data()
    model = estimator(problem, tol=tol, solver=solver, max_iter=max_iter)
    timing = timed_fit(lambda: model.fit(X, y))
    n_iter = getattr(model, "n_iter_", None)
    return {
        **timing,
        "coef": np.atleast_2d(model.coef_).tolist(),
        "intercept": np.atleast_1d(model.intercept_).tolist(),
        "n_iter": None if n_iter is None else int(np.max(n_iter)),
        "settings": _describe(model, solver, tol),
        "blas": blas_info(),
    }


def read(path: Path, features: int, repeats: int, data_format: str = "libsvm") -> dict:
    """Seconds of ``repeats`` reads with ``load_svmlight_file``; a table by
    pandas (pyarrow's Parquet reader, pandas' CSV parser) into numpy X, y."""
    import pandas as pd
    from sklearn.datasets import load_svmlight_file

    def load():
        if data_format == "libsvm":
            return load_svmlight_file(str(path), n_features=features, zero_based=False)
        frame = pd.read_parquet(path) if data_format == "parquet" else pd.read_csv(path)
        X = frame.drop(columns="label").to_numpy(np.float64)
        return X, frame["label"].to_numpy()

    name = {"libsvm": "scikit-learn load_svmlight_file",
            "parquet": "pandas read_parquet (one process)",
            "csv": "pandas read_csv (one process)"}[data_format]  # fmt: skip
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        X, _ = load()
        seconds.append(time.perf_counter() - start)
        shape = X.shape
        del X
        gc.collect()
    return {
        "start_seconds": 0.0,
        "runs": {name: seconds},
        "shape": list(shape),
    }


def predict(problem: Problem, *, tol: float, repeats: int = 5) -> dict:
    """Median seconds of scikit-learn's prediction and metrics in memory (the
    same operations as :func:`dmltk_benchmarks.bench_dmltk.predict`)."""
    from sklearn import metrics
    from sklearn.linear_model import LogisticRegression

    from .report import blas_info
    from .timing import median_seconds, numpy_read_seconds

    X, y = problem.numpy_data()
    model = LogisticRegression(C=problem.C, tol=tol).fit(X, y)
    operations = {
        "predict_proba (persisted)": lambda: model.predict_proba(X),
        "predict (persisted)": lambda: model.predict(X),
        "decision_function (persisted)": lambda: model.decision_function(X),
        "score": lambda: model.score(X, y),
        "metrics.accuracy_score": lambda: metrics.accuracy_score(y, model.predict(X)),
        "metrics.log_loss": lambda: metrics.log_loss(y, model.predict_proba(X)),
        "metrics.roc_auc_score": lambda: metrics.roc_auc_score(
            y, model.decision_function(X)
        ),
    }
    labels, proba, margins = (
        model.predict(X),
        model.predict_proba(X),
        model.decision_function(X),
    )
    operations = {
        "metrics.accuracy_score, persisted predictions": lambda: metrics.accuracy_score(
            y, labels
        ),
        "metrics.log_loss, persisted predictions": lambda: metrics.log_loss(y, proba),
        "metrics.roc_auc_score, persisted predictions": lambda: metrics.roc_auc_score(
            y, margins
        ),
        **operations,
    }
    seconds = {name: median_seconds(op, repeats) for name, op in operations.items()}
    return {"seconds": seconds, "numpy_read": numpy_read_seconds(X),
            "blas": blas_info()}  # fmt: skip


def cv(problem: Problem, *, tol: float, Cs: list, folds: int, n_jobs: int = 2,
       max_iter: int = MAX_ITER) -> dict:  # fmt: skip
    """scikit-learn's ``LogisticRegressionCV`` in memory over ``Cs`` with
    ``folds`` stratified folds, its paths in ``n_jobs`` processes (each
    receives its own copy of the data: joblib memory-maps it)."""
    from sklearn.linear_model import LogisticRegressionCV

    X, y = problem.numpy_data()
    search = LogisticRegressionCV(
        Cs=Cs, cv=folds, l1_ratios=(0.0,), scoring="neg_log_loss", tol=tol,
        max_iter=max_iter, n_jobs=n_jobs, use_legacy_attributes=False,
    )  # fmt: skip
    timing = timed_fit(lambda: search.fit(X, y))
    return {
        **timing,
        "C": float(search.C_),
        "scores": search.scores_[:, 0, :].tolist(),
        "n_iter": int(search.n_iter_.sum()),
        "settings": f"LogisticRegressionCV lbfgs tol={tol:g} n_jobs={n_jobs}, "
        f"{folds} stratified folds x {len(Cs)} Cs",
    }


def regression_cv(problem: Problem, *, search: str, alphas, folds: int, tol: float,
                  n_jobs: int = 2, max_iter: int = MAX_ITER) -> dict:  # fmt: skip
    """scikit-learn's ``LassoCV(alphas, cv=folds, n_jobs)`` (coordinate
    descent on each fold's precomputed Gram matrix, its "auto" choice for
    more rows than columns) or ``RidgeCV(alphas, cv=folds)`` in memory."""
    from sklearn.linear_model import LassoCV, RidgeCV

    X, y = problem.numpy_data()
    if search == "lasso":
        model = LassoCV(alphas=int(alphas), cv=folds, tol=tol, max_iter=max_iter,
                        n_jobs=n_jobs)  # fmt: skip
    else:
        model = RidgeCV(alphas=alphas, cv=folds or None)
    result = timed_fit(lambda: model.fit(X, y))
    held_out = (float(model.mse_path_.mean(axis=1).min())
             if search == "lasso" else float(model.best_score_))  # fmt: skip
    return {
        **result,
        "alpha": float(model.alpha_),
        "held_out": held_out,
        "settings": f"{type(model).__name__} tol={tol:g}"
        + (f" n_jobs={n_jobs}" if search == "lasso" else "")
        + f", {folds or 'leave-one-out'} folds",
    }
