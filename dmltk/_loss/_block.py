"""What every family's block functions share: the packed coefficient and
target layouts, the forms the kernels take, and the column layouts' margins
and transpose products (the same for every family).
"""

from __future__ import annotations

import numpy as np

# scipy.sparse on first use: importing it would triple this module's import
# time on a worker (see dmltk._lazy).
from .._lazy import sparse as sp


def _compiled():
    """The kernel module, imported on first use: numba takes about 0.4 s to
    import, which a worker pays at dmltk.connect() (its warm-up) or at its
    first evaluation, not whenever it unpickles a task of this module."""
    from . import _kernels

    return _kernels


def _aligned(array: np.ndarray) -> np.ndarray:
    # Small arrays that arrive in a message can sit at addresses that are not
    # a multiple of 8, or be read-only views of the message; the kernels are
    # compiled for aligned, writable arrays (another kind would cost a
    # compilation). A copy of a few kB is cheaper.
    if array.flags.aligned and array.flags.writeable:
        return array
    return array.copy()


def n_outputs(n_features: int, coef: np.ndarray, fit_intercept: bool) -> int:
    """Number of margin columns K: 1 for the binomial loss, the number of
    classes for the multinomial one, from the length of ``coef``."""
    return coef.size // (n_features + int(fit_intercept))


def split_coef(
    coef: np.ndarray, n_features: int, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray | float]:
    """Weights and intercept(s) of a packed coefficient vector.

    Returns ``(w, b)`` with ``w`` of shape (n_features,) and a float ``b`` for
    the binomial loss; ``W`` of shape (n_features, K) and ``b`` of shape (K,)
    for the multinomial one. ``b`` is 0 without an intercept.
    """
    coef = _aligned(coef)
    k = n_outputs(n_features, coef, fit_intercept)
    weights = coef[: n_features * k]
    intercept = coef[n_features * k :] if fit_intercept else np.zeros(k)
    if k == 1:
        return weights, float(intercept[0])
    return weights.reshape(n_features, k), intercept


