"""The binomial and multinomial (logistic) losses on one block, on the
logistic kernels of :mod:`dmltk._loss._kernels`."""

from __future__ import annotations

import numpy as np

# scipy.sparse on first use: importing it would triple this module's import
# time on a worker (see dmltk._lazy).
from .._lazy import sparse as sp
from ._block import (
    _aligned,
    _as_matrix,
    _compiled,
    _csr,
    _dense,
    _kernel_coef,
    _kernel_targets,
    _t,
)


def loss_gradient_block(
    X, targets: np.ndarray, coef: np.ndarray, fit_intercept: bool, out=None
) -> np.ndarray:
    """Loss sum and gradient sum of the logistic loss on one block.

    Reads the block once (see :mod:`dmltk._loss._kernels`): each row's margins,
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


class Binomial:
    """The binomial (logistic) loss with the logit link: one margin column,
    labels 0.0 / 1.0. The block functions are the module's own (plain
    functions: a task that names one pickles by reference)."""

    name = "binomial"
    #: Loss sums at the head of a packed result.
    n_losses = 1
    loss_gradient_block = staticmethod(loss_gradient_block)
    hessian_product_block = staticmethod(hessian_product_block)
    loss_residual = staticmethod(loss_residual)
    hessian_residual = staticmethod(hessian_residual)

    def __eq__(self, other) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Multinomial(Binomial):
    """The multinomial (softmax) loss: one margin column per class, labels
    the class indices. The same kernels as :class:`Binomial`, which tell
    the two apart by the number of margin columns."""

    name = "multinomial"
