"""The regression searches: LassoCV, ElasticNetCV and the GLM families'
alpha searches (every fold's path in the same passes over X), and RidgeCV
(closed form), against scikit-learn (same folds) and against separate dmltk
fits on the same fold masks."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sklearn_linear
from sklearn.datasets import load_diabetes
from sklearn.metrics import (
    d2_tweedie_score,
    mean_poisson_deviance,
    mean_tweedie_deviance,
)
from sklearn.model_selection import GroupKFold, KFold
from sklearn.preprocessing import StandardScaler

import dmltk
from dmltk import _blocks

TIGHT_SKLEARN = {"tol": 1e-13, "max_iter": 1_000_000}
TIGHT = {"tol": 1e-10, "max_iter": 10_000}


@pytest.fixture
def threads():
    """Dask's threaded scheduler, for the comparisons with scikit-learn."""
    with dask.config.set(scheduler="threads"):
        yield


def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def enet_objective(X, y, coef, intercept, alpha, l1_ratio, sample_weight=None):
    """scikit-learn's elastic net objective (weighted mean squared error)."""
    weights = np.ones(y.size) if sample_weight is None else sample_weight
    residual = y - X @ coef - intercept
    return (
        weights @ residual**2 / (2 * weights.sum())
        + alpha * l1_ratio * np.abs(coef).sum()
        + alpha * (1 - l1_ratio) / 2 * coef @ coef
    )


def reference_dual_gap(X, y, coef, alpha, l1_ratio, positive=False):
    """scikit-learn's ``dual_gap_`` at ``coef`` written the plain way (its
    coordinate descent's gap on the centred data, divided by n), with the
    intercept the centred columns imply."""
    n = y.size
    X64 = X.astype(np.float64)
    residual = (y - y.mean()) - (X64 - X64.mean(axis=0)) @ coef
    l1, l2 = alpha * l1_ratio * n, alpha * (1 - l1_ratio) * n
    dual = (X64 - X64.mean(axis=0)).T @ residual - l2 * coef
    dual_norm = dual.max() if positive else np.abs(dual).max()
    scale = l1 / dual_norm if dual_norm > l1 else 1.0
    gap = (
        0.5 * (1 + scale**2) * residual @ residual
        + l1 * np.abs(coef).sum()
        - scale * residual @ (y - y.mean())
        + 0.5 * l2 * (1 + scale**2) * coef @ coef
    )
    return gap / n


