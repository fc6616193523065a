"""Optimisation loops on a plain function ``w -> (value, gradient)``.

Solvers know nothing about Dask or about where the data lives: the function
they are given may sum results over a cluster or over a numpy array, and they
cannot tell the difference. Each returns a :class:`SolverResult` with the
history of the run.

Every solver stops on the same test: the largest absolute entry of the
gradient (for OWL-QN, of the pseudo-gradient: the smallest subgradient of the
L1-penalised objective) is at most ``tol``. L-BFGS and OWL-QN also stop, as
converged, when an iteration decreases the objective by less than 64 machine
epsilons relative to it (scipy's ``ftol``: nothing is left to gain in
float64); Newton when its quadratic model predicts no decrease for its own
step (the same situation). Stopping after ``max_iter`` iterations is
reported as not converged.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

ValueAndGradient = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass
class SolverResult:
    """What a solver returns.

    Attributes
    ----------
    x : ndarray
        The final iterate.
    fun : float
        The objective at ``x``.
    n_iter : int
        Iterations taken.
    n_evaluations : int
        Calls of the value-and-gradient function.
    converged : bool
        Whether the stopping criterion was met (not the iteration limit or a
        line-search failure).
    message : str
        The solver's own account of why it stopped.
    objective_history : ndarray
        The objective after every iteration.
    gradient_history : ndarray
        The largest absolute gradient entry after every iteration (the
        quantity compared with ``tol``).
    seconds_history : ndarray
        Wall seconds since the start, after every iteration.
    """

    x: np.ndarray
    fun: float
    n_iter: int
    n_evaluations: int
    converged: bool
    message: str
    objective_history: np.ndarray = field(repr=False)
    gradient_history: np.ndarray = field(repr=False)
    seconds_history: np.ndarray = field(repr=False)


HessianProduct = Callable[[np.ndarray, np.ndarray], np.ndarray]


class _Recorder:
    """Remembers the last two evaluations, so an iteration's gradient is known
    without evaluating again (a trust-region step may be rejected, leaving the
    iterate at the point before the last one), and records one row of history
    per iteration."""

    def __init__(self, fun: ValueAndGradient, progress: Callable | None):
        self._fun = fun
        self._progress = progress
        self._start = time.perf_counter()
        self.n_evaluations = 0
        self._recent: list[tuple[np.ndarray, np.ndarray]] = []
        self.objective: list[float] = []
        self.gradient: list[float] = []
        self.seconds: list[float] = []

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self._fun(x)
        self.n_evaluations += 1
        self._recent = [*self._recent[-1:], (x.copy(), gradient)]
        return value, gradient

    def gradient_max_at(self, x: np.ndarray) -> float:
        """Largest absolute gradient entry at ``x`` if it was evaluated last
        or the time before, else NaN."""
        for point, gradient in reversed(self._recent):
            if np.array_equal(x, point):
                return float(np.max(np.abs(gradient), initial=0.0))
        return np.nan

    def record(self, value: float, gradient_max: float) -> None:
        """One iteration's row of history."""
        self.objective.append(float(value))
        self.gradient.append(gradient_max)
        self.seconds.append(time.perf_counter() - self._start)
        if self._progress is not None:
            self._progress(len(self.objective), self.objective[-1], gradient_max)

    def iteration(self, intermediate_result: optimize.OptimizeResult) -> None:
        x = intermediate_result.x
        self.record(intermediate_result.fun, self.gradient_max_at(x))

    def result(self, x, fun, n_iter, converged, message) -> SolverResult:
        return SolverResult(
            x=x,
            fun=float(fun),
            n_iter=n_iter,
            n_evaluations=self.n_evaluations,
            converged=converged,
            message=str(message),
            objective_history=np.asarray(self.objective),
            gradient_history=np.asarray(self.gradient),
            seconds_history=np.asarray(self.seconds),
        )


