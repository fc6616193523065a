"""Bad input gets a clear error, for numpy and dask alike."""

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from dmltk import LogisticRegression


def data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, (X[:, 0] > 0).astype(int)


def as_dask(X, y, rows=10):
    return da.from_array(X, chunks=(rows, X.shape[1])), da.from_array(y, chunks=rows)


KINDS = ["numpy", "dask"]


def convert(kind, X, y):
    return (X, y) if kind == "numpy" else as_dask(X, y)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_X_is_refused(scheduler, kind, bad):
    X, y = data()
    X[17, 1] = bad
    with pytest.raises(ValueError, match=r"Input X contains (NaN|infinity)"):
        LogisticRegression().fit(*convert(kind, X, y))


def test_dask_error_says_which_block_holds_the_bad_value(client):
    X, y = data()
    X[27, 0] = np.nan
    with pytest.raises(ValueError, match=r"row block\(s\) \[2\]"):
        LogisticRegression().fit(*as_dask(X, y))


@pytest.mark.parametrize("kind", KINDS)
def test_nonfinite_y_is_refused(kind):
    X, _ = data()
    y = np.where(X[:, 0] > 0, 1.0, 0.0)
    y[3] = np.nan
    with pytest.raises(ValueError, match=r"y contains NaN"):
        LogisticRegression().fit(*convert(kind, X, y))


@pytest.mark.parametrize("kind", KINDS)
def test_one_class_is_refused(kind):
    X, _ = data()
    y = np.zeros(len(X), dtype=int)
    with pytest.raises(ValueError, match=r"only one class: 0"):
        LogisticRegression().fit(*convert(kind, X, y))


@pytest.mark.parametrize("kind", KINDS)
def test_continuous_labels_are_refused(kind):
    X, _ = data()
    y = np.linspace(0, 1, len(X))
    with pytest.raises(ValueError, match=r"Unknown label type: continuous"):
        LogisticRegression().fit(*convert(kind, X, y))


@pytest.mark.parametrize("shape", [(40,), (2, 20, 1)])
def test_X_must_be_2d(shape):
    X = np.zeros(shape)
    y = np.arange(shape[0]) % 2
    with pytest.raises(ValueError, match=r"2D array|dim <= 2"):
        LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match=r"Expected a 2-D array"):
        LogisticRegression().fit(da.from_array(X), y)


def test_mismatched_lengths_are_caught_from_chunks_before_compute():
    X, y = data()
    X_dask = da.from_array(X, chunks=(10, 3))
    calls = []

    def counting(block):
        calls.append(1)
        return block

    y_dask = da.from_array(y[:-5], chunks=10).map_blocks(
        counting, dtype=int, meta=np.empty(0, dtype=int)
    )
    with pytest.raises(
        ValueError, match=r"inconsistent numbers of samples: \[40, 35\]"
    ):
        LogisticRegression().fit(X_dask, y_dask)
    assert calls == []
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples"):
        LogisticRegression().fit(X, y[:-5])


def test_empty_X_is_refused():
    with pytest.raises(ValueError, match=r"0 sample"):
        LogisticRegression().fit(np.zeros((0, 3)), np.zeros(0))
    with pytest.raises(ValueError, match=r"0 sample"):
        LogisticRegression().fit(da.zeros((0, 3)), da.zeros(0))
    with pytest.raises(ValueError, match=r"0 feature"):
        LogisticRegression().fit(da.zeros((4, 0)), da.arange(4) % 2)


def test_unknown_chunk_sizes_are_resolved():
    X, y = data()
    frame = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    X_unknown = frame.to_dask_array()  # chunk sizes unknown (nan)
    assert np.isnan(X_unknown.chunks[0][0])
    model = LogisticRegression().fit(X_unknown, y)
    reference = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6)


def test_unresolvable_chunk_sizes_say_so():
    X, y = data()

    def broken(block):
        raise RuntimeError("cannot read this partition")

    frame = dd.from_pandas(pd.DataFrame(X), npartitions=2)
    X_unknown = frame.map_partitions(broken, meta=frame._meta).to_dask_array()
    with pytest.raises(ValueError, match=r"unknown chunk sizes that could not be"):
        LogisticRegression().fit(X_unknown, y)


def test_non_numeric_dask_columns_are_named():
    X, y = data()
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(city="Oslo")
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['city'\]"):
        LogisticRegression().fit(dd.from_pandas(frame, npartitions=2), y)


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_number_of_features_at_predict(kind):
    X, y = data()
    model = LogisticRegression().fit(*convert(kind, X, y))
    X_wide, _ = convert(kind, np.zeros((5, 4)), np.zeros(5))
    for method in ["predict", "predict_proba", "decision_function"]:
        with pytest.raises(ValueError, match=r"X has 4 features, but .* 3 features"):
            getattr(model, method)(X_wide)


def test_not_fitted_error_before_fit():
    X, _ = data()
    for method in ["predict", "predict_proba", "decision_function"]:
        with pytest.raises(NotFittedError):
            getattr(LogisticRegression(), method)(X)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"C": -1.0}, r"'C' parameter"),
        ({"C": 0.0}, r"'C' parameter"),
        ({"tol": -1e-3}, r"'tol' parameter"),
        ({"max_iter": -1}, r"'max_iter' parameter"),
        (
            {"solver": "saga"},
            # The options in any order (sklearn prints a set).
            r"^(?=.*'auto')(?=.*'lbfgs')(?=.*'newton')(?=.*'owlqn').*'solver' param",
        ),
    ],
)
def test_bad_parameters_are_refused_at_fit(params, match):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = data()
    model = LogisticRegression(**params)  # accepted until fit, as in sklearn
    with pytest.raises(InvalidParameterError, match=match):
        model.fit(X, y)


def test_fit_warns_when_x_will_not_fit_in_the_workers_memory():
    """Before persisting X, fit compares its size with the workers' free
    memory below the spill threshold: a warning saying how much is needed,
    how much there is and what to do; none when X fits."""
    import warnings

    from distributed import Client, LocalCluster

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50_000, 40))  # 16 MB
    y = (X[:, 0] > 0).astype(int)
    # One in-process worker of 20 MB, its memory management off (no spilling
    # or pausing to get in the way): the threshold is then the whole limit.
    quiet = {f"distributed.worker.memory.{key}": False
             for key in ("target", "spill", "pause", "terminate")}  # fmt: skip
    with (
        dask.config.set(quiet),
        LocalCluster(
            n_workers=1, processes=False, memory_limit="20MB", dashboard_address=":0"
        ) as cluster,
        Client(cluster),
    ):
        big = da.from_array(np.vstack([X, X]), chunks=(25_000, -1))  # 32 MB
        with pytest.warns(RuntimeWarning, match=r"X needs about 0\.03 GB .* 0\.02 GB"):
            LogisticRegression(max_iter=2).fit(big, np.concatenate([y, y]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            LogisticRegression(max_iter=2).fit(
                da.from_array(X[:1000], chunks=500), y[:1000]
            )
        assert not [w for w in caught if "needs about" in str(w.message)]
