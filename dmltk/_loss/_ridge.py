"""The squared error's cross-validation from normal equations, on one
block: the normal equations of every fold's training and held-out rows from
one read (what ``RidgeCV``, ``LassoCV`` and ``ElasticNetCV`` solve and score
on the client), and ridge's leave-one-out errors at every alpha from one
more.

Both take a batch's targets (:mod:`dmltk._loss._batch`: ``[y, training
weight, scoring weight, role in each fold]``).
"""

from __future__ import annotations

import numpy as np

from ._batch import ROLE_OFFSET, TEST, TRAIN
from ._block import gram_block


def fold_gram_block(X, targets: np.ndarray, n_folds: int, out=None) -> np.ndarray:
    """:func:`dmltk._loss.gram_block` of all the rows, then of the rows each
    fold holds out, then of the rows each fold neither trains on nor holds
    out (none for scikit-learn's ``KFold`` and for hashed folds), packed
    one after the other: a fold's training rows' normal equations are the
    first minus its two others, and its held-out rows' score any model
    without reading X again. Each row is read once for all rows and once
    more for the fold that holds it out, not once per fold.

    The weights are the training weights (column 1 of a batch's targets:
    the sample weights of a regression).

    Returns
    -------
    ndarray of shape ((2 n_folds + 1) * ((d + 1) ** 2 + d + 2),)
    """
    targets = np.asarray(targets, dtype=np.float64)
    size = (X.shape[1] + 1) ** 2 + X.shape[1] + 2
    out = np.zeros((2 * n_folds + 1) * size) if out is None else out
    parts = out.reshape(2 * n_folds + 1, size)
    weighted = targets[:, :2]
    gram_block(X, weighted, out=parts[0])
    for fold in range(n_folds):
        roles = targets[:, ROLE_OFFSET + fold]
        for part, rows in (
            (parts[1 + fold], np.flatnonzero(roles == TEST)),
            (
                parts[1 + n_folds + fold],
                np.flatnonzero((roles != TEST) & (roles != TRAIN)),
            ),
        ):
            if rows.size:
                gram_block(X[rows], weighted[rows], out=part)
    return out


def ridge_loo_block(
    X,
    targets: np.ndarray,
    x_mean: np.ndarray,
    rotation: np.ndarray,
    scaled_products: np.ndarray,
    inverse_spectra: np.ndarray,
    y_mean: float,
    intercept_leverage: float,
    out=None,
) -> np.ndarray:
    """Every alpha's leave-one-out sums on one block, from its closed form.

    With ``G = V diag(l) V'`` the eigendecomposition of the (centred,
    weighted) Gram matrix, ``u = (x - x_mean) V`` for each row, the ridge
    prediction at alpha is ``y_mean + u . (c / (l + alpha))`` and the row's
    leverage ``h = t (intercept_leverage + u^2 . 1 / (l + alpha))`` (``t``
    its training weight); its
    leave-one-out error is ``e = (y - prediction) / (1 - h)``, exact for a
    penalised least squares (scikit-learn's ``_RidgeGCV``).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_rows, n_features)
    targets : ndarray of shape (n_rows, 3 + n_folds)
        A batch's targets (the training weight is column 1, the scoring
        weight ``s`` column 2).
    x_mean : ndarray of shape (n_features,)
    rotation : ndarray of shape (n_features, n_features)
        ``V``.
    scaled_products : ndarray of shape (n_alphas, n_features)
        ``c / (l + alpha)`` for every alpha (``c = V' X_c' W y``).
    inverse_spectra : ndarray of shape (n_alphas, n_features)
        ``1 / (l + alpha)`` for every alpha.
    y_mean : float
    intercept_leverage : float
        ``1 / sum(s)`` with an intercept, else 0.
    out : ndarray of shape (n_alphas * 5,), optional

    Returns
    -------
    ndarray of shape (n_alphas * 5,)
        Per alpha ``[sum s e^2, sum s, sum s y, sum s y^2, n_rows]``
        (``s`` the scoring weight, column 2): scikit-learn's score without a
        scorer (the first over the number of rows), and the weighted mean
        squared error and R^2 of the leave-one-out predictions.
    """
    targets = np.asarray(targets, dtype=np.float64)
    y, weights, scoring = targets[:, 0], targets[:, 1], targets[:, 2]
    n_alphas = inverse_spectra.shape[0]
    out = np.zeros(n_alphas * 5) if out is None else out
    rotated = np.asarray(X @ rotation, dtype=np.float64) - x_mean @ rotation
    predictions = y_mean + rotated @ scaled_products.T  # (n_rows, n_alphas)
    leverage = weights[:, None] * (
        intercept_leverage + (rotated * rotated) @ inverse_spectra.T
    )
    errors = (y[:, None] - predictions) / (1.0 - leverage)
    squared = errors * errors
    sums = out.reshape(n_alphas, 5)
    sums[:, 0] += scoring @ squared
    sums[:, 1] += scoring.sum()
    sums[:, 2] += scoring @ y
    sums[:, 3] += scoring @ (y * y)
    sums[:, 4] += y.size
    return out
