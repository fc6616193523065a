"""Linear and generalised linear regression on distributed data.

Each estimator has the name, parameters, defaults, objective and fitted
attributes of its scikit-learn namesake, and is one loss family of
:mod:`dmltk._loss` with a :class:`dmltk._loss.Penalty`. Every objective is
written, as the solvers see it, as the weighted mean of a per-row "half"
loss (scikit-learn's ``sklearn._loss``) plus the penalty::

    f(w, b) = sum_i s_i loss(y_i, x_i . w + b) / S + l2/2 ||w||^2 + l1 ||w||_1

(``S`` the sum of the sample weights, the number of rows without), which is
scikit-learn's objective divided by a constant:

============================  =============================  =====================
estimator                     scikit-learn's objective       ``(l2, l1)``
============================  =============================  =====================
``LinearRegression``          ``||y - Xw - b||^2``            ``(0, 0)``
``Ridge``                     ``||y - Xw - b||^2 +            ``(alpha / S, 0)``
                              alpha ||w||^2``
``Lasso``, ``ElasticNet``     ``||y - Xw - b||^2 / (2 S) +    ``(alpha (1 - r),
                              alpha r ||w||_1 +               alpha r)``
                              alpha (1 - r) / 2 ||w||^2``
``PoissonRegressor``,         ``sum_i s_i dev_i / (2 S) +     ``(alpha (1 - r),
``GammaRegressor``,           alpha / 2 ||w||^2``             alpha r)``
``TweedieRegressor``
============================  =============================  =====================

(``r`` is ``l1_ratio``: 1 for Lasso; the GLM regressors take it too, 0 by
default as in scikit-learn, which has no L1 term for them.)
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, validate_data

from .. import _blocks, _data, _loss, _prediction
from .._distributed import BlockEvaluator, FitMonitor, local_in_tasks
from ._base import (
    _X_DTYPES,
    BlockwiseLinearModel,
    _lazy_prediction,
    check_weight_sum,
    dask_shapes,
    raise_if_nonfinite,
    solver_for,
)

_COMMON_CONSTRAINTS: dict = {
    "fit_intercept": ["boolean"],
    "standardize": ["boolean"],
    "tol": [Interval(numbers.Real, 0, None, closed="left")],
    "warm_start": ["boolean"],
    "verbose": ["verbose"],
}
_ALPHA = [Interval(numbers.Real, 0, None, closed="left")]
_L1_RATIO = [Interval(numbers.Real, 0, 1, closed="both")]
_MAX_ITER = [Interval(numbers.Integral, 1, None, closed="left")]
_SQUARED_SOLVERS = StrOptions({"auto", "normal", "lbfgs", "newton", "owlqn"})
#: The most features whose normal equations (a (d + 1)^2 matrix per
#: worker) a fit or a search sums: Spark MLlib's limit for its
#: normal-equation solver.
NORMAL_EQUATIONS_FEATURES = 4096
# "auto" for the squared error with an L2 penalty: "normal" on the rows
# layout with at most NORMAL_EQUATIONS_FEATURES features, else "lbfgs"
# (decided once the data are on the workers).
_NORMAL_IF_ROWS = "normal-if-rows"
# scikit-learn's GLM solvers, and dmltk's: "newton-cholesky" runs "newton"
# (trust-region Newton-CG, which needs no d x d matrix).
_GLM_SOLVERS = StrOptions({"auto", "lbfgs", "newton", "newton-cholesky", "owlqn"})


class _Regressor(RegressorMixin, BlockwiseLinearModel):
    """What the regressors share: fit on any layout, predict, score.

    Subclasses say which family (:meth:`_family`) and penalty
    (:meth:`_penalty`) they minimise.
    """

    # The name of the parameter that adds an L1 term, and the setting that
    # removes it (for the error of a solver that cannot handle one).
    _l1_parameter = "l1_ratio"

    def _family(self) -> _loss.RegressionFamily:
        return _loss.SQUARED_ERROR

    def _penalty(self, weight_sum: float) -> _loss.Penalty:
        raise NotImplementedError

    def _l1_ratio(self) -> float:
        return float(getattr(self, "l1_ratio", 0.0))

    def _chosen_solver(self) -> str:
        solver = "newton" if self.solver == "newton-cholesky" else self.solver
        has_l1 = self._l1_ratio() > 0 and getattr(self, "alpha", 0.0) > 0
        squared = self._family().code == _loss.SQUARED_ERROR.code
        if solver == "normal":
            if not squared or has_l1 or self._positive:
                raise ValueError(
                    "solver='normal' solves the squared error with an L2 penalty "
                    "only: use 'auto' (or 'owlqn' for an L1 part, 'lbfgs' with "
                    "positive=True)."
                )
            return solver
        if solver == "auto" and squared and not has_l1 and not self._positive:
            return _NORMAL_IF_ROWS
        if self._positive and has_l1 and solver in ("auto", "lbfgs"):
            # On the positive orthant the L1 term is linear: smooth, and
            # L-BFGS-B with bounds handles it.
            return "lbfgs"
        solver = solver_for(
            solver,
            has_l1,
            f"{self._l1_parameter}={self._l1_ratio()}",
            f"{self._l1_parameter}=0",
        )
        if self._positive and solver != "lbfgs":
            raise ValueError(
                f"positive=True needs solver='lbfgs' (or 'auto'), got "
                f"solver={self.solver!r}: only L-BFGS-B takes bounds."
            )
        return solver

    @property
    def _positive(self) -> bool:
        return bool(getattr(self, "positive", False))

    @property
    def _max_iter(self) -> int:
        return 1000 if self.max_iter is None else self.max_iter

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    @local_in_tasks
    def fit(self, X, y, sample_weight=None):
        """Fit the model on X and y.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
            Training data. Dask inputs stay on the workers.
        y : array-like or dask array/Series of shape (n_samples,)
            Numeric targets, in the family's domain (for example
            non-negative for Poisson, positive for Gamma).
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Non-negative weight of every sample. An integer weight counts the
            sample that many times.

        Returns
        -------
        self
        """
        family = self._family()
        solver = self._chosen_solver()
        monitor = FitMonitor()
        if _data.is_dask(X):
            blocks, weight_sum, y_mean = self._prepare_dask(X, y, sample_weight, family)
        else:
            blocks, weight_sum, y_mean = self._prepare_in_memory(
                X, y, sample_weight, family
            )
        if solver == _NORMAL_IF_ROWS:
            # The normal equations need whole rows, and a (d + 1)^2 matrix
            # per worker: Spark's limit for its "auto" choice.
            rows = blocks.X.numblocks[1] == 1
            solver = (
                "normal"
                if rows and self.n_features_in_ <= NORMAL_EQUATIONS_FEATURES
                else "lbfgs"
            )
        coef = self._fit_blocks(
            blocks,
            family=family,
            weight_sum=weight_sum,
            penalty=self._penalty(weight_sum),
            initial_coef=self._initial_coef(family, y_mean),
            solver=solver,
            monitor=monitor,
            positive=self._positive,
        )
        n_features = self.n_features_in_
        self.coef_ = coef[:n_features].copy()
        self.intercept_ = float(coef[n_features]) if self.fit_intercept else 0.0
        self.n_iter_ = int(self._n_iter)
        return self

    def _initial_coef(self, family, y_mean: float) -> np.ndarray:
        """Zero weights and the intercept of the weighted mean of y (the
        optimum when every weight is 0, as scikit-learn's GLMs start), or the
        previous fit's coefficients with ``warm_start``."""
        n_features = self.n_features_in_
        previous = getattr(self, "coef_", None) if self.warm_start else None
        if previous is not None and np.shape(previous) == (n_features,):
            weights, intercept = np.asarray(previous, float), self.intercept_
        else:
            weights = np.zeros(n_features)
            # A mean of 0 (all-zero Poisson targets) has no log: start low.
            mean = max(y_mean, 1e-10) if family.link == "log" else y_mean
            intercept = family.linear_predictor(mean)
        if not self.fit_intercept:
            return weights.copy()
        return np.concatenate([weights, [intercept]])

    def _prepare_in_memory(self, X, y, sample_weight, family):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=_X_DTYPES,
            order="C",
            y_numeric=True,
        )
        y = np.asarray(y, dtype=np.float64)
        family.check_targets(float(y.min()))
        if sample_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            targets = np.column_stack([y, weights])
            weight_sum = float(weights.sum())
            check_weight_sum(weight_sum)
            y_mean = float(weights @ y) / weight_sum
        else:
            targets, weight_sum, y_mean = y, float(X.shape[0]), float(y.mean())
        X_dask, targets_dask = _data.in_memory_to_dask(X, targets)
        return _data.persist_blocks(X_dask, targets_dask), weight_sum, y_mean

    def _prepare_dask(self, X, y, sample_weight, family):
        X, y, names = dask_shapes(X, y)
        n_samples, self.n_features_in_ = X.shape
        self._set_feature_names(names)
        if y.dtype.kind not in "biuf":
            raise ValueError(
                f"y must be numeric to fit a regressor, got dtype {y.dtype}."
            )
        blocks = _data.persist_blocks(X, y.astype(np.float64))
        nonfinite, summaries = BlockEvaluator(blocks.X, blocks.y).map_blocks(
            _blocks.count_nonfinite, _blocks.summarize_targets
        )
        raise_if_nonfinite(nonfinite)
        summary = np.array(summaries)  # per block: [nonfinite, min, sum]
        bad_y = np.flatnonzero(summary[:, 0])
        if bad_y.size:
            raise ValueError(
                f"Input y contains NaN or infinity, in row block(s) "
                f"{bad_y[:10].tolist()}."
            )
        family.check_targets(float(summary[:, 1].min()))
        if sample_weight is None:
            y_mean = float(summary[:, 2].sum()) / n_samples
            return blocks, float(n_samples), y_mean
        weights = _data.sample_weight_array(sample_weight, blocks.X)
        targets = _data.stacked_targets(blocks.y, weights)
        (targets,) = _data.persist(targets)
        weight_sum = _data.checked_weight_sum(targets[:, 1])
        check_weight_sum(weight_sum)
        (weighted_y_sum,) = _data.compute((targets[:, 0] * targets[:, 1]).sum())
        return (
            _data.Blocks(blocks.X, targets),
            weight_sum,
            float(weighted_y_sum) / weight_sum,
        )

    # -------------------------------------------------------------- predict
    def predict(self, X):
        """Predicted mean of y: ``inverse_link(X @ coef_ + intercept_)``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame}
            Samples.

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples,)
            Lazy for dask input (each block from one read of a block of X,
            where it lives), numpy otherwise.
        """
        X = self._check_predict_input(X)
        family = self._family()
        coef, intercept = np.asarray(self.coef_, float), float(self.intercept_)
        if not _data.is_dask(X):
            margins = _prediction.predict_block(X, coef, intercept, "decision")
            return family.mean(margins)
        margins = _lazy_prediction(X, coef, intercept, "decision", None)
        if family.link == "log":
            return margins.map_blocks(np.exp, dtype=np.float64)
        return margins

    @local_in_tasks
    def score(self, X, y, sample_weight=None):
        """Coefficient of determination of the predictions: R² for the
        squared error, D² (the share of the family's deviance explained) for
        the GLM regressors, as scikit-learn's ``score``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame}
        y : array-like or dask array of shape (n_samples,)
        sample_weight : array-like or dask array of shape (n_samples,), optional

        Returns
        -------
        float
            For dask input, reduced on the workers by :mod:`dmltk.metrics`.
        """
        predicted = self.predict(X)
        if _data.is_dask(predicted):
            from .. import metrics
        else:
            import sklearn.metrics as metrics
        family = self._family()
        if family.code == _loss.SQUARED_ERROR.code:
            return float(metrics.r2_score(y, predicted, sample_weight=sample_weight))
        return float(
            metrics.d2_tweedie_score(
                y, predicted, sample_weight=sample_weight, power=family.power
            )
        )


