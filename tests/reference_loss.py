"""The numpy reference for dmltk._loss: the block math as it was written before
the compiled kernels (dmltk._loss._kernels), kept for tests to compare against.

The logistic loss, its gradient and Hessian products on ONE block.

This module knows numpy and scipy only (never dask). Every function takes one
block ``X`` (a dense C-contiguous ``numpy.ndarray`` or a ``scipy.sparse`` CSR
matrix) with its labels, and returns plain numpy results, so it can be tested
alone against numpy and finite differences.

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
import scipy.sparse as sp
from scipy.special import expit, log_expit, logsumexp

# Packing of coefficients and targets is shared with the code under test: only
# the numpy math below is the reference.
from dmltk._loss import split_coef, split_targets, stacked_weights
from dmltk._loss._block import _aligned

# Rows of a dense block are processed in slices of about this many bytes, so
# that the slice read for the margins is still in cache when the gradient
# reads it: one pass over memory per evaluation instead of two. Measured here
# (AMD EPYC, 1 MiB L2 per core): 1-4 MiB slices run at 1.5x one plain read of
# the block, the unsliced two-pass version at 3x.
SLICE_BYTES = 2 * 1024 * 1024


def _margins(X, weights, intercept) -> np.ndarray:
    z = np.asarray(X @ weights, dtype=np.float64)
    z += intercept
    return z if z.ndim == 2 else z.ravel()


def _loss_and_residual(z: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted loss sum and weighted residual of margins ``z``.

    Binomial (z of shape (n,)): residual ``s * (expit(z) - y)``. Multinomial
    (z of shape (n, K)): residual ``s * (softmax(z) - onehot(y))``, computed
    in place: ``z`` is overwritten and returned as the residual.
    """
    y, weights = split_targets(targets)
    if z.ndim == 1:
        # log(1 + exp(z)) - y z == -log_expit(-z) - y z, stable for any z.
        pointwise = log_expit(-z)
        pointwise += y * z
        pointwise *= -1.0
        residual = expit(z)
        residual -= y
    else:
        # Softmax in place in z, the caller's scratch buffer: no (n, K)
        # temporary. Workers started by Dask's nanny allocate every block
        # larger than 64 KiB afresh from the kernel (MALLOC_TRIM_THRESHOLD_),
        # and scipy's logsumexp makes several: measured 37 ms against 16 ms
        # per 62,500 x 50 x 10 block before this.
        rows = np.arange(z.shape[0])
        labels = y.astype(np.intp)
        z -= z.max(axis=1, keepdims=True)
        picked = z[rows, labels]
        np.exp(z, out=z)
        totals = z.sum(axis=1)
        pointwise = np.log(totals)
        pointwise -= picked
        z /= totals[:, None]
        z[rows, labels] -= 1.0
        residual = z
    if weights is None:
        return float(np.sum(pointwise)), residual
    residual *= weights if residual.ndim == 1 else weights[:, None]
    return float(weights @ pointwise), residual


