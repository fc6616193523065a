"""dmltk inside the dask-ml ecosystem, on the real cluster.

dask-ml's GridSearchCV runs every ``fit`` and ``score`` inside a task on a
worker; a fit that waited on the cluster from there would hold the worker's
only thread while waiting for tasks that need it. Each test runs its work
in a thread with a deadline, so such a deadlock fails the test instead of
hanging the suite.
"""

import threading

import dask
import dask.array as da
import numpy as np
import pytest
from dask_ml.model_selection import GridSearchCV as DaskGridSearchCV
from dask_ml.preprocessing import StandardScaler as DaskStandardScaler
from distributed import Client, get_task_stream
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dmltk import LogisticRegression, Ridge

# Each test takes a few seconds; a deadlock takes forever.
DEADLINE_SECONDS = 60


def within_deadline(client, function):
    """``function(own)`` in a thread, ``own`` a client of the same cluster
    made for it and current there; its result.

    The test fails if ``function`` has not returned after
    :data:`DEADLINE_SECONDS`. ``own`` is then closed, which cancels what it
    submitted (dask-ml would submit it again), and the workers are
    restarted, which frees the threads a deadlock holds, so that the tests
    that follow find the cluster idle.
    """
    own = Client(client.scheduler.address, set_as_default=False)
    outcome = {}

    def run():
        with own.as_current():
            try:
                outcome["value"] = function(own)
            except BaseException as error:  # re-raised in the test's thread
                outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    try:
        thread.start()
        thread.join(DEADLINE_SECONDS)
        timed_out = thread.is_alive()
    finally:
        own.close()
    if timed_out:
        client.restart()
        pytest.fail(
            f"no result after {DEADLINE_SECONDS} s: a fit or score inside a task "
            "waits on the cluster that runs the task (deadlock)"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_dask_ml_grid_search_on_the_cluster_matches_sklearn(client, breast_cancer):
    X, y = breast_cancer
    grid = {"C": [0.01, 1.0]}
    cv = KFold(3)  # the same folds for both searches
    # iid=False: the best score is the plain mean over folds, as in
    # scikit-learn. refit=False: the refit is a fit on the client, tested
    # elsewhere (dask-ml then hides best_params_ and best_score_: they are
    # read from cv_results_ at the candidate ranked first, as scikit-learn
    # defines them).
    search = DaskGridSearchCV(LogisticRegression(), grid, cv=cv, iid=False, refit=False)

    def fit(own):
        with get_task_stream(own) as stream:
            search.set_params(scheduler=own)
            search.fit(da.from_array(X, chunks=100), da.from_array(y, chunks=100))
        return stream.data

    tasks = within_deadline(client, fit)
    # The folds were fitted and scored inside tasks on the workers.
    assert sum("fit-score" in str(task["key"]) for task in tasks) == 6
    with dask.config.set(scheduler="threads"):
        reference = GridSearchCV(LogisticRegression(), grid, cv=cv, refit=False)
        reference.fit(X, y)
    results = search.cv_results_
    best = int(np.argmin(results["rank_test_score"]))
    assert results["params"][best] == reference.best_params_
    best_score = results["mean_test_score"][best]
    assert best_score == pytest.approx(reference.best_score_, rel=1e-12)
    np.testing.assert_allclose(
        results["mean_test_score"], reference.cv_results_["mean_test_score"], rtol=1e-12
    )


def test_fit_and_score_inside_tasks_that_hold_every_worker_thread(client):
    # Two tasks at once on two single-thread workers: before fits ran on the
    # synchronous scheduler inside tasks, each waited for the other's thread.
    # The scheduler setting that fits change inside tasks is restored after.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)

    def fit_and_score(C):
        return LogisticRegression(C=C).fit(X, y).score(X, y)

    def scheduler_setting():
        return dask.config.get("scheduler", None)

    before = client.run(scheduler_setting)
    scores = within_deadline(
        client, lambda own: own.gather(own.map(fit_and_score, [0.5, 2.0], pure=False))
    )
    with dask.config.set(scheduler="threads"):  # here, outside any task
        expected = [fit_and_score(C) for C in (0.5, 2.0)]
    assert scores == pytest.approx(expected, rel=1e-12)
    assert client.run(scheduler_setting) == before


@pytest.mark.parametrize("estimator", [LogisticRegression(), Ridge(alpha=10.0)])
def test_pipeline_of_dask_ml_scaler_on_dask_arrays_matches_in_memory(client, estimator):
    from sklearn.base import clone
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)  # unscaled: the scaler matters
    ours = make_pipeline(DaskStandardScaler(), clone(estimator))
    Xd, yd = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    score = within_deadline(client, lambda own: ours.fit(Xd, yd).score(Xd, yd))
    with dask.config.set(scheduler="threads"):
        theirs = make_pipeline(StandardScaler(), clone(estimator)).fit(X, y)
    np.testing.assert_allclose(ours[-1].coef_, theirs[-1].coef_, rtol=1e-6)
    assert score == pytest.approx(theirs.score(X, y), rel=1e-12)