_REGRESSOR_PARAMETERS = """
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    standardize : bool, default=False
        Spark MLlib's ``standardization``: fit as if every column of X were
        divided by its standard deviation, so that the penalty applies to
        the coefficients of standardised columns, without a scaled copy of
        X. ``coef_`` is in the original units.
    warm_start : bool, default=False
        Start from the previous fit's ``coef_`` and ``intercept_``.
    verbose : int, default=0
        Show a progress bar (tqdm) with the objective after each iteration.
"""

_REGRESSOR_ATTRIBUTES = """
    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
        0.0 when ``fit_intercept=False``.
    n_iter_ : int
        Solver iterations.
    solver_ : str
        The solver that ran.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when X had string column names.
    objective_history_ : ndarray
        The normalised objective (module docstring) after each iteration.
    fit_stats_ : dict
        Passes, tasks, seconds and bytes of the last fit, as
        :class:`dmltk.LogisticRegression`'s.
"""


class LinearRegression(_Regressor):
    __doc__ = (
        """Ordinary least squares on data spread over Dask workers.

    Minimises scikit-learn's ``||y - X w - b||^2`` (weighted by
    ``sample_weight``) with a solver of :mod:`dmltk.solvers`, each step one
    pass over the blocks of X, in any layout.

    Parameters
    ----------
    fit_intercept : bool, default=True
    copy_X : bool, default=True
        Accepted for scikit-learn compatibility: X is never modified.
    tol : float, default=1e-6
        Stop when every entry of the gradient of the normalised objective
        (the module docstring) is at most ``tol``.
    n_jobs : None
        Accepted for scikit-learn compatibility: the Dask scheduler decides.
    positive : bool, default=False
        Constrain the weights to be non-negative (L-BFGS-B with bounds).
    standardize : bool, default=False
    solver : {"auto", "normal", "lbfgs", "newton", "owlqn"}, default="auto"
        ``"normal"``: the normal equations, summed in one pass over the
        blocks and solved on the client (Spark MLlib's "normal", scikit-
        learn's Cholesky ridge; rows layout, no L1 part, no ``positive``).
        ``"auto"``: ``"normal"`` on the rows layout with at most 4096
        features, else ``"lbfgs"``.
    max_iter : int, default=1000
    warm_start : bool, default=False
    verbose : int, default=0
"""
        + _REGRESSOR_ATTRIBUTES
        + """
    See Also
    --------
    sklearn.linear_model.LinearRegression
    """
    )

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "copy_X": ["boolean"],
        "n_jobs": [None, numbers.Integral],
        "positive": ["boolean"],
        "solver": [_SQUARED_SOLVERS],
        "max_iter": _MAX_ITER,
    }

    def __init__(
        self,
        *,
        fit_intercept: bool = True,
        copy_X: bool = True,
        tol: float = 1e-6,
        n_jobs=None,
        positive: bool = False,
        standardize: bool = False,
        solver: str = "auto",
        max_iter: int = 1000,
        warm_start: bool = False,
        verbose: int = 0,
    ):
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.tol = tol
        self.n_jobs = n_jobs
        self.positive = positive
        self.standardize = standardize
        self.solver = solver
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.verbose = verbose

    def _penalty(self, weight_sum: float) -> _loss.Penalty:
        return _loss.Penalty()