def synthetic(n=6000, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    coef = np.array([3.0, -2.0, 0.0, 0.0, 1.5, 0.0, 0.5, 0.0])[:d]
    return X, X @ coef + 1.0 + rng.standard_normal(n)


# diabetes has two nearly collinear columns (s1, s2: correlation 0.9): two
# solvers that reach the same objective to 1e-12 may differ by up to 2e-4 in
# those coefficients (measured with OWL-QN), and a held-out mean squared
# error, first order in them, by up to 2e-6 relative. The objectives are
# compared at 1e-9, the errors at 1e-5 (measured with the coordinate descent
# on the normal equations that numpy input runs: 3e-12).
@pytest.mark.parametrize(
    "estimator, options",
    [
        ("LassoCV", {"alphas": 12}),
        ("LassoCV", {"alphas": 8, "positive": True}),
        ("ElasticNetCV", {"alphas": 12, "l1_ratio": [0.3, 1.0]}),
        ("ElasticNetCV", {"alphas": [3.0, 0.01, 0.3], "l1_ratio": 0.5, "cv": 3}),
    ],
)
def test_the_search_is_scikit_learns_on_the_same_folds(threads, estimator, options):
    X, y = diabetes()
    expected = getattr(sklearn_linear, estimator)(**options, **TIGHT_SKLEARN).fit(X, y)
    search = getattr(dmltk, estimator)(**options, **TIGHT).fit(X, y)
    assert search.alpha_ == pytest.approx(expected.alpha_, rel=1e-12)
    np.testing.assert_allclose(search.alphas_, expected.alphas_, rtol=1e-12)
    assert search.mse_path_.shape == expected.mse_path_.shape
    np.testing.assert_allclose(search.mse_path_, expected.mse_path_, rtol=1e-5)
    l1_ratio = getattr(expected, "l1_ratio_", 1.0)
    assert getattr(search, "l1_ratio_", 1.0) == l1_ratio
    assert hasattr(search, "l1_ratio_") == hasattr(expected, "l1_ratio_")
    ours, theirs = (
        enet_objective(X, y, m.coef_, m.intercept_, expected.alpha_, l1_ratio)
        for m in (search, expected)
    )
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert search.fit_stats_["fits"] == expected.mse_path_.size + 1
    # The gap from the normal equations: differences of sums of the size of
    # y's variance (6e3), so rounding of order 1e-12 (measured 8e-13).
    positive = options.get("positive", False)
    gap = reference_dual_gap(X, y, search.coef_, search.alpha_, l1_ratio, positive)
    assert search.dual_gap_ == pytest.approx(gap, rel=1e-2, abs=1e-11)
    assert 0 <= gap < 1e-6  # converged: measured 3e-9 and 1e-8


def test_sample_weights_weigh_the_fits_and_the_held_out_errors(threads):
    """With sample weights, each fold's fit is weighted, and its held-out
    error is a weighted mean, as in scikit-learn."""
    X, y = diabetes()
    weights = np.random.default_rng(0).uniform(0.2, 3.0, size=y.size)
    options = {"alphas": 8, "l1_ratio": 0.7, "cv": KFold(4, shuffle=True,
               random_state=1)}  # fmt: skip
    expected = sklearn_linear.ElasticNetCV(**options, **TIGHT_SKLEARN).fit(
        X, y, sample_weight=weights
    )
    search = dmltk.ElasticNetCV(**options, **TIGHT).fit(X, y, sample_weight=weights)
    assert search.alpha_ == pytest.approx(expected.alpha_, rel=1e-12)
    np.testing.assert_allclose(search.alphas_, expected.alphas_, rtol=1e-12)
    np.testing.assert_allclose(search.mse_path_, expected.mse_path_, rtol=1e-5)
    ours, theirs = (
        enet_objective(X, y, m.coef_, m.intercept_, m.alpha_, 0.7, weights)
        for m in (search, expected)
    )
    assert ours == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("case", ["dense", "csr float32", "columns"])
def test_every_model_of_the_batch_is_a_separate_fit_on_its_fold(client, case):
    """On dask input, each fold's held-out error at each alpha is that of a
    separate dmltk ElasticNet fitted on the fold's hashed rows, in every
    layout, and every pass serves all the folds' models."""
    X, y = synthetic()
    Xd = da.from_array(X, chunks=(1500, 8))
    if case == "csr float32":
        X = np.where(np.abs(X) > 0.5, X, 0.0).astype(np.float32)
        Xd = da.from_array(X, chunks=(1500, 8)).map_blocks(sp.csr_matrix)
    if case == "columns":
        Xd = da.from_array(X, chunks=(6000, 4))
    yd = da.from_array(y, chunks=1500)
    alphas = [0.5, 0.05]
    # Two l1_ratios on the dense rows; one elsewhere (each model is checked
    # against a separate fit: 6 or 12 of them).
    l1_ratios = [0.5, 1.0] if case == "dense" else [1.0]
    search = dmltk.ElasticNetCV(
        alphas=alphas, l1_ratio=l1_ratios, cv=3, tol=1e-9, max_iter=2000
    ).fit(Xd, yd)
    n_models = 3 * len(l1_ratios) * len(alphas)
    if case == "columns":
        # The batched paths: each pass serves the l1_ratios x 3 folds.
        assert search.fit_stats_["models_per_pass"][0] == 3 * len(l1_ratios)
        assert search.solver_ == "owlqn"
    else:
        # Whole rows: one pass sums every fold's normal equations, and all
        # the models are solved and scored from them.
        assert search.fit_stats_["models_per_pass"] == [n_models]
        assert search.fit_stats_["evaluations"] == 1
        assert search.solver_ == "cd"
    folds = _blocks.hashed_folds(np.arange(X.shape[0]), 3, 0)
    X64 = X.astype(np.float64)
    # (l1_ratio, alpha, fold); scikit-learn drops the first axis for one.
    mse_path = np.reshape(search.mse_path_, (len(l1_ratios), len(alphas), 3))
    for r, l1_ratio in enumerate(l1_ratios):
        for a, alpha in enumerate(alphas):
            for f in range(3):
                train, test = folds != f, folds == f
                with dask.config.set(scheduler="threads"):
                    alone = dmltk.ElasticNet(
                        alpha=alpha, l1_ratio=l1_ratio, tol=1e-9, max_iter=2000
                    ).fit(X[train], y[train])
                error = y[test] - X64[test] @ alone.coef_ - alone.intercept_
                assert mse_path[r, a, f] == pytest.approx(np.mean(error**2), rel=1e-8)
    layout = "columns" if case == "columns" else "rows"
    assert search.fit_stats_["layout"] == layout
    with dask.config.set(scheduler="threads"):
        refit = dmltk.ElasticNet(
            alpha=search.alpha_, l1_ratio=search.l1_ratio_, tol=1e-9, max_iter=2000
        ).fit(X, y)
    np.testing.assert_allclose(search.coef_, refit.coef_, atol=1e-6)
    assert search.score(Xd, yd) == pytest.approx(refit.score(X, y), rel=1e-9)
    gap = reference_dual_gap(X, y, search.coef_, search.alpha_, search.l1_ratio_)
    assert search.dual_gap_ == pytest.approx(gap, rel=1e-4, abs=1e-11)


def test_lasso_search_zeroes_the_irrelevant_columns(client):
    """On data whose target ignores four columns, LassoCV's model leaves
    them (nearly) out and predicts as well as the true coefficients."""
    X, y = synthetic(n=20_000)
    Xd, yd = da.from_array(X, chunks=(5000, 8)), da.from_array(y, chunks=5000)
    search = dmltk.LassoCV(alphas=10, cv=4).fit(Xd, yd)
    assert search.mse_path_.shape == (10, 4)
    assert not hasattr(search, "l1_ratio_")
    np.testing.assert_allclose(
        search.coef_, [3.0, -2.0, 0.0, 0.0, 1.5, 0.0, 0.5, 0.0], atol=0.05
    )
    # The noise has unit variance: the best held-out error is about 1.
    assert search.mse_path_.mean(axis=1).min() == pytest.approx(1.0, abs=0.05)


def test_positive_search_on_the_batched_paths_is_the_normal_equations_one(client):
    """positive=True on column blocks (the batched paths: L-BFGS-B with
    bounds) chooses the alpha of the rows layout (the normal equations:
    coordinate descent), with the same held-out errors and coefficients to
    the solvers' tolerance, every weight >= 0; the data make the positive
    constraint bind (the second true weight is -2)."""
    X, y = synthetic(n=6000)
    options = {"alphas": 6, "cv": 3, "l1_ratio": [0.5, 1.0], "positive": True,
               "tol": 1e-10, "max_iter": 5000}  # fmt: skip
    by_rows = dmltk.ElasticNetCV(**options).fit(
        da.from_array(X, chunks=(1500, 8)), da.from_array(y, chunks=1500)
    )
    by_columns = dmltk.ElasticNetCV(**options).fit(
        da.from_array(X, chunks=(6000, 4)), da.from_array(y, chunks=6000)
    )
    assert by_columns.fit_stats_["layout"] == "columns"
    # The same grid from the two engines' sums (to rounding), the same choice.
    np.testing.assert_allclose(by_columns.alphas_, by_rows.alphas_, rtol=1e-12)
    assert by_columns.alpha_ == pytest.approx(by_rows.alpha_, rel=1e-12)
    assert by_columns.l1_ratio_ == by_rows.l1_ratio_
    np.testing.assert_allclose(by_columns.mse_path_, by_rows.mse_path_, rtol=1e-7)
    assert by_columns.coef_.min() >= 0.0
    assert by_columns.coef_[1] == 0.0  # held at its bound
    np.testing.assert_allclose(by_columns.coef_, by_rows.coef_, atol=1e-7)
    # Each engine's gap is scikit-learn's at its own solution (the largest
    # correlation, not the largest absolute one: weights bounded below).
    for search in (by_rows, by_columns):
        gap = reference_dual_gap(
            X, y, search.coef_, search.alpha_, search.l1_ratio_, positive=True
        )
        assert search.dual_gap_ == pytest.approx(gap, rel=1e-4, abs=1e-11)
        assert 0 <= gap < 1e-7  # measured 1e-10 and 4e-9


def test_bad_settings_are_named(client):
    X, y = synthetic(n=600)
    Xd, yd = da.from_array(X, chunks=(200, 8)), da.from_array(y, chunks=200)
    with pytest.raises(ValueError, match="not supported for l1_ratio=0"):
        dmltk.ElasticNetCV(l1_ratio=[0.0, 0.5]).fit(X, y)
    with pytest.raises(ValueError, match="alphas must hold finite numbers >= 0"):
        dmltk.ElasticNetCV(alphas=[1.0, -1.0]).fit(X, y)
    with pytest.raises(ValueError, match="l1_ratio must be"):
        dmltk.ElasticNetCV(l1_ratio=[0.5, 2.0]).fit(X, y)
    with pytest.raises(ValueError, match="cv must be a number of folds"):
        dmltk.LassoCV(cv=GroupKFold(3)).fit(Xd, yd)
    with pytest.raises(ValueError, match="y contains NaN"):
        dmltk.LassoCV().fit(X, np.where(np.arange(600) == 5, np.nan, y))
    small_X = da.from_array(X[:12], chunks=(6, 8))
    small_y = da.from_array(y[:12], chunks=6)
    with pytest.raises(ValueError, match="Fold 3 of 8 holds out no rows"):
        dmltk.LassoCV(cv=8).fit(small_X, small_y)


RIDGE_ALPHAS = [1e-3, 1e-2, 0.1, 1.0, 10.0]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"scoring": "r2"},
        {"scoring": "neg_mean_squared_error", "fit_intercept": False},
        {"cv": 5},
        {
            "cv": KFold(4, shuffle=True, random_state=0),
            "scoring": "neg_mean_squared_error",
        },
    ],
    ids=["loo", "loo r2", "loo mse no intercept", "5 folds", "shuffled folds mse"],
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_ridge_search_is_scikit_learns(threads, options, weighted):
    """RidgeCV in closed form (leave-one-out, or folds) on diabetes as
    scikit-learn gives it: the same alpha, the score and coefficients to
    rounding (both solve the same linear systems exactly; measured 1e-15
    relative, compared at 1e-10)."""
    X, y = load_diabetes(return_X_y=True)
    weights = None
    if weighted:
        weights = np.random.default_rng(0).uniform(0.2, 3.0, size=y.size)
    expected = sklearn_linear.RidgeCV(alphas=RIDGE_ALPHAS, **options).fit(
        X, y, sample_weight=weights
    )
    search = dmltk.RidgeCV(alphas=RIDGE_ALPHAS, **options).fit(
        X, y, sample_weight=weights
    )
    assert search.alpha_ == expected.alpha_
    assert search.best_score_ == pytest.approx(expected.best_score_, rel=1e-10)
    np.testing.assert_allclose(search.coef_, expected.coef_, rtol=1e-10, atol=1e-8)
    assert search.intercept_ == pytest.approx(expected.intercept_, rel=1e-10, abs=1e-8)
    # The folds' normal equations, then for leave-one-out its errors.
    leave_one_out = "cv" not in options
    assert search.fit_stats_["evaluations"] == (2 if leave_one_out else 1)


