"""Block math: the binomial logistic loss on ONE block of rows.

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

# Rows of a dense block are processed in slices of about this many bytes, so
# that the slice read for the margins is still in cache when the gradient
# reads it: one pass over memory per evaluation instead of two. Measured here
# (AMD EPYC, 1 MiB L2 per core): 1-4 MiB slices run at 1.5x one plain read of
# the block, the unsliced two-pass version at 3x.
SLICE_BYTES = 2 * 1024 * 1024


def _aligned(array: np.ndarray) -> np.ndarray:
    # Small arrays that arrive in a message can sit at addresses that are not
    # a multiple of 8; BLAS then takes another code path whose sums round
    # differently (measured: results differing in the last bit from one run
    # to the next). A copy of a few kB restores bit-identical results.
    return array if array.flags.aligned else array.copy()


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


def _margins(X, weights, intercept) -> np.ndarray:
    z = np.asarray(X @ weights, dtype=np.float64)
    z += intercept
    return z if z.ndim == 2 else z.ravel()


def split_targets(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels and sample weights (None when unweighted) of a block of targets."""
    targets = _aligned(targets)
    if targets.ndim == 2:
        return targets[:, 0], targets[:, 1]
    return targets, None


def _loss_and_residual(z: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted loss sum and weighted residual of margins ``z``.

    Binomial (z of shape (n,)): residual ``s * (expit(z) - y)``. Multinomial
    (z of shape (n, K)): residual ``s * (softmax(z) - onehot(y))``.
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
        rows = np.arange(z.shape[0])
        labels = y.astype(np.intp)
        normaliser = logsumexp(z, axis=1)
        pointwise = normaliser - z[rows, labels]
        residual = np.exp(z - normaliser[:, None])
        residual[rows, labels] -= 1.0
    if weights is None:
        return float(np.sum(pointwise)), residual
    residual *= weights if residual.ndim == 1 else weights[:, None]
    return float(weights @ pointwise), residual


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
    n_rows, n_features = X.shape
    weights, intercept = split_coef(coef, n_features, fit_intercept)
    out = np.zeros(1 + coef.size)
    gradient = out[1 : 1 + weights.size].reshape(weights.shape)
    if sp.issparse(X):
        loss, residual = _loss_and_residual(_margins(X, weights, intercept), targets)
        gradient += X.T @ residual
        residual_sum = residual.sum(axis=0)
    else:
        step = max(1, SLICE_BYTES // max(1, n_features * X.itemsize))
        loss, residual_sum = 0.0, 0.0
        for start in range(0, n_rows, step):
            rows = X[start : start + step]
            slice_loss, residual = _loss_and_residual(
                _margins(rows, weights, intercept), targets[start : start + step]
            )
            loss += slice_loss
            residual_sum = residual_sum + residual.sum(axis=0)
            gradient += rows.T @ residual
    out[0] = loss
    if fit_intercept:
        out[1 + weights.size :] = residual_sum
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


def residual_scalars(loss_and_residual: tuple) -> np.ndarray:
    """The ``scalars`` of :func:`loss_residual`'s output."""
    return loss_and_residual[0]


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


def penalized_objective(
    packed_sum: np.ndarray,
    coef: np.ndarray,
    *,
    weight_sum: float,
    C: float,
    fit_intercept: bool,
    n_features: int,
) -> tuple[float, np.ndarray]:
    """Turn summed block results into the normalised objective and its gradient.

    Parameters
    ----------
    packed_sum : ndarray
        Sum over all blocks of :func:`loss_gradient_block`.
    coef : ndarray
        The coefficients the blocks were evaluated at.
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

    Returns
    -------
    value : float
        ``weighted mean logloss + ||w||^2 / (2 C S)``, S the weight sum.
    gradient : ndarray of the shape of ``coef``
    """
    value = packed_sum[0] / weight_sum
    gradient = packed_sum[1:] / weight_sum
    if np.isfinite(C):
        weights = coef[: n_features * n_outputs(n_features, coef, fit_intercept)]
        strength = 1.0 / (C * weight_sum)
        value += 0.5 * strength * float(weights @ weights)
        gradient[: weights.size] += strength * weights
    return float(value), gradient


def sum_packed(*parts: np.ndarray) -> np.ndarray:
    """Merge partial block results: element-wise sum in the given order.

    A fixed order keeps results bit-identical from one run to the next.
    """
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total