class Ridge(_Regressor):
    __doc__ = (
        """Linear least squares with an L2 penalty, on data spread over Dask
    workers: scikit-learn's ``||y - X w - b||^2 + alpha ||w||^2``.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the penalty, >= 0.
    fit_intercept : bool, default=True
    copy_X : bool, default=True
        Accepted for scikit-learn compatibility: X is never modified.
    max_iter : int, default=None
        Largest number of solver iterations (None: 1000).
    tol : float, default=1e-4
        Stop when every entry of the gradient of the normalised objective is
        at most ``tol``.
    solver : {"auto", "normal", "lbfgs", "newton", "owlqn"}, default="auto"
        ``"normal"``: the normal equations, summed in one pass over the
        blocks and solved on the client (Spark MLlib's "normal", scikit-
        learn's Cholesky ridge; rows layout, no L1 part, no ``positive``).
        ``"auto"``: ``"normal"`` on the rows layout with at most 4096
        features, else ``"lbfgs"``.
    positive : bool, default=False
        Constrain the weights to be non-negative.
    random_state : None
        Accepted for scikit-learn compatibility (the solvers are
        deterministic).
"""
        + _REGRESSOR_PARAMETERS
        + _REGRESSOR_ATTRIBUTES
        + """
    See Also
    --------
    sklearn.linear_model.Ridge
    """
    )

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "alpha": _ALPHA,
        "copy_X": ["boolean"],
        "max_iter": [None, *_MAX_ITER],
        "solver": [_SQUARED_SOLVERS],
        "positive": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        copy_X: bool = True,
        max_iter: int | None = None,
        tol: float = 1e-4,
        solver: str = "auto",
        positive: bool = False,
        random_state=None,
        standardize: bool = False,
        warm_start: bool = False,
        verbose: int = 0,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.solver = solver
        self.positive = positive
        self.random_state = random_state
        self.standardize = standardize
        self.warm_start = warm_start
        self.verbose = verbose

    def _penalty(self, weight_sum: float) -> _loss.Penalty:
        # ||r||^2 + alpha ||w||^2 is 2 S (mean half loss + alpha / (2 S) ||w||^2).
        return _loss.Penalty(l2=float(self.alpha) / weight_sum)


