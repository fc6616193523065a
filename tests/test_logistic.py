"""LogisticRegression against scikit-learn, on both schedulers."""

import warnings

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from dmltk import LogisticRegression

from .conftest import distance_bound, sklearn_objective

# Both fits stop when every gradient entry of the objective / (C n) is below
# TOL, or earlier when the objective stops decreasing (64 eps relative). The
# coefficients are then compared within the distance that the remaining
# gradients allow (conftest.distance_bound), which must itself be small.
TOL = 1e-10
COEF_ATOL = 1e-6


def fit_both(X_numpy, y, X_input, y_input, **params):
    params = {"tol": TOL, "max_iter": 1000, **params}
    ours = LogisticRegression(**params).fit(X_input, y_input)
    theirs = SkLogisticRegression(**params).fit(X_numpy, y)
    return ours, theirs


def assert_same_model(ours, theirs, X, y, C=1.0):
    y01 = (y == theirs.classes_[1]).astype(float)
    ours_value = sklearn_objective(X, y01, ours.coef_[0], ours.intercept_[0], C)
    theirs_value = sklearn_objective(X, y01, theirs.coef_[0], theirs.intercept_[0], C)
    assert ours_value == pytest.approx(theirs_value, rel=1e-8)
    bound = distance_bound(X, y01, [ours, theirs], C)
    assert bound < 1e-3
    assert np.linalg.norm(ours.coef_ - theirs.coef_) <= bound
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-3)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)


CHUNKINGS = {
    "one block": -1,
    "many blocks": 50,
    "uneven blocks": ((200, 7, 150, 212),),
}


# Every chunking on threads; on worker processes the one block and the many
# 2-D blocks (the uneven ones are the same graph, at 10 s a fit there).
DENSE_CASES = [
    *[("threads", name) for name in CHUNKINGS],
    ("distributed", "one block"),
    ("distributed", "many blocks"),
]


@pytest.mark.parametrize(
    "scheduler, chunking",
    DENSE_CASES,
    indirect=["scheduler"],
    ids=[f"{s}-{name}" for s, name in DENSE_CASES],
)
def test_dense_dask_matches_sklearn(scheduler, breast_cancer, chunking):
    chunks = CHUNKINGS[chunking]
    X, y = breast_cancer
    row_chunks = chunks if isinstance(chunks, tuple) else (chunks,)
    X_dask = da.from_array(X, chunks=(row_chunks[0], 10))
    y_dask = da.from_array(y, chunks=row_chunks)
    ours, theirs = fit_both(X, y, X_dask, y_dask)
    assert_same_model(ours, theirs, X, y)
    assert ours.n_features_in_ == 30
    assert ours.n_iter_.shape == (1,) and 0 < ours.n_iter_[0] < 1000
    assert ours.objective_history_.shape == (ours.n_iter_[0],)


def test_numpy_input_matches_sklearn(scheduler, breast_cancer):
    X, y = breast_cancer
    ours, theirs = fit_both(X, y, X, y)
    assert_same_model(ours, theirs, X, y)


@pytest.mark.parametrize("C", [0.01, 10.0, np.inf])
def test_regularisation_strengths_match_sklearn(breast_cancer, C):
    X, y = breast_cancer
    if np.isinf(C):
        # Unpenalised breast_cancer is (almost) separable: compare on a
        # subset of features where the optimum is finite.
        X = X[:, :3]
    ours, theirs = fit_both(X, y, da.from_array(X, chunks=(100, -1)), y, C=C)
    if np.isinf(C):
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5)
    else:
        assert_same_model(ours, theirs, X, y, C=C)


def test_without_intercept_matches_sklearn(breast_cancer):
    X, y = breast_cancer
    ours, theirs = fit_both(X, y, da.from_array(X, chunks=100), y, fit_intercept=False)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=COEF_ATOL)
    np.testing.assert_array_equal(ours.intercept_, [0.0])


def test_sparse_blocks_match_sklearn(scheduler):
    rng = np.random.default_rng(3)
    X = sp.random(600, 40, density=0.1, format="csr", random_state=rng)
    w = rng.standard_normal(40)
    y = (X @ w + 0.3 * rng.standard_normal(600) > 0).astype(int)
    X_dask = da.from_array(X, chunks=(130, 40), asarray=False)
    ours, theirs = fit_both(X, y, X_dask, y)
    # Within the distance the remaining gradients allow: both solvers may stop
    # on the 64-eps decrease test with gradients of ~1e-8 here.
    assert_same_model(ours, theirs, X.toarray(), y)
    ours_sparse_in_memory = LogisticRegression(tol=TOL, max_iter=1000).fit(X, y)
    assert_same_model(ours_sparse_in_memory, theirs, X.toarray(), y)


def test_single_row_blocks_match_sklearn(scheduler):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((24, 3))
    y = (X[:, 0] + rng.standard_normal(24) > 0).astype(int)
    ours, theirs = fit_both(X, y, da.from_array(X, chunks=(1, 3)), y)
    assert_same_model(ours, theirs, X, y)


