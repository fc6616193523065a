"""Prediction on the compiled kernels: the block functions against scipy and
scikit-learn, every layout against numpy input, and ``score`` as one task
per worker."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from distributed import get_task_stream, wait
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import accuracy_score

import dmltk
from dmltk import _prediction

# Margins from tiny to huge, of both signs: the kernels must stay finite and
# agree with scipy's expit / softmax to the last bits.
EXTREME = np.array([-800.0, -40, -1, -1e-20, 0.0, 1e-20, 2, 40, 800])


def test_binomial_probabilities_equal_scipy():
    z = np.concatenate([EXTREME, np.random.default_rng(0).normal(0, 8, 500)])
    proba = _prediction.probabilities(z)
    np.testing.assert_allclose(proba[:, 1], expit(z), rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(proba[:, 0], expit(-z), rtol=1e-15, atol=1e-300)
    log_proba = _prediction.log_probabilities(z)
    np.testing.assert_allclose(log_proba[:, 1], log_expit(z), rtol=1e-15)
    np.testing.assert_allclose(log_proba[:, 0], log_expit(-z), rtol=1e-15)
    assert np.isfinite(log_proba).all()


def test_multinomial_probabilities_equal_scipy():
    rng = np.random.default_rng(1)
    Z = rng.normal(0, 30, (300, 4))
    Z[0] = [900.0, -900.0, 0.0, 1.0]  # softmax of a huge spread
    np.testing.assert_allclose(
        _prediction.probabilities(Z), softmax(Z, axis=1), rtol=1e-14, atol=1e-300
    )
    # log(sum of exps) for a sum near 1 is known to one ulp of the sum only
    # (the order of the sum differs from scipy's): an absolute bound of 1e-15.
    np.testing.assert_allclose(
        _prediction.log_probabilities(Z), log_softmax(Z, axis=1), rtol=1e-14,
        atol=1e-15,
    )  # fmt: skip


def test_labels_break_ties_as_scikit_learn():
    classes = np.array(["a", "b", "c"])
    assert _prediction.labels(np.array([0.0, -1.0, 1.0]), classes[:2]).tolist() == [
        "a",
        "a",
        "b",
    ]
    assert _prediction.labels(np.array([[1.0, 1.0, 0.0]]), classes).tolist() == ["a"]


def _problem(n_classes, seed=0, n=600, d=12):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random((n, d)) < 0.5] = 0.0  # also meaningful as CSR
    coef = rng.normal(size=(n_classes if n_classes > 2 else 1, d))
    y = np.argmax(np.column_stack([np.zeros(n), X @ coef.T]), axis=1) % n_classes
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_numpy_predictions_equal_scikit_learn_with_the_same_coefficients(n_classes):
    X, y = _problem(n_classes)
    model = dmltk.LogisticRegression(max_iter=20).fit(X, y)
    reference = SkLogisticRegression().fit(X, y)
    reference.coef_, reference.intercept_ = model.coef_, model.intercept_
    for name in ("decision_function", "predict_proba"):
        np.testing.assert_allclose(
            getattr(model, name)(X), getattr(reference, name)(X), rtol=1e-12,
            atol=1e-14, err_msg=name,
        )  # fmt: skip
    # scikit-learn takes the log of its probabilities, which loses digits
    # where a probability is near 1; dmltk's equal scipy's log_expit and
    # log_softmax of scikit-learn's margins.
    margins = reference.decision_function(X)
    expected = (
        np.column_stack([log_expit(-margins), log_expit(margins)])
        if n_classes == 2
        else log_softmax(margins, axis=1)
    )
    np.testing.assert_allclose(
        model.predict_log_proba(X), expected, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    assert model.score(X, y) == reference.score(X, y)


@pytest.fixture(scope="module")
def fitted():
    """A model with string labels per number of classes, fitted once (on
    threads: only its predictions are under test here)."""
    models = {}
    with dask.config.set(scheduler="threads"):
        for n_classes in (2, 3):
            X, y = _problem(n_classes, seed=n_classes)
            labels = np.array(["no", "maybe", "yes"])[y]
            models[n_classes] = (
                X, labels, dmltk.LogisticRegression(max_iter=20).fit(X, labels)
            )  # fmt: skip
    return models


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("layout", ["rows", "columns", "blocks"])
@pytest.mark.parametrize("sparse", [False, True])
def test_every_layout_predicts_as_numpy_input(
    client, fitted, n_classes, layout, sparse
):
    X, labels, model = fitted[n_classes]
    X_in = sp.csr_matrix(X) if sparse else X
    blocks = {"rows": 4, "columns": 3, "blocks": (2, 3)}[layout]
    X_dask, y_dask = dmltk.partition(X_in, labels, by=layout, n_blocks=blocks)
    for name in ("decision_function", "predict_proba", "predict_log_proba"):
        lazy = getattr(model, name)(X_dask)
        assert isinstance(lazy, da.Array)
        np.testing.assert_allclose(
            lazy.compute(), getattr(model, name)(X), rtol=1e-12, atol=1e-14,
            err_msg=name,
        )  # fmt: skip
    np.testing.assert_array_equal(model.predict(X_dask).compute(), model.predict(X))
    weights = np.random.default_rng(0).uniform(0.1, 2.0, len(labels))
    assert model.score(X_dask, y_dask) == model.score(X, labels)
    assert model.score(X_dask, y_dask, sample_weight=weights) == pytest.approx(
        accuracy_score(labels, model.predict(X), sample_weight=weights), rel=1e-14
    )


def test_score_is_one_task_per_worker_reading_each_block_once(client):
    X, y = _problem(2, n=4000)
    model = dmltk.LogisticRegression().fit(X, y)
    X_dask = da.from_array(X, chunks=(500, -1)).persist()
    y_dask = da.from_array(y, chunks=500).persist()
    wait([X_dask, y_dask])
    with get_task_stream(client) as stream:
        accuracy = model.score(X_dask, y_dask)
    assert accuracy == model.score(X, y)
    names = [str(record["key"]) for record in stream.data]
    reading = [name for name in names if "-blocks'" in name]
    # 8 blocks on 2 workers of 1 thread: 2 tasks read them, 1 merges; the
    # only other task is the coefficients' key. No per-block task is left.
    assert len(reading) == 2
    assert len([name for name in names if "-merge" in name]) == 1
    assert len(names) == 4


def test_score_names_mismatched_lengths(client):
    X, y = _problem(2)
    model = dmltk.LogisticRegression().fit(X, y)
    X_dask = da.from_array(X, chunks=(100, -1))
    with pytest.raises(ValueError, match="X has 600 rows, y has 597"):
        model.score(X_dask, da.from_array(y[:597], chunks=100))


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_dask_predictions_refuse_nan_and_infinity_in_x(
    client, fitted, n_classes, layout
):
    """As numpy input does: a NaN or an infinity in X is an error naming it,
    never a confident label (nor NaN probabilities), on every output and in
    score; the other blocks' rows are untouched by the check."""
    X, labels, model = fitted[n_classes]
    for bad in (np.nan, np.inf, -np.inf):
        X_bad = X.copy()
        X_bad[437, 1] = bad
        blocks = {"rows": 4, "columns": 3}[layout]
        X_dask, y_dask = dmltk.partition(X_bad, labels, by=layout, n_blocks=blocks)
        for name in (
            "predict",
            "predict_proba",
            "predict_log_proba",
            "decision_function",
        ):
            with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
                getattr(model, name)(X_dask).compute()
        with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
            model.score(X_dask, y_dask)
        # The rows of the clean blocks still predict.
        clean = model.predict(X_dask[:400]).compute()
        np.testing.assert_array_equal(clean, model.predict(X[:400]))