class ElasticNet(_Regressor):
    __doc__ = (
        """Linear least squares with an L1 and L2 penalty, on data spread
    over Dask workers: scikit-learn's ``||y - X w - b||^2 / (2 S) + alpha
    l1_ratio ||w||_1 + alpha (1 - l1_ratio) / 2 ||w||^2``, by OWL-QN.

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the penalty, >= 0.
    l1_ratio : float, default=0.5
        Share of the penalty that is L1, in [0, 1].
    fit_intercept : bool, default=True
    precompute : bool, default=False
        Accepted for scikit-learn compatibility (no Gram matrix is formed).
    max_iter : int, default=1000
    copy_X : bool, default=True
        Accepted for scikit-learn compatibility: X is never modified.
    tol : float, default=1e-4
        Stop when every entry of the pseudo-gradient of the normalised
        objective (the smallest subgradient) is at most ``tol``; scikit-
        learn's coordinate descent uses a duality gap instead.
    warm_start : bool, default=False
    positive : bool, default=False
        Constrain the weights to be non-negative (the L1 term is then
        linear, and L-BFGS-B with bounds solves it).
    random_state : None
        Accepted for scikit-learn compatibility.
    selection : {"cyclic", "random"}, default="cyclic"
        Accepted for scikit-learn compatibility (no coordinate descent).
    standardize : bool, default=False
    solver : {"auto", "owlqn", "normal", "lbfgs", "newton"}, default="auto"
        ``"auto"``: ``"owlqn"`` when there is an L1 term, else as
        :class:`Ridge`'s ``"auto"`` (the normal equations on the rows
        layout).
    verbose : int, default=0
"""
        + _REGRESSOR_ATTRIBUTES
        + """
    See Also
    --------
    sklearn.linear_model.ElasticNet
    """
    )

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "alpha": _ALPHA,
        "l1_ratio": _L1_RATIO,
        "precompute": ["boolean"],
        "max_iter": _MAX_ITER,
        "copy_X": ["boolean"],
        "positive": ["boolean"],
        "random_state": ["random_state"],
        "selection": [StrOptions({"cyclic", "random"})],
        "solver": [_SQUARED_SOLVERS],
    }

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        l1_ratio: float = 0.5,
        fit_intercept: bool = True,
        precompute: bool = False,
        max_iter: int = 1000,
        copy_X: bool = True,
        tol: float = 1e-4,
        warm_start: bool = False,
        positive: bool = False,
        random_state=None,
        selection: str = "cyclic",
        standardize: bool = False,
        solver: str = "auto",
        verbose: int = 0,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.max_iter = max_iter
        self.copy_X = copy_X
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.standardize = standardize
        self.solver = solver
        self.verbose = verbose

    def _penalty(self, weight_sum: float) -> _loss.Penalty:
        alpha, ratio = float(self.alpha), self._l1_ratio()
        return _loss.Penalty(l2=alpha * (1.0 - ratio), l1=alpha * ratio)


