"""Three or more classes: the multinomial loss, against scikit-learn."""

import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import dmltk
from dmltk import LogisticRegression, _loss
from dmltk._testing import sklearn_objective

TIGHT = {"tol": 1e-10, "max_iter": 5000}


def multinomial_objective(X, y, coef, intercept, C=1.0, weights=None):
    """scikit-learn's objective: C * sum_i s_i (lse(z_i) - z_i,y_i) + ||W||^2/2."""
    return sklearn_objective(X, y, coef, intercept, C, sample_weight=weights)


@pytest.fixture(scope="module", params=["iris", "wine"])
def dataset(request):
    loader = {"iris": load_iris, "wine": load_wine}[request.param]
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def test_block_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 4, 40).astype(float)
    coef = rng.standard_normal((3 + 1) * 4)

    def value(c):
        return _loss.loss_gradient_block(X, y, c, True)[0]

    gradient = _loss.loss_gradient_block(X, y, coef, True)[1:]
    step = 1e-6
    numeric = [
        (value(coef + step * e) - value(coef - step * e)) / (2 * step)
        for e in np.eye(coef.size)
    ]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("layout", ["numpy", "rows", "columns", "blocks"])
def test_matches_sklearn_in_every_layout(client, dataset, layout):
    X, y = dataset
    if layout == "numpy":
        inputs = (X, y)
    else:
        n_blocks = (2, 2) if layout == "blocks" else 3
        inputs = dmltk.partition(X, y, by=layout, n_blocks=n_blocks)
    ours = LogisticRegression(**TIGHT).fit(*inputs)
    theirs = SkLogisticRegression(**TIGHT).fit(X, y)
    assert ours.coef_.shape == theirs.coef_.shape == (3, X.shape[1])
    assert multinomial_objective(X, y, ours.coef_, ours.intercept_) == pytest.approx(
        multinomial_objective(X, y, theirs.coef_, theirs.intercept_), rel=1e-9
    )
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-4, atol=1e-5)
    probabilities = ours.predict_proba(inputs[0])
    probabilities = np.asarray(
        getattr(probabilities, "compute", lambda: probabilities)()
    )
    np.testing.assert_allclose(probabilities, theirs.predict_proba(X), atol=1e-5)


def test_sparse_weighted_and_string_labels(scheduler):
    rng = np.random.default_rng(2)
    X = sp.random(900, 30, density=0.2, format="csr", random_state=rng)
    scores = X @ rng.standard_normal((30, 4))
    y = np.array(["ant", "bee", "cat", "dog"], dtype=object)[scores.argmax(axis=1)]
    weights = rng.uniform(0.2, 2.0, 900)
    params = {**TIGHT, "C": 3.0}
    theirs = SkLogisticRegression(**params).fit(X, y, sample_weight=weights)
    ours = LogisticRegression(**params).fit(
        da.from_array(X, chunks=(200, 30), asarray=False),
        y,
        sample_weight=weights,
    )
    assert list(ours.classes_) == ["ant", "bee", "cat", "dog"]
    codes = np.searchsorted(ours.classes_, y)
    assert multinomial_objective(
        X.toarray(), codes, ours.coef_, ours.intercept_, 3.0, weights
    ) == pytest.approx(
        multinomial_objective(
            X.toarray(), codes, theirs.coef_, theirs.intercept_, 3.0, weights
        ),
        rel=1e-9,
    )
    predicted = ours.predict(da.from_array(X, chunks=(200, 30), asarray=False))
    assert isinstance(predicted, da.Array)
    np.testing.assert_array_equal(predicted.compute(), theirs.predict(X))


def test_log_probabilities_and_decision_function_shapes(dataset):
    X, y = dataset
    model = LogisticRegression().fit(X, y)
    X_dask = da.from_array(X, chunks=(50, -1))
    assert model.decision_function(X_dask).shape == (len(y), 3)
    log_proba = model.predict_log_proba(X_dask).compute()
    np.testing.assert_allclose(np.exp(log_proba), model.predict_proba(X), rtol=1e-12)
    np.testing.assert_array_equal(
        model.predict(X_dask).compute(), model.classes_[np.argmax(log_proba, axis=1)]
    )
