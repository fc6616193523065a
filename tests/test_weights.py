"""Sample weights, class weights and warm starts, against scikit-learn."""

import dask
import dask.array as da
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import dmltk
from dmltk import LogisticRegression

from .conftest import sklearn_objective

TIGHT = {"tol": 1e-10, "max_iter": 2000}


def problem(n=400, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 2, d)
    y = (X @ rng.standard_normal(d) / 2 + rng.logistic(size=n) > 0).astype(int)
    return X, y


def weighted_objective(X, y, model, weights, C=1.0):
    """C * sum_i s_i logloss_i + ||w||^2 / 2."""
    return sklearn_objective(
        X, y, model.coef_, model.intercept_, C, sample_weight=weights
    )


@pytest.mark.parametrize("layout", ["numpy", "rows", "columns"])
def test_integer_weights_equal_repeated_rows(client, layout):
    X, y = problem()
    counts = np.random.default_rng(1).integers(0, 4, size=len(y))
    repeated_X, repeated_y = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    if layout == "numpy":
        inputs = (X, y)
    else:
        inputs = dmltk.partition(X, y, by=layout, n_blocks=3)
    weighted = LogisticRegression(**TIGHT).fit(*inputs, sample_weight=counts)
    repeated = LogisticRegression(**TIGHT).fit(repeated_X, repeated_y)
    assert weighted_objective(X, y, weighted, counts) == pytest.approx(
        sklearn_objective(
            repeated_X,
            repeated_y.astype(float),
            repeated.coef_[0],
            repeated.intercept_[0],
            1.0,
        ),
        rel=1e-9,
    )
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_default_fit_with_integer_weights_takes_the_steps_of_repeated_rows(
    kind, n_classes
):
    # At the default tol the fits stop far from the optimum, so they agree
    # only if they start at the same point: the initial intercepts are the
    # log-odds of the weighted class totals, not of the unweighted counts.
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(40, 8))
    y = rng.integers(0, n_classes, size=40)
    counts = rng.integers(0, 5, size=40)
    repeated = LogisticRegression().fit(np.repeat(X, counts, 0), np.repeat(y, counts))
    if kind == "dask":  # under the threaded scheduler: this is about numbers
        with dask.config.set(scheduler="threads"):
            weighted = LogisticRegression().fit(
                da.from_array(X, chunks=15), y, sample_weight=da.from_array(counts, 15)
            )
    else:
        weighted = LogisticRegression().fit(X, y, sample_weight=counts)
    assert weighted.n_iter_[0] == repeated.n_iter_[0]
    np.testing.assert_allclose(
        weighted.decision_function(X), repeated.decision_function(X), rtol=1e-9
    )


@pytest.mark.parametrize("kind", ["numpy", "dask"])
def test_a_class_of_zero_weight_starts_from_a_finite_intercept(kind):
    X, y = problem(seed=6)
    if kind == "dask":
        X = da.from_array(X, chunks=100)
    model = LogisticRegression(class_weight={0: 0.0}).fit(X, y)
    assert np.isfinite(model.coef_).all() and np.isfinite(model.intercept_).all()


@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 3.0, 1: 0.5}])
def test_weights_match_sklearn(scheduler, class_weight):
    X, y = problem(seed=2)
    weights = np.random.default_rng(3).uniform(0.1, 3.0, size=len(y))
    params = {**TIGHT, "class_weight": class_weight}
    theirs = SkLogisticRegression(**params).fit(X, y, sample_weight=weights)
    ours_numpy = LogisticRegression(**params).fit(X, y, sample_weight=weights)
    ours_dask = LogisticRegression(**params).fit(
        da.from_array(X, chunks=(70, 6)),
        y,
        sample_weight=da.from_array(weights, chunks=90),
    )
    for ours in (ours_numpy, ours_dask):
        np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=1e-5)


def test_zero_weights_drop_samples():
    X, y = problem(seed=4)
    keep = np.arange(len(y)) % 3 != 0
    weighted = LogisticRegression(**TIGHT).fit(X, y, sample_weight=keep.astype(float))
    dropped = LogisticRegression(**TIGHT).fit(X[keep], y[keep])
    np.testing.assert_allclose(weighted.coef_, dropped.coef_, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("negative", r"Negative values in data passed to `sample_weight`"),
        ("nan", r"(NaN|infinity)"),
        ("short", r"sample_weight has 399 values but X has 400 rows|shape"),
        ("zero", r"sum to 0|at least one non-zero"),
    ],
)
def test_bad_weights_are_refused(kind, bad, match):
    X, y = problem()
    weights = np.ones(len(y))
    if bad == "negative":
        weights[5] = -1.0
    elif bad == "nan":
        weights[5] = np.nan
    elif bad == "short":
        weights = weights[:-1]
    else:
        weights[:] = 0.0
    if kind == "dask":
        X, weights = da.from_array(X, chunks=100), da.from_array(weights, chunks=100)
    with pytest.raises(ValueError, match=match):
        LogisticRegression().fit(X, y, sample_weight=weights)


def test_class_weight_with_an_unknown_label_is_refused():
    X, y = problem()
    with pytest.raises(ValueError, match=r"class_weight names label\(s\) \['7'\]"):
        LogisticRegression(class_weight={7: 2.0}).fit(X, y)


@pytest.mark.parametrize("layout", ["numpy", "columns"])
def test_warm_start_refit_converges_at_once(client, layout):
    X, y = problem(n=2_000, d=10, seed=5)
    inputs = (X, y) if layout == "numpy" else dmltk.partition(X, y, by="columns")
    model = LogisticRegression(warm_start=True, tol=1e-6).fit(*inputs)
    first = model.coef_.copy()
    model.fit(*inputs)
    assert model.n_iter_[0] <= 2
    np.testing.assert_allclose(model.coef_, first, rtol=1e-4, atol=1e-6)
    cold = LogisticRegression(tol=1e-6).fit(*inputs)
    assert cold.n_iter_[0] > 2
