"""The reference objective of the regression problems, in float64 numpy.

Every regression fit is judged on scikit-learn's GLM objective, whatever
system produced the coefficients::

    F(w, b) = sum_i dev(y_i, mu_i) / (2 n) + alpha / 2 ||w||^2

with ``mu_i = exp(x_i . w + b)`` (log link) or ``x_i . w + b`` for power 0,
where ``dev / 2 = (y - mu)^2 / 2``: Ridge's ``||y - Xw - b||^2 + alpha n
||w||^2`` divided by ``2 n``. ``F`` is dmltk's normalised objective (the
module docstring of ``dmltk/linear_model/_regression.py``: the mean "half
loss" plus ``l2/2 ||w||^2``) plus a term in y alone, so that it is 0 at a
perfect fit and a relative gap means something.

``dmltk._testing`` holds the logistic objective only; this is its regression
counterpart, one definition for every adapter and the golden master.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

__all__ = ["d2_score", "means", "regression_objective", "unit_deviance"]


def unit_deviance(y: np.ndarray, mu: np.ndarray, power: float) -> np.ndarray:
    """The Tweedie unit deviance of every sample (scikit-learn's
    ``mean_tweedie_deviance`` before the mean).

    Parameters
    ----------
    y, mu : ndarray of shape (n_samples,)
        Targets and predicted means (``mu > 0`` for power > 0).
    power : float
        0 (normal), 1 (Poisson), 2 (Gamma), or in (1, 2) or above 2.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    y = np.asarray(y, dtype=np.float64)
    p = power
    if p == 0:
        return (y - mu) ** 2
    if p == 1:
        return 2.0 * (xlogy(y, y / mu) - y + mu)
    if p == 2:
        return 2.0 * (np.log(mu / y) + y / mu - 1.0)
    if not (1 < p < 2 or p > 2):
        raise ValueError(f"No Tweedie deviance for this power; got power={power}.")
    return 2.0 * (
        np.maximum(y, 0.0) ** (2 - p) / ((1 - p) * (2 - p))
        - y * mu ** (1 - p) / (1 - p)
        + mu ** (2 - p) / (2 - p)
    )


def means(X, coef, intercept, power: float) -> np.ndarray:
    """Predicted means: the linear predictor, through ``exp`` unless power 0."""
    w = np.asarray(coef, dtype=np.float64).ravel()
    b = float(np.asarray(intercept, dtype=np.float64).ravel()[0])
    z = np.asarray(X @ w, dtype=np.float64) + b
    return z if power == 0 else np.exp(z)


def regression_objective(X, y, coef, intercept, power: float, alpha: float) -> float:
    """``F(w, b)`` of the module docstring, in float64.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    coef : array-like of shape (n_features,) or (1, n_features)
    intercept : float or array-like of shape (1,)
    power : float
        Tweedie power (0: squared error, identity link; else log link).
    alpha : float
        L2 strength (the intercept is not penalised).

    Returns
    -------
    float

    Examples
    --------
    >>> X, y = np.eye(2), np.array([1.0, 3.0])
    >>> regression_objective(X, y, [1.0, 3.0], 0.0, power=0, alpha=0.0)
    0.0
    >>> regression_objective(X, y, [0.0, 0.0], 2.0, power=0, alpha=1.0)
    0.5
    """
    mu = means(X, coef, intercept, power)
    w = np.asarray(coef, dtype=np.float64).ravel()
    deviance = float(np.mean(unit_deviance(y, mu, power)))
    return 0.5 * deviance + 0.5 * alpha * float(w @ w)


def d2_score(X, y, coef, intercept, power: float) -> float:
    """Share of the deviance explained (``1 - dev(model) / dev(mean of y)``):
    R^2 for power 0, scikit-learn's ``d2_tweedie_score`` otherwise."""
    mu = means(X, coef, intercept, power)
    y = np.asarray(y, dtype=np.float64)
    null = unit_deviance(y, np.full_like(y, y.mean()), power).sum()
    return 1.0 - float(unit_deviance(y, mu, power).sum()) / float(null)
