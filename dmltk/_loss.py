"""Block math: the logistic loss, its gradient and Hessian products on ONE block.

This module knows numpy, scipy and the compiled kernels of
:mod:`dmltk._kernels` only (never dask). Every function takes one block ``X``
(a dense C-contiguous ``numpy.ndarray`` or a ``scipy.sparse`` CSR matrix, of
float32 or float64) with its labels, and returns float64 numpy results, so it
can be tested alone against the numpy reference (tests/reference_loss.py) and
finite differences.

The coefficient vector ``coef`` has ``n_features`` entries, followed by the
intercept when ``fit_intercept`` is true (scikit-learn's layout: intercept
last).

Labels come as ``targets``: either the 0/1 labels, shape (n_rows,), or, for
weighted fits, a two-column array ``[label, sample weight]`` of shape
(n_rows, 2), so that one block of targets travels with one block of rows.

Objective (what :class:`dmltk.LogisticRegression` minimises, scikit-learn's)::

    C * sum_i s_i logloss(y_i, x_i . w + b) + 1/2 ||w||^2

with ``logloss(y, z) = log(1 + exp(z)) - y z`` for ``y`` in {0, 1} and
sample weights ``s_i`` (1 when not given). The solver sees it divided by
``C * sum_i s_i`` so that the tolerance means what it means for scikit-learn's
lbfgs::

    f(w, b) = sum_i s_i logloss(y_i, x_i . w + b) / S + ||w||^2 / (2 C S)
"""

from __future__ import annotations

import numpy as np

# scipy.sparse on first use: importing it would triple this module's import
# time on a worker (see _lazy).
from ._lazy import sparse as sp


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


def loss_gradient_block(
    X, targets: np.ndarray, coef: np.ndarray, fit_intercept: bool, out=None
) -> np.ndarray:
    """Loss sum and gradient sum of the logistic loss on one block.

    Reads the block once (see :mod:`dmltk._kernels`): each row's margins,
    loss, residual and share of the gradient while the row is in cache.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features) or CSR matrix
        One block of rows, float32 or float64. Dense blocks should be
        C-contiguous.
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
        Labels (0.0 / 1.0 for the binomial loss, the class index for the
        multinomial one), with sample weights as a second column for
        weighted fits.
    coef : ndarray of shape ((n_features + fit_intercept) * K,)
        ``W`` of shape (n_features, K) raveled row by row, then the K
        intercepts (K = 1: the binomial loss, scikit-learn's layout).
    fit_intercept : bool
        Whether ``coef`` ends with intercepts.
    out : ndarray of shape (1 + coef.size,), optional
        A previous result to add this block's into (it is returned).

    Returns
    -------
    ndarray of shape (1 + coef.size,)
        ``[sum_i s_i loss_i, sum_i x_i r_i^T (raveled), (sum_i r_i)]`` with
        ``r_i = s_i (p_i - y_i)``, in float64: a monoid under addition, so
        partial results of many blocks are merged by summing them.
    """
    n_features = X.shape[1]
    weights, intercept = _kernel_coef(coef, n_features, fit_intercept)
    k = weights.shape[1]
    out = np.zeros(1 + coef.size) if out is None else out
    gradient = out[1 : 1 + n_features * k].reshape(n_features, k)
    residual_sum = np.zeros(k)
    labels, sample_weight = _kernel_targets(targets)
    if sp.issparse(X):
        loss = _compiled().sparse_loss_gradient(
            *_csr(X), labels, sample_weight, weights, intercept, gradient, residual_sum
        )
    else:
        transposed = np.zeros((k, n_features))
        loss = _compiled().dense_loss_gradient(
            _dense(X), labels, sample_weight, _t(weights), intercept, transposed,
            residual_sum,
        )  # fmt: skip
        gradient += transposed.T
    out[0] += loss
    if fit_intercept:
        out[1 + n_features * k :] += residual_sum
    return out


def hessian_product_block(
    X,
    targets: np.ndarray,
    coef_and_direction: np.ndarray,
    fit_intercept: bool,
    out=None,
) -> np.ndarray:
    """Hessian of the loss sum at ``coef``, times ``direction``, on one block.

    One pass over the block (margins of both vectors from the same row read).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features) or CSR matrix
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
        As for :func:`loss_gradient_block`.
    coef_and_direction : ndarray of shape (2, n_coef)
        The point and the direction, each in the packed layout of
        :func:`loss_gradient_block`.
    fit_intercept : bool
    out : ndarray of shape (1 + n_coef,), optional
        A previous result to add this block's into (it is returned).

    Returns
    -------
    ndarray of shape (1 + n_coef,)
        ``[0, H v]``, packed like :func:`loss_gradient_block`'s output (the
        first slot is unused) so that partial results sum the same way.
    """
    coef, direction = _aligned(coef_and_direction)
    n_features = X.shape[1]
    weights, intercept = _kernel_coef(coef, n_features, fit_intercept)
    d_weights, d_intercept = _kernel_coef(direction, n_features, fit_intercept)
    k = weights.shape[1]
    out = np.zeros(1 + coef.size) if out is None else out
    product = out[1 : 1 + n_features * k].reshape(n_features, k)
    t_sum = np.zeros(k)
    labels, sample_weight = _kernel_targets(targets)
    if sp.issparse(X):
        _compiled().sparse_hessian_product(
            *_csr(X), labels, sample_weight, weights, intercept, d_weights,
            d_intercept, product, t_sum,
        )  # fmt: skip
    else:
        transposed = np.zeros((k, n_features))
        _compiled().dense_hessian_product(
            _dense(X), labels, sample_weight, _t(weights), intercept,
            _t(d_weights), d_intercept, transposed, t_sum,
        )  # fmt: skip
        product += transposed.T
    if fit_intercept:
        out[1 + n_features * k :] += t_sum
    return out


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


