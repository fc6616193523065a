"""Per-block helpers that are not loss math: memory layout, summaries, labels.

numpy and scipy only (never dask); each function takes one block.
"""

from __future__ import annotations

import numpy as np

# scipy.sparse on first use: most blocks are dense (see _lazy).
from ._lazy import sparse as sp
from ._loss import TEST, TRAIN, transpose_product


def storage_dtype(dtype) -> np.dtype:
    """The dtype blocks of X are kept in: float32 stays float32 (half the
    memory and half the bytes read per pass; sums are still accumulated in
    float64), anything else (float64, integers, booleans, float16) is float64.

    Parameters
    ----------
    dtype : numpy dtype or anything ``numpy.dtype`` accepts
        The dtype of X (of its CSR data for sparse blocks).

    Returns
    -------
    numpy.dtype
        ``float32`` or ``float64``.
    """
    if np.dtype(dtype) == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def float_dtype(dtype) -> np.dtype:
    """``dtype`` checked to be float32 or float64, what readers and
    generators of X accept.

    Raises
    ------
    ValueError
        Any other dtype.
    """
    try:
        checked = np.dtype(dtype)
    except TypeError as error:
        raise ValueError(
            f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}."
        ) from error
    if checked not in (np.float32, np.float64):
        raise ValueError(
            f"dtype must be numpy.float32 or numpy.float64, got {checked}."
        )
    return checked


def aligned_block(block):
    """Return a block as C-contiguous float32 or float64 at an 8-byte aligned
    address.

    Blocks that reach workers inside a graph are deserialised as views into
    the received message and can sit at addresses that are not even 8-byte
    aligned; every later pass over them was measured 1.5x to 4x slower (8-,
    16- and 32-byte aligned blocks run as fast as 64-byte aligned ones). Such
    a block is copied once, into 64-byte aligned memory; a block already in
    the right form (and writable) is returned as it is, without a copy.
    float32 blocks stay float32 (see :func:`storage_dtype`); other dtypes
    become float64. CSR blocks are returned as CSR with float32 or float64
    data likewise.

    Parameters
    ----------
    block : ndarray or sparse matrix
        One block of X.

    Returns
    -------
    ndarray or scipy.sparse.csr_matrix
    """
    if sp.issparse(block):
        csr = sp.csr_matrix(block, dtype=storage_dtype(block.dtype))
        parts = (csr.data, csr.indices, csr.indptr)
        return csr if all(part.flags.writeable for part in parts) else csr.copy()
    block = np.asarray(block)
    dtype = storage_dtype(block.dtype)
    # 8 bytes for float32 too: the only threshold measured (float32 blocks at
    # 4 mod 8 were not), and a needless copy is made once per fit at most.
    # Read-only blocks (views of a received message) are copied too: the
    # compiled kernels are built for writable arrays (dmltk._loss._kernels).
    if (
        block.dtype == dtype
        and block.flags.c_contiguous
        and block.flags.writeable
        and block.ctypes.data % 8 == 0
    ):
        return block
    # numpy's allocator gives 16-byte alignment at best: over-allocate, then
    # start the view at the next 64-byte boundary (a cache line).
    nbytes = block.size * dtype.itemsize
    buffer = np.empty(nbytes + 64, dtype=np.uint8)
    offset = (-buffer.ctypes.data) % 64
    out = buffer[offset : offset + nbytes].view(dtype).reshape(block.shape)
    out[...] = block
    return out


def aligned_meta(sparse: bool, dtype) -> np.ndarray | sp.csr_matrix:
    """Empty block of the type :func:`aligned_block` returns for blocks of
    ``dtype`` (dask's ``meta``)."""
    dtype = storage_dtype(dtype)
    return sp.csr_matrix((0, 0), dtype=dtype) if sparse else np.empty((0, 0), dtype)


def count_nonfinite(X) -> int:
    """Number of NaN or infinite values in one block of X (dense or sparse)."""
    values = X.data if sp.issparse(X) else np.asarray(X)
    return int(values.size - np.count_nonzero(np.isfinite(values)))


