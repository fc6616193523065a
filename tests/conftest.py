"""Shared fixtures: a real 2-process LocalCluster, and the threaded scheduler."""

from __future__ import annotations

import logging

import dask
import numpy as np
import pytest
from distributed import Client, LocalCluster
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from dmltk._testing import sklearn_objective  # noqa: F401  (re-exported for tests)


@pytest.fixture(scope="session")
def cluster():
    """Two worker processes with one thread each, talking over TCP, with work
    stealing off as in the clusters dmltk.connect starts."""
    with (
        dask.config.set({"distributed.scheduler.work-stealing": False}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit="4GiB",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as local_cluster,
    ):
        yield local_cluster


@pytest.fixture(scope="session")
def _session_client(cluster):
    with Client(cluster, set_as_default=False) as session_client:
        yield session_client


@pytest.fixture
def client(_session_client):
    """The session's distributed client, current for this test only."""
    with _session_client.as_current():
        yield _session_client


@pytest.fixture(params=["distributed", "threads"])
def scheduler(request):
    """Each test that takes it runs on worker processes, then on threads."""
    if request.param == "distributed":
        with request.getfixturevalue("_session_client").as_current():
            yield request.param
    else:
        with dask.config.set(scheduler="threads"):
            yield request.param


@pytest.fixture(scope="session")
def breast_cancer():
    """scikit-learn's breast_cancer, standardised: 569 x 30, two classes."""
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def sklearn_gradient_norm(X, y01, coef, intercept, C, fit_intercept=True):
    """Euclidean norm of the gradient of the objective divided by C * n."""
    n = X.shape[0]
    z = X @ coef + intercept
    residual = 1.0 / (1.0 + np.exp(-z)) - y01
    gradient = X.T @ residual / n + (0.0 if np.isinf(C) else coef / (C * n))
    parts = [gradient, [residual.sum() / n]] if fit_intercept else [gradient]
    return float(np.linalg.norm(np.concatenate(parts)))


def distance_bound(X, y01, models, C):
    """An upper bound on the distance between the coefficient vectors of two
    fits of the same L2-penalised objective.

    Divided by C * n, the objective is strongly convex with modulus at least
    1 / (C n) in the weights (the log-loss adds curvature, never removes it),
    so each fit lies within |gradient| * C * n of the optimum. This bounds
    the weights; the intercept is bounded through the same argument only
    when the data give it curvature, so it is compared on the objective.
    """
    n = X.shape[0]
    return sum(
        C * n * sklearn_gradient_norm(X, y01, m.coef_[0], m.intercept_[0], C)
        for m in models
    )
