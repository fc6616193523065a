"""dmltk.train_test_split on dask arrays (and passed through for numpy), and
the whole path: read_libsvm -> train_test_split -> LogisticRegression."""

from __future__ import annotations

import math

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file, make_classification
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression
from sklearn.model_selection import train_test_split as sklearn_split

import dmltk
from dmltk.model_selection import train_test_split


def identified_rows(row_chunks, *, columns=3, sparse=False, column_chunks=None):
    """X whose first column is the row number (plus 1, so that CSR stores
    it), other columns derived from it, and y = 10 * row number: any
    misalignment or lost row shows."""
    n = sum(row_chunks)
    ids = np.arange(n, dtype=np.float64) + 1
    X = np.column_stack([ids * (j + 1) for j in range(columns)])
    y = 10.0 * (ids - 1)
    if sparse:
        X_dask = da.from_array(sp.csr_matrix(X), chunks=(row_chunks, -1), asarray=False)
    else:
        X_dask = da.from_array(X, chunks=(row_chunks, column_chunks or -1))
    return X_dask, da.from_array(y, chunks=(row_chunks,)), X, y


def row_ids(X_block_or_array):
    dense = X_block_or_array
    if sp.issparse(dense):
        dense = dense.toarray()
    return np.asarray(dense)[:, 0] - 1


def assert_known(*arrays):
    for array in arrays:
        assert not any(math.isnan(s) for sizes in array.chunks for s in sizes)
        assert all(size > 0 for size in array.chunks[0])


@pytest.mark.parametrize(
    ("row_chunks", "test_size"),
    [
        ((100,) * 10, 0.25),
        ((37, 1, 50, 12, 3), 0.2),
        ((1,) * 9, 0.3),
        ((500, 499), 7),
        ((10, 20, 30), 0.5),
    ],
)
def test_sizes_alignment_disjointness_and_coverage(scheduler, row_chunks, test_size):
    X, y, X_np, _ = identified_rows(row_chunks)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, random_state=0
    )
    n = X.shape[0]
    # The sizes are scikit-learn's.
    ref_train, ref_test = sklearn_split(X_np, test_size=test_size, random_state=0)
    assert X_train.shape == ref_train.shape and X_test.shape == ref_test.shape
    assert_known(X_train, X_test, y_train, y_test)
    assert X_train.chunks[0] == y_train.chunks[0]
    assert X_test.chunks[0] == y_test.chunks[0]
    Xtr, Xte, ytr, yte = dask.compute(X_train, X_test, y_train, y_test)
    # Rows of X and labels still correspond, row for row.
    np.testing.assert_array_equal(ytr, 10 * row_ids(Xtr))
    np.testing.assert_array_equal(yte, 10 * row_ids(Xte))
    np.testing.assert_array_equal(Xtr, X_np[row_ids(Xtr).astype(int)])
    # Disjoint, and together every row exactly once.
    ids = np.concatenate([row_ids(Xtr), row_ids(Xte)])
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))
    # Every block gives its share of test rows, within one row.
    block_of = np.repeat(np.arange(len(row_chunks)), row_chunks)
    per_block = np.bincount(
        block_of[row_ids(Xte).astype(int)], minlength=len(row_chunks)
    )
    exact = X_test.shape[0] * np.asarray(row_chunks) / n
    assert np.all(np.abs(per_block - exact) < 1)