@pytest.mark.parametrize("case", ["dense", "csr"])
def test_ridge_search_on_the_cluster_is_its_fits_on_the_folds(client, case):
    """On dask input: leave-one-out gives what numpy input gives, and with
    folds, the best score is the mean held-out R^2 of separate dmltk Ridge
    fits on the fold's hashed rows; two passes over X either way."""
    X, y = synthetic()
    if case == "csr":
        X = np.where(np.abs(X) > 0.5, X, 0.0)
    Xd = da.from_array(X, chunks=(1500, 8))
    if case == "csr":
        Xd = Xd.map_blocks(sp.csr_matrix)
    yd = da.from_array(y, chunks=1500)
    alphas = [0.1, 100.0, 3000.0]
    with dask.config.set(scheduler="threads"):
        in_memory = dmltk.RidgeCV(alphas=alphas).fit(X, y)
    distributed = dmltk.RidgeCV(alphas=alphas).fit(Xd, yd)
    assert distributed.alpha_ == in_memory.alpha_
    assert distributed.best_score_ == pytest.approx(in_memory.best_score_, rel=1e-10)
    np.testing.assert_allclose(distributed.coef_, in_memory.coef_, rtol=1e-10)
    folded = dmltk.RidgeCV(alphas=alphas, cv=3).fit(Xd, yd)
    assert folded.fit_stats_["evaluations"] == 1
    folds = _blocks.hashed_folds(np.arange(X.shape[0]), 3, 0)
    scores = []
    for f in range(3):
        with dask.config.set(scheduler="threads"):
            alone = dmltk.Ridge(alpha=folded.alpha_).fit(X[folds != f], y[folds != f])
            scores.append(alone.score(X[folds == f], y[folds == f]))
    assert folded.best_score_ == pytest.approx(np.mean(scores), rel=1e-9)