def _fused_pass(X, targets, weights, intercept, residual_of, gradient) -> tuple:
    """One pass over a block: margins, then ``X.T @ residual`` added to
    ``gradient`` while the rows are still in cache.

    ``residual_of(z, targets) -> (loss, residual)`` turns margins into the
    per-row vector; returns the summed loss and the residual's column sums.
    """
    n_rows, n_features = X.shape
    if sp.issparse(X):
        loss, residual = residual_of(_margins(X, weights, intercept), targets)
        gradient += X.T @ residual
        return loss, residual.sum(axis=0)
    step = max(1, SLICE_BYTES // max(1, n_features * X.itemsize))
    loss, residual_sum = 0.0, 0.0
    # One margins buffer for all slices (see _loss_and_residual on why fresh
    # (n, K) allocations are slow on workers).
    buffer = np.empty((min(step, n_rows), *np.shape(weights)[1:]))
    for start in range(0, n_rows, step):
        rows = X[start : start + step]
        z = np.matmul(rows, weights, out=buffer[: rows.shape[0]])
        z += intercept
        slice_loss, residual = residual_of(z, targets[start : start + step])
        loss += slice_loss
        residual_sum = residual_sum + residual.sum(axis=0)
        gradient += rows.T @ residual
    return loss, residual_sum


def loss_gradient_block(
    X, targets: np.ndarray, coef: np.ndarray, fit_intercept: bool
) -> np.ndarray:
    """Loss sum and gradient sum of the logistic loss on one block.

    Reads the block once: dense blocks are walked in cache-sized slices of
    rows, each slice used for its margins and, while still in cache, for its
    share of the gradient.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features) or CSR matrix
        One block of rows. Dense blocks should be C-contiguous.
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
        Labels (0.0 / 1.0 for the binomial loss, the class index for the
        multinomial one), with sample weights as a second column for
        weighted fits.
    coef : ndarray of shape ((n_features + fit_intercept) * K,)
        ``W`` of shape (n_features, K) raveled row by row, then the K
        intercepts (K = 1: the binomial loss, scikit-learn's layout).
    fit_intercept : bool
        Whether ``coef`` ends with intercepts.

    Returns
    -------
    ndarray of shape (1 + coef.size,)
        ``[sum_i s_i loss_i, sum_i x_i r_i^T (raveled), (sum_i r_i)]`` with
        ``r_i = s_i (p_i - y_i)``: a monoid under addition, so partial
        results of many blocks are merged by summing them.
    """
    weights, intercept = split_coef(coef, X.shape[1], fit_intercept)
    out = np.zeros(1 + coef.size)
    gradient = out[1 : 1 + weights.size].reshape(weights.shape)
    loss, residual_sum = _fused_pass(
        X, targets, weights, intercept, _loss_and_residual, gradient
    )
    out[0] = loss
    if fit_intercept:
        out[1 + weights.size :] = residual_sum
    return out


def _curvature_times(zu: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Per-row Hessian of the loss times the direction's margins.

    ``zu`` holds the margins ``z`` (K columns) then the direction's margins
    ``u`` (K columns). Binomial: ``s p (1 - p) u``. Multinomial:
    ``s (p * u - p (p . u))``, the softmax Jacobian ``diag(p) - p p^T``
    applied to ``u``. Returns ``(0.0, t)``, shaped like a residual so the
    gradient's reduction serves Hessian products unchanged.
    """
    _, weights = split_targets(targets)
    k = zu.shape[1] // 2
    if k == 1:
        p = expit(zu[:, 0])
        t = p * (1.0 - p)
        t *= zu[:, 1]
    else:
        p = np.exp(zu[:, :k] - logsumexp(zu[:, :k], axis=1, keepdims=True))
        t = p * zu[:, k:]
        t -= p * t.sum(axis=1, keepdims=True)
    if weights is not None:
        t *= weights if t.ndim == 1 else weights[:, None]
    return 0.0, t


def hessian_product_block(
    X, targets: np.ndarray, coef_and_direction: np.ndarray, fit_intercept: bool
) -> np.ndarray:
    """Hessian of the loss sum at ``coef``, times ``direction``, on one block.

    One pass over the block (margins of both vectors from one product).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features) or CSR matrix
    targets : ndarray of shape (n_rows,) or (n_rows, 2)
        As for :func:`loss_gradient_block`.
    coef_and_direction : ndarray of shape (2, n_coef)
        The point and the direction, each in the packed layout of
        :func:`loss_gradient_block`.
    fit_intercept : bool

    Returns
    -------
    ndarray of shape (1 + n_coef,)
        ``[0, H v]``, packed like :func:`loss_gradient_block`'s output (the
        first slot is unused) so that partial results sum the same way.
    """
    coef, direction = _aligned(coef_and_direction)
    both, intercepts = stacked_weights(coef, direction, X.shape[1], fit_intercept)
    k = both.shape[1] // 2
    n_weights = X.shape[1] * k
    out = np.zeros(1 + coef.size)
    product = out[1 : 1 + n_weights].reshape((X.shape[1], k) if k > 1 else (-1,))
    _, t_sum = _fused_pass(X, targets, both, intercepts, _curvature_times, product)
    if fit_intercept:
        out[1 + n_weights :] = t_sum
    return out


def margins_block(X, weights: np.ndarray) -> np.ndarray:
    """Partial margins ``X_ij @ W_j`` of one block of a column-split layout.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_columns)
        Block (i, j).
    weights : ndarray of shape (n_columns,) or (n_columns, K)
        The coefficients of the columns of block column j.

    Returns
    -------
    ndarray of shape (n_rows,) or (n_rows, K)
    """
    return _margins(X, _aligned(weights), 0.0)


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
    loss, residual = _loss_and_residual(_aligned(z) + intercept, targets)
    return np.concatenate([[loss], np.atleast_1d(residual.sum(axis=0))]), residual


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
    _, t = _curvature_times(_aligned(zu) + intercepts, targets)
    return np.concatenate([[0.0], np.atleast_1d(t.sum(axis=0))]), t


def gradient_block(X, loss_and_residual: tuple) -> np.ndarray:
    """Slice of the gradient sum from block (i, j): ``X_ij.T @ r_i``, raveled.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_columns)
    loss_and_residual : tuple
        Output of :func:`loss_residual` for block row i.

    Returns
    -------
    ndarray of shape (n_columns * K,)
    """
    residual = _aligned(loss_and_residual[1])
    return np.asarray(X.T @ residual, dtype=np.float64).ravel()
