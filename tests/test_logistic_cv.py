"""LogisticRegressionCV and regularization_path: every fold's path in the
same passes over X, against scikit-learn's LogisticRegressionCV (same folds)
and against separate dmltk fits on the same fold masks."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.linear_model import LogisticRegressionCV as SklearnCV
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

import dmltk
from dmltk import _blocks, _loss
from dmltk.linear_model import regularization_path

# Beyond C = 10 breast_cancer's folds are nearly separable: the objective's
# curvature in some directions is about 1 / (C n), so two solvers that both
# stop at a gradient of 1e-10 (or on scipy's relative decrease of 64 eps)
# differ by up to 1e-4 in the coefficients and 5e-6 in a held-out log loss
# at C = 100 (measured), both within the distance their gradients allow.
# Up to C = 10 the scores agree to better than the 1e-6 they are compared at.
CS = np.logspace(-4, 1, 6)
TIGHT = {"tol": 1e-10, "max_iter": 10_000}


@pytest.fixture
def threads():
    """Dask's threaded scheduler, for the comparisons with scikit-learn."""
    with dask.config.set(scheduler="threads"):
        yield


def standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def sklearn_search(X, y, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return SklearnCV(l1_ratios=(0.0,), use_legacy_attributes=False, **options).fit(
            X, y
        )


def gradient_norm(X, y, coef, C):
    """Norm of the gradient of scikit-learn's objective divided by C n, for
    the binomial (coef of shape (1, d + 1)) or multinomial loss."""
    n, k = X.shape[0], coef.shape[0]
    z = X @ coef[:, :-1].T + coef[:, -1]
    if k == 1:
        residual = 1.0 / (1.0 + np.exp(-z)) - (y == y.max())[:, None]
    else:
        z = z - z.max(axis=1, keepdims=True)
        residual = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        residual[np.arange(n), y] -= 1.0
    gradient = np.vstack(
        [X.T @ residual / n + coef[:, :-1].T / (C * n), residual.sum(axis=0) / n]
    )
    return float(np.linalg.norm(gradient))


@pytest.mark.parametrize(
    "loader", [load_breast_cancer, load_wine, load_iris], ids=lambda f: f.__name__
)
@pytest.mark.parametrize("scoring", ["neg_log_loss", "accuracy"])
def test_the_search_is_scikit_learns_on_the_same_folds(threads, loader, scoring):
    """Same folds (scikit-learn's splitter on numpy input): the same C, every
    held-out score to 1e-6, every path coefficient within the distance the
    two fits' gradients allow (the objective divided by C n is strongly
    convex with modulus 1 / (C n), so a fit lies within C n |gradient| of the
    optimum), and the refit's coefficients likewise.

    On Dask's threads (thousands of evaluations at this tolerance); the
    same batches on worker processes are compared with separate fits below.
    """
    X, y = standardised(loader)
    options = {"Cs": CS, "cv": StratifiedKFold(5), "scoring": scoring, **TIGHT}
    expected = sklearn_search(X, y, **options)
    search = dmltk.LogisticRegressionCV(**options).fit(X, y)
    assert search.C_ == expected.C_
    assert search.l1_ratio_ == expected.l1_ratio_ == 0.0
    np.testing.assert_array_equal(search.Cs_, expected.Cs_)
    assert search.scores_.shape == expected.scores_.shape
    np.testing.assert_allclose(search.scores_, expected.scores_, rtol=0, atol=1e-6)
    assert search.coefs_paths_.shape == expected.coefs_paths_.shape
    folds = list(StratifiedKFold(5).split(X, y))
    for f, (train, _) in enumerate(folds):
        for c, C in enumerate(CS):
            ours = search.coefs_paths_[f, 0, c]
            theirs = expected.coefs_paths_[f, 0, c]
            bound = (
                C
                * train.size
                * (
                    gradient_norm(X[train], y[train], ours, C)
                    + gradient_norm(X[train], y[train], theirs, C)
                )
            )
            distance = np.linalg.norm(ours[:, :-1] - theirs[:, :-1])
            assert distance <= bound + 1e-12, (f, C, distance, bound)
    C = float(search.C_)
    ours = np.hstack([search.coef_, search.intercept_[:, None]])
    theirs = np.hstack([expected.coef_, expected.intercept_[:, None]])
    bound = (
        C * X.shape[0] * (gradient_norm(X, y, ours, C) + gradient_norm(X, y, theirs, C))
    )
    assert np.linalg.norm(search.coef_ - expected.coef_) <= bound + 1e-12
    np.testing.assert_array_equal(search.predict(X), expected.predict(X))
    assert search.fit_stats_["fits"] == 5 * len(CS) + 1
    assert max(search.fit_stats_["models_per_pass"]) == 5


def test_legacy_attributes_have_scikit_learns_shapes(threads):
    """use_legacy_attributes=True: scikit-learn 1.9's dicts keyed by class,
    (fold, C, l1_ratio) order, C_ one per class."""
    X, y = standardised(load_iris)
    options = {"Cs": [0.01, 0.1, 1.0], "cv": 3, "scoring": "accuracy",
               "l1_ratios": (0.0,), **TIGHT}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        expected = SklearnCV(use_legacy_attributes=True, **options).fit(X, y)
    search = dmltk.LogisticRegressionCV(use_legacy_attributes=True, **options).fit(X, y)
    assert list(search.coefs_paths_) == list(expected.coefs_paths_)
    for key in expected.coefs_paths_:
        assert search.coefs_paths_[key].shape == expected.coefs_paths_[key].shape
        np.testing.assert_allclose(
            search.coefs_paths_[key], expected.coefs_paths_[key], atol=1e-6
        )
        np.testing.assert_array_equal(search.scores_[key], expected.scores_[key])
    assert search.n_iter_.shape == expected.n_iter_.shape
    np.testing.assert_array_equal(search.C_, expected.C_)
    np.testing.assert_array_equal(search.l1_ratio_, expected.l1_ratio_)


def hashed_data(n=6000, d=8, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    scores = X @ rng.standard_normal((d, n_classes)) + rng.gumbel(size=(n, n_classes))
    return X, scores.argmax(axis=1)


@pytest.mark.parametrize(
    "case", ["multinomial", "csr float32", "elastic net", "columns"]
)
def test_every_model_of_the_batch_is_a_separate_fit_on_its_fold(client, case):
    """Dask input, folds by hashed row position: each path's fit at each C
    is the fit dmltk.LogisticRegression makes alone on that fold's training
    rows (to the tolerance's bound), in every layout."""
    n_classes = 3 if case == "multinomial" else 2
    X, y = hashed_data(n_classes=n_classes)
    Xd = da.from_array(X, chunks=(1500, 8))
    if case == "csr float32":
        X = np.where(np.abs(X) > 0.7, X, 0.0).astype(np.float32)
        Xd = da.from_array(X, chunks=(1500, 8)).map_blocks(sp.csr_matrix)
    if case == "columns":
        Xd = da.from_array(X, chunks=(6000, 4))
    yd = da.from_array(y, chunks=1500)
    l1_ratios = (0.0, 0.5) if case == "elastic net" else (0.0,)
    solver = "owlqn" if case == "elastic net" else "lbfgs"
    Cs = [0.05, 1.0]
    search = dmltk.LogisticRegressionCV(
        Cs=Cs, cv=3, l1_ratios=l1_ratios, solver=solver, tol=1e-9, max_iter=1000
    ).fit(Xd, yd)
    folds = _blocks.hashed_folds(np.arange(X.shape[0]), 3, 0)
    for f in range(3):
        train = folds != f
        for r, l1_ratio in enumerate(l1_ratios):
            for c, C in enumerate(Cs):
                with dask.config.set(scheduler="threads"):
                    alone = dmltk.LogisticRegression(
                        C=C, l1_ratio=l1_ratio, solver=solver, tol=1e-9, max_iter=1000
                    ).fit(X[train], y[train])
                expected = np.hstack([alone.coef_, alone.intercept_[:, None]])
                np.testing.assert_allclose(
                    search.coefs_paths_[f, r, c], expected, rtol=0, atol=2e-6
                )
    assert search.fit_stats_["layout"] == ("columns" if case == "columns" else "rows")


def test_a_paths_start_is_evaluated_without_a_pass(client):
    """Each fold path's first evaluation, at zero weights, comes from the
    search's first pass (its sums by class): with a tolerance that every
    start meets, the fold paths make no pass and stop where they start, as
    scikit-learn's do (no iteration); only the refit reads X."""
    X, y = hashed_data(n=6000)
    Xd, yd = da.from_array(X, chunks=(1000, 8)), da.from_array(y, chunks=1000)
    search = dmltk.LogisticRegressionCV(Cs=3, cv=4, tol=10.0).fit(Xd, yd)
    assert search.fit_stats_["models_per_pass"] == [1]  # the refit
    assert search.fit_stats_["passes"] == 3  # class sums, refit, held-out
    assert np.all(search.n_iter_ == 0)
    assert np.all(search.coefs_paths_[..., :-1] == 0.0)
    weights = search.coefs_paths_[..., -1]  # the intercepts: each fold's log-odds
    assert np.all(np.isfinite(weights)) and np.ptp(weights[:, 0, 0]) > 0


def test_one_task_per_block_per_pass_serves_every_model(client):
    """The graph of a batched pass over a rows layout reads every block of X
    in exactly one task, whatever the number of models, and a search takes
    as many tasks per pass as a single fit does."""
    X, y = hashed_data(n=8000)
    Xd, yd = da.from_array(X, chunks=(1000, 8)), da.from_array(y, chunks=1000)
    search = dmltk.LogisticRegressionCV(Cs=4, cv=5).fit(Xd, yd)
    single = dmltk.LogisticRegression().fit(Xd, yd)
    stats, alone = search.fit_stats_, single.fit_stats_
    assert max(stats["models_per_pass"]) == 5
    assert len(stats["models_per_pass"]) <= stats["evaluations"]
    # Every pass over X counts: the evaluations (fold paths, refit), the
    # class sums that give the class weights, the column means that centre
    # the solver's coordinates and each path's first evaluation, the
    # held-out scores.
    assert stats["passes"] == stats["evaluations"] + 2
    assert alone["passes"] == alone["evaluations"] + 1  # and the means

    from dmltk._distributed import BlockEvaluator

    Xp, yp = dask.persist(Xd, yd)
    evaluator = BlockEvaluator(Xp, yp)
    x_keys = {key for row in Xp.__dask_keys__() for key in row}
    for n_models in (1, 5, 50):
        batch = _loss.ModelBatch(1, tuple(range(n_models)))
        coef = np.zeros(n_models * 9)
        graph, _ = evaluator.loss_gradient_graph(coef, True, family=batch)
        readers = {key: 0 for key in x_keys}
        for task in graph.values():
            for argument in task[1:] if isinstance(task, tuple) else ():
                if isinstance(argument, tuple) and argument in readers:
                    readers[argument] += 1
        assert set(readers.values()) == {1}, n_models
    per_pass_search = stats["tasks"] / stats["evaluations"]
    per_pass_single = alone["tasks"] / alone["evaluations"]
    assert per_pass_search <= per_pass_single + 2


def test_regularization_path_is_the_fits_at_each_C(threads):
    """regularization_path's coefficients at each C are LogisticRegression's
    at that C, within the distance their gradients allow (each warm-started
    fit may stop on scipy's relative decrease of 64 eps before the gradient
    test), binary and multinomial."""
    for loader in (load_breast_cancer, load_iris):
        X, y = standardised(loader)
        Cs = [0.001, 0.1, 10.0]
        path = regularization_path(X, y, Cs=Cs, tol=1e-10, max_iter=10_000)
        assert path.coefs.shape[0] == len(Cs)
        for c, C in enumerate(Cs):
            alone = dmltk.LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
            ours = np.hstack([path.coefs[c], path.intercepts[c][:, None]])
            theirs = np.hstack([alone.coef_, alone.intercept_[:, None]])
            bound = (
                C
                * X.shape[0]
                * (gradient_norm(X, y, ours, C) + gradient_norm(X, y, theirs, C))
            )
            assert np.linalg.norm(ours[:, :-1] - theirs[:, :-1]) <= bound + 1e-12
            np.testing.assert_allclose(path.coefs[c], alone.coef_, atol=1e-4)
        assert np.all(path.n_iter > 0)


def test_a_worker_killed_mid_search_gives_the_same_result(tmp_path):
    """A worker process killed while the search runs (its nanny restarts it;
    its blocks are recomputed from their source): the same choice and the
    same paths."""
    from distributed import Client, LocalCluster

    X, y = hashed_data(n=40_000, d=20)
    Xd, yd = da.from_array(X, chunks=(5000, 20)), da.from_array(y, chunks=5000)
    options = {"Cs": 6, "cv": 4, "tol": 1e-8, "max_iter": 500}
    with dask.config.set(scheduler="threads"):
        expected = dmltk.LogisticRegressionCV(**options).fit(Xd, yd)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=":0", local_directory=str(tmp_path),
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        outcome = {}

        def search():
            with client.as_current():
                outcome["model"] = dmltk.LogisticRegressionCV(**options).fit(Xd, yd)

        thread = threading.Thread(target=search)
        thread.start()
        time.sleep(2.0)
        assert thread.is_alive(), "the search ended before the fault"
        pids = client.run(os.getpid)
        os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
        thread.join(timeout=240)
        assert not thread.is_alive()
    model = outcome["model"]
    assert model.C_ == expected.C_
    np.testing.assert_allclose(model.coefs_paths_, expected.coefs_paths_, atol=1e-7)
    np.testing.assert_allclose(model.scores_, expected.scores_, atol=1e-9)


def test_bad_settings_are_named(client):
    X, y = hashed_data(n=600)
    Xd, yd = da.from_array(X, chunks=(200, 8)), da.from_array(y, chunks=200)
    with pytest.raises(ValueError, match="handles smooth penalties only"):
        dmltk.LogisticRegressionCV(l1_ratios=(0.5,)).fit(X, y)
    with pytest.raises(ValueError, match="Cs must hold positive numbers"):
        dmltk.LogisticRegressionCV(Cs=[1.0, -1.0]).fit(X, y)
    with pytest.raises(ValueError, match="l1_ratios must be"):
        dmltk.LogisticRegressionCV(l1_ratios=(2.0,), solver="owlqn").fit(X, y)
    with pytest.raises(ValueError, match="needs in-memory X"):
        dmltk.LogisticRegressionCV(scoring="roc_auc").fit(Xd, yd)
    with pytest.raises(ValueError, match="cv must be a number of folds"):
        dmltk.LogisticRegressionCV(cv=GroupKFold(3)).fit(Xd, yd)
    with pytest.raises(ValueError, match="only one class"):
        dmltk.LogisticRegressionCV().fit(X, np.zeros(600))
    # 12 rows hashed into 8 folds: folds 3 and 6 get none.
    small_X = da.from_array(X[:12], chunks=(6, 8))
    small_y = da.from_array(y[:12], chunks=6)
    with pytest.raises(ValueError, match="Fold 3 of 8 holds out no rows"):
        dmltk.LogisticRegressionCV(cv=8).fit(small_X, small_y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("kind", ["dense", "csr"])
def test_nonfinite_X_is_refused_by_the_searchs_first_pass(client, kind, bad):
    """A dask X is checked in the search's first pass (its sums by class,
    which read X anyway): a NaN or an infinity, even in a row of weight 0,
    is refused naming its block, as a single fit refuses it; values whose
    sums overflow are refused too."""
    X, y = hashed_data(n=600)
    X[450, 3] = bad
    weights = np.ones(600)
    weights[450] = 0.0
    Xd = da.from_array(X, chunks=(200, 8))
    if kind == "csr":
        Xd = Xd.map_blocks(sp.csr_matrix)
    yd, wd = da.from_array(y, chunks=200), da.from_array(weights, chunks=200)
    search = dmltk.LogisticRegressionCV(Cs=2, cv=3)
    with pytest.raises(ValueError, match=r"1 value\(s\) in row block\(s\) \[2\]"):
        search.fit(Xd, yd, sample_weight=wd)
    huge = np.full_like(X, 1e308)
    with pytest.raises(ValueError, match="overflow float64"):
        search.fit(da.from_array(huge, chunks=(200, 8)), yd)


def test_client_side_scorers_on_numpy_input(threads):
    """A scorer that is not blockwise (roc_auc) runs on the client on each
    fold's held-out rows: scikit-learn's scores."""
    X, y = standardised(load_breast_cancer)
    options = {"Cs": [0.01, 1.0], "cv": StratifiedKFold(3), "scoring": "roc_auc",
               **TIGHT}  # fmt: skip
    expected = sklearn_search(X, y, **options)
    search = dmltk.LogisticRegressionCV(**options).fit(X, y)
    np.testing.assert_allclose(search.scores_, expected.scores_, atol=1e-9)
    assert search.score(X, y) == pytest.approx(expected.score(X, y), abs=1e-9)
