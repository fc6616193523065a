"""Optimisation loops on a plain function ``w -> (value, gradient)``.

Solvers know nothing about Dask or about where the data lives: the function
they are given may sum results over a cluster or over a numpy array, and they
cannot tell the difference. Each returns a :class:`SolverResult` with the
history of the run.
"""

from __future__ import annotations

import time
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


class _Recorder:
    """Remembers the last evaluation, so an iteration's gradient is known
    without evaluating again, and records one row of history per iteration."""

    def __init__(self, fun: ValueAndGradient, progress: Callable | None):
        self._fun = fun
        self._progress = progress
        self._start = time.perf_counter()
        self.n_evaluations = 0
        self.last_x: np.ndarray | None = None
        self.last_gradient: np.ndarray | None = None
        self.objective: list[float] = []
        self.gradient: list[float] = []
        self.seconds: list[float] = []

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = self._fun(x)
        self.n_evaluations += 1
        self.last_x, self.last_gradient = x.copy(), gradient
        return value, gradient

    def iteration(self, intermediate_result: optimize.OptimizeResult) -> None:
        x = intermediate_result.x
        gradient_max = np.nan
        if self.last_x is not None and np.array_equal(x, self.last_x):
            gradient_max = float(np.max(np.abs(self.last_gradient), initial=0.0))
        self.objective.append(float(intermediate_result.fun))
        self.gradient.append(gradient_max)
        self.seconds.append(time.perf_counter() - self._start)
        if self._progress is not None:
            self._progress(len(self.objective), self.objective[-1], gradient_max)


def minimize_lbfgs(
    fun: ValueAndGradient,
    x0: np.ndarray,
    *,
    tol: float,
    max_iter: int,
    progress: Callable[[int, float, float], None] | None = None,
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
    return SolverResult(
        x=result.x,
        fun=float(result.fun),
        n_iter=min(int(result.nit), max_iter),
        n_evaluations=recorder.n_evaluations,
        converged=result.status == 0,
        message=str(message),
        objective_history=np.asarray(recorder.objective),
        gradient_history=np.asarray(recorder.gradient),
        seconds_history=np.asarray(recorder.seconds),
    )
