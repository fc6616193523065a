"""What every linear model of dmltk shares: the solver loop over one
distributed engine, its coordinates, prediction on dask arrays, and input
checks.

A model is a loss family (:mod:`dmltk._loss`), a penalty (a
:class:`dmltk._loss.Penalty` value) and a starting point: the estimator
turns its scikit-learn parameters into those three, and
:meth:`BlockwiseLinearModel._fit_blocks` does the rest on the engine
(:class:`dmltk._distributed.BlockEvaluator`), which also measures the fit.
"""

from __future__ import annotations

import functools
import operator
import warnings

import dask.array as da
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_is_fitted,
    validate_data,
)

from .. import _data, _loss, _prediction
from .._distributed import BlockEvaluator, FitMonitor, solver_threads
from ..solvers import minimize_lbfgs, minimize_newton, minimize_owlqn

# solver name -> whether it handles the non-smooth L1 part of the penalty.
_SOLVERS = {"lbfgs": False, "newton": False, "owlqn": True, "auto": True}

# In-memory X is validated to one of these: float32 is kept as it is (no
# float64 copy), anything else is converted to the first.
_X_DTYPES = [np.float64, np.float32]

_CONVERGENCE_ADVICE = (
    "Increase the number of iterations (max_iter), scale the data (for example "
    "with sklearn.preprocessing.StandardScaler), or relax tol."
)


def choose_solver(solver: str, l1_ratio: float, C: float) -> str:
    """The solver :class:`LogisticRegression` runs for these parameters.

    Parameters
    ----------
    solver : {"lbfgs", "newton", "owlqn", "auto"}
    l1_ratio : float
    C : float

    Returns
    -------
    str
        ``solver``, or for ``"auto"`` ``"owlqn"`` when the penalty has an L1
        part (``l1_ratio > 0`` and finite ``C``), else ``"lbfgs"``.

    Raises
    ------
    ValueError
        If ``solver`` handles smooth penalties only and the penalty has an L1
        part.
    """
    has_l1 = l1_ratio > 0 and np.isfinite(C)
    return solver_for(solver, has_l1, f"l1_ratio={l1_ratio}", "l1_ratio=0")


def solver_for(solver: str, has_l1: bool, l1_source: str, smooth: str) -> str:
    """``solver``, or for ``"auto"`` ``"owlqn"`` when the penalty has an L1
    part, else ``"lbfgs"``; a ValueError naming ``l1_source`` (the
    parameter that adds the L1 part) and ``smooth`` (the setting that would
    remove it) when ``solver`` cannot handle it."""
    if solver == "auto":
        return "owlqn" if has_l1 else "lbfgs"
    if has_l1 and not _SOLVERS[solver]:
        raise ValueError(
            f"solver={solver!r} handles smooth penalties only, but "
            f"{l1_source} adds an L1 term. Use solver='owlqn' "
            f"(or 'auto', which picks it), or set {smooth}."
        )
    return solver


