"""The scikit-learn estimator contract."""

import dask.array as da
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import dmltk
from dmltk import LogisticRegression


@parametrize_with_checks([LogisticRegression()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@parametrize_with_checks(
    [
        dmltk.LinearRegression(),
        dmltk.Ridge(),
        dmltk.Lasso(),
        dmltk.ElasticNet(),
        dmltk.PoissonRegressor(),
        dmltk.GammaRegressor(),
        dmltk.TweedieRegressor(power=1.5),
    ]
)
def test_sklearn_estimator_checks_of_the_regressors(estimator, check):
    check(estimator)


# The searches, on small grids (the checks fit hundreds of times).
# PoissonRegressorCV and GammaRegressorCV are TweedieRegressorCV's class with
# another family (both pass too, measured: 20 s more).
@parametrize_with_checks(
    [
        dmltk.LogisticRegressionCV(Cs=2, cv=3),
        dmltk.RidgeCV(),
        dmltk.LassoCV(alphas=3, cv=3),
        dmltk.ElasticNetCV(alphas=3, cv=3),
        dmltk.TweedieRegressorCV(power=1.5, alphas=3, cv=3),
    ]
)
def test_sklearn_estimator_checks_of_the_searches(estimator, check):
    check(estimator)


def test_clone_keeps_parameters_and_drops_fitted_state(breast_cancer):
    X, y = breast_cancer
    model = LogisticRegression(C=0.5, tol=1e-6, max_iter=50).fit(X, y)
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "coef_")


def test_pipeline_and_grid_search_pick_the_same_C_as_sklearn(breast_cancer):
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    X, y = breast_cancer
    grid = {"logisticregression__C": [0.001, 0.1, 10.0]}
    ours = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression()), grid)
    theirs = GridSearchCV(make_pipeline(StandardScaler(), SkLogisticRegression()), grid)
    ours.fit(X, y)
    theirs.fit(X, y)
    assert ours.best_params_ == theirs.best_params_
    np.testing.assert_allclose(
        ours.cv_results_["mean_test_score"],
        theirs.cv_results_["mean_test_score"],
        atol=1 / 114,  # at most one test sample of a fold may flip
    )


def test_cross_val_score_matches_sklearn(breast_cancer):
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    X, y = breast_cancer
    ours = cross_val_score(LogisticRegression(tol=1e-8), X, y, cv=4)
    theirs = cross_val_score(SkLogisticRegression(tol=1e-8), X, y, cv=4)
    np.testing.assert_allclose(ours, theirs)


def test_grid_search_on_dask_arrays(client, breast_cancer):
    # GridSearchCV slices arrays with integer indices: dask arrays support
    # that, so every fold is fitted on the cluster.
    X, y = breast_cancer
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 1.0]}, cv=3)
    search.fit(da.from_array(X, chunks=100), y)
    assert search.best_params_["C"] == 1.0
    assert search.best_score_ > 0.95


def test_pickle_round_trip(breast_cancer):
    import pickle

    X, y = breast_cancer
    model = LogisticRegression().fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("verbose", [0, 1])
def test_get_params_round_trip(verbose):
    model = LogisticRegression(C=3.0, fit_intercept=False, verbose=verbose)
    assert clone(model).get_params() == model.get_params()