def test_ridge_search_bad_settings_are_named(client):
    X, y = synthetic(n=600)
    with pytest.raises(ValueError, match=r"alphas must hold finite numbers > 0"):
        dmltk.RidgeCV(alphas=[0.0, 1.0]).fit(X, y)
    with pytest.raises(ValueError, match="store_cv_results=True is not supported"):
        dmltk.RidgeCV(store_cv_results=True).fit(X, y)
    columns = da.from_array(X, chunks=(600, 4))
    with pytest.raises(ValueError, match="needs whole rows in every block"):
        dmltk.RidgeCV().fit(columns, da.from_array(y, chunks=600))
    # alpha = 0 with folds: least squares, as scikit-learn allows.
    with dask.config.set(scheduler="threads"):
        search = dmltk.RidgeCV(alphas=[0.0], cv=3).fit(X, y)
    expected = sklearn_linear.RidgeCV(alphas=[0.0], cv=3).fit(X, y)
    np.testing.assert_allclose(search.coef_, expected.coef_, rtol=1e-10)


def poisson_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1] + 0.2)).astype(float)


def test_poisson_search_scores_scikit_learns_fits_on_the_same_folds(threads):
    """PoissonRegressorCV's held-out mean deviance at every alpha is that of
    scikit-learn's PoissonRegressor fitted on the fold (both fits at tight
    tolerances on a well-conditioned problem: measured within 6e-9,
    compared at 1e-7), and it chooses the least."""
    X, y = poisson_data()
    search = dmltk.PoissonRegressorCV(alphas=5, eps=1e-5, cv=3, tol=1e-10,
                                      max_iter=1000).fit(X, y)  # fmt: skip
    assert search.deviance_path_.shape == (5, 3)
    assert search.alphas_[0] > search.alphas_[-1]
    for a, alpha in enumerate(search.alphas_):
        for f, (train, test) in enumerate(KFold(3).split(X)):
            fitted = sklearn_linear.PoissonRegressor(
                alpha=alpha, tol=1e-12, max_iter=10_000
            ).fit(X[train], y[train])
            deviance = mean_poisson_deviance(y[test], fitted.predict(X[test]))
            assert search.deviance_path_[a, f] == pytest.approx(deviance, rel=1e-7)
    best = np.argmin(search.deviance_path_.mean(axis=1))
    assert search.alpha_ == search.alphas_[best]
    refit = sklearn_linear.PoissonRegressor(alpha=search.alpha_, tol=1e-12,
                                            max_iter=10_000).fit(X, y)  # fmt: skip
    np.testing.assert_allclose(search.coef_, refit.coef_, atol=1e-7)


