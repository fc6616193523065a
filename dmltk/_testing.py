"""The reference objective every system is judged on, for tests and benchmarks.

scikit-learn's ``LogisticRegression`` objective, computed in float64 numpy from
a model's coefficients: one definition, used by ``tests/`` and by the
benchmarks in ``scripts/dmltk_benchmarks``. dmltk itself never imports this
module (it needs numpy and scipy only), so that an oracle can never share a
bug with the code it checks.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

__all__ = ["sample_losses", "sklearn_objective"]


def sample_losses(X, y, coef, intercept) -> np.ndarray:
    """Log loss of every sample, in float64.

    Parameters
    ----------
    X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class codes: 0/1 when ``coef`` has one row (or is 1-D), else
        ``0 .. K-1``.
    coef : array-like of shape (n_features,), (1, n_features) or (K, n_features)
        One row: the binomial margin ``x.w + b`` is class 1's. K rows: the
        softmax over K margins.
    intercept : float or array-like of shape (1,) or (K,)

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    coef = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    margins = np.asarray(X @ coef.T, dtype=np.float64) + intercept
    y = np.asarray(y)
    if coef.shape[0] == 1:
        z = margins[:, 0]
        return np.logaddexp(0.0, z) - y.astype(np.float64) * z
    picked = np.take_along_axis(margins, y.astype(np.intp)[:, None], axis=1)[:, 0]
    return logsumexp(margins, axis=1) - picked


def sklearn_objective(
    X,
    y,
    coef,
    intercept,
    C: float = 1.0,
    *,
    l1_ratio: float = 0.0,
    sample_weight=None,
) -> float:
    """scikit-learn's objective, in float64 numpy, from the coefficients.

    ``C * sum_i s_i loss_i + (1 - l1_ratio) / 2 ||W||^2 + l1_ratio ||W||_1``,
    intercepts not penalised; ``loss_i`` is :func:`sample_losses`.

    Parameters
    ----------
    X, y, coef, intercept
        As in :func:`sample_losses`.
    C : float, default=1.0
        Inverse penalty strength. ``np.inf`` means no penalty: the result is
        then the (weighted) sum of losses alone.
    l1_ratio : float, default=0.0
        Share of the L1 term in the penalty.
    sample_weight : array-like of shape (n_samples,), optional
        ``s_i``; ones when omitted.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.eye(2), np.array([0.0, 1.0])
    >>> round(sklearn_objective(X, y, np.zeros(2), 0.0), 6)  # 2 log 2
    1.386294
    """
    losses = sample_losses(X, y, coef, intercept)
    weights = np.ones(losses.size) if sample_weight is None else sample_weight
    loss = float(np.asarray(weights, dtype=np.float64) @ losses)
    if np.isinf(C):
        return loss
    W = np.asarray(coef, dtype=np.float64)
    penalty = 0.5 * (1.0 - l1_ratio) * float(np.sum(W * W))
    penalty += l1_ratio * float(np.sum(np.abs(W)))
    return C * loss + penalty