def test_reproducible_and_seed_dependent(client):
    X, y, _, _ = identified_rows((40, 40, 40, 40))
    first = dask.compute(*train_test_split(X, y, random_state=7))
    again = dask.compute(*train_test_split(X, y, random_state=7))
    with dask.config.set(scheduler="threads"):
        threaded = dask.compute(*train_test_split(X, y, random_state=7))
    other = dask.compute(*train_test_split(X, y, random_state=8))
    for a, b, c in zip(first, again, threaded, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(first[3], other[3])
    # A RandomState instance advances, as in scikit-learn.
    state = np.random.RandomState(0)
    one = train_test_split(X, y, random_state=state)[3].compute()
    two = train_test_split(X, y, random_state=state)[3].compute()
    assert not np.array_equal(one, two)


def test_test_rows_are_random_within_each_block():
    X, y, _, _ = identified_rows((1000,))
    y_test = train_test_split(X, y, random_state=0)[3].compute()
    chosen = y_test / 10
    # Not the first or last rows: spread over the block, and shuffled.
    assert chosen.min() < 100 and chosen.max() > 900
    assert not np.all(np.diff(chosen) > 0)


def test_csr_blocks_and_column_blocks(client):
    X, y, X_np, _ = identified_rows((30, 25, 45), sparse=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, random_state=1)
    assert sp.issparse(X_train._meta) and sp.issparse(X_test._meta)
    blocks = dask.compute(*X_train.to_delayed().ravel())
    assert all(sp.isspmatrix_csr(block) for block in blocks)
    np.testing.assert_array_equal(y_train.compute(), 10 * row_ids(sp.vstack(blocks)))

    X, y, X_np, _ = identified_rows((30, 25, 45), columns=5, column_chunks=2)
    X_train, _, y_train, _ = train_test_split(X, y, random_state=1)
    assert X_train.chunks[1] == (2, 2, 1)
    Xtr, ytr = dask.compute(X_train, y_train)
    np.testing.assert_array_equal(Xtr, X_np[(ytr / 10).astype(int)])


def test_y_in_other_chunks_or_in_memory():
    X, y, _, y_np = identified_rows((10, 20, 30))
    for other_y in (y.rechunk(7), y_np, list(y_np)):
        X_train, _, y_train, _ = train_test_split(X, other_y, random_state=3)
        assert y_train.chunks[0] == X_train.chunks[0]
        np.testing.assert_array_equal(
            y_train.compute(), 10 * row_ids(X_train.compute())
        )


def test_string_labels():
    X, _, _, y_np = identified_rows((20, 20))
    labels = np.where(y_np > 150, "late", "on time").astype(object)
    X_train, _, y_train, _ = train_test_split(X, da.from_array(labels, chunks=20))
    ids = row_ids(X_train.compute()).astype(int)
    np.testing.assert_array_equal(y_train.compute(), labels[ids])


def test_no_shuffle_is_a_cut_like_scikit_learns():
    X, y, X_np, y_np = identified_rows((10, 10, 10, 3))
    X_train, X_test, y_train, y_test = train_test_split(X, y, shuffle=False)
    expected = sklearn_split(X_np, y_np, test_size=0.2, shuffle=False)
    for got, want in zip((X_train, X_test, y_train, y_test), expected, strict=True):
        np.testing.assert_array_equal(got.compute(), want)
    assert_known(X_train, X_test, y_train, y_test)


def test_numpy_input_is_scikit_learns():
    X_np = np.arange(40.0).reshape(20, 2)
    y_np = np.arange(20)
    for shuffle in (True, False):
        got = train_test_split(
            X_np, y_np, test_size=0.3, random_state=5, shuffle=shuffle
        )
        want = sklearn_split(X_np, y_np, test_size=0.3, random_state=5, shuffle=shuffle)
        for a, b in zip(got, want, strict=True):
            assert isinstance(a, np.ndarray)
            np.testing.assert_array_equal(a, b)


def test_errors():
    X, y, _, _ = identified_rows((10, 10))
    with pytest.raises(
        ValueError, match=r"inconsistent numbers of samples: \[20, 19\]"
    ):
        train_test_split(X, y[:19])
    unknown = X[X[:, 0] > 3]
    with pytest.raises(ValueError, match="X has unknown chunk sizes"):
        train_test_split(unknown, y)
    for bad in (0, 1.0, 20, -0.5):
        with pytest.raises(ValueError, match="test_size"):
            train_test_split(X, y, test_size=bad)
    frame = dd.from_pandas(pd.DataFrame({"a": np.arange(20.0)}), npartitions=2)
    with pytest.raises(TypeError, match="to_dask_array"):
        train_test_split(frame, y)


def test_exported_from_the_package():
    assert dmltk.train_test_split is train_test_split
    assert "train_test_split" in dmltk.__all__


def test_read_split_fit_matches_scikit_learn(tmp_path, client):
    """The whole path on the cluster, against scikit-learn on the same rows.

    Both fits stop with a gradient of the objective below 1e-10 (relative),
    so their coefficients, hence margins, differ by far less than 1e-4; a
    test row can then be classified differently only if its margin is within
    that difference of 0. The accuracies may differ by those rows only.
    """
    X_np, y_np = make_classification(
        n_samples=3000, n_features=15, n_informative=6, random_state=0
    )
    for part, rows in enumerate(np.array_split(np.arange(3000), 2)):
        path = str(tmp_path / f"part-{part}.svm")
        dump_svmlight_file(X_np[rows], y_np[rows], path, zero_based=False)
    X, y = dmltk.read_libsvm(str(tmp_path / "part-*.svm"), blocksize="64KiB")
    assert X.numblocks[0] >= 8
    X_train, X_test, y_train, y_test = dmltk.train_test_split(X, y, random_state=0)

    model = dmltk.LogisticRegression(tol=1e-10, max_iter=1000).fit(X_train, y_train)
    accuracy = model.score(X_test, y_test)

    Xtr, Xte, ytr, yte = dask.compute(X_train, X_test, y_train, y_test)
    reference = SklearnLogisticRegression(tol=1e-10, max_iter=10_000).fit(Xtr, ytr)
    reference_accuracy = reference.score(Xte, yte)

    margins = model.decision_function(X_test).compute()
    reference_margins = reference.decision_function(Xte)
    gap = np.max(np.abs(margins - reference_margins))
    assert gap < 1e-4
    borderline = np.abs(reference_margins) <= gap
    disagree = (margins > 0) != (reference_margins > 0)
    assert not np.any(disagree & ~borderline)
    assert abs(accuracy - reference_accuracy) <= borderline.sum() / len(yte)
    assert accuracy > 0.8
