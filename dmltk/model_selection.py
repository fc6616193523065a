"""Splitting data held in dask arrays, block by block, without moving rows."""

from __future__ import annotations

import math

import dask
import dask.array as da
import numpy as np

# Workers import this module to run _split_block: scikit-learn is imported in
# train_test_split, on the client, and scipy.sparse only for sparse data.
from ._lazy import sparse as sp


def train_test_split(
    X,
    y,
    test_size: float | int | None = 0.2,
    random_state: int | np.random.RandomState | None = None,
    shuffle: bool = True,
) -> list:
    """Split X and y into random train and test subsets.

    For dask arrays the split is made block by block, where the blocks live:
    each row block of X (and the matching block of y) gives its share of the
    test rows, chosen at random within the block, so no row moves between
    workers and X and y stay aligned (the same row chunks). numpy, scipy and
    pandas inputs are passed to :func:`sklearn.model_selection.train_test_split`.

    Parameters
    ----------
    X : dask array, or array-like / sparse matrix
        Samples, in row blocks of known sizes (numpy or CSR blocks; any
        number of column blocks).
    y : dask array, or array-like
        Labels, as many as the rows of X; rechunked like the rows of X if its
        blocks differ.
    test_size : float or int, default=0.2
        Share of the rows in the test set (a float in (0, 1)) or their number
        (an int). The sizes are scikit-learn's: ``ceil(test_size * n)`` test
        rows for a float.
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of test rows; an int gives the same split on any
        scheduler.
    shuffle : bool, default=True
        With False, the first rows are the training set and the last ones
        the test set, in order (exactly as scikit-learn does).

    Returns
    -------
    list
        ``[X_train, X_test, y_train, y_test]``: lazy dask arrays with known
        chunk sizes for dask input, whatever scikit-learn returns otherwise.

    Raises
    ------
    ValueError
        Different numbers of rows in X and y, unknown chunk sizes, or a
        ``test_size`` that leaves one side empty.

    Notes
    -----
    Row block ``i`` of ``n_i`` rows gives ``t_i`` test rows, the shares
    ``test_rows * n_i / n`` rounded so that they add up to ``test_rows``
    (largest remainders first): the test set samples every block in
    proportion, however the rows are ordered across blocks. Within a block
    the rows are permuted by ``numpy.random.default_rng([seed, i])``; the
    first ``t_i`` go to the test set and the others, in that permuted order,
    to the training set. Empty output blocks are left out. Rows are shuffled
    within blocks, never across them, as in dask-ml's blockwise split.

    dask-ml's ``train_test_split`` is not used: it labels the blocks of an
    X of CSR blocks as numpy (its metadata), rounds the test share block by
    block (so the sizes drift from scikit-learn's: 30 test rows instead of 25
    for 100 rows in 10 blocks at ``test_size=0.25``), rejects a block too
    small to split, X with several column blocks, and ``shuffle=False``.

    Examples
    --------
    >>> import dask.array as da
    >>> from dmltk import train_test_split
    >>> X = da.arange(20.0, chunks=5).reshape(10, 2)
    >>> y = da.arange(10, chunks=5)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> X_train.shape, X_test.shape
    ((8, 2), (2, 2))
    """
    from sklearn.model_selection import train_test_split as _sklearn_train_test_split
    from sklearn.model_selection._split import _validate_shuffle_split
    from sklearn.utils import check_random_state

    if not (dask.is_dask_collection(X) or dask.is_dask_collection(y)):
        return _sklearn_train_test_split(
            X, y, test_size=test_size, random_state=random_state, shuffle=shuffle
        )
    X, y = _aligned_arrays(X, y)
    n_train, n_test = _validate_shuffle_split(
        X.shape[0], test_size, None, default_test_size=0.25
    )
    if not shuffle:
        return [X[:n_train], X[n_train:], y[:n_train], y[n_train:]]
    test_counts = _apportion(n_test, X.chunks[0])
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return [
        _select_rows(array, seed, test_counts, part)
        for array in (X, y)
        for part in ("train", "test")
    ]


def _as_dask_array(data, name: str, row_chunks=None) -> da.Array:
    if isinstance(data, da.Array):
        return data
    if dask.is_dask_collection(data):
        raise TypeError(
            f"{name} is a {type(data).__name__}: pass dask arrays (for example "
            f"{name}.to_dask_array(lengths=True), or dmltk.read_table)."
        )
    if sp.issparse(data):
        return da.from_array(
            sp.csr_matrix(data), chunks=(row_chunks or -1, -1), asarray=False
        )
    data = np.asarray(data)
    return da.from_array(data, chunks=(row_chunks or -1,) + (-1,) * (data.ndim - 1))


def _aligned_arrays(X, y) -> tuple[da.Array, da.Array]:
    """X and y as dask arrays of known sizes, y chunked like the rows of X."""
    if isinstance(X, da.Array):
        y = _as_dask_array(y, "y", X.chunks[0] if _known(X) else None)
    else:
        y = _as_dask_array(y, "y")
        X = _as_dask_array(X, "X", y.chunks[0] if _known(y) else None)
    for name, array in (("X", X), ("y", y)):
        if array.ndim == 0:
            raise ValueError(f"{name} must have at least one dimension.")
        if not _known(array):
            raise ValueError(
                f"{name} has unknown chunk sizes: measure them first with "
                f"{name}.compute_chunk_sizes() (or read it with dmltk.read_libsvm "
                "or dmltk.read_table, which know them)."
            )
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{X.shape[0]}, {y.shape[0]}] (X has {X.shape[0]} rows, y has "
            f"{y.shape[0]})."
        )
    if y.chunks[0] != X.chunks[0]:
        y = y.rechunk({0: X.chunks[0]})
    return X, y


def _known(array: da.Array) -> bool:
    return not any(math.isnan(size) for sizes in array.chunks for size in sizes)


def _apportion(total: int, sizes: tuple[int, ...]) -> list[int]:
    """``total`` split over blocks in proportion to ``sizes``, as integers
    adding up to ``total`` (largest remainder first, then block order).

    Exact integer arithmetic, so that it holds for any number of rows.
    """
    n = sum(sizes)
    quotients = [total * size // n for size in sizes]
    remainders = [total * size % n for size in sizes]
    missing = total - sum(quotients)
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[:missing]:
        quotients[i] += 1
    return quotients


def _split_block(block, seed: int, test_counts: list[int], part: str, block_id=None):
    """The rows of one block that go to ``part`` ("train" or "test")."""
    index = block_id[0]
    order = np.random.default_rng([seed, index]).permutation(block.shape[0])
    n_test = test_counts[index]
    return block[order[n_test:] if part == "train" else order[:n_test]]


def _select_rows(array: da.Array, seed: int, test_counts, part: str) -> da.Array:
    if part == "train":
        rows = tuple(
            size - n_test
            for size, n_test in zip(array.chunks[0], test_counts, strict=True)
        )
    else:
        rows = tuple(test_counts)
    selected = array.map_blocks(
        _split_block,
        seed,
        test_counts,
        part,
        chunks=(rows, *array.chunks[1:]),
        dtype=array.dtype,
        meta=array._meta,
    )
    nonempty = [i for i, size in enumerate(rows) if size > 0]
    if len(nonempty) < len(rows):
        selected = selected.blocks[(nonempty, *(slice(None),) * (array.ndim - 1))]
    return selected