def test_synthetic_tall_problem_matches_sklearn(client):
    rng = np.random.default_rng(5)
    n, d = 20_000, 12
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 3, d) + 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ rng.standard_normal(d) / 3)))).astype(
        int
    )
    params = {"tol": 1e-8, "max_iter": 1000}
    ours = LogisticRegression(**params).fit(da.from_array(X, chunks=3000), y)
    theirs = SkLogisticRegression(**params).fit(X, y)
    y01 = y.astype(float)
    assert sklearn_objective(
        X, y01, ours.coef_[0], ours.intercept_[0], 1.0
    ) == pytest.approx(
        sklearn_objective(X, y01, theirs.coef_[0], theirs.intercept_[0], 1.0),
        rel=1e-8,
    )


def test_labels_of_any_type(breast_cancer):
    X, y = breast_cancer
    names = np.where(y == 1, "benign", "malignant").astype(object)
    model = LogisticRegression().fit(da.from_array(X, chunks=100), names)
    assert list(model.classes_) == ["benign", "malignant"]
    predicted = model.predict(X)
    assert predicted.dtype == object
    reference = LogisticRegression().fit(X, y == 1)
    assert list(reference.classes_) == [False, True]
    np.testing.assert_array_equal(predicted == "benign", reference.predict(X))


def test_pandas_and_dask_dataframes_set_feature_names(breast_cancer):
    X, y = breast_cancer
    columns = [f"f{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns)
    from_pandas = LogisticRegression().fit(frame, pd.Series(y))
    dask_frame = dd.from_pandas(frame, npartitions=4)
    dask_labels = dd.from_pandas(pd.Series(y), npartitions=4)
    from_dask = LogisticRegression().fit(dask_frame, dask_labels)
    assert list(from_pandas.feature_names_in_) == columns
    assert list(from_dask.feature_names_in_) == columns
    np.testing.assert_allclose(from_dask.coef_, from_pandas.coef_, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        proba = from_dask.predict_proba(dask_frame)
    with pytest.raises(ValueError, match="feature names should match"):
        from_dask.predict(dask_frame[columns[::-1]])
    np.testing.assert_allclose(proba.compute(), from_pandas.predict_proba(frame))


def test_predictions_are_lazy_for_dask_and_agree_with_numpy(scheduler, breast_cancer):
    X, y = breast_cancer
    X_dask = da.from_array(X, chunks=(100, 30))
    model = LogisticRegression().fit(X_dask, y)
    outputs = {
        "decision_function": (569,),
        "predict_proba": (569, 2),
        "predict_log_proba": (569, 2),
        "predict": (569,),
    }
    for method, shape in outputs.items():
        lazy = getattr(model, method)(X_dask)
        assert isinstance(lazy, da.Array), method
        assert lazy.shape == shape
        assert lazy.chunks[0] == X_dask.chunks[0]
        eager = getattr(model, method)(X)
        assert isinstance(eager, np.ndarray)
        np.testing.assert_allclose(lazy.compute(), eager, rtol=1e-12, atol=1e-300)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)), proba)
    assert model.score(X_dask, da.from_array(y, chunks=100)) == pytest.approx(
        model.score(X, y)
    )
    weights = np.linspace(0.1, 2.0, 569)
    assert model.score(X_dask, y, sample_weight=weights) == pytest.approx(
        model.score(X, y, sample_weight=weights)
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_log_proba_has_no_underflow():
    X = np.array([[-50.0], [50.0], [-1.0], [1.0]])
    y = np.array([0, 1, 0, 1])
    model = LogisticRegression(C=np.inf, max_iter=5).fit(X, y)
    model.coef_ = np.array([[40.0]])
    log_proba = model.predict_log_proba(X)
    assert np.all(np.isfinite(log_proba))
    assert log_proba[0, 1] == pytest.approx(-2000.0, rel=1e-6)


def test_two_fits_on_the_same_cluster_agree_to_rounding(client, breast_cancer):
    # Sums run in a fixed order, but blocks that arrive over the network sit
    # at varying addresses and BLAS may round their products differently in
    # the last bit: the fits agree to rounding, not always bit for bit.
    X, y = breast_cancer
    X_dask = da.from_array(X, chunks=(60, 30)).persist()
    first = LogisticRegression(tol=1e-6).fit(X_dask, y)
    second = LogisticRegression(tol=1e-6).fit(X_dask, y)
    np.testing.assert_allclose(first.coef_, second.coef_, rtol=1e-12, atol=1e-15)
    assert first.n_iter_[0] == second.n_iter_[0]
    np.testing.assert_allclose(
        first.objective_history_, second.objective_history_, rtol=1e-13
    )


def test_convergence_warning_when_max_iter_is_reached(breast_cancer):
    from sklearn.exceptions import ConvergenceWarning

    X, y = breast_cancer
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2"):
        model = LogisticRegression(max_iter=2).fit(X, y)
    assert model.n_iter_[0] == 2


def test_verbose_shows_a_progress_bar(breast_cancer, capsys):
    X, y = breast_cancer
    LogisticRegression(verbose=1).fit(X, y)
    err = capsys.readouterr().err
    assert "dmltk lbfgs" in err and "objective=" in err
