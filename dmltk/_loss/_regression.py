"""The regression families (squared error, Poisson, Gamma, Tweedie) on one
block, on the regression kernels of :mod:`dmltk._loss._kernels`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# scipy.sparse on first use: importing it would triple this module's import
# time on a worker (see dmltk._lazy).
from .._lazy import sparse as sp
from ._block import _aligned, _compiled, _csr, _dense, _kernel_targets, split_coef

# Links of the regression families, as scikit-learn names them.
_LINKS = ("identity", "log")


@dataclass(frozen=True)
class RegressionFamily:
    """A regression loss with its link: one margin column (the linear
    predictor ``z``), the mean ``mu = inverse_link(z)``.

    Each row's loss is scikit-learn's "half" loss of ``sklearn._loss`` (half
    the unit deviance, up to a term in y alone):

    - squared error, identity link: ``(z - y)^2 / 2``;
    - Poisson, log link: ``exp(z) - y z``;
    - Gamma, log link: ``z + y exp(-z)``;
    - Tweedie of power p, log link: ``exp((2-p) z)/(2-p) - y
      exp((1-p) z)/(1-p)`` (p = 1 is Poisson, p = 2 Gamma, p = 0 the normal
      distribution with a log link).

    Build one with :func:`regression_family`.

    Parameters
    ----------
    name : str
    code : int
        The kernels' code of the family (:mod:`dmltk._loss._kernels`).
    power : float
        The Tweedie power (0 squared error, 1 Poisson, 2 Gamma).
    link : {"identity", "log"}
    """

    name: str
    code: int
    power: float
    link: str

    #: Loss sums at the head of a packed result.
    n_losses = 1

    def _kernel_arguments(self) -> tuple:
        return np.int64(self.code), float(self.power)

    def loss_gradient_block(
        self, X, targets: np.ndarray, coef: np.ndarray, fit_intercept: bool, out=None
    ) -> np.ndarray:
        """:func:`loss_gradient_block` of this family: ``[sum_i s_i loss_i,
        sum_i x_i r_i, (sum_i r_i)]`` with ``r_i = s_i dloss/dz``."""
        weights, intercept = split_coef(np.asarray(coef, dtype=np.float64),
                                        X.shape[1], fit_intercept)  # fmt: skip
        weights = np.ascontiguousarray(weights)
        out = np.zeros(1 + coef.size) if out is None else out
        gradient = out[1 : 1 + X.shape[1]]
        residual_sum = np.zeros(1)
        labels, sample_weight = _kernel_targets(targets)
        kernels = _compiled()
        if sp.issparse(X):
            loss = kernels.sparse_glm_loss_gradient(
                *_csr(X), labels, sample_weight, weights, intercept, gradient,
                residual_sum, *self._kernel_arguments(),
            )  # fmt: skip
        else:
            loss = kernels.dense_glm_loss_gradient(
                _dense(X), labels, sample_weight, weights, intercept, gradient,
                residual_sum, *self._kernel_arguments(),
            )  # fmt: skip
        out[0] += loss
        if fit_intercept:
            out[-1] += residual_sum[0]
        return out

    def hessian_product_block(
        self,
        X,
        targets: np.ndarray,
        coef_and_direction: np.ndarray,
        fit_intercept: bool,
        out=None,
    ) -> np.ndarray:
        """:func:`hessian_product_block` of this family."""
        coef, direction = _aligned(np.asarray(coef_and_direction, dtype=np.float64))
        n_features = X.shape[1]
        weights, intercept = split_coef(coef, n_features, fit_intercept)
        d_weights, d_intercept = split_coef(direction, n_features, fit_intercept)
        out = np.zeros(1 + coef.size) if out is None else out
        product = out[1 : 1 + n_features]
        t_sum = np.zeros(1)
        labels, sample_weight = _kernel_targets(targets)
        arguments = (
            labels, sample_weight, np.ascontiguousarray(weights), intercept,
            np.ascontiguousarray(d_weights), d_intercept, product, t_sum,
            *self._kernel_arguments(),
        )  # fmt: skip
        if sp.issparse(X):
            _compiled().sparse_glm_hessian_product(*_csr(X), *arguments)
        else:
            _compiled().dense_glm_hessian_product(_dense(X), *arguments)
        if fit_intercept:
            out[-1] += t_sum[0]
        return out

    def loss_residual(self, z: np.ndarray, targets: np.ndarray, intercept) -> tuple:
        """:func:`loss_residual` of this family (``z`` of shape (n_rows,))."""
        residual = np.asarray(z, dtype=np.float64).ravel() + intercept
        residual_sum = np.zeros(1)
        labels, sample_weight = _kernel_targets(targets)
        loss = _compiled().margins_glm_loss_residual(
            residual, labels, sample_weight, residual_sum, *self._kernel_arguments()
        )
        return np.concatenate([[loss], residual_sum]), residual

    def hessian_residual(
        self, zu: np.ndarray, targets: np.ndarray, intercepts
    ) -> tuple:
        """:func:`hessian_residual` of this family (``zu`` of shape (n_rows,
        2): margins of the point, then of the direction)."""
        zu = _aligned(zu) + intercepts
        z, t = np.ascontiguousarray(zu[:, 0]), np.ascontiguousarray(zu[:, 1])
        t_sum = np.zeros(1)
        labels, sample_weight = _kernel_targets(targets)
        _compiled().margins_glm_curvature(
            z, t, labels, sample_weight, t_sum, *self._kernel_arguments()
        )
        return np.concatenate([[0.0], t_sum]), t

    def mean(self, z: np.ndarray) -> np.ndarray:
        """The predicted mean ``inverse_link(z)`` of linear predictors ``z``."""
        return np.exp(z) if self.link == "log" else z

    def linear_predictor(self, mu: float) -> float:
        """``link(mu)``: the linear predictor of a mean (the starting
        intercept is that of the weighted mean of y)."""
        return float(np.log(mu)) if self.link == "log" else float(mu)

    def check_targets(self, y_min: float, where: str = "y") -> None:
        """Raise ValueError if the smallest target is outside the family's
        domain (negative for Poisson and Tweedie 1 <= p < 2, non-positive for
        Gamma and p >= 2)."""
        p = self.power
        if self.link == "identity" or p <= 0:
            return
        if p < 2 and y_min < 0:
            raise ValueError(
                f"Some value(s) of {where} are negative, which is not allowed "
                f"for the {self.name} loss (power={p:g}): the smallest is "
                f"{y_min:g}."
            )
        if p >= 2 and y_min <= 0:
            raise ValueError(
                f"Some value(s) of {where} are out of the valid range of the "
                f"{self.name} loss (power={p:g}): it needs y > 0, the smallest "
                f"is {y_min:g}."
            )


def regression_family(power: float = 0.0, link: str = "auto") -> RegressionFamily:
    """The regression family of a Tweedie power and a link, as scikit-learn's
    ``TweedieRegressor`` reads them.

    Parameters
    ----------
    power : float, default=0.0
        0: normal (squared error); 1: Poisson; 2: Gamma; in (1, 2): compound
        Poisson-Gamma; above 2: positive stable. Values in (0, 1) are not a
        distribution; below 0 are accepted with the identity link only.
    link : {"auto", "identity", "log"}, default="auto"
        ``"auto"``: identity for ``power <= 0``, log otherwise.

    Returns
    -------
    RegressionFamily

    Raises
    ------
    ValueError
        A power in (0, 1), or a power other than 0 with the identity link
        (its loss is undefined for negative predictions).
    """
    power = float(power)
    if 0 < power < 1:
        raise ValueError(
            f"power={power:g} is not allowed: Tweedie distributions exist for "
            "power <= 0 and power >= 1."
        )
    if link == "auto":
        link = "identity" if power <= 0 else "log"
    if link not in _LINKS:
        raise ValueError(f"link must be 'auto', 'identity' or 'log', got {link!r}.")
    if link == "identity":
        if power != 0:
            raise ValueError(
                f"link='identity' is supported with power=0 only (got "
                f"power={power:g}): with other powers its loss is undefined "
                "where a prediction is not positive. Use link='log'."
            )
        return RegressionFamily("squared error", _kernel_code("SQUARED_ERROR"), 0.0,
                                "identity")  # fmt: skip
    if power == 1:
        return RegressionFamily("Poisson", _kernel_code("POISSON"), 1.0, "log")
    if power == 2:
        return RegressionFamily("Gamma", _kernel_code("GAMMA"), 2.0, "log")
    return RegressionFamily("Tweedie", _kernel_code("TWEEDIE"), power, "log")


def _kernel_code(name: str) -> int:
    # The codes without importing numba (the estimator's side needs none).
    return {"SQUARED_ERROR": 0, "POISSON": 1, "GAMMA": 2, "TWEEDIE": 3}[name]


SQUARED_ERROR = regression_family(0.0)
POISSON = regression_family(1.0)
GAMMA = regression_family(2.0)
