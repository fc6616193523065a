"""Regression with its penalty chosen by cross-validation, without a pass
per model: the squared error's searches from the folds' normal equations
(one pass: :class:`RidgeCV` in closed form, :class:`LassoCV` and
:class:`ElasticNetCV` by coordinate descent), or every fold's path advanced
in the same passes over X (those two on column blocks, and the GLM
families' :class:`PoissonRegressorCV`, :class:`GammaRegressorCV` and
:class:`TweedieRegressorCV`)."""

from __future__ import annotations

import numbers
import warnings

import dask.array as da
import numpy as np
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import column_or_1d

from .. import _data, _loss
from .._distributed import FitMonitor, local_in_tasks
from ._base import _CONVERGENCE_ADVICE
from ._path import (
    BatchedPaths,
    PathJob,
    batch_evaluator,
    check_fold_weights,
    fold_target_sums,
    hashed_fold_roles,
    held_out_sums,
    no_fold_roles,
    solver_coordinates,
    splitter_fold_roles,
)
from ._regression import (
    _COMMON_CONSTRAINTS,
    _MAX_ITER,
    NORMAL_EQUATIONS_FEATURES,
    TweedieRegressor,
    _Regressor,
    with_target_domain,
)


class _RegressorCV(_Regressor):
    """What the cross-validated regressors share: folds as masks over the
    rows of X's blocks, every fold's path in the same passes, the held-out
    sums of every fit from one more pass, and the refit on all rows."""

    #: The held-out error the search minimises (a column of
    #: :meth:`dmltk._loss.ModelBatch.held_out_sums`: 1 the squared error, 4
    #: the deviance), and the attribute that holds it for every fit.
    _error_column = 1
    _error_path = "mse_path_"
    #: The least l1_ratio an automatic alpha grid is computed with.
    _smallest_ratio = 0.0

    def _family(self) -> _loss.RegressionFamily:
        return _loss.SQUARED_ERROR

    def _l1_ratios(self) -> np.ndarray:
        ratios = np.atleast_1d(np.asarray(self.l1_ratio, dtype=np.float64)).ravel()
        if ratios.size == 0 or not np.all((ratios >= 0) & (ratios <= 1)):
            raise ValueError(
                "l1_ratio must be a number or an array-like of numbers between 0 "
                f"and 1; got l1_ratio={self.l1_ratio!r}."
            )
        return ratios

    def _alpha_grids(self, max_gradient: float, weight_sum: float) -> np.ndarray:
        ratios = self._l1_ratios()
        if isinstance(self.alphas, numbers.Integral):
            grids = [
                _alpha_grid(max_gradient, weight_sum, r, self.eps, int(self.alphas),
                            self._smallest_ratio)
                for r in ratios
            ]  # fmt: skip
            return np.array(grids)
        alphas = np.asarray(self.alphas, dtype=np.float64).ravel()
        if alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas >= 0)):
            raise ValueError(
                f"alphas must hold finite numbers >= 0; got alphas={self.alphas!r}."
            )
        return np.tile(np.sort(alphas)[::-1], (ratios.size, 1))

    def _penalty_at(self, alpha: float, l1_ratio: float, weight_sum: float):
        """The normalised objective's penalty at ``alpha`` for a fold of
        this training weight sum (module docstring of ``_regression``)."""
        return _loss.Penalty(l2=alpha * (1.0 - l1_ratio), l1=alpha * l1_ratio)

    # ------------------------------------------------------------- data
    def _prepare_search(self, X, y, sample_weight):
        """The engine over X with a batch's targets (fold roles included),
        and the number of folds."""
        return _search_evaluator(self, X, y, sample_weight, self._family(), True)

    def _start(self, target_sums: np.ndarray) -> np.ndarray:
        """A path's start (packed): zero weights and, with an intercept, the
        weighted mean of the training targets (the optimum when every
        weight is 0)."""
        weights = np.zeros(self.n_features_in_)
        if not self.fit_intercept:
            return weights
        mean = target_sums[1] / target_sums[0]
        family = self._family()
        if family.link == "log":
            mean = max(mean, 1e-10)
        return np.concatenate([weights, [family.linear_predictor(mean)]])

    # -------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    @local_in_tasks
    def fit(self, X, y, sample_weight=None):
        """Fit a path over the alphas per fold (and ``l1_ratio``), score
        every fit on its held-out rows, and refit on all rows at the best.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
        y : array-like or dask array/Series of shape (n_samples,)
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights of the samples, in training and in the held-out errors
            (a weighted mean), as scikit-learn uses them.

        Returns
        -------
        self
        """
        monitor = FitMonitor()
        evaluator, n_folds = self._prepare_search(X, y, sample_weight)
        if self._on_normal_equations(evaluator, n_folds):
            search = self._search_normal_equations(evaluator, n_folds)
        else:
            search = self._search_paths(evaluator, n_folds)
        alphas, sums, coef, n_iter, alpha, l1_ratio, models_per_pass, gap = search
        n_features = self.n_features_in_
        self.coef_ = coef[:n_features].copy()
        self.intercept_ = float(coef[n_features]) if self.fit_intercept else 0.0
        self.n_iter_ = int(n_iter)
        if gap is not None:
            self.dual_gap_ = gap
        self._set_search_attributes(alphas, sums, alpha, l1_ratio)
        stats = monitor.finish(evaluator)
        stats["models_per_pass"] = models_per_pass
        stats["fits"] = int(sums.shape[0] * sums.shape[1] * sums.shape[2] + 1)
        self.fit_stats_ = stats
        return self

    def _on_normal_equations(self, evaluator, n_folds: int) -> bool:
        """Whether the squared error's search runs on the folds' normal
        equations: whole rows in every block, and the (2 folds + 1) Gram
        matrices small enough to travel (at most
        ``NORMAL_EQUATIONS_FEATURES`` features and 256 MiB)."""
        d = self.n_features_in_
        size = (2 * n_folds + 1) * (d + 1) ** 2 * 8
        return (
            self._family().code == _loss.SQUARED_ERROR.code
            and evaluator.layout == "rows"
            and d <= NORMAL_EQUATIONS_FEATURES
            and size <= 2**28
        )

    def _search_normal_equations(self, evaluator, n_folds: int) -> tuple:
        """Every fold's path by coordinate descent on its normal equations
        (scikit-learn's Gram-matrix solver), scored on its held-out rows'
        normal equations: one pass over X for the whole search (plus the
        standard deviations' with ``standardize``)."""
        d = self.n_features_in_
        systems = _NormalSystems(
            evaluator.reduce(_loss.fold_gram_block, n_folds), n_folds, d,
            self.fit_intercept,
        )  # fmt: skip
        check_fold_weights(
            systems.weight_sum(-1),
            [systems.weight_sum(fold) for fold in range(n_folds)],
            evaluator.n_rows,
        )
        scale = np.ones(d)
        if self.standardize:
            _, scale = evaluator.column_standard_deviations()
        keep = np.flatnonzero(scale > 0)
        inverse = 1.0 / scale[keep]

        def scaled(fold):
            # The columns divided by their scale: the penalty falls on
            # the coefficients of standardised columns.
            gram, products, x_mean, y_mean, _ = systems.centred(fold)
            gram = gram[np.ix_(keep, keep)] * inverse[:, None] * inverse[None, :]
            return np.ascontiguousarray(gram), products[keep] * inverse, x_mean, y_mean

        def coef_of(solution, x_mean, y_mean):
            weights = np.zeros(d)
            weights[keep] = solution * inverse
            return systems.packed(weights, x_mean, y_mean)

        total = systems.weight_sum(-1)
        all_gram, all_products, _, _ = scaled(-1)
        largest = (
            max(float(all_products.max(initial=0.0)), 0.0)
            if self._positive
            else float(np.abs(all_products).max(initial=0.0))
        )
        alphas = self._alpha_grids(largest, total)
        l1_ratios = self._l1_ratios()
        descent = _loss._compiled().gram_coordinate_descent
        failed = []

        def path(fold, l1_ratio, grid, start):
            gram, products, x_mean, y_mean = scaled(fold)
            weight_sum = systems.weight_sum(fold)
            solution, solutions, sweeps = start.copy(), [], []
            for alpha in grid:
                penalty = self._penalty_at(alpha, l1_ratio, weight_sum)
                n_sweeps, converged = descent(
                    gram, products, weight_sum, penalty.l1, penalty.l2, solution,
                    self.tol, self._max_iter, self._positive,
                )  # fmt: skip
                if not converged:
                    failed.append(alpha)
                solutions.append(solution.copy())
                sweeps.append(n_sweeps)
            return solutions, [coef_of(v, x_mean, y_mean) for v in solutions], sweeps

        n_l1, n_alphas = alphas.shape
        solutions = np.empty((n_l1, n_folds, n_alphas, keep.size))
        sums = np.empty((n_l1, n_folds, n_alphas, 4))
        for r, (l1_ratio, grid) in enumerate(zip(l1_ratios, alphas, strict=True)):
            for fold in range(n_folds):
                found, coefs, _ = path(fold, l1_ratio, grid, np.zeros(keep.size))
                solutions[r, fold] = found
                sums[r, fold] = systems.held_out_sums(fold, coefs)
        l1_index, alpha_index = self._best(sums)
        alpha, l1_ratio = (
            float(alphas[l1_index, alpha_index]),
            float(l1_ratios[l1_index]),
        )
        start = solutions[l1_index, :, alpha_index].mean(axis=0)
        (solution,), (coef,), (n_iter,) = path(-1, l1_ratio, [alpha], start)
        squares = systems.centred(-1)[4]
        fitted = all_gram @ solution
        gap = _loss.elastic_net_dual_gap(
            (squares - 2.0 * solution @ all_products + solution @ fitted) / total,
            (all_products - fitted) / total,
            (squares - solution @ all_products) / total,
            solution,
            self._penalty_at(alpha, l1_ratio, total),
            self._positive,
        )
        if failed:
            warnings.warn(
                f"{len(failed)} of {sums[..., 0].size + 1} fits failed to converge "
                f"(coordinate descent on the normal equations, first at "
                f"alpha={failed[0]:.3g}). {_CONVERGENCE_ADVICE} Got "
                f"(max_iter={self._max_iter}, tol={self.tol}).",
                ConvergenceWarning,
                stacklevel=4,
            )
        self.solver_ = "cd"
        return alphas, sums, coef, n_iter, alpha, l1_ratio, [sums[..., 0].size], gap

    def _search_paths(self, evaluator, n_folds: int) -> tuple:
        """Every fold's path on the batched engine: one pass per step of
        all the paths still running, then one pass for the held-out sums."""
        family = self._family()
        l1_ratios = self._l1_ratios()
        target_sums = fold_target_sums(evaluator, n_folds)
        check_fold_weights(target_sums[-1, 0], target_sums[:-1, 0], evaluator.n_rows)
        runner = BatchedPaths(
            evaluator,
            n_margins=1,
            family=family,
            fit_intercept=self.fit_intercept,
            coordinates=solver_coordinates(
                evaluator, 1, self.fit_intercept, self.standardize
            ),
            solver="auto",
            tol=self.tol,
            max_iter=self._max_iter,
            positive=self._positive,
        )
        total = float(target_sums[-1, 0])
        alphas = self._alpha_grids(
            self._largest_gradient(evaluator, runner, target_sums[-1]), total
        )
        jobs = [
            PathJob(
                fold,
                float(target_sums[fold, 0]),
                tuple(self._penalty_at(a, r, target_sums[fold, 0]) for a in grid),
                self._start(target_sums[fold]),
            )
            for r, grid in zip(l1_ratios, alphas, strict=True)
            for fold in range(n_folds)
        ]
        results = runner.run(jobs)
        runner.warn_if_not_converged(results)
        n_l1, n_alphas = alphas.shape
        # (l1_ratio, fold, alpha) -> packed coefficients
        paths = np.array([result.coefs for result in results]).reshape(
            n_l1, n_folds, n_alphas, -1
        )
        folds = tuple(np.tile(np.repeat(np.arange(n_folds), n_alphas), n_l1))
        sums = held_out_sums(
            evaluator,
            list(paths.reshape(-1, paths.shape[-1])),
            folds,
            1,
            self.fit_intercept,
            family,
        ).reshape(n_l1, n_folds, n_alphas, -1)
        l1_index, alpha_index = self._best(sums)
        alpha = float(alphas[l1_index, alpha_index])
        l1_ratio = float(l1_ratios[l1_index])
        start = paths[l1_index, :, alpha_index].mean(axis=0)
        (refit,) = runner.run(
            [PathJob(-1, total, (self._penalty_at(alpha, l1_ratio, total),), start)]
        )
        runner.warn_if_not_converged([refit])
        has_l1 = l1_ratio > 0 and alpha > 0
        self.solver_ = "owlqn" if has_l1 and not self._positive else "lbfgs"
        gap = None
        if family.code == _loss.SQUARED_ERROR.code:
            gap = self._dual_gap(
                evaluator, runner, refit, target_sums[-1], alpha, l1_ratio
            )
        return (alphas, sums, refit.coefs[0], refit.n_iter[0], alpha, l1_ratio,
                list(runner.models_per_pass), gap)  # fmt: skip

    def _dual_gap(self, evaluator, runner, refit, all_rows, alpha, l1_ratio) -> float:
        """scikit-learn's ``dual_gap_`` of the squared error's refit on the
        batched engine, from its last evaluation (one more pass only when
        the solver ended elsewhere), in the solver's coordinates (those of
        the penalty: standardised columns with ``standardize``)."""
        coef, values = refit.coefs[0], refit.values[0]
        if values is None:
            batch = _loss.ModelBatch(1, (-1,), self._family())
            values = evaluator.loss_gradient(coef, self.fit_intercept, family=batch)
        d = self.n_features_in_
        total, target_sum = float(all_rows[0]), float(all_rows[1])
        coordinates = runner.coordinates
        beta = coordinates.from_coef(coef)
        weights = beta[:d]
        # X_c' s r (r = y - X w - b), whatever the intercept, as centred
        # columns sum to 0.
        correlations = -coordinates.pull_back(values[1:])[:d]
        squares = 2.0 * values[0]  # sum s r^2
        if self.fit_intercept:
            # scikit-learn's residual takes the intercept the centred
            # columns imply: r + shift.
            shift = beta[d] - target_sum / total
            squares += 2.0 * shift * -values[1 + d] + shift**2 * total
        return _loss.elastic_net_dual_gap(
            squares / total,
            correlations / total,
            (squares + weights @ correlations) / total,
            weights,
            self._penalty_at(alpha, l1_ratio, total),
            self._positive,
        )

    def _largest_gradient(self, evaluator, runner, all_rows) -> float:
        """``max_j |d loss_sum / d w_j|`` at the start on all rows (in the
        solver's coordinates: per standardised column with ``standardize``):
        the smallest L1 strength times the weight sum that keeps every
        weight at 0, which scikit-learn's alpha grid starts from."""
        start = self._start(all_rows)
        packed = evaluator.loss_gradient(
            start,
            self.fit_intercept,
            family=_loss.ModelBatch(1, (-1,), self._family()),
        )
        gradient = runner.coordinates.pull_back(packed[1:])
        return float(np.abs(gradient[: self.n_features_in_]).max())

    def _errors(self, sums: np.ndarray) -> np.ndarray:
        """(l1_ratio, fold, alpha): every fit's weighted mean held-out error."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return sums[..., self._error_column] / sums[..., 0]

    def _best(self, sums: np.ndarray) -> tuple[int, int]:
        """The (l1_ratio, alpha) indices of the least mean held-out error
        (a mean over folds of each fold's weighted mean error, as
        scikit-learn's); the first l1_ratio on ties."""
        mean = self._errors(sums).mean(axis=1)
        best_alphas = np.argmin(mean, axis=1)
        l1_index = int(np.argmin(mean[np.arange(mean.shape[0]), best_alphas]))
        return l1_index, int(best_alphas[l1_index])

    def _set_search_attributes(self, alphas, sums, alpha, l1_ratio) -> None:
        errors = self._errors(sums)  # (l1_ratio, fold, alpha)
        self.alpha_ = alpha
        self.l1_ratio_ = l1_ratio
        setattr(self, self._error_path, np.squeeze(np.moveaxis(errors, 2, 1)))
        self.alphas_ = alphas[0] if alphas.shape[0] == 1 else alphas


def _alpha_grid(
    largest_gradient, weight_sum, l1_ratio, eps, n_alphas, smallest_ratio=0.0
) -> np.ndarray:
    """scikit-learn's ``_alpha_grid``: ``n_alphas`` values from the
    smallest alpha that keeps every weight at 0 down to ``eps`` times it, in
    a geometric sequence. ``smallest_ratio``: the least ``l1_ratio`` the
    largest alpha is computed with (glmnet's 1e-3 for ridge-like paths, whose
    weights are never exactly 0); 0 refuses ``l1_ratio=0``."""
    l1_ratio = max(l1_ratio, smallest_ratio)
    if l1_ratio == 0:
        raise ValueError(
            "Automatic alpha grid generation is not supported for l1_ratio=0: "
            "give the alphas."
        )
    alpha_max = largest_gradient / (weight_sum * l1_ratio)
    resolution = np.finfo(np.float64).resolution
    if alpha_max <= resolution:
        return np.full(n_alphas, resolution)
    return np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


_CV_CONSTRAINTS: dict = {
    "fit_intercept": _COMMON_CONSTRAINTS["fit_intercept"],
    "standardize": _COMMON_CONSTRAINTS["standardize"],
    "tol": _COMMON_CONSTRAINTS["tol"],
    "verbose": _COMMON_CONSTRAINTS["verbose"],
    "eps": [Interval(numbers.Real, 0, None, closed="neither")],
    "alphas": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
    "precompute": [StrOptions({"auto"}), "array-like", "boolean"],
    "max_iter": _MAX_ITER,
    "cv": ["cv_object"],
    "copy_X": ["boolean"],
    "n_jobs": [numbers.Integral, None],
    "positive": ["boolean"],
    "random_state": ["random_state"],
    "selection": [StrOptions({"cyclic", "random"})],
}

_CV_DOC = """
    How it runs. On the rows layout (whole rows in every block) with at
    most 4096 features: one pass over X sums the weighted normal equations
    of all rows and of the rows each fold holds out (a fold trains on their
    difference); the client runs every fold's path by coordinate descent on
    them (scikit-learn's Gram-matrix solver, compiled), scores every fit on
    its held-out rows' normal equations, and refits at the best alpha,
    started from the mean of the folds' solutions there. One pass over X
    for the whole search.

    Otherwise (column blocks, or more features): folds are masks over the
    rows of the blocks X already has (never copies); every pass over X
    evaluates all the models still running (folds x ``l1_ratio`` paths, one
    read of each block for all of them), each keeping its own solver state
    (OWL-QN, or L-BFGS without an L1 part) on the client, warm-started
    from the alpha before, and leaving the batch when its path ends; one
    more pass scores every fit. ``fit_stats_`` reports the passes and the
    models each served.

    Parameters
    ----------
{l1_ratio}    eps : float, default=1e-3
        The smallest alpha of an automatic grid, as a fraction of the
        largest (the smallest alpha that keeps every weight at 0).
    alphas : int or array-like of float, default=100
        The number of alphas of an automatic grid, or the alphas (fitted
        from the largest down).
    fit_intercept : bool, default=True
    precompute : "auto", bool or array-like, default="auto"
        Accepted for scikit-learn compatibility (no Gram matrix is formed).
    max_iter : int, default=1000
        Iterations of each fit of a path.
    tol : float, default=1e-4
        Stop each fit when every entry of the pseudo-gradient of the
        normalised objective is at most ``tol``, with either solver
        (scikit-learn's coordinate descent uses a duality gap instead).
    cv : int, cross-validation generator or iterable, default=None
        For in-memory X: scikit-learn's meaning (None: 5 folds, ``KFold``).
        For dask X: a number of folds (None: 5), or a ``KFold`` whose
        ``n_splits`` and ``random_state`` are used; each row's fold is a
        seeded hash of its position (see :func:`dmltk._blocks.hashed_folds`):
        the same on any cluster and layout, nearly equal in size.
    copy_X : bool, default=True
        Accepted for scikit-learn compatibility: X is never modified.
    verbose : int, default=0
        Unused; accepted for scikit-learn compatibility.
    n_jobs : int or None, default=None
        Accepted for scikit-learn compatibility and unused: the Dask
        cluster sets the parallelism.
    positive : bool, default=False
        Constrain the weights to be non-negative: on the normal equations
        by coordinate descent, on the batched paths by scipy's L-BFGS-B
        with bounds (the L1 term is linear on that orthant), as
        :class:`ElasticNet` does.
    random_state : None
        Accepted for scikit-learn compatibility.
    selection : {{"cyclic", "random"}}, default="cyclic"
        Accepted for scikit-learn compatibility (no coordinate descent).
    standardize : bool, default=False
        Penalise the coefficients of unit-variance columns (from all rows),
        as :class:`ElasticNet` does; the automatic grid is then that of
        the standardised columns.

    Attributes
    ----------
    alpha_ : float
        The chosen alpha.
{l1_ratio_attribute}    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    mse_path_ : ndarray of shape {mse_shape}
        Held-out mean squared error of every fit (weighted by the sample
        weights).
    alphas_ : ndarray of shape {alphas_shape}
        The alphas of every path.
    n_iter_ : int
        Iterations of the refit.
    dual_gap_ : float
        The duality gap of the refit at its solution, as scikit-learn
        reports it (0 at the exact optimum; with ``standardize``, of the
        problem on standardised columns that was solved).
    solver_ : str
        ``"cd"`` (coordinate descent on the normal equations), ``"owlqn"``
        or ``"lbfgs"`` (the batched paths).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    fit_stats_ : dict
        As :class:`ElasticNet`'s, plus ``models_per_pass`` and ``fits``.
"""


class ElasticNetCV(_RegressorCV):
    __doc__ = (
        """Elastic net whose alpha (and ``l1_ratio``) is chosen by
    cross-validation, with every fold's path fitted in the same passes over
    X.

    scikit-learn's :class:`sklearn.linear_model.ElasticNetCV`: for each
    ``l1_ratio`` an alpha grid from all rows; for each fold a path over it,
    largest alpha first, each fit warm-started from the one before; the
    held-out mean squared error of every fit; the ``(alpha, l1_ratio)`` of
    the least error averaged over folds; a refit on all rows there.
"""
        + _CV_DOC.format(
            l1_ratio="""    l1_ratio : float or array-like of float, default=0.5
        The ``l1_ratio`` values tried (share of the penalty that is L1, in
        (0, 1] for an automatic alpha grid).
""",
            l1_ratio_attribute="""    l1_ratio_ : float
""",
            mse_shape="(n_l1_ratio, n_alphas, n_folds)",
            alphas_shape="(n_l1_ratio, n_alphas)",
        )
        + """    The ``n_l1_ratio`` axis is dropped for a single ``l1_ratio``, as in
    scikit-learn.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> import dmltk
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = dmltk.ElasticNetCV(l1_ratio=[0.5, 1.0], alphas=20, cv=3)
    >>> search = search.fit(X, y)
    >>> search.mse_path_.shape
    (2, 20, 3)
    >>> float(search.alpha_) in search.alphas_[search.l1_ratio_ == 1.0]
    True
    """
    )

    _parameter_constraints: dict = {
        **_CV_CONSTRAINTS,
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both"), "array-like"],
    }

    def __init__(
        self,
        *,
        l1_ratio=0.5,
        eps: float = 1e-3,
        alphas=100,
        fit_intercept: bool = True,
        precompute="auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        cv=None,
        copy_X: bool = True,
        verbose: int = 0,
        n_jobs=None,
        positive: bool = False,
        random_state=None,
        selection: str = "cyclic",
        standardize: bool = False,
    ):
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.copy_X = copy_X
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.standardize = standardize


class LassoCV(ElasticNetCV):
    __doc__ = (
        """Lasso whose alpha is chosen by cross-validation, with every fold's
    path fitted in the same passes over X.

    scikit-learn's :class:`sklearn.linear_model.LassoCV`: an alpha grid
    from all rows; for each fold a path over it, largest alpha first, each
    fit warm-started from the one before; the held-out mean squared error of
    every fit; the alpha of the least error averaged over folds; a refit on
    all rows there.
"""
        + _CV_DOC.format(
            l1_ratio="",
            l1_ratio_attribute="",
            mse_shape="(n_alphas, n_folds)",
            alphas_shape="(n_alphas,)",
        )
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> import dmltk
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = dmltk.LassoCV(alphas=20, cv=3).fit(X, y)
    >>> search.mse_path_.shape
    (20, 3)
    >>> bool((search.coef_ == 0).any())
    True
    """
    )

    _parameter_constraints: dict = dict(_CV_CONSTRAINTS)

    def __init__(
        self,
        *,
        eps: float = 1e-3,
        alphas=100,
        fit_intercept: bool = True,
        precompute="auto",
        max_iter: int = 1000,
        tol: float = 1e-4,
        copy_X: bool = True,
        cv=None,
        verbose: int = 0,
        n_jobs=None,
        positive: bool = False,
        random_state=None,
        selection: str = "cyclic",
        standardize: bool = False,
    ):
        self.eps = eps
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.tol = tol
        self.copy_X = copy_X
        self.cv = cv
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.standardize = standardize

    def _l1_ratios(self) -> np.ndarray:
        return np.ones(1)

    def _set_search_attributes(self, alphas, sums, alpha, l1_ratio) -> None:
        super()._set_search_attributes(alphas, sums, alpha, l1_ratio)
        del self.l1_ratio_  # scikit-learn's LassoCV has none


_GLM_CV_DOC = """
    Beyond scikit-learn (which has no search for its GLM regressors): the
    machinery of :class:`ElasticNetCV` for this family. For each
    ``l1_ratio`` an alpha grid from all rows (the smallest alpha that keeps
    every weight at 0, computed with an ``l1_ratio`` of at least 1e-3 as
    glmnet does, so that the default ridge-like path has a grid too); for
    each fold a path from the largest alpha down, each fit warm-started
    from the one before (L-BFGS, or OWL-QN with an L1 part), every fold's
    model in the same passes over X; the held-out mean deviance of every
    fit (weighted by the sample weights, scikit-learn's
    ``mean_{name}_deviance``) from one more pass; the least deviance averaged
    over folds; the refit on all rows there. ``score`` is D^2, as the
    regressor's.

    Parameters
    ----------
{power}    alphas : int or array-like of float, default=100
        The number of alphas of an automatic grid, or the alphas.
    l1_ratio : float or array-like of float, default=0.0
        The share of each alpha that is an L1 penalty (0: scikit-learn's
        L2 penalty alone).
    eps : float, default=1e-4
        The smallest alpha of an automatic grid, as a fraction of the
        largest (glmnet's default for more rows than columns).
    fit_intercept : bool, default=True
    max_iter : int, default=100
        Iterations of each fit of a path.
    tol : float, default=1e-4
    cv : int, cross-validation generator or iterable, default=None
        As :class:`ElasticNetCV`'s (5 folds).
    n_jobs : int or None, default=None
        Accepted for compatibility and unused.
    verbose : int, default=0
        Unused.
    standardize : bool, default=False

    Attributes
    ----------
    alpha_ : float
    l1_ratio_ : float
    alphas_ : ndarray of shape (n_l1_ratio, n_alphas) or (n_alphas,)
    deviance_path_ : ndarray of shape (n_l1_ratio, n_alphas, n_folds)
        Held-out mean deviance of every fit (``n_l1_ratio`` dropped for a
        single ``l1_ratio``).
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_iter_ : int
        Iterations of the refit.
    n_features_in_ : int
    fit_stats_ : dict
"""


class _GLMRegressorCV(_RegressorCV):
    """The GLM families' alpha searches."""

    def __sklearn_tags__(self):
        return with_target_domain(self, super().__sklearn_tags__())

    _error_column = 4
    _error_path = "deviance_path_"
    _smallest_ratio = 1e-3

    _parameter_constraints: dict = {
        "alphas": _CV_CONSTRAINTS["alphas"],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both"), "array-like"],
        "eps": _CV_CONSTRAINTS["eps"],
        "fit_intercept": ["boolean"],
        "max_iter": _MAX_ITER,
        "tol": _CV_CONSTRAINTS["tol"],
        "cv": ["cv_object"],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
        "standardize": ["boolean"],
    }

    def __init__(
        self,
        *,
        alphas=100,
        l1_ratio=0.0,
        eps: float = 1e-4,
        fit_intercept: bool = True,
        max_iter: int = 100,
        tol: float = 1e-4,
        cv=None,
        n_jobs=None,
        verbose: int = 0,
        standardize: bool = False,
    ):
        self.alphas = alphas
        self.l1_ratio = l1_ratio
        self.eps = eps
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.cv = cv
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.standardize = standardize


class PoissonRegressorCV(_GLMRegressorCV):
    __doc__ = (
        """Poisson regression (log link) whose alpha is chosen by
    cross-validation, every fold's path in the same passes over X.
"""
        + _GLM_CV_DOC.format(power="", name="poisson")
        + """
    Examples
    --------
    >>> import numpy as np
    >>> import dmltk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((2000, 4))
    >>> y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1]))
    >>> search = dmltk.PoissonRegressorCV(alphas=10, cv=3).fit(X, y)
    >>> search.deviance_path_.shape
    (10, 3)
    """
    )

    def _family(self) -> _loss.RegressionFamily:
        return _loss.POISSON


class GammaRegressorCV(_GLMRegressorCV):
    __doc__ = """Gamma regression (log link) whose alpha is chosen by
    cross-validation, every fold's path in the same passes over X.
""" + _GLM_CV_DOC.format(power="", name="gamma")

    def _family(self) -> _loss.RegressionFamily:
        return _loss.GAMMA


class TweedieRegressorCV(_GLMRegressorCV):
    __doc__ = """Tweedie regression whose alpha is chosen by cross-validation,
    every fold's path in the same passes over X.
""" + _GLM_CV_DOC.format(
        power="""    power : float, default=0.0
        The Tweedie power, as :class:`TweedieRegressor`'s.
    link : {"auto", "identity", "log"}, default="auto"
""",
        name="tweedie",
    )

    _parameter_constraints: dict = {
        **_GLMRegressorCV._parameter_constraints,
        "power": TweedieRegressor._parameter_constraints["power"],
        "link": TweedieRegressor._parameter_constraints["link"],
    }

    def __init__(
        self,
        *,
        power: float = 0.0,
        link: str = "auto",
        alphas=100,
        l1_ratio=0.0,
        eps: float = 1e-4,
        fit_intercept: bool = True,
        max_iter: int = 100,
        tol: float = 1e-4,
        cv=None,
        n_jobs=None,
        verbose: int = 0,
        standardize: bool = False,
    ):
        super().__init__(
            alphas=alphas, l1_ratio=l1_ratio, eps=eps, fit_intercept=fit_intercept,
            max_iter=max_iter, tol=tol, cv=cv, n_jobs=n_jobs, verbose=verbose,
            standardize=standardize,
        )  # fmt: skip
        self.power = power
        self.link = link

    def _family(self) -> _loss.RegressionFamily:
        return _loss.regression_family(self.power, self.link)


#: RidgeCV's scores, all computed on the workers.
_RIDGE_SCORES = (None, "r2", "neg_mean_squared_error")


class RidgeCV(_Regressor):
    """Ridge regression whose alpha is chosen by cross-validation, in closed
    form: every alpha and every fold from one pass over X (two for
    leave-one-out).

    scikit-learn's :class:`sklearn.linear_model.RidgeCV`:

    - ``cv=None``: efficient leave-one-out. One pass sums the weighted
      normal equations; the client takes the eigendecomposition of the
      centred Gram matrix; one more pass gives every row's leave-one-out
      error at every alpha (``e_i / (1 - h_ii)``, exact), and the score is
      scikit-learn's (``-mean(s_i e_i^2)`` without a scorer).
    - ``cv`` folds: one pass sums the normal equations of all rows and of
      the rows each fold holds out (a fold trains on their difference); the
      client solves every (fold, alpha) exactly and scores it from its
      held-out rows' normal equations (R^2 without a scorer, the mean over
      folds as scikit-learn's ``GridSearchCV``).

    Then the fit on all rows at the best alpha, exact, from the first pass.

    Needs the rows layout (whole rows in every block) and at most 4096
    features: the Gram matrix is (d + 1)^2 on each worker, Spark MLlib's
    limit for its normal-equation solver.

    Parameters
    ----------
    alphas : array-like of float, default=(0.1, 1.0, 10.0)
        The alphas tried (> 0), in order; the first wins ties.
    fit_intercept : bool, default=True
    scoring : {None, "r2", "neg_mean_squared_error"}, default=None
        None: scikit-learn's default (the negative mean of the weighted
        squared leave-one-out errors with ``cv=None``, R^2 with folds).
        Both scorers are unweighted, as scikit-learn's scorers without
        metadata routing.
    cv : int, cross-validation generator or iterable, default=None
        None: leave-one-out. For in-memory X: scikit-learn's meaning
        (``KFold``). For dask X: a number of folds or a ``KFold``, each
        row's fold a seeded hash of its position (see
        :func:`dmltk._blocks.hashed_folds`).
    gcv_mode : {None, "auto", "svd", "eigen"}, default=None
        Accepted for scikit-learn compatibility: the eigendecomposition of
        the (d x d) Gram matrix always runs.
    store_cv_results : bool, default=False
        Only False (the per-row results of a distributed X are not
        gathered; a ValueError says so).
    alpha_per_target : bool, default=False
        Only False (one target).

    Attributes
    ----------
    alpha_ : float
    best_score_ : float
        The score of the best alpha.
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    fit_stats_ : dict
        As :class:`Ridge`'s (its ``evaluations``: the passes over X).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> import dmltk
    >>> X, y = load_diabetes(return_X_y=True)
    >>> search = dmltk.RidgeCV(alphas=[1e-3, 1e-2, 1e-1, 1.0]).fit(X, y)
    >>> float(search.alpha_)
    0.01
    """

    _parameter_constraints: dict = {
        "alphas": ["array-like", Interval(numbers.Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "scoring": [StrOptions({"r2", "neg_mean_squared_error"}), None],
        "cv": ["cv_object"],
        "gcv_mode": [StrOptions({"auto", "svd", "eigen"}), None],
        "store_cv_results": ["boolean"],
        "alpha_per_target": ["boolean"],
    }

    def __init__(
        self,
        alphas=(0.1, 1.0, 10.0),
        *,
        fit_intercept: bool = True,
        scoring=None,
        cv=None,
        gcv_mode=None,
        store_cv_results: bool = False,
        alpha_per_target: bool = False,
    ):
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.scoring = scoring
        self.cv = cv
        self.gcv_mode = gcv_mode
        self.store_cv_results = store_cv_results
        self.alpha_per_target = alpha_per_target

    # No standardisation, warm start or progress bar: closed forms.
    standardize = False
    warm_start = False
    verbose = 0

    def _alpha_grid(self) -> np.ndarray:
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=np.float64)).ravel()
        # Leave-one-out needs alpha > 0 (1 - h is 0 for an interpolating
        # fit); folds allow 0, as scikit-learn's.
        leave_one_out = self.cv is None
        valid = np.isfinite(alphas) & ((alphas > 0) | (alphas == 0) & ~leave_one_out)
        if alphas.size == 0 or not np.all(valid):
            bound = "> 0 with cv=None" if leave_one_out else ">= 0"
            raise ValueError(
                f"alphas must hold finite numbers {bound}; got alphas={self.alphas!r}."
            )
        return alphas

    @_fit_context(prefer_skip_nested_validation=True)
    @local_in_tasks
    def fit(self, X, y, sample_weight=None):
        """Score every alpha by leave-one-out or on folds, and fit on all
        rows at the best.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
        y : array-like or dask array/Series of shape (n_samples,)
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights of the samples in every fit (and in the leave-one-out
            score without a scorer).

        Returns
        -------
        self
        """
        if self.store_cv_results:
            raise ValueError(
                "store_cv_results=True is not supported by dmltk's RidgeCV: the "
                "per-row results of distributed X are not gathered."
            )
        if self.alpha_per_target:
            raise ValueError("alpha_per_target=True needs several targets; dmltk "
                             "fits one.")  # fmt: skip
        alphas = self._alpha_grid()
        monitor = FitMonitor()
        folds = self.cv is not None
        evaluator, n_folds = _search_evaluator(
            self, X, y, sample_weight, _loss.SQUARED_ERROR, folds
        )
        if (
            evaluator.layout != "rows"
            or self.n_features_in_ > NORMAL_EQUATIONS_FEATURES
        ):
            raise ValueError(
                "RidgeCV solves in closed form and needs whole rows in every block "
                f"and at most {NORMAL_EQUATIONS_FEATURES} features (X has "
                f"{self.n_features_in_} in the "
                f"{evaluator.layout!r} layout): rechunk X to whole rows "
                "(X.rechunk({1: -1})), or choose alpha with Ridge in a search."
            )
        systems = _NormalSystems(
            evaluator.reduce(_loss.fold_gram_block, n_folds),
            n_folds,
            self.n_features_in_,
            self.fit_intercept,
        )
        check_fold_weights(
            systems.weight_sum(-1),
            [systems.weight_sum(fold) for fold in range(n_folds)],
            evaluator.n_rows,
        )
        if folds:
            scores = self._fold_scores(systems, alphas, n_folds)
        else:
            scores = self._leave_one_out_scores(evaluator, systems, alphas)
        best = int(np.argmax(scores))
        coef = systems.solve(-1, alphas[best : best + 1])[0]
        n_features = self.n_features_in_
        self.coef_ = coef[:n_features].copy()
        self.intercept_ = float(coef[n_features]) if self.fit_intercept else 0.0
        self.alpha_ = float(alphas[best])
        self.best_score_ = float(scores[best])
        self.fit_stats_ = monitor.finish(evaluator)
        return self

    def _fold_scores(self, systems, alphas, n_folds) -> np.ndarray:
        """The mean over folds of every alpha's held-out score, from the
        held-out rows' normal equations (no more passes)."""
        sums = np.array(
            [systems.held_out_sums(fold, systems.solve(fold, alphas))
             for fold in range(n_folds)]
        )  # fmt: skip
        count, squared, total, squares = (sums[..., i] for i in range(4))
        return _score(self.scoring or "r2", squared, count, total, squares).mean(axis=0)

    def _leave_one_out_scores(self, evaluator, systems, alphas) -> np.ndarray:
        """Every alpha's leave-one-out score (one pass)."""
        gram, products, x_mean, y_mean, _ = systems.centred(-1)
        spectrum, rotation = np.linalg.eigh(gram)
        spectrum = np.maximum(spectrum, 0.0)  # rounding below 0 on singular X
        inverse = 1.0 / (spectrum[None, :] + alphas[:, None])
        weight_sum = systems.weight_sum(-1)
        sums = evaluator.reduce(
            _loss.ridge_loo_block,
            x_mean,
            rotation,
            inverse * (rotation.T @ products)[None, :],
            inverse,
            y_mean,
            1.0 / weight_sum if self.fit_intercept else 0.0,
        ).reshape(alphas.size, 5)
        squared, weight, total, squares, n_rows = sums.T
        if self.scoring is None:
            return -squared / n_rows
        return _score(self.scoring, squared, weight, total, squares)


def _search_evaluator(estimator, X, y, sample_weight, family, folds: bool):
    """The engine over a regression search's X and its batch's targets: y,
    the sample weights (training and scoring: a regression has no class
    weights, and scikit-learn scores its searches with the sample
    weights), and each row's role in ``estimator.cv``'s folds (none when
    ``folds`` is False); and the number of folds.

    The folds are hashed row positions for dask X, scikit-learn's splitter
    (``KFold`` by default) on the given in-memory y otherwise.
    """
    if _data.is_dask(X):
        blocks, _, _ = estimator._prepare_dask(X, y, sample_weight, family)
        roles, n_folds = (
            hashed_fold_roles(blocks.y, estimator.cv) if folds else (None, 0)
        )
    else:
        blocks, _, _ = estimator._prepare_in_memory(X, y, sample_weight, family)
        roles, n_folds = None, 0
        if folds:
            y_checked = column_or_1d(np.asarray(y, dtype=np.float64), warn=True)
            roles, splits = splitter_fold_roles(
                blocks.X, y_checked, estimator.cv, classifier=False
            )
            n_folds = len(splits)
    if roles is None:
        roles = no_fold_roles(blocks.X)
    if blocks.y.ndim == 2:  # the persisted sample weights
        weights = blocks.y[:, 1]
    else:
        weights = da.ones(blocks.X.shape[0], chunks=(blocks.X.chunks[0],))
    return batch_evaluator(blocks.X, blocks.y, weights, roles), n_folds


def _score(scoring: str, squared, weight, total, squares):
    """``"r2"`` or ``"neg_mean_squared_error"`` from weighted sums: of the
    squared errors, the weights, the targets and their squares."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if scoring == "neg_mean_squared_error":
            return -squared / weight
        return 1.0 - squared / (squares - total * total / weight)


class _NormalSystems:
    """The weighted normal equations of all rows, and of every fold's
    training and held-out rows (:func:`dmltk._loss.fold_gram_block` summed
    over the blocks): every (fold, alpha) model solved and scored on the
    client, without reading X again."""

    def __init__(self, packed, n_folds: int, n_features: int, fit_intercept: bool):
        size = n_features + 1
        parts = np.asarray(packed, dtype=np.float64).reshape(2 * n_folds + 1, -1)
        self._n_features = n_features
        self._fit_intercept = fit_intercept
        # Each: (A = [X, 1]' W [X, 1], [X, 1]' W y, y' W y).
        everything, *rest = (
            (part[: size * size].reshape(size, size),
             part[size * size : size * size + size], float(part[-1]))
            for part in parts
        )  # fmt: skip
        self._held_out = rest[:n_folds]
        # A fold trains on all rows but those it holds out and those it
        # leaves aside.
        self._train = [everything] + [
            tuple(a - b - c for a, b, c in zip(everything, held, aside, strict=True))
            for held, aside in zip(rest[:n_folds], rest[n_folds:], strict=True)
        ]

    def weight_sum(self, fold: int) -> float:
        """The training weight of ``fold`` (-1: all rows)."""
        return float(self._train[fold + 1][0][-1, -1])

    def centred(self, fold: int, held_out: bool = False) -> tuple:
        """``(G, b, x_mean, y_mean, q)`` of ``fold``'s training rows (-1:
        all rows) or held-out rows: the Gram matrix and ``X' W y`` of the
        weighted-centred columns, the means, and ``sum s (y - y_mean)^2``
        (uncentred, with zero means, without an intercept)."""
        d = self._n_features
        gram, vector, squares = (self._held_out[fold] if held_out
                                 else self._train[fold + 1])  # fmt: skip
        weight_sum = gram[d, d]
        if not self._fit_intercept and not held_out:
            return gram[:d, :d], vector[:d], np.zeros(d), 0.0, squares
        x_mean = gram[:d, d] / weight_sum
        y_mean = vector[d] / weight_sum
        centred = gram[:d, :d] - weight_sum * np.outer(x_mean, x_mean)
        products = vector[:d] - weight_sum * x_mean * y_mean
        return centred, products, x_mean, y_mean, squares - weight_sum * y_mean**2

    def solve(self, fold: int, alphas: np.ndarray) -> list:
        """The packed ``[w, (b)]`` minimising ``||y - X w - b||^2_W + alpha
        ||w||^2`` on ``fold``'s training rows, for every alpha."""
        gram, products, x_mean, y_mean, _ = self.centred(fold)
        spectrum, rotation = np.linalg.eigh(gram)
        spectrum = np.maximum(spectrum, 0.0)
        # alpha = 0 on collinear columns: the least-norm solution, eigenvalues
        # below d eps of the largest taken as 0 (as Ridge's normal solver).
        cutoff = spectrum.max(initial=0.0) * spectrum.size * np.finfo(float).eps
        rotated = rotation.T @ products
        coefs = []
        for alpha in alphas:
            denominator = spectrum + alpha
            inverse = np.divide(
                1.0, denominator, out=np.zeros_like(denominator),
                where=denominator > cutoff,
            )  # fmt: skip
            coefs.append(self.packed(rotation @ (rotated * inverse), x_mean, y_mean))
        return coefs

    def packed(self, weights: np.ndarray, x_mean, y_mean) -> np.ndarray:
        """``[w, (b)]`` with the intercept that centred columns imply."""
        if not self._fit_intercept:
            return weights
        return np.concatenate([weights, [y_mean - x_mean @ weights]])

    def held_out_sums(self, fold: int, coefs: list) -> np.ndarray:
        """(n_models, 4): ``[sum s, sum s e^2, sum s y, sum s y^2]`` of every
        model on ``fold``'s held-out rows (``e`` its error), as
        :meth:`dmltk._loss.ModelBatch.held_out_sums` gives them, from the
        held-out normal equations (centred at their own means)."""
        d = self._n_features
        gram, products, x_mean, y_mean, centred_squares = self.centred(fold, True)
        raw_gram, raw_vector, raw_squares = self._held_out[fold]
        weight_sum = raw_gram[d, d]
        out = np.empty((len(coefs), 4))
        for index, coef in enumerate(coefs):
            weights = coef[:d]
            intercept = coef[d] if self._fit_intercept else 0.0
            # sum s ((y - y_mean) - (x - x_mean) w + (y_mean - b - x_mean w))^2
            offset = y_mean - intercept - x_mean @ weights
            squared = (
                centred_squares
                - 2.0 * weights @ products
                + weights @ gram @ weights
                + weight_sum * offset**2
            )
            out[index] = [weight_sum, max(squared, 0.0), raw_vector[d], raw_squares]
        return out