def summarize_labels(y: np.ndarray) -> dict:
    """What fit needs to know about one block of labels, in one pass.

    Parameters
    ----------
    y : ndarray of shape (n_rows,)
        The labels as given by the user.

    Returns
    -------
    dict
        ``nonfinite`` (count of NaN or inf in numeric y), ``labels`` and
        ``counts`` (the distinct finite labels and how often each occurs),
        ``fractional`` (whether a numeric label is not a whole number, which
        makes y a regression target).
    """
    y = np.asarray(y)
    numeric = y.dtype.kind in "fc"
    finite = np.isfinite(y) if numeric else None
    labels, counts = np.unique(y[finite] if numeric else y, return_counts=True)
    return {
        "nonfinite": int(y.size - np.count_nonzero(finite)) if numeric else 0,
        "labels": labels,
        "counts": counts,
        "fractional": bool(numeric and np.any(labels != np.round(labels))),
    }


def summarize_targets(y: np.ndarray) -> list:
    """What a regressor's fit needs to know about one block of targets, in
    one pass: ``[count of NaN or inf, smallest finite value, sum of finite
    values]`` (the smallest is inf for a block without finite values)."""
    y = np.asarray(y, dtype=np.float64)
    finite = y[np.isfinite(y)]
    smallest = float(finite.min()) if finite.size else np.inf
    return [float(y.size - finite.size), smallest, float(finite.sum())]