class BlockwiseLinearModel(BaseEstimator):
    """The parts of a dmltk linear model that do not depend on its loss.

    Subclasses set ``fit_intercept``, ``standardize``, ``tol``,
    ``max_iter``, ``warm_start`` and ``verbose`` as parameters, and call
    :meth:`_fit_blocks` from ``fit``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _fit_blocks(
        self,
        blocks,
        *,
        family,
        weight_sum: float,
        penalty: _loss.Penalty,
        initial_coef: np.ndarray,
        solver: str,
        monitor: FitMonitor,
        positive: bool = False,
    ) -> np.ndarray:
        """Minimise ``sum_i s_i loss_i / S + penalty`` over the persisted
        ``blocks`` from ``initial_coef``; set ``n_iter_``-related results,
        ``objective_history_``, ``solver_`` and ``fit_stats_``; warn if the
        solver did not converge.

        With ``positive`` (``solver="lbfgs"`` only) the weights are bounded
        below by 0: the solver's weights are the coefficients times positive
        scales (:class:`_SolverCoordinates`), so the bound is the same in
        both, and on that orthant the L1 term ``l1 * sum(w)`` is linear,
        added to the smooth part.

        Returns
        -------
        ndarray
            The packed coefficients (``_loss``'s layout).
        """
        evaluator = BlockEvaluator(blocks.X, blocks.y, family=family)
        if solver == "normal":
            return self._solve_normal(evaluator, weight_sum, penalty, monitor)
        n_features, fit_intercept = self.n_features_in_, self.fit_intercept
        n_outputs = initial_coef.size // (n_features + int(fit_intercept))
        coordinates = _SolverCoordinates(n_features, n_outputs, fit_intercept)
        if self.standardize:
            coordinates.standardise(*evaluator.column_standard_deviations())
        elif fit_intercept:
            coordinates.centre(evaluator.column_means())
        options = {"weight_sum": weight_sum, "penalty": penalty,
                   "n_weights": n_features * n_outputs}  # fmt: skip

        n_weights = options["n_weights"]

        def value_and_gradient(beta):
            packed = evaluator.loss_gradient(coordinates.to_coef(beta), fit_intercept)
            packed[1:] = coordinates.pull_back(packed[1:])
            return _loss.penalized_objective(packed, beta, positive=positive, **options)

        def hessian_product(beta, direction):
            packed = evaluator.hessian_product(
                coordinates.to_coef(beta), coordinates.to_coef(direction), fit_intercept
            )
            if not np.isfinite(packed).all():
                # Else scipy's "array must not contain infs or NaNs", about
                # arrays the user never saw.
                raise ValueError(
                    "The Hessian product of the objective overflowed float64 "
                    "although X is finite: X holds values too large for the "
                    "products of a Newton step (beyond about 1e100). Rescale X, "
                    "or fit with standardize=True, which works in the coordinates "
                    "of unit-variance columns."
                )
            packed[1:] = coordinates.pull_back(packed[1:])
            return _loss.penalized_hessian_product(packed, direction, **options)

        l1_per_coef = np.zeros(coordinates.size)
        l1_per_coef[:n_weights] = penalty.l1
        beta0 = coordinates.from_coef(initial_coef)
        bounds = None
        if positive:
            bounds = positive_bounds(beta0, n_weights)
        result = self._run_solver(
            solver, value_and_gradient, hessian_product, l1_per_coef, beta0, bounds
        )
        self.fit_stats_ = monitor.finish(evaluator)
        self.objective_history_ = result.objective_history
        self.solver_ = solver
        self._n_iter = result.n_iter
        if not result.converged:
            warnings.warn(
                f"{solver} failed to converge after {result.n_iter} iteration(s): "
                f"{result.message.rstrip('.')}. {_CONVERGENCE_ADVICE} "
                f"Got (max_iter={self._max_iter}, tol={self.tol}).",
                ConvergenceWarning,
                stacklevel=4,
            )
        return coordinates.to_coef(result.x)

    def _solve_normal(
        self, evaluator, weight_sum: float, penalty: _loss.Penalty, monitor
    ) -> np.ndarray:
        """The squared error's minimum from its normal equations, as Spark
        MLlib's "normal" solver and scikit-learn's Cholesky ridge: one pass
        sums ``[X, 1]' W [X, 1]`` and ``[X, 1]' W y`` over the blocks (a (d +
        1)^2 matrix travels, not a block), and the client solves the (d + 1)
        system. The L2 penalty falls on the weights (times the columns'
        standard deviations with ``standardize``, one more pass); columns
        of zero deviation then get coefficient 0, as in the iterative
        solvers. Exact up to rounding, whatever ``tol``: the conditioning is
        that of the uncentred Gram matrix, squared from X's.
        """
        n_features, fit_intercept = self.n_features_in_, self.fit_intercept
        scale = np.ones(n_features)
        if self.standardize:
            _, std = evaluator.column_standard_deviations()
            scale = std
        packed = evaluator.reduce(_loss.gram_block)
        size = n_features + 1
        gram = packed[: size * size].reshape(size, size) / weight_sum
        products = packed[size * size : size * size + size] / weight_sum
        squares = packed[-1] / weight_sum
        # Unknowns: the weights of columns that vary (all of them without
        # standardize). With an intercept, it is eliminated first (the
        # system of centred columns, the Schur complement of the weights'
        # count), so that a singular system gets scikit-learn's solution:
        # the least-norm weights, and the intercept that goes with them.
        keep = np.flatnonzero(scale > 0) if self.standardize else np.arange(n_features)
        system = gram[np.ix_(keep, keep)]
        rhs = products[keep]
        if fit_intercept:
            means = gram[keep, n_features] / gram[n_features, n_features]
            system = system - np.outer(means, gram[n_features, keep])
            rhs = rhs - means * products[n_features]
        system[np.diag_indices(keep.size)] += penalty.l2 * scale[keep] ** 2
        weights = _solve_symmetric(system, rhs, definite=penalty.l2 > 0)
        coef = np.zeros(n_features + int(fit_intercept))
        coef[keep] = weights
        if fit_intercept:
            coef[-1] = products[n_features] / gram[n_features, n_features] - (
                means @ weights
            )
        theta = np.zeros(size)  # [weights, intercept (0 without)]
        theta[: coef.size] = coef
        value = 0.5 * (theta @ gram @ theta) - theta @ products + 0.5 * squares
        value += 0.5 * penalty.l2 * float(np.sum((coef[:n_features] * scale) ** 2))
        self.fit_stats_ = monitor.finish(evaluator)
        self.objective_history_ = np.array([value])
        self.solver_ = "normal"
        self._n_iter = 1
        return coef

    @property
    def _max_iter(self) -> int:
        return self.max_iter

    @property
    def _max_iter(self) -> int:
        return self.max_iter

    def _run_solver(
        self, solver, value_and_gradient, hessian_product, l1_strength, coef0,
        bounds=None,
    ):  # fmt: skip
        progress, close = self._progress_bar(solver)
        options = {"tol": self.tol, "max_iter": self._max_iter, "progress": progress}
        try:
            with solver_threads():
                if solver == "newton":
                    return minimize_newton(
                        value_and_gradient, hessian_product, coef0, **options
                    )
                if solver == "owlqn":
                    return minimize_owlqn(
                        value_and_gradient, coef0, l1_strength=l1_strength, **options
                    )
                return minimize_lbfgs(
                    value_and_gradient, coef0, bounds=bounds, **options
                )
        finally:
            close()

    def _progress_bar(self, solver: str):
        if not self.verbose:
            return None, lambda: None
        from tqdm.auto import tqdm

        bar = tqdm(total=self._max_iter, desc=f"dmltk {solver}", unit="it")

        def progress(iteration, value, gradient_max):
            bar.update(1)
            bar.set_postfix(objective=f"{value:.6g}", grad=f"{gradient_max:.2e}")

        return progress, bar.close

    def _set_feature_names(self, names) -> None:
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _check_predict_input(self, X):
        check_is_fitted(self)
        if _data.is_dask(X):
            # A dask DataFrame's meta is an empty pandas frame with its columns.
            _check_feature_names(self, getattr(X, "_meta", X), reset=False)
            X, _ = _data.feature_array(X, lengths=False)
            _check_n_features(self, X, reset=False)
            return X
        return validate_data(self, X, accept_sparse="csr", dtype=_X_DTYPES, reset=False)


def dask_shapes(X, y) -> tuple:
    """A dask X and y (any of the collections fit takes) as dask arrays
    with known chunks, X's feature names, and checks of their shapes.

    Returns
    -------
    X, y : dask.array.Array
    names : ndarray or None

    Raises
    ------
    ValueError
        Different numbers of rows, or no row or no column.
    """
    X, names = _data.feature_array(X)
    y = _data.label_array(y)
    if _data.has_unknown_chunks(X) or _data.has_unknown_chunks(y):
        X, y = _data.resolve_unknown_chunks(X, y)
    n_samples, n_features = X.shape
    if y.shape[0] != n_samples:
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{n_samples}, {y.shape[0]}] (X has {n_samples} rows, y has "
            f"{y.shape[0]} labels)."
        )
    if n_samples == 0 or n_features == 0:
        raise ValueError(
            f"Found array with {n_samples} sample(s) and {n_features} "
            f"feature(s) (shape={X.shape}) while a minimum of 1 of each is "
            "required."
        )
    return X, y, names


def raise_if_nonfinite(nonfinite: list) -> None:
    """Raise ValueError naming the blocks of X with NaN or infinity, from
    per-block counts (a list of block rows)."""
    bad_x = [(i, j) for i, row in enumerate(nonfinite) for j, n in enumerate(row) if n]
    if bad_x:
        count = sum(nonfinite[i][j] for i, j in bad_x)
        where = (
            f"row block(s) {[i for i, _ in bad_x][:10]}"
            if len(nonfinite[0]) == 1
            else f"block(s) {bad_x[:10]}"
        )
        raise ValueError(
            f"Input X contains NaN or infinity: {count} value(s) in {where}. "
            "Remove or impute them before fitting."
        )


def positive_bounds(beta: np.ndarray, n_weights: int) -> list:
    """scipy's bounds that keep the first ``n_weights`` entries (the weights)
    >= 0 and leave the intercepts free; ``beta``'s weights are moved onto
    them in place (a start inside the bounds)."""
    beta[:n_weights] = np.maximum(beta[:n_weights], 0.0)
    return [(0.0, None)] * n_weights + [(None, None)] * (beta.size - n_weights)


def check_weight_sum(weight_sum: float) -> None:
    """Raise ValueError when the sample weights sum to zero."""
    if not weight_sum > 0:
        raise ValueError(
            "The sample weights sum to 0: at least one sample needs a positive weight."
        )


class _SolverCoordinates:
    """The linear map from the solver's coordinates to the coefficients.

    The identity, until :meth:`centre` or :meth:`standardise`. With an
    intercept, the solver always works as if every column were centred
    (:meth:`centre`, as Spark MLlib does): the weights stay the same, only the
    intercepts move, so the objective and its optimum are unchanged, but the
    coupling between a column's mean and the intercept, which makes L-BFGS
    crawl on columns with non-zero means, is gone (measured: 68 iterations
    instead of 24 on the multinomial benchmark problem). With
    ``standardize``, columns are also divided by their standard deviations,
    so the penalty falls on the coefficients of standardised columns. With
    ``beta`` the solver's weights (d, K) and ``c`` its intercepts (K,)::

        W = beta / std[:, None]        (0 for constant columns; std = 1
                                        without standardize)
        b = c - mean @ W               (with an intercept only)

    Gradients and Hessian products come back through the transpose of the
    map (:meth:`pull_back`).
    """

    def __init__(self, n_features: int, n_outputs: int, fit_intercept: bool):
        self._shape = (n_features, n_outputs)
        self._fit_intercept = fit_intercept
        self.size = (n_features + int(fit_intercept)) * n_outputs
        self._scale = np.ones(n_features)
        self._mean = np.zeros(n_features)

    def standardise(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Work in the coordinates of centred, unit-variance columns."""
        self._scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
        self.centre(mean)

    def centre(self, mean: np.ndarray) -> None:
        """Work in the coordinates of centred columns (with an intercept
        only). The weights are the same; only the intercepts move, so the
        penalty, the objective and its optimum are unchanged."""
        if self._fit_intercept:
            self._mean = mean

    def _split(self, packed):
        n_weights = self._shape[0] * self._shape[1]
        return packed[:n_weights].reshape(self._shape), packed[n_weights:]

    def to_coef(self, beta: np.ndarray) -> np.ndarray:
        """Coefficients (packed) of solver coordinates ``beta``."""
        weights, intercepts = self._split(beta)
        weights = weights * self._scale[:, None]
        if self._fit_intercept:
            intercepts = intercepts - self._mean @ weights
        return np.concatenate([weights.ravel(), intercepts])

    def from_coef(self, coef: np.ndarray) -> np.ndarray:
        """Solver coordinates of coefficients ``coef`` (coefficients of
        constant columns are lost: they do not change any margin)."""
        weights, intercepts = self._split(coef)
        if self._fit_intercept:
            intercepts = intercepts + self._mean @ weights
        beta = np.divide(
            weights,
            self._scale[:, None],
            out=np.zeros_like(weights),
            where=self._scale[:, None] > 0,
        )
        return np.concatenate([beta.ravel(), intercepts])

    def pull_back(self, gradient: np.ndarray) -> np.ndarray:
        """A gradient (or Hessian product) in coefficients, expressed in
        solver coordinates: the transpose of :meth:`to_coef` applied to it."""
        weights, intercepts = self._split(gradient)
        if self._fit_intercept:
            weights = weights - np.outer(self._mean, intercepts)
        weights = weights * self._scale[:, None]
        return np.concatenate([weights.ravel(), intercepts])


def _lazy_prediction(X, weights, intercept, output: str, classes):
    """:meth:`LogisticRegression._predict` for a dask X, nothing computed.

    With one block column, each row block is one task: margins and their
    transform from one read of the block. With more, the partial margins of
    a block row's blocks are summed by dask, then transformed.
    """
    n_outputs = weights.shape[1] if weights.ndim == 2 else 1
    if output == "labels":
        width, dtype = None, classes.dtype
    elif output == "decision":
        width, dtype = (n_outputs if n_outputs > 1 else None), np.dtype(np.float64)
    else:
        width, dtype = max(n_outputs, 2), np.dtype(np.float64)
    if X.numblocks[1] == 1:
        arguments = (weights, intercept, output, classes)
        return _row_blocks(X, _prediction.predict_block, arguments, width, dtype)
    bounds = np.cumsum([0, *X.chunks[1]])
    parts = [
        _lazy_prediction(
            X.blocks[:, j],
            weights[bounds[j] : bounds[j + 1]],
            0.0 if j else intercept,
            "decision",
            None,
        )
        for j in range(len(bounds) - 1)
    ]
    margins = functools.reduce(operator.add, parts)
    if output == "decision":
        return margins
    if margins.ndim == 2:  # multinomial: (n, K) to probabilities or labels
        return _row_blocks(
            margins, _prediction.from_margins, (output, classes), width, dtype
        )
    if width is None:  # binomial labels
        return margins.map_blocks(
            _prediction.from_margins, output, classes, dtype=dtype,
            meta=np.empty((0,), dtype=dtype),
        )  # fmt: skip
    return margins.map_blocks(
        _prediction.from_margins, output, classes, new_axis=1,
        chunks=(margins.chunks[0], (width,)), dtype=dtype, meta=np.empty((0, 0)),
    )  # fmt: skip


def _row_blocks(array, block_function, arguments: tuple, width, dtype):
    """``block_function(block, *arguments)`` for every row block of a 2-D dask
    array with one block column: an array of shape (n,) when ``width`` is
    None, else (n, width), one task per row block.

    The 1-D case is built with ``blockwise`` rather than
    ``map_blocks(drop_axis=1)``, which concatenates the dropped axis: a copy
    of every block of X (measured: a prediction 2.5x slower).
    """
    if width is not None:
        return array.map_blocks(
            block_function,
            *arguments,
            chunks=(array.chunks[0], (width,)),
            dtype=dtype,
            meta=np.empty((0, 0), dtype=dtype),
        )
    return da.blockwise(
        _prediction.first_block, "i",
        array, "ij",
        block_function, None,
        *[item for argument in arguments for item in (argument, None)],
        concatenate=False, dtype=dtype, meta=np.empty((0,), dtype=dtype),
    )  # fmt: skip


def _solve_symmetric(system: np.ndarray, rhs: np.ndarray, definite: bool):
    """``system^-1 rhs`` for a symmetric positive semi-definite ``system``.

    ``definite`` (an L2 penalty on every unknown): Cholesky, unless scipy
    finds it too ill-conditioned. Otherwise, or then, the least-norm solution
    from the eigendecomposition, with eigenvalues below ``d * eps`` of the
    largest taken as zero (scikit-learn's LinearRegression gives the
    least-norm solution on collinear columns; a cut-off relative to the
    largest eigenvalue, rather than Cholesky's luck with rounding, also makes
    the solution of a singular system the same for the same system rounded
    differently, such as weighted rows and repeated rows)."""
    import scipy.linalg

    if rhs.size == 0:
        return rhs
    if definite:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            try:
                return scipy.linalg.solve(system, rhs, assume_a="pos")
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
                pass
    eigenvalues, vectors = scipy.linalg.eigh(system)
    cutoff = eigenvalues.max(initial=0.0) * system.shape[0] * np.finfo(float).eps
    kept = eigenvalues > cutoff
    return vectors[:, kept] @ ((vectors[:, kept].T @ rhs) / eigenvalues[kept])