def loss_residual(z: np.ndarray, targets: np.ndarray, intercept) -> tuple:
    """Loss and residual of one block row from its summed margins.

    Parameters
    ----------
    z : ndarray of shape (n_rows,) or (n_rows, K)
        ``sum_j X_ij @ W_j``, without the intercept.
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
        Labels, and sample weights as a second column if any.
    intercept : float or ndarray of shape (K,)
        Added to every margin (0.0 without an intercept).

    Returns
    -------
    scalars : ndarray of shape (1 + K,)
        ``[loss sum, residual sum per margin column]``.
    residual : ndarray of the shape of ``z``
        ``s * (p - y)``.
    """
    residual = _as_matrix(z) + intercept
    residual_sum = np.zeros(residual.shape[1])
    labels, sample_weight = _kernel_targets(targets)
    loss = _compiled().margins_loss_residual(
        residual, labels, sample_weight, residual_sum
    )
    return np.concatenate([[loss], residual_sum]), residual.reshape(np.shape(z))


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


def hessian_residual(zu: np.ndarray, targets: np.ndarray, intercepts) -> tuple:
    """The Hessian-product counterpart of :func:`loss_residual`.

    Parameters
    ----------
    zu : ndarray of shape (n_rows, 2K)
        ``sum_j X_ij @ [W_j, V_j]``: margins of the point, then of the
        direction, without intercepts.
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
    intercepts : ndarray of shape (2K,)
        Intercepts of the point, then of the direction.

    Returns
    -------
    scalars : ndarray of shape (1 + K,)
        ``[0, column sums of t]``.
    t : ndarray of shape (n_rows,) or (n_rows, K)
        Per-row Hessian times direction margins, used as the residual.
    """
    zu = _aligned(zu) + intercepts
    k = zu.shape[1] // 2
    z, t = np.ascontiguousarray(zu[:, :k]), np.ascontiguousarray(zu[:, k:])
    t_sum = np.zeros(k)
    _, sample_weight = _kernel_targets(targets)
    _compiled().margins_curvature(z, t, sample_weight, t_sum)
    return np.concatenate([[0.0], t_sum]), t.ravel() if k == 1 else t


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


def penalty_strengths(
    C: float, weight_sum: float, l1_ratio: float
) -> tuple[float, float]:
    """Strengths ``(l2, l1)`` of the penalty on the normalised objective.

    scikit-learn's ``C * loss_sum + (1 - r)/2 ||w||^2 + r ||w||_1`` divided by
    ``C * S`` gives ``(1 - r) / (C S)`` and ``r / (C S)``; both are 0 when
    ``C`` is infinite.
    """
    if not np.isfinite(C):
        return 0.0, 0.0
    scale = 1.0 / (C * weight_sum)
    return (1.0 - l1_ratio) * scale, l1_ratio * scale


def penalized_objective(
    packed_sum: np.ndarray,
    coef: np.ndarray,
    *,
    weight_sum: float,
    C: float,
    fit_intercept: bool,
    n_features: int,
    l1_ratio: float = 0.0,
) -> tuple[float, np.ndarray]:
    """Turn summed block results into the normalised objective's smooth part.

    Parameters
    ----------
    packed_sum : ndarray
        Sum over all blocks of :func:`loss_gradient_block`.
    coef : ndarray
        The coefficients the penalty is applied to.
    weight_sum : float
        Sum of the sample weights over all blocks (the number of rows when
        unweighted).
    C : float
        Inverse regularisation strength; ``np.inf`` means no penalty.
    fit_intercept : bool
        Whether ``coef`` ends with (unpenalised) intercepts.
    n_features : int
        Number of features; the intercepts are what follows
        ``n_features * K`` weights.
    l1_ratio : float, default=0.0
        Share of the penalty that is L1. Only the L2 share is added here:
        the L1 share is not differentiable and is the solver's business
        (see :func:`dmltk.solvers.minimize_owlqn`).

    Returns
    -------
    value : float
        ``weighted mean logloss + (1 - l1_ratio) ||w||^2 / (2 C S)``, S the
        weight sum.
    gradient : ndarray of the shape of ``coef``
    """
    value = packed_sum[0] / weight_sum
    gradient = packed_sum[1:] / weight_sum
    l2, _ = penalty_strengths(C, weight_sum, l1_ratio)
    if l2 > 0.0:
        weights = coef[: n_features * n_outputs(n_features, coef, fit_intercept)]
        value += 0.5 * l2 * float(weights @ weights)
        gradient[: weights.size] += l2 * weights
    return float(value), gradient


def penalized_hessian_product(
    packed_sum: np.ndarray,
    direction: np.ndarray,
    *,
    weight_sum: float,
    C: float,
    fit_intercept: bool,
    n_features: int,
    l1_ratio: float = 0.0,
) -> np.ndarray:
    """Hessian of :func:`penalized_objective` times ``direction``.

    Parameters
    ----------
    packed_sum : ndarray
        Sum over all blocks of :func:`hessian_product_block`.
    direction : ndarray
        The direction the blocks were given.
    weight_sum, C, fit_intercept, n_features, l1_ratio
        As for :func:`penalized_objective`.

    Returns
    -------
    ndarray of the shape of ``direction``
    """
    product = packed_sum[1:] / weight_sum
    l2, _ = penalty_strengths(C, weight_sum, l1_ratio)
    if l2 > 0.0:
        n_weights = n_features * n_outputs(n_features, direction, fit_intercept)
        product[:n_weights] += l2 * direction[:n_weights]
    return product
