"""The solver alone, on plain numpy objectives."""

import numpy as np
import pytest
from scipy import optimize

from dmltk import _loss
from dmltk.solvers import minimize_lbfgs, minimize_newton, minimize_owlqn


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
            packed, w, weight_sum=300, penalty=_loss.Penalty.from_C(1.0, 300),
            n_weights=5,
        )  # fmt: skip

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
    # tol=1e-10 is below what float64 can resolve here: once the gradient is
    # under about 1e-8, a step gains less than 64 machine epsilons of the
    # objective and the solver stops on that rule, at a gradient that depends
    # on rounding.
    gradient = np.max(np.abs(fun(ours.x)[1]))
    assert gradient <= 1e-8
    # Strongly convex with curvature >= 1 / (C n): the iterate error is at
    # most |gradient|_2 * C * n, for each of the two runs.
    reference_gradient = np.max(np.abs(fun(reference.x)[1]))
    bound = np.sqrt(6) * (gradient + reference_gradient) * 300
    np.testing.assert_allclose(ours.x, reference.x, atol=bound)
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


# ------------------------------------------------------------- OWL-QN
def test_owlqn_soft_thresholds_a_separable_quadratic():
    # f(x) = 1/2 |x - a|^2 + lam |x| has the closed-form minimum
    # sign(a) max(|a| - lam, 0): exact zeros where |a| <= lam.
    a = np.array([3.0, -0.5, 0.2, -2.0, 0.0, 1.0])
    lam = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])  # the last one unpenalised

    def fun(x):
        return 0.5 * float((x - a) @ (x - a)), x - a

    result = minimize_owlqn(fun, np.zeros(6), l1_strength=lam, tol=1e-10, max_iter=100)
    expected = np.sign(a) * np.maximum(np.abs(a) - lam, 0.0)
    assert result.converged
    np.testing.assert_allclose(result.x, expected, atol=1e-10)
    assert np.count_nonzero(result.x == 0.0) == 3  # exact zeros, not small ones
    assert result.fun == pytest.approx(fun(result.x)[0] + lam @ np.abs(result.x))


def test_owlqn_matches_a_bound_constrained_reformulation():
    # The lasso-logistic problem solved independently by scipy's L-BFGS-B on
    # the split variables w = u - v, u, v >= 0 (a smooth, exact equivalent).
    rng = np.random.default_rng(5)
    X = rng.standard_normal((400, 8))
    y = (X[:, 0] - X[:, 1] + rng.logistic(size=400) > 0).astype(float)
    lam = np.r_[np.full(8, 0.02), 0.0]

    def fun(w):
        packed = _loss.loss_gradient_block(X, y, w, True)
        return _loss.penalized_objective(
            packed, w, weight_sum=400, penalty=_loss.Penalty(), n_weights=8
        )

    ours = minimize_owlqn(fun, np.zeros(9), l1_strength=lam, tol=1e-9, max_iter=500)

    def split(uv):
        w = uv[:9] - uv[9:]
        value, gradient = fun(w)
        return value + lam @ uv[:9] + lam @ uv[9:], np.r_[
            gradient + lam, -gradient + lam
        ]

    bounds = [(0, None)] * 18
    bounds[17] = bounds[8] = (None, None)
    reference = optimize.minimize(
        split,
        np.zeros(18),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"gtol": 1e-13, "ftol": 0.0, "maxiter": 10_000},
    )
    assert ours.fun == pytest.approx(reference.fun, rel=1e-10)
    assert ours.fun <= reference.fun + 1e-12
    w_reference = reference.x[:9] - reference.x[9:]
    assert np.count_nonzero(ours.x[:8] == 0.0) >= 2
    np.testing.assert_array_equal(ours.x[:8] == 0.0, np.abs(w_reference[:8]) < 1e-6)


def test_owlqn_reports_the_iteration_limit():
    def fun(x):
        return float(np.sum(np.cosh(x))), np.sinh(x)

    result = minimize_owlqn(
        fun, np.full(3, 5.0), l1_strength=0.1, tol=1e-12, max_iter=2
    )
    assert not result.converged
    assert result.n_iter == 2 == len(result.objective_history)


# ------------------------------------------------------------- Newton
def test_newton_solves_a_quadratic_in_one_iteration():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((6, 6))
    H = A @ A.T + np.eye(6)
    b = rng.standard_normal(6)
    products = []

    def fun(x):
        return 0.5 * x @ H @ x - b @ x, H @ x - b

    def hessian_product(x, v):
        products.append(v)
        return H @ v

    result = minimize_newton(fun, hessian_product, np.zeros(6), tol=1e-9, max_iter=50)
    assert result.converged
    np.testing.assert_allclose(result.x, np.linalg.solve(H, b), atol=1e-8)
    # On a quadratic the model is exact: every step is accepted, the trust
    # radius (1 at the start) doubles until the full Newton step fits, and
    # that step lands on the minimum. |x*| < 8 here: at most 5 iterations.
    assert np.linalg.norm(np.linalg.solve(H, b)) < 8
    assert result.n_iter <= 5
    assert len(products) >= result.n_iter


def test_newton_reports_the_iteration_limit():
    def fun(x):
        return float(np.sum(np.cosh(x))), np.sinh(x)

    result = minimize_newton(
        fun,
        lambda x, v: np.cosh(x) * v,
        np.full(3, 5.0),
        tol=1e-12,
        max_iter=1,
    )
    assert not result.converged
    assert result.n_iter == 1