def minimize_lbfgs(
    fun: ValueAndGradient,
    x0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    progress: Callable[[int, float, float], None] | None = None,
    bounds: list | None = None,
) -> SolverResult:
    """Minimise a smooth function with scipy's L-BFGS-B, as scikit-learn does.

    The options are scikit-learn's for ``LogisticRegression(solver="lbfgs")``:
    ``gtol=tol`` (stop when every entry of the projected gradient is at most
    ``tol`` in absolute value), ``maxls=50`` and ``ftol=64 * eps``, so the two
    stop at comparable points on the same objective.

    Parameters
    ----------
    fun : callable
        ``fun(w) -> (value, gradient)``; called once per evaluation.
    x0 : ndarray of shape (n,)
        The starting point.
    tol : float
        Tolerance on the largest gradient entry.
    max_iter : int
        Largest number of iterations.
    progress : callable, optional
        Called after every iteration as ``progress(iteration, value,
        max_abs_gradient)``.
    bounds : list of (low, high), optional
        Bounds of each coordinate (None for none), as scipy takes them; the
        stopping test is then on the projected gradient.

    Returns
    -------
    SolverResult
    """
    recorder = _Recorder(fun, progress)
    result = optimize.minimize(
        recorder,
        np.asarray(x0, dtype=np.float64),
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
        callback=recorder.iteration,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    message = result.message
    if isinstance(message, bytes):  # older scipy
        message = message.decode()
    n_iter = min(int(result.nit), max_iter)
    return recorder.result(result.x, result.fun, n_iter, result.status == 0, message)


def minimize_newton(
    fun: ValueAndGradient,
    hessian_product: HessianProduct,
    x0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    progress: Callable[[int, float, float], None] | None = None,
) -> SolverResult:
    """Minimise a smooth convex function by scipy's trust-region Newton-CG.

    Each iteration solves the Newton system approximately by conjugate
    gradients inside a trust region (``method="trust-ncg"``); every CG step
    costs one ``hessian_product``. Suited to ill-conditioned problems, where
    L-BFGS needs many iterations: Newton's iterations do not depend on the
    conditioning, only the CG steps inside them do.

    Parameters
    ----------
    fun : callable
        ``fun(w) -> (value, gradient)``.
    hessian_product : callable
        ``hessian_product(w, v) -> H(w) @ v``.
    x0 : ndarray of shape (n,)
        The starting point.
    tol : float
        Stop when every gradient entry is at most ``tol`` in absolute value.
    max_iter : int
        Largest number of iterations (a rejected trust-region step counts as
        one, as in scipy).
    progress : callable, optional
        Called after every iteration as ``progress(iteration, value,
        max_abs_gradient)``.

    Returns
    -------
    SolverResult
    """
    recorder = _Recorder(fun, progress)
    x0 = np.asarray(x0, dtype=np.float64)
    if max_iter == 0:
        value, gradient = recorder(x0)
        converged = np.max(np.abs(gradient), initial=0.0) <= tol
        return recorder.result(x0, value, 0, converged, "max_iter is 0")

    def iteration(intermediate_result):
        recorder.iteration(intermediate_result)
        # scipy's own test is on the Euclidean norm; ours is on the largest
        # entry, as every dmltk solver's (checked here, after each step).
        if recorder.gradient[-1] <= tol:
            raise StopIteration

    with warnings.catch_warnings():
        # A rejected step at the noise floor of float64 is reported through
        # the result's status, not a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = optimize.minimize(
            recorder,
            x0,
            method="trust-ncg",
            jac=True,
            hessp=hessian_product,
            callback=iteration,
            options={"maxiter": max_iter, "gtol": tol},
        )
    gradient_max = recorder.gradient_max_at(result.x)
    # Status 2: the Newton model predicts no decrease for its own step, which
    # happens only when the gradient is at the rounding level of float64 (the
    # counterpart of L-BFGS's 64-eps decrease test): converged.
    converged = bool(gradient_max <= tol) or result.status in (0, 2)
    message = "gradient below tol" if gradient_max <= tol else result.message
    n_iter = min(int(result.nit), max_iter)
    return recorder.result(result.x, result.fun, n_iter, converged, message)