@pytest.mark.parametrize(
    "estimator, options",
    [("GammaRegressorCV", {}), ("TweedieRegressorCV", {"power": 1.5})],
)
def test_glm_searches_on_the_cluster_are_their_fits_on_the_folds(
    client, estimator, options
):
    """On dask input, with an elastic-net l1_ratio, every held-out deviance
    is that of a separate dmltk regressor fitted on the fold's hashed rows."""
    X, y = poisson_data(n=4000, seed=1)
    y = y + 0.5  # positive, for the Gamma family
    Xd, yd = da.from_array(X, chunks=(1000, 5)), da.from_array(y, chunks=1000)
    alphas = [0.1, 0.01]
    search = getattr(dmltk, estimator)(
        **options, alphas=alphas, l1_ratio=0.5, cv=3, tol=1e-9, max_iter=1000
    ).fit(Xd, yd)
    folds = _blocks.hashed_folds(np.arange(X.shape[0]), 3, 0)
    single = getattr(dmltk, estimator.removesuffix("CV"))
    for a, alpha in enumerate(alphas):
        for f in range(3):
            with dask.config.set(scheduler="threads"):
                alone = single(
                    **options, alpha=alpha, l1_ratio=0.5, tol=1e-9, max_iter=1000
                ).fit(X[folds != f], y[folds != f])
            power = options.get("power", 2.0)
            deviance = mean_tweedie_deviance(
                y[folds == f], alone.predict(X[folds == f]), power=power
            )
            assert search.deviance_path_[a, f] == pytest.approx(deviance, rel=1e-7)
    assert search.score(Xd, yd) == pytest.approx(
        d2_tweedie_score(y, search.predict(X), power=options.get("power", 2.0)),
        rel=1e-9,
    )
    with pytest.raises(
        ValueError, match=r"(out of the valid range|are negative).*smallest is -9\.5"
    ):
        getattr(dmltk, estimator)(**options).fit(X, y - 10.0)