class Lasso(ElasticNet):
    __doc__ = """Linear least squares with an L1 penalty, on data spread over Dask
    workers: scikit-learn's ``||y - X w - b||^2 / (2 S) + alpha ||w||_1``,
    by OWL-QN. The parameters are :class:`ElasticNet`'s, without
    ``l1_ratio`` (1 here).

    See Also
    --------
    sklearn.linear_model.Lasso
    """

    _l1_parameter = "alpha"
    _parameter_constraints: dict = {
        key: value
        for key, value in ElasticNet._parameter_constraints.items()
        if key != "l1_ratio"
    }

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        fit_intercept: bool = True,
        precompute: bool = False,
        copy_X: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-4,
        warm_start: bool = False,
        positive: bool = False,
        random_state=None,
        selection: str = "cyclic",
        standardize: bool = False,
        solver: str = "auto",
        verbose: int = 0,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.precompute = precompute
        self.copy_X = copy_X
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.positive = positive
        self.random_state = random_state
        self.selection = selection
        self.standardize = standardize
        self.solver = solver
        self.verbose = verbose

    def _l1_ratio(self) -> float:
        return 1.0


class _GLMRegressor(_Regressor):
    """The GLM regressors: ``mean half deviance + alpha/2 ||w||^2``, and
    with dmltk's ``l1_ratio`` an elastic net."""

    _parameter_constraints: dict = {
        **_COMMON_CONSTRAINTS,
        "alpha": _ALPHA,
        "l1_ratio": _L1_RATIO,
        "solver": [_GLM_SOLVERS],
        "max_iter": _MAX_ITER,
    }

    def _penalty(self, weight_sum: float) -> _loss.Penalty:
        alpha, ratio = float(self.alpha), self._l1_ratio()
        return _loss.Penalty(l2=alpha * (1.0 - ratio), l1=alpha * ratio)

    def __sklearn_tags__(self):
        return with_target_domain(self, super().__sklearn_tags__())