def minimize_owlqn(
    fun: ValueAndGradient,
    x0: np.ndarray,
    *,
    l1_strength: np.ndarray | float,
    tol: float,
    max_iter: int,
    memory: int = 10,
    max_line_search: int = 50,
    progress: Callable[[int, float, float], None] | None = None,
) -> SolverResult:
    """Minimise ``f(w) + sum_j l1_strength_j |w_j|`` by OWL-QN.

    Orthant-wise limited-memory quasi-Newton (Andrew and Gao, 2007, "Scalable
    training of L1-regularized log-linear models"; what Spark MLlib uses):
    L-BFGS on the smooth part ``f``, steered by the pseudo-gradient of the
    whole objective, with every step kept inside one orthant, so that
    coefficients that cross zero land exactly on zero.

    Written here because no maintained library fits: scipy has no OWL-QN,
    and PyLBFGS (a wrapper of the C library liblbfgs) tests convergence on
    the Euclidean gradient norm relative to ``||w||``, which cannot express
    the ``tol`` every dmltk solver shares, and discards the iterate when a
    callback stops it.

    Parameters
    ----------
    fun : callable
        ``fun(w) -> (value, gradient)`` of the smooth part only.
    x0 : ndarray of shape (n,)
        The starting point.
    l1_strength : float or ndarray of shape (n,)
        Non-negative L1 weight of every coordinate (0: not penalised, e.g.
        intercepts).
    tol : float
        Stop when every entry of the pseudo-gradient is at most ``tol`` in
        absolute value.
    max_iter : int
        Largest number of iterations.
    memory : int, default=10
        Correction pairs kept (scipy's L-BFGS-B default).
    max_line_search : int, default=50
        Largest number of step halvings in one iteration.
    progress : callable, optional
        Called after every iteration as ``progress(iteration, value,
        max_abs_pseudo_gradient)``.

    Returns
    -------
    SolverResult
        ``fun`` and the history include the L1 term.
    """
    recorder = _Recorder(fun, progress)
    x = np.array(x0, dtype=np.float64)
    strength = np.broadcast_to(np.asarray(l1_strength, dtype=np.float64), x.shape)
    value, gradient = recorder(x)
    total = value + float(strength @ np.abs(x))
    pairs: deque[tuple[np.ndarray, np.ndarray, float]] = deque(maxlen=memory)
    message = "max_iter reached"
    n_iter = 0
    converged = False
    while True:
        steepest = _pseudo_gradient(x, gradient, strength)
        if np.max(np.abs(steepest), initial=0.0) <= tol:
            converged, message = True, "pseudo-gradient below tol"
            break
        if n_iter >= max_iter:
            break
        direction = -_two_loop(steepest, pairs)
        # Keep only the components that go downhill for the whole objective.
        direction[direction * steepest >= 0.0] = 0.0
        if not np.any(direction):
            # The curvature pairs point nowhere useful: restart from steepest
            # descent.
            pairs.clear()
            direction = -steepest
        orthant = np.where(x != 0.0, np.sign(x), -np.sign(steepest))
        # The first step has no curvature yet: scale it to length 1, as
        # L-BFGS-B does.
        step = 1.0 if pairs else 1.0 / max(1.0, float(np.linalg.norm(direction)))
        for _ in range(max_line_search):
            candidate = x + step * direction
            candidate[candidate * orthant <= 0.0] = 0.0
            new_value, new_gradient = recorder(candidate)
            new_total = new_value + float(strength @ np.abs(candidate))
            if new_total <= total + 1e-4 * float(steepest @ (candidate - x)):
                break
            step *= 0.5
        else:
            message = "line search failed to decrease the objective"
            break
        s, y = candidate - x, new_gradient - gradient
        curvature = float(s @ y)
        if curvature > 1e-10 * float(y @ y):
            pairs.append((s, y, 1.0 / curvature))
        decrease = total - new_total
        x, value, gradient, total = candidate, new_value, new_gradient, new_total
        n_iter += 1
        steepest_max = np.max(np.abs(_pseudo_gradient(x, gradient, strength)))
        recorder.record(total, float(steepest_max))
        # scipy's L-BFGS-B test on the relative decrease (ftol = 64 eps): the
        # objective cannot decrease any more in float64.
        if decrease <= 64 * np.finfo(float).eps * max(abs(total), 1.0):
            converged, message = True, "relative decrease of the objective below 64 eps"
            break
    return recorder.result(x, total, n_iter, converged, message)


