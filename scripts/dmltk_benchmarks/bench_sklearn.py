"""scikit-learn's adapter: the same blocks, concatenated in memory, one process."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np

from .problems import Problem
from .timing import timed_fit

MAX_ITER = 1000


def fit(problem: Problem, *, tol: float, solver: str = "lbfgs", max_iter=MAX_ITER):
    """Fit ``sklearn.linear_model.LogisticRegression`` on ``problem``.

    Parameters
    ----------
    problem : Problem
    tol : float
    solver : str, default="lbfgs"
        ``"saga"`` for L1 (its only solver for it); ``n_iter`` is then epochs.
    max_iter : int

    Returns
    -------
    dict
        ``coef`` (K', d), ``intercept`` (K',), ``n_iter``, ``fit_seconds``
        and the fit's wall-clock window.
    """
    from sklearn.linear_model import LogisticRegression

    from .report import blas_info

    X, y = problem.numpy_data()
    model = LogisticRegression(
        C=problem.C, l1_ratio=problem.l1_ratio, solver=solver, tol=tol,
        max_iter=max_iter,
    )  # fmt: skip
    timing = timed_fit(lambda: model.fit(X, y))
    unit = "epochs" if solver == "saga" else "iterations"
    return {
        **timing,
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
        "n_iter": int(np.max(model.n_iter_)),
        "settings": f"solver={solver} tol={tol:g} ({unit})",
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
