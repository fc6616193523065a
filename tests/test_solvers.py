"""The solver alone, on plain numpy objectives."""

import numpy as np
import pytest
from scipy import optimize

from dmltk import _loss
from dmltk.solvers import minimize_lbfgs


def test_quadratic_reaches_the_closed_form_minimum():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    H = A @ A.T + np.eye(6)
    b = rng.standard_normal(6)

    def fun(x):
        return 0.5 * x @ H @ x - b @ x, H @ x - b

    result = minimize_lbfgs(fun, np.zeros(6), tol=1e-10, max_iter=200)
    assert result.converged
    # The error is bounded by |gradient| / smallest eigenvalue of H (>= 1); the
    # ftol criterion (64 eps relative decrease) may stop a little before gtol.
    gradient_norm = np.linalg.norm(H @ result.x - b)
    assert gradient_norm < 1e-7
    np.testing.assert_allclose(result.x, np.linalg.solve(H, b), atol=gradient_norm)
    assert result.n_iter == len(result.objective_history)
    assert np.all(np.diff(result.objective_history) <= 1e-12)


def test_logistic_objective_matches_scipy_directly():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 5))
    y = (rng.random(300) < 0.5).astype(float)

    def fun(w):
        packed = _loss.loss_gradient_block(X, y, w, True)
        return _loss.penalized_objective(
            packed, w, weight_sum=300, C=1.0, fit_intercept=True, n_features=5
        )

    ours = minimize_lbfgs(fun, np.zeros(6), tol=1e-10, max_iter=500)
    # A reference run pushed as far as float64 allows.
    reference = optimize.minimize(
        fun,
        np.zeros(6),
        jac=True,
        method="L-BFGS-B",
        options={"gtol": 1e-14, "ftol": 0.0, "maxiter": 10_000},
    )
    assert ours.fun == pytest.approx(reference.fun, rel=1e-12)
    # Strongly convex with curvature >= 1 / (C n): the iterate error is at
    # most |gradient| * C * n.
    assert np.max(np.abs(fun(ours.x)[1])) <= 1e-9
    np.testing.assert_allclose(ours.x, reference.x, atol=3e-7)
    assert ours.n_evaluations >= ours.n_iter


def test_iteration_limit_is_reported_as_not_converged():
    def fun(x):
        return float(np.sum(np.cosh(x))), np.sinh(x)

    result = minimize_lbfgs(fun, np.full(3, 5.0), tol=1e-12, max_iter=2)
    assert not result.converged
    assert result.n_iter == 2
    assert "ITERATIONS" in result.message.upper()


def test_progress_is_called_once_per_iteration():
    calls = []

    def fun(x):
        return float(x @ x), 2 * x

    result = minimize_lbfgs(
        fun,
        np.ones(2),
        tol=1e-8,
        max_iter=50,
        progress=lambda *args: calls.append(args),
    )
    assert len(calls) == result.n_iter
    assert calls[-1][1] == pytest.approx(result.objective_history[-1])