def _pseudo_gradient(
    x: np.ndarray, gradient: np.ndarray, strength: np.ndarray
) -> np.ndarray:
    """The steepest-descent subgradient of ``f + sum strength |x|``: the
    one-sided derivative for coordinates at zero, 0 where no direction
    descends."""
    pseudo = gradient + strength * np.sign(x)
    at_zero = x == 0.0
    right = gradient + strength
    left = gradient - strength
    pseudo[at_zero] = np.where(
        right[at_zero] < 0.0,
        right[at_zero],
        np.where(left[at_zero] > 0.0, left[at_zero], 0.0),
    )
    return pseudo


def _two_loop(vector: np.ndarray, pairs) -> np.ndarray:
    """L-BFGS's inverse-Hessian approximation times ``vector`` (Nocedal and
    Wright, Algorithm 7.4), scaled by ``s.y / y.y`` of the newest pair."""
    q = vector.copy()
    alphas = []
    for s, y, rho in reversed(pairs):
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if pairs:
        s, y, _ = pairs[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y, rho), alpha in zip(pairs, reversed(alphas), strict=True):
        beta = rho * float(y @ q)
        q += (alpha - beta) * s
    return q


class _Stopped(Exception):
    """Raised in a job whose batch will never come: another job or the
    batch evaluation failed."""


def run_side_by_side(
    jobs: list[Callable[[Callable[[np.ndarray], np.ndarray]], object]],
    evaluate_batch: Callable[[list[tuple[int, np.ndarray]]], list[np.ndarray]],
) -> list:
    """Run many solver jobs side by side, serving their evaluations together.

    Each job is a function of one argument, ``evaluate``: it runs any solver
    loop of this module (or several, one after the other, as a path does)
    and calls ``evaluate(x)`` wherever a single run would evaluate its
    function at ``x``. Every job runs in a thread of its own, keeping its
    own solver state; each time every job still running waits on an
    evaluation, ``evaluate_batch`` gets all their requests at once, as
    ``[(job index, x), ...]`` in job order, and returns one answer per
    request. A job that has finished leaves the batch, so the batch shrinks
    as the jobs converge. Each job's sequence of evaluations is the one it
    would make alone: the result does not depend on how the jobs are timed.

    Parameters
    ----------
    jobs : list of callable
        ``job(evaluate) -> result``.
    evaluate_batch : callable
        ``evaluate_batch(requests) -> answers``, one pass over the data for
        all the requests.

    Returns
    -------
    list
        Every job's result, in job order.

    Raises
    ------
    Exception
        The first exception raised by a job or by ``evaluate_batch``, once
        every thread has stopped.
    """
    condition = threading.Condition()
    pending: dict[int, np.ndarray] = {}
    answers: dict[int, np.ndarray] = {}
    running = set(range(len(jobs)))
    failures: list[BaseException] = []
    results: list = [None] * len(jobs)

    def evaluator_of(index: int) -> Callable[[np.ndarray], np.ndarray]:
        def evaluate(x: np.ndarray) -> np.ndarray:
            with condition:
                pending[index] = x
                condition.notify_all()
                while index not in answers:
                    if failures:
                        raise _Stopped
                    condition.wait()
                return answers.pop(index)

        return evaluate

    def body(index: int) -> None:
        try:
            results[index] = jobs[index](evaluator_of(index))
        except _Stopped:
            pass
        except BaseException as error:  # re-raised by the calling thread
            with condition:
                failures.append(error)
        finally:
            with condition:
                running.discard(index)
                pending.pop(index, None)
                condition.notify_all()

    threads = [
        threading.Thread(
            target=body, args=(index,), daemon=True, name=f"dmltk-job-{index}"
        )
        for index in range(len(jobs))
    ]
    for thread in threads:
        thread.start()
    try:
        while True:
            with condition:
                while running and not failures and len(pending) < len(running):
                    condition.wait()
                if failures or not running:
                    break
                requests = sorted(pending.items())
                pending.clear()
            outputs = evaluate_batch(requests)
            with condition:
                answers.update(
                    (index, output)
                    for (index, _), output in zip(requests, outputs, strict=True)
                )
                condition.notify_all()
    except BaseException as error:
        with condition:
            failures.insert(0, error)
            condition.notify_all()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results