def with_target_domain(estimator, tags):
    """``tags`` with ``positive_only`` set for a family whose targets must
    not be negative (the log link with a positive power), as scikit-learn's
    GLMs say."""
    try:
        family = estimator._family()
    except ValueError:  # an invalid power or link: fit will say so
        return tags
    tags.target_tags.positive_only = family.link == "log" and family.power > 0
    return tags


_GLM_PARAMETERS = """
    alpha : float, default=1.0
        Strength of the L2 penalty (and of the L1 one, with ``l1_ratio``).
    fit_intercept : bool, default=True
    solver : {"auto", "lbfgs", "newton-cholesky", "newton", "owlqn"}, \
default="auto"
        ``"auto"`` runs ``"lbfgs"`` (scikit-learn's default), or ``"owlqn"``
        when ``l1_ratio`` adds an L1 part. ``"newton-cholesky"`` runs
        dmltk's ``"newton"`` (trust-region Newton-CG: Hessian products, no
        d x d matrix).
    max_iter : int, default=100
    tol : float, default=1e-4
        Stop when every entry of the gradient of the normalised objective
        is at most ``tol`` (scikit-learn's lbfgs ``gtol``).
    warm_start : bool, default=False
    verbose : int, default=0
    l1_ratio : float, default=0.0
        Beyond scikit-learn: the share of ``alpha`` that is an L1 penalty
        (elastic net, by OWL-QN).
    standardize : bool, default=False
        Fit as if every column of X had unit variance (Spark's
        ``standardization``).
"""