def encode_labels(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Labels as float64 class indices into the sorted ``classes`` (0.0 / 1.0
    for two classes)."""
    return np.searchsorted(classes, np.asarray(y)).astype(np.float64)


def hashed_folds(index: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """The fold (0 .. n_folds - 1) of the rows of global positions ``index``
    in a data set: a seeded hash of each position, so that any block, on any
    worker, finds the same folds without reading the others.

    The hash is SplitMix64's finaliser (Steele, Lea and Flood, 2014), whose
    outputs pass BigCrush; its remainder by ``n_folds`` gives folds of
    nearly equal sizes (a binomial spread: about ``sqrt(n / n_folds)``).
    Written here because numpy's generators cannot be indexed by position.
    """
    with np.errstate(over="ignore"):
        mixed = np.asarray(index).astype(np.uint64)
        mixed += np.uint64(seed % (1 << 64)) * np.uint64(0x9E3779B97F4A7C15)
        mixed ^= mixed >> np.uint64(30)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(27)
        mixed *= np.uint64(0x94D049BB133111EB)
        mixed ^= mixed >> np.uint64(31)
    return (mixed % np.uint64(n_folds)).astype(np.int64)


def hashed_roles(index: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """(n_rows, n_folds) roles of the rows at global positions ``index``
    (a batch's role columns, :mod:`dmltk._loss._batch`): held out (TEST)
    in the fold :func:`hashed_folds` gives them, TRAIN in the others."""
    folds = hashed_folds(index, n_folds, seed)
    return np.where(folds[:, None] == np.arange(n_folds), TEST, TRAIN)


def hashed_roles_of_block(targets, n_folds: int, seed: int, block_info=None):
    """:func:`hashed_roles` of the rows of one block of targets, from its
    position in the array (dask's ``block_info``). Here, not beside its
    caller in ``dmltk.linear_model``: a task's function is imported by the
    worker that runs it, and importing the estimators took a worker 0.7 s
    (measured: a whole search 20% slower)."""
    first = block_info[0]["array-location"][0][0]
    index = np.arange(first, first + targets.shape[0], dtype=np.int64)
    return hashed_roles(index, n_folds, seed)


def column_sums(X, targets: np.ndarray, scales: np.ndarray | None = None) -> np.ndarray:
    """Weighted column sums of one block (first pass of the standard
    deviations).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_columns)
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
        Labels, with sample weights as a second column if any.
    scales : ndarray of shape (n_columns,), optional
        Sums of ``X / scales`` instead (see :func:`column_abs_max`).

    Returns
    -------
    ndarray of shape (2 + n_columns,)
        ``[sum s, sum s^2, sum_i s_i x_ij for every column j]``: sums, so
        partial results of many blocks add up.
    """
    weights = _sample_weights(X, targets)
    if scales is not None:
        X = _divided(X, scales)
    # Compiled: numpy would first copy a float32 block to float64 (measured:
    # the pass took 2x longer than on float64 data).
    column_sums = transpose_product(X, weights)
    return np.concatenate([[weights.sum(), weights @ weights], column_sums])


def column_abs_max(X, targets: np.ndarray) -> np.ndarray:
    """Largest ``|x|`` of every column of one block (0 for an empty one).

    Summed over blocks, a scale within a factor of the number of blocks of
    each column's largest ``|x|``: dividing by it keeps sums and squares of
    values as large as 1e300 inside float64 (:func:`centred_squares`).
    """
    del targets  # the signature of every per-column block function
    if not sp.issparse(X):
        return np.abs(X).max(axis=0, initial=0.0)
    out = np.zeros(X.shape[1])
    np.maximum.at(out, X.indices, np.abs(X.data))
    return out


def _divided(X, scales: np.ndarray):
    """``X / scales`` column by column (dense or CSR), as float64."""
    if not sp.issparse(X):
        return X / scales
    return sp.csr_matrix(
        (X.data / scales[X.indices], X.indices, X.indptr), shape=X.shape
    )


def scaled_centred_squares(X, targets: np.ndarray, means_and_scales: np.ndarray):
    """:func:`centred_squares` of ``X / scales`` around ``means``: rows 0 and
    1 of ``means_and_scales`` (the means of ``X / scales``)."""
    means, scales = means_and_scales
    return centred_squares(_divided(X, scales), targets, means)


def centred_squares(X, targets: np.ndarray, means: np.ndarray) -> np.ndarray:
    """``sum_i s_i (x_ij - means_j)^2`` for every column of one block.

    Computed from the centred values, not as ``sum s x^2 - S mean^2``, which
    loses every digit when a column's mean is large against its spread. For
    CSR blocks the implicit zeros contribute ``means_j^2`` times their
    weight, so the block stays sparse. Values beyond about 1e154 overflow
    to infinity here (without a warning): the caller then scales them.
    """
    weights = _sample_weights(X, targets)
    with np.errstate(over="ignore", invalid="ignore"):
        return _centred_squares(X, weights, means)


def _centred_squares(X, weights: np.ndarray, means: np.ndarray) -> np.ndarray:
    if not sp.issparse(X):
        centred = X - means
        return np.square(centred).T @ weights
    stored_weights = np.repeat(weights, np.diff(X.indptr))
    centred = X.data - means[X.indices]
    totals = np.bincount(
        X.indices, weights=stored_weights * centred * centred, minlength=X.shape[1]
    )
    stored_weight_sums = np.bincount(
        X.indices, weights=stored_weights, minlength=X.shape[1]
    )
    # Weight of the implicit zeros; exactly 0 for a column stored in full
    # (the difference of two sums would leave rounding noise, times mean^2).
    zero_weights = weights.sum() - stored_weight_sums
    full = np.bincount(X.indices, minlength=X.shape[1]) == X.shape[0]
    zero_weights[full] = 0.0
    totals += np.clip(zero_weights, 0.0, None) * means * means
    return totals


def _sample_weights(X, targets: np.ndarray) -> np.ndarray:
    return targets[:, 1] if targets.ndim == 2 else np.ones(X.shape[0])


def standard_deviations(
    weight_sum: float, weight_square_sum: float, centred_square_sums: np.ndarray
) -> np.ndarray:
    """Unbiased weighted standard deviation of every column, as Spark's
    ``Summarizer`` computes it (reliability weights).

    ``variance = sum s (x - mean)^2 / (S - sum s^2 / S)`` with ``S`` the
    weight sum; with unit weights this is the sample variance, ``n - 1`` in
    the denominator. 0 when there is a single (weighted) row.
    """
    denominator = weight_sum - weight_square_sum / weight_sum
    if denominator <= 0.0:
        return np.zeros_like(centred_square_sums)
    return np.sqrt(centred_square_sums / denominator)