def _kernel_coef(
    coef: np.ndarray, n_features: int, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    """``W`` of shape (n_features, K) and ``b`` of shape (K,), contiguous
    float64: the form every kernel takes, for both losses."""
    coef = _aligned(np.asarray(coef, dtype=np.float64))
    k = n_outputs(n_features, coef, fit_intercept)
    weights = coef[: n_features * k].reshape(n_features, k)
    intercept = coef[n_features * k :] if fit_intercept else np.zeros(k)
    return weights, np.ascontiguousarray(intercept)


def split_targets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels and sample weights (None when unweighted) of a block of targets."""
    targets = _aligned(targets)
    if targets.ndim == 2:
        return targets[:, 0], targets[:, 1]
    return targets, None


_UNWEIGHTED = np.empty(0)


def _kernel_targets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous float64 labels and sample weights (empty when unweighted)."""
    labels, weights = split_targets(targets)
    labels = np.ascontiguousarray(labels, dtype=np.float64)
    if weights is None:
        return labels, _UNWEIGHTED
    return labels, np.ascontiguousarray(weights, dtype=np.float64)


_KERNEL_DTYPES = (np.float32, np.float64)


def _kernel_ready(array: np.ndarray) -> bool:
    # The forms the kernels are compiled for (warm_up loads them): any other
    # would cost a compilation the first time it is met on a machine.
    flags = array.flags
    return flags.c_contiguous and flags.aligned and flags.writeable


def _dense(X) -> np.ndarray:
    """A dense block in a form the kernels take: C-contiguous, aligned,
    writable float32 or float64. The blocks of a fit are in that form
    already (dmltk._blocks.aligned_block); others are copied once here."""
    if X.dtype in _KERNEL_DTYPES and _kernel_ready(X):
        return X
    dtype = X.dtype if X.dtype in _KERNEL_DTYPES else np.float64
    return np.array(X, dtype=dtype, order="C")


def _csr(X) -> tuple:
    """``data, indices, indptr`` of a CSR block, each in a form the kernels
    take (see :func:`_dense`)."""
    if X.format != "csr":
        X = X.tocsr()
    data = _dense(X.data)
    indices, indptr = X.indices, X.indptr
    if not (_kernel_ready(indices) and _kernel_ready(indptr)):
        indices, indptr = indices.copy(), indptr.copy()
    return data, indices, indptr


def _t(weights: np.ndarray) -> np.ndarray:
    """(d, K) weights as the contiguous (K, d) the dense kernels take."""
    return np.ascontiguousarray(weights.T)


def _as_matrix(values: np.ndarray) -> np.ndarray:
    """A per-row vector (n,) or matrix (n, K) as a contiguous (n, K) float64."""
    values = _aligned(np.asarray(values, dtype=np.float64))
    return np.ascontiguousarray(values.reshape(values.shape[0], -1))


def margins_block(X, weights: np.ndarray, out=None) -> np.ndarray:
    """Partial margins ``X_ij @ W_j`` of one block of a column-split layout.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_columns)
        Block (i, j).
    weights : ndarray of shape (n_columns,) or (n_columns, K)
        The coefficients of the columns of block column j.
    out : ndarray, optional
        Margins of other blocks of the same block row to add these to (it is
        returned).

    Returns
    -------
    ndarray of shape (n_rows,) or (n_rows, K), float64
    """
    weights = _aligned(np.asarray(weights, dtype=np.float64))
    matrix = np.ascontiguousarray(weights.reshape(weights.shape[0], -1))
    margins = np.empty((X.shape[0], matrix.shape[1]))
    intercept = np.zeros(matrix.shape[1])
    if sp.issparse(X):
        _compiled().sparse_margins(*_csr(X), matrix, intercept, margins)
    else:
        _compiled().dense_margins(_dense(X), _t(matrix), intercept, margins)
    margins = margins.reshape(X.shape[0], *weights.shape[1:])
    if out is None:
        return margins
    out += margins
    return out


def stacked_weights(
    coef: np.ndarray, direction: np.ndarray, n_features: int, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the point and the direction side by side, (d, 2K), and
    their intercepts, (2K,): what the margins pass of a Hessian product on a
    column-split layout multiplies each block by."""
    weights, intercept = split_coef(coef, n_features, fit_intercept)
    d_weights, d_intercept = split_coef(direction, n_features, fit_intercept)
    intercepts = [np.atleast_1d(intercept), np.atleast_1d(d_intercept)]
    return np.column_stack([weights, d_weights]), np.concatenate(intercepts)


def residual_scalars(loss_and_residual: tuple) -> np.ndarray:
    """The ``scalars`` of :func:`loss_residual`'s output."""
    return loss_and_residual[0]


def transpose_product(X, values: np.ndarray, out=None) -> np.ndarray:
    """``X.T @ values`` of one block, raveled, in float64 (compiled: a
    float32 block is read as it is, not copied to float64 first).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_columns)
    values : ndarray of shape (n_rows,) or (n_rows, K)
    out : ndarray of shape (n_columns * K,), optional
        A result to add this one to (it is returned).

    Returns
    -------
    ndarray of shape (n_columns * K,)
    """
    values = _as_matrix(values)
    k = values.shape[1]
    out = np.zeros(X.shape[1] * k) if out is None else out
    product = out.reshape(X.shape[1], k)
    if sp.issparse(X):
        _compiled().sparse_transpose_product(*_csr(X), values, product)
    else:
        transposed = np.zeros((k, X.shape[1]))
        _compiled().dense_transpose_product(_dense(X), values, transposed)
        product += transposed.T
    return out


def gradient_block(X, loss_and_residual: tuple, out=None) -> np.ndarray:
    """Slice of the gradient sum from block (i, j): ``X_ij.T @ r_i``, raveled.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_columns)
    loss_and_residual : tuple
        Output of :func:`loss_residual` for block row i.
    out : ndarray of shape (n_columns * K,), optional
        The slice from other block rows to add this one to (it is returned).

    Returns
    -------
    ndarray of shape (n_columns * K,), float64
    """
    return transpose_product(X, loss_and_residual[1], out)


def gram_block(X, targets: np.ndarray, out=None) -> np.ndarray:
    """The weighted normal equations of one block, in float64: one read.

    With ``A = [X, 1]`` (a column of ones appended) and ``W`` the sample
    weights, returns ``[A' W A (raveled), A' W y, y' W y]``, packed so that
    the results of many blocks add up (``out``: a previous result to add
    this block's into). What the squared error's direct solve needs
    (:meth:`dmltk._distributed.BlockEvaluator.reduce`).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_features)
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
        Targets, with sample weights as a second column for weighted fits.
    out : ndarray of shape ((d + 1) ** 2 + d + 2,), optional

    Returns
    -------
    ndarray of shape ((d + 1) ** 2 + d + 2,)
    """
    labels, weights = split_targets(targets)
    labels = np.asarray(labels, dtype=np.float64)
    weights = np.ones(labels.shape[0]) if weights is None else np.asarray(weights)
    d = X.shape[1]
    size = d + 1
    out = np.zeros(size * size + size + 1) if out is None else out
    gram = out[: size * size].reshape(size, size)
    if sp.issparse(X):
        X = X.astype(np.float64)
        weighted = sp.csr_matrix(X.multiply(weights[:, None]))
        gram[:d, :d] += (X.T @ weighted).toarray()
        gram[:d, d] += np.asarray(weighted.sum(axis=0)).ravel()
        products = X.T @ (weights * labels)
    else:
        # float64 products whatever the block's dtype: a float32 Gram matrix
        # would lose the digits the solve needs.
        X = np.asarray(X, dtype=np.float64)
        root = np.sqrt(weights)
        scaled = X * root[:, None]
        gram[:d, :d] += scaled.T @ scaled  # a symmetric rank-k update (BLAS)
        gram[:d, d] += root @ scaled
        products = X.T @ (weights * labels)
    gram[d, :d] = gram[:d, d]
    gram[d, d] += weights.sum()
    out[size * size : size * size + d] += products
    out[size * size + d] += weights @ labels
    out[-1] += weights @ (labels * labels)
    return out