class PoissonRegressor(_GLMRegressor):
    __doc__ = (
        """Poisson regression with the log link, on data spread over Dask
    workers: scikit-learn's ``sum_i s_i dev(y_i, exp(x_i w + b)) / (2 S) +
    alpha / 2 ||w||^2``. y must be non-negative.

    Parameters
    ----------"""
        + _GLM_PARAMETERS
        + _REGRESSOR_ATTRIBUTES
        + """
    See Also
    --------
    sklearn.linear_model.PoissonRegressor
    """
    )

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        fit_intercept: bool = True,
        solver: str = "auto",
        max_iter: int = 100,
        tol: float = 1e-4,
        warm_start: bool = False,
        verbose: int = 0,
        l1_ratio: float = 0.0,
        standardize: bool = False,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.l1_ratio = l1_ratio
        self.standardize = standardize

    def _family(self) -> _loss.RegressionFamily:
        return _loss.POISSON


class GammaRegressor(PoissonRegressor):
    __doc__ = (
        """Gamma regression with the log link, on data spread over Dask
    workers: scikit-learn's objective, the Gamma deviance. y must be
    positive.

    Parameters
    ----------"""
        + _GLM_PARAMETERS
        + _REGRESSOR_ATTRIBUTES
        + """
    See Also
    --------
    sklearn.linear_model.GammaRegressor
    """
    )

    def _family(self) -> _loss.RegressionFamily:
        return _loss.GAMMA


class TweedieRegressor(_GLMRegressor):
    __doc__ = (
        """Regression with a Tweedie distribution, on data spread over Dask
    workers: scikit-learn's objective, the Tweedie deviance of ``power``.

    Parameters
    ----------
    power : float, default=0.0
        0: normal; 1: Poisson; in (1, 2): compound Poisson-Gamma; 2: Gamma;
        above 2: positive stable. (0, 1) is not allowed.
    link : {"auto", "identity", "log"}, default="auto"
        ``"auto"``: identity for ``power <= 0``, log otherwise. The identity
        link is supported for ``power=0`` only."""
        + _GLM_PARAMETERS
        + _REGRESSOR_ATTRIBUTES
        + """
    See Also
    --------
    sklearn.linear_model.TweedieRegressor
    """
    )

    _parameter_constraints: dict = {
        **_GLMRegressor._parameter_constraints,
        "power": [Interval(numbers.Real, None, None, closed="neither")],
        "link": [StrOptions({"auto", "identity", "log"})],
    }

    def __init__(
        self,
        *,
        power: float = 0.0,
        alpha: float = 1.0,
        fit_intercept: bool = True,
        link: str = "auto",
        solver: str = "auto",
        max_iter: int = 100,
        tol: float = 1e-4,
        warm_start: bool = False,
        verbose: int = 0,
        l1_ratio: float = 0.0,
        standardize: bool = False,
    ):
        self.power = power
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.link = link
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose
        self.l1_ratio = l1_ratio
        self.standardize = standardize

    def _family(self) -> _loss.RegressionFamily:
        return _loss.regression_family(self.power, self.link)
