"""The penalty as a value, and the normalised objective's smooth part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Penalty:
    """The penalty of the normalised objective, as a value.

    ``l2 / 2 ||w||^2 + l1 ||w||_1`` on the weights ``w`` (the intercepts
    are never penalised), added to the weighted mean loss ``sum_i s_i
    loss_i / S``. Each estimator turns its own parameters into these two
    strengths once per fit (:meth:`from_C` for the classifier's ``C``).

    Parameters
    ----------
    l2 : float, default=0.0
        Strength of the smooth part, added by :func:`penalized_objective`.
    l1 : float, default=0.0
        Strength of the L1 part: not differentiable, it is the solver's
        business (see :func:`dmltk.solvers.minimize_owlqn`).
    """

    l2: float = 0.0
    l1: float = 0.0

    @classmethod
    def from_C(cls, C: float, weight_sum: float, l1_ratio: float = 0.0) -> Penalty:
        """scikit-learn's ``C * loss_sum + (1 - r)/2 ||w||^2 + r ||w||_1``
        divided by ``C * S``: strengths ``(1 - r) / (C S)`` and ``r / (C S)``,
        both 0 when ``C`` is infinite."""
        if not np.isfinite(C):
            return cls()
        scale = 1.0 / (C * weight_sum)
        return cls((1.0 - l1_ratio) * scale, l1_ratio * scale)

    @property
    def has_l1(self) -> bool:
        """Whether the penalty has a non-smooth part."""
        return self.l1 > 0.0


def penalized_objective(
    packed_sum: np.ndarray,
    coef: np.ndarray,
    *,
    weight_sum: float,
    penalty: Penalty,
    n_weights: int,
    positive: bool = False,
) -> tuple[float, np.ndarray]:
    """Turn summed block results into the normalised objective's smooth part.

    Parameters
    ----------
    packed_sum : ndarray
        Sum over all blocks of a family's ``loss_gradient_block``.
    coef : ndarray
        The coefficients the penalty is applied to.
    weight_sum : float
        Sum of the sample weights over all blocks (the number of rows when
        unweighted).
    penalty : Penalty
        Only its L2 part is added here.
    n_weights : int
        How many entries of ``coef`` are weights (penalised); the intercepts
        follow.
    positive : bool, default=False
        The solver keeps the weights >= 0 (bounds): on that orthant the L1
        part is linear, ``l1 * sum(w)``, smooth, and added here too.

    Returns
    -------
    value : float
        ``weighted mean loss + l2 ||w||^2 / 2`` (``+ l1 sum(w)`` with
        ``positive``).
    gradient : ndarray of the shape of ``coef``
    """
    value = packed_sum[0] / weight_sum
    gradient = packed_sum[1:] / weight_sum
    weights = coef[:n_weights]
    if penalty.l2 > 0.0:
        value += 0.5 * penalty.l2 * float(weights @ weights)
        gradient[:n_weights] += penalty.l2 * weights
    if positive and penalty.l1 > 0.0:
        value += penalty.l1 * float(weights.sum())
        gradient[:n_weights] += penalty.l1
    return float(value), gradient


def penalized_hessian_product(
    packed_sum: np.ndarray,
    direction: np.ndarray,
    *,
    weight_sum: float,
    penalty: Penalty,
    n_weights: int,
) -> np.ndarray:
    """Hessian of :func:`penalized_objective` times ``direction``.

    Parameters
    ----------
    packed_sum : ndarray
        Sum over all blocks of a family's ``hessian_product_block``.
    direction : ndarray
        The direction the blocks were given.
    weight_sum, penalty, n_weights
        As for :func:`penalized_objective`.

    Returns
    -------
    ndarray of the shape of ``direction``
    """
    product = packed_sum[1:] / weight_sum
    if penalty.l2 > 0.0:
        product[:n_weights] += penalty.l2 * direction[:n_weights]
    return product


# ------------------------------------------------------------ families


def elastic_net_dual_gap(
    residual_squares: float,
    correlations: np.ndarray,
    residual_targets: float,
    weights: np.ndarray,
    penalty: Penalty,
    positive: bool = False,
) -> float:
    """The duality gap of the elastic net at ``weights``, as scikit-learn
    reports it (``ElasticNet.dual_gap_``).

    For the objective ``sum s r^2 / (2 S) + l1 ||w||_1 + l2 ||w||^2 / 2``
    with residuals ``r = y_c - X_c w`` of the weighted-centred columns and
    targets (uncentred without an intercept), from three sums over the
    rows, each divided by ``S = sum s``. scikit-learn's coordinate descent
    computes the gap of ``S`` times this objective with the weights
    rescaled to sum to the number of rows, then divides it by that
    number: the same value.

    Parameters
    ----------
    residual_squares : float
        ``sum s r^2 / S``.
    correlations : ndarray of shape (n_features,)
        ``X_c' (s r) / S``.
    residual_targets : float
        ``sum s r y_c / S``.
    weights : ndarray of shape (n_features,)
    penalty : Penalty
    positive : bool, default=False
        Weights bounded below by 0: the dual norm is then the largest
        correlation, not the largest absolute one.

    Returns
    -------
    float
        Non-negative at any ``weights`` (weak duality), 0 at the optimum.
    """
    dual = np.asarray(correlations) - penalty.l2 * weights
    dual_norm = float((dual if positive else np.abs(dual)).max(initial=0.0))
    # The residual, scaled into the dual feasible set when it is outside.
    scale = penalty.l1 / dual_norm if dual_norm > penalty.l1 else 1.0
    return float(
        0.5 * (1.0 + scale**2) * residual_squares
        + penalty.l1 * np.abs(weights).sum()
        - scale * residual_targets
        + 0.5 * penalty.l2 * (1.0 + scale**2) * (weights @ weights)
    )
