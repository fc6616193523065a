"""Logistic regression with its penalty chosen by cross-validation, every
fold's path advanced in the same passes over X."""

from __future__ import annotations

import numbers

import dask.array as da
import numpy as np
from sklearn.base import _fit_context
from sklearn.metrics import get_scorer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .. import _data
from .._distributed import FitMonitor, local_in_tasks
from .._loss import Penalty, start_evaluation
from ._base import _X_DTYPES, check_weight_sum, choose_solver
from ._logistic import LogisticRegression
from ._path import (
    BatchedPaths,
    PathJob,
    RegularizationPath,
    batch_evaluator,
    check_fold_weights,
    checked_class_sums,
    column_means,
    hashed_fold_roles,
    held_out_sums,
    initial_coef,
    no_fold_roles,
    solver_coordinates,
    splitter_fold_roles,
)

#: Scores computed on the workers, in the blocks, for every model at once.
_BLOCKWISE_SCORES = {None: "accuracy", "accuracy": "accuracy",
                     "neg_log_loss": "neg_log_loss"}  # fmt: skip


def _penalties(Cs, weight_sum: float, l1_ratio: float) -> tuple:
    """The penalties of a path over ``Cs`` for a fold of this weight sum."""
    return tuple(
        Penalty.from_C(float(C), float(weight_sum), float(l1_ratio)) for C in Cs
    )


class LogisticRegressionCV(LogisticRegression):
    """Logistic regression whose ``C`` (and ``l1_ratio``) is chosen by
    cross-validation, with every fold's path fitted in the same passes
    over X.

    scikit-learn's :class:`sklearn.linear_model.LogisticRegressionCV` with
    its announced defaults (scikit-learn 1.10 and 1.11: ``l1_ratios=(0.0,)``,
    ``scoring="neg_log_loss"``, ``use_legacy_attributes=False``; the legacy
    values are accepted). For each fold and ``l1_ratio``, a path of fits
    over ``Cs`` in their order, each warm-started from the one before; the
    held-out score of every fit; the best ``(C, l1_ratio)`` by the scores
    summed over folds; then (``refit=True``) a fit on all rows at that
    point, started from the mean of the folds' coefficients there.

    How it runs: folds are masks over the rows of the blocks X already has
    (never copies). Every pass over X evaluates all the models still
    running (M = folds x ``l1_ratios`` paths): margins ``X_b @ W`` for ``W``
    of shape (n_features, M K) and gradients ``X_b.T @ R``, one read of each
    block for all of them; each model keeps its own solver state on the
    client and leaves the batch when its path ends. The held-out scores of
    all the fits come from one more pass. ``fit_stats_`` reports the passes
    and the models each served.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The ``C`` values of each path, in the order they are fitted, or
        their number: that many values in a logarithmic scale from 1e-4 to
        1e4.
    l1_ratios : array-like of float, default=(0.0,)
        The ``l1_ratio`` values tried (0: L2, 1: L1). ``None`` means
        ``(0.0,)``, with the legacy attributes' shapes for it.
    fit_intercept : bool, default=True
    cv : int, cross-validation generator or iterable, default=None
        For in-memory X: scikit-learn's meaning (None: 5 stratified folds).
        For dask X: a number of folds (None: 5), or a ``KFold`` /
        ``StratifiedKFold``, whose ``n_splits`` and ``random_state`` are
        used; each row's fold is a seeded hash of its position (see
        :func:`dmltk._blocks.hashed_folds`): the same on any cluster and
        layout, nearly equal in size, not stratified.
    scoring : str, callable or None, default="neg_log_loss"
        ``"neg_log_loss"``, ``"accuracy"`` (or None) are computed on the
        workers. Other scorer names and callables (``scorer(estimator, X,
        y)``) need in-memory X: they run on the client, on each fold's
        held-out rows.
    solver : {"lbfgs", "owlqn", "auto"}, default="lbfgs"
        ``"lbfgs"`` for L2 only; ``"owlqn"`` (or ``"auto"``) when an
        ``l1_ratio`` is positive.
    tol : float, default=1e-4
    max_iter : int, default=100
        Iterations of each fit of a path.
    class_weight : dict, "balanced" or None, default=None
        As for :class:`LogisticRegression`; "balanced" from all rows.
    n_jobs : int or None, default=None
        Accepted for scikit-learn compatibility and unused: the Dask
        cluster sets the parallelism.
    verbose : int, default=0
        Unused; accepted for scikit-learn compatibility.
    refit : bool, default=True
        Refit on all rows at the best point; else average the folds' best
        coefficients (and their ``C`` and ``l1_ratio``), as scikit-learn
        does.
    standardize : bool, default=False
        Penalise the coefficients of unit-variance columns (from all rows),
        as :class:`LogisticRegression` does.
    use_legacy_attributes : bool, default=False
        scikit-learn 1.9's attribute shapes (dicts keyed by class) instead
        of the arrays of 1.10.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    Cs_ : ndarray of shape (n_cs,)
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
    C_ : float
        The chosen ``C`` (an array, one per class, with legacy attributes).
    l1_ratio_ : float
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Held-out score of every fit.
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_cs, n_margins, \
n_features + fit_intercept)
        Coefficients of every fit (intercept last); ``n_margins`` is 1 for
        two classes.
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
    fit_stats_ : dict
        :class:`LogisticRegression`'s, plus ``models_per_pass`` (the
        models each loss-and-gradient pass served) and ``fits`` (their
        number).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> import dmltk
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> search = dmltk.LogisticRegressionCV(Cs=5, cv=3).fit(X, y)
    >>> search.scores_.shape
    (3, 1, 5)
    >>> float(search.C_) in search.Cs_
    True
    """

    _parameter_constraints: dict = {
        "Cs": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None],
        "fit_intercept": ["boolean"],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "solver": [StrOptions({"lbfgs", "owlqn", "auto"})],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
        "refit": ["boolean"],
        "standardize": ["boolean"],
        "use_legacy_attributes": ["boolean"],
    }

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios=(0.0,),
        fit_intercept: bool = True,
        cv=None,
        scoring="neg_log_loss",
        solver: str = "lbfgs",
        tol: float = 1e-4,
        max_iter: int = 100,
        class_weight=None,
        n_jobs=None,
        verbose: int = 0,
        refit: bool = True,
        standardize: bool = False,
        use_legacy_attributes: bool = False,
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.standardize = standardize
        self.use_legacy_attributes = use_legacy_attributes

    # ------------------------------------------------------------ checks
    def _grid(self) -> np.ndarray:
        if isinstance(self.Cs, numbers.Integral):
            return np.logspace(-4, 4, int(self.Cs))
        Cs = np.asarray(self.Cs, dtype=np.float64).ravel()
        if Cs.size == 0 or not np.all(Cs > 0):
            raise ValueError(f"Cs must hold positive numbers; got Cs={self.Cs!r}.")
        return Cs

    def _l1_grid(self) -> np.ndarray:
        ratios = (0.0,) if self.l1_ratios is None else self.l1_ratios
        ratios = np.asarray(ratios, dtype=np.float64).ravel()
        if ratios.size == 0 or not np.all((ratios >= 0) & (ratios <= 1)):
            raise ValueError(
                "l1_ratios must be an array-like of numbers between 0 and 1; "
                f"got l1_ratios={self.l1_ratios!r}."
            )
        return ratios

    def _blockwise_score(self):
        """The score name computed on the workers, or None for a scorer
        that runs on the client."""
        if callable(self.scoring):
            return None
        if self.scoring in _BLOCKWISE_SCORES:
            return _BLOCKWISE_SCORES[self.scoring]
        get_scorer(self.scoring)  # a ValueError naming the valid names
        return None

    # ------------------------------------------------------------- data
    def _prepare(self, X, y, sample_weight, folds: bool):
        """The engine over X with a batch's targets; the number of folds;
        for in-memory X, the validated X, y and weights with each fold's
        held-out rows (for client-side scorers)."""
        roles, n_folds, local = None, 0, None
        if _data.is_dask(X):
            # X's values are checked by the search's first pass
            # (:func:`checked_class_sums`), which reads X anyway.
            blocks, _, _ = self._prepare_dask(X, y, sample_weight, check_finite=False)
            score_weights = _data.sample_weight_array(sample_weight, blocks.X)
            if folds:
                roles, n_folds = hashed_fold_roles(blocks.y, self.cv)
        else:
            blocks, _, _ = self._prepare_in_memory(X, y, sample_weight)
            y_checked = column_or_1d(np.asarray(y), warn=True)
            weights = np.ones(blocks.X.shape[0])
            if sample_weight is not None:
                weights = np.asarray(sample_weight, dtype=np.float64).ravel()
            score_weights = da.from_array(weights, chunks=(blocks.X.chunks[0],))
            if folds:
                roles, splits = splitter_fold_roles(
                    blocks.X, y_checked, self.cv, classifier=True
                )
                n_folds = len(splits)
                local = (X, y_checked, sample_weight, splits)
        if roles is None:
            roles = no_fold_roles(blocks.X)
        evaluator = batch_evaluator(blocks.X, blocks.y, score_weights, roles)
        return evaluator, n_folds, local

    def _runner(self, evaluator, n_margins: int, class_sums) -> BatchedPaths:
        """The batched paths of this search over ``evaluator``, in the
        coordinates computed from all its rows (centred on the means of
        ``class_sums``, :func:`fold_class_sums`)."""
        return BatchedPaths(
            evaluator,
            n_margins=n_margins,
            family=None,
            fit_intercept=self.fit_intercept,
            coordinates=solver_coordinates(
                evaluator,
                n_margins,
                self.fit_intercept,
                self.standardize,
                column_means(class_sums),
            ),
            solver=self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
        )

    # -------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    @local_in_tasks
    def fit(self, X, y, sample_weight=None):
        """Fit a path per fold and ``l1_ratio``, score every fit on its held-out
        rows, and keep the best.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
        y : array-like or dask array/Series of shape (n_samples,)
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights of the samples, in training (times ``class_weight``) and
            in the held-out scores (alone), as scikit-learn uses them.

        Returns
        -------
        self : LogisticRegressionCV
        """
        monitor = FitMonitor()
        Cs, l1_ratios = self._grid(), self._l1_grid()
        for l1_ratio in l1_ratios:
            choose_solver(self.solver, float(l1_ratio), float(Cs.min()))
        score_name = self._blockwise_score()
        if score_name is None and _data.is_dask(X):
            raise ValueError(
                f"scoring={self.scoring!r} runs on the client and needs in-memory "
                "X; for dask X use 'neg_log_loss' or 'accuracy', computed on the "
                "workers."
            )
        evaluator, n_folds, local = self._prepare(X, y, sample_weight, folds=True)
        n_features, n_classes = self.n_features_in_, len(self.classes_)
        n_margins = 1 if n_classes == 2 else n_classes
        # One pass: the class weights, the columns' means and every path's
        # first evaluation (all its margins are intercepts there).
        class_sums = checked_class_sums(evaluator, n_classes, n_folds)
        class_weights = class_sums[..., -1]
        weight_sums = class_weights.sum(axis=1)
        check_fold_weights(weight_sums[-1], weight_sums[:-1], evaluator.n_rows)
        runner = self._runner(evaluator, n_margins, class_sums)
        starts = [
            initial_coef(class_weights[fold], n_features, self.fit_intercept)
            for fold in range(n_folds)
        ]
        jobs = [
            PathJob(fold, float(weight_sums[fold]),
                    _penalties(Cs, weight_sums[fold], l1_ratio), starts[fold],
                    start_evaluation(class_sums[fold], starts[fold],
                                     self.fit_intercept))
            for fold in range(n_folds)
            for l1_ratio in l1_ratios
        ]  # fmt: skip
        results = runner.run(jobs)
        runner.warn_if_not_converged(results)
        # (fold, l1_ratio, C) -> packed coefficients
        paths = np.array([result.coefs for result in results]).reshape(
            n_folds, l1_ratios.size, Cs.size, -1
        )
        n_iter = np.array([result.n_iter for result in results]).reshape(
            n_folds, l1_ratios.size, Cs.size
        )
        scores = self._held_out_scores(evaluator, paths, score_name, local, n_margins)
        if self.refit:
            summed = scores.sum(axis=0).T  # (C, l1_ratio), scikit-learn's order
            c_index, l1_index = np.unravel_index(np.argmax(summed), summed.shape)
            C, l1_ratio = Cs[c_index], l1_ratios[l1_index]
            start = paths[:, l1_index, c_index].mean(axis=0)
            (refit,) = runner.run(
                [PathJob(-1, float(weight_sums[-1]),
                         _penalties([C], weight_sums[-1], l1_ratio), start)]
            )  # fmt: skip
            runner.warn_if_not_converged([refit])
            coef = refit.coefs[0]
        else:
            flat = scores.transpose(0, 2, 1).reshape(n_folds, -1)  # (fold, C x l1)
            c_best, l1_best = np.unravel_index(
                np.argmax(flat, axis=1), (Cs.size, l1_ratios.size)
            )
            coef = np.mean(
                [paths[f, l1_best[f], c_best[f]] for f in range(n_folds)], axis=0
            )
            C, l1_ratio = Cs[c_best].mean(), l1_ratios[l1_best].mean()
        self._set_coef(coef, n_margins)
        self.Cs_ = Cs
        self.l1_ratios_ = l1_ratios
        stats = monitor.finish(evaluator)
        stats["models_per_pass"] = list(runner.models_per_pass)
        stats["fits"] = int(n_iter.size + int(self.refit))
        self.fit_stats_ = stats
        self._set_search_attributes(
            paths, scores, n_iter, float(C), float(l1_ratio), n_margins
        )
        return self

    def _set_coef(self, coef: np.ndarray, n_margins: int) -> None:
        n_features = self.n_features_in_
        weights = coef[: n_features * n_margins].reshape(n_features, n_margins)
        self.coef_ = np.ascontiguousarray(weights.T)
        self.intercept_ = (
            np.array(coef[n_features * n_margins :], dtype=np.float64)
            if self.fit_intercept
            else np.zeros(n_margins)
        )

    def _held_out_scores(self, evaluator, paths, score_name, local, n_margins):
        """(fold, l1_ratio, C) score of every fit on its held-out rows."""
        n_folds, n_l1, n_cs, _ = paths.shape
        coefs = list(paths.reshape(-1, paths.shape[-1]))
        folds = tuple(np.repeat(np.arange(n_folds), n_l1 * n_cs))
        if score_name is not None:
            sums = held_out_sums(evaluator, coefs, folds, n_margins, self.fit_intercept)
            with np.errstate(invalid="ignore", divide="ignore"):
                if score_name == "accuracy":
                    scores = sums[:, 1] / sums[:, 0]
                else:
                    scores = -sums[:, 2] / sums[:, 0]
            return scores.reshape(n_folds, n_l1, n_cs)
        X, y, sample_weight, splits = local
        X = validate_data(self, X, accept_sparse="csr", dtype=_X_DTYPES, reset=False)
        scorer = (
            get_scorer(self.scoring) if isinstance(self.scoring, str) else self.scoring
        )
        shell = LogisticRegression(fit_intercept=self.fit_intercept)
        shell.classes_, shell.n_features_in_ = self.classes_, self.n_features_in_
        scores = np.empty(len(coefs))
        for index, (coef, fold) in enumerate(zip(coefs, folds, strict=True)):
            test = splits[fold][1]
            LogisticRegressionCV._set_coef(shell, coef, n_margins)
            options = {}
            if sample_weight is not None:
                options["sample_weight"] = np.asarray(sample_weight)[test]
            scores[index] = scorer(shell, X[test], y[test], **options)
        return scores.reshape(n_folds, n_l1, n_cs)

    def _set_search_attributes(self, paths, scores, n_iter, C, l1_ratio, n_margins):
        """``C_``, ``l1_ratio_``, ``scores_``, ``coefs_paths_`` and ``n_iter_``,
        in scikit-learn 1.10's shapes or (legacy) 1.9's."""
        n_folds, n_l1, n_cs, _ = paths.shape
        n_features = self.n_features_in_
        weights = paths[..., : n_features * n_margins].reshape(
            n_folds, n_l1, n_cs, n_features, n_margins
        )
        weights = np.swapaxes(weights, -1, -2)  # (..., K, n_features)
        if self.fit_intercept:
            intercepts = paths[..., n_features * n_margins :][..., None]
            coefs_paths = np.concatenate([weights, intercepts], axis=-1)
        else:
            coefs_paths = weights
        if not self.use_legacy_attributes:
            self.C_, self.l1_ratio_ = C, l1_ratio
            self.coefs_paths_, self.scores_, self.n_iter_ = coefs_paths, scores, n_iter
            return
        # scikit-learn 1.9: dicts keyed by class (the positive class alone
        # for two), (fold, C, l1_ratio) order, l1 axis dropped for
        # l1_ratios=None.
        keys = self.classes_[1:] if n_margins == 1 else self.classes_
        by_class = np.moveaxis(coefs_paths, (0, 1, 2, 3), (1, 3, 2, 0))
        legacy_scores = np.swapaxes(scores, 1, 2)
        legacy_iter = np.swapaxes(n_iter, 1, 2)[None]
        if self.l1_ratios is None:
            by_class = by_class[:, :, :, 0]
            legacy_scores = legacy_scores[:, :, 0]
            legacy_iter = legacy_iter[..., 0]
        self.coefs_paths_ = dict(zip(keys, by_class, strict=True))
        self.scores_ = {key: legacy_scores.copy() for key in keys}
        self.n_iter_ = legacy_iter
        self.C_ = np.full(len(keys), C)
        self.l1_ratio_ = np.full(len(keys), l1_ratio)

    # ------------------------------------------------------------- path
    def _path(self, X, y, sample_weight) -> RegularizationPath:
        """:func:`dmltk.linear_model.regularization_path` on all rows."""
        self._validate_params()
        Cs, (l1_ratio,) = self._grid(), self._l1_grid()
        choose_solver(self.solver, float(l1_ratio), float(Cs.min()))
        evaluator, _, _ = self._prepare(X, y, sample_weight, folds=False)
        n_features, n_classes = self.n_features_in_, len(self.classes_)
        n_margins = 1 if n_classes == 2 else n_classes
        class_sums = checked_class_sums(evaluator, n_classes, 0)
        class_weights = class_sums[-1, :, -1]
        check_weight_sum(class_weights.sum())
        runner = self._runner(evaluator, n_margins, class_sums)
        start = initial_coef(class_weights, n_features, self.fit_intercept)
        weight_sum = float(class_weights.sum())
        (result,) = runner.run(
            [PathJob(-1, weight_sum, _penalties(Cs, weight_sum, l1_ratio), start,
                     start_evaluation(class_sums[-1], start, self.fit_intercept))]
        )  # fmt: skip
        runner.warn_if_not_converged([result])
        coefs = np.array(result.coefs)
        weights = coefs[:, : n_features * n_margins].reshape(-1, n_features, n_margins)
        intercepts = (
            coefs[:, n_features * n_margins :]
            if self.fit_intercept
            else np.zeros((Cs.size, n_margins))
        )
        return RegularizationPath(
            Cs, np.swapaxes(weights, 1, 2).copy(), intercepts, np.array(result.n_iter)
        )

    # ------------------------------------------------------------ score
    def score(self, X, y, sample_weight=None):
        """The ``scoring`` of the predictions for X against y (accuracy for
        ``scoring=None``).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame}
        y : array-like or dask array/Series of shape (n_samples,)
        sample_weight : array-like or dask array of shape (n_samples,), optional

        Returns
        -------
        float
        """
        check_is_fitted(self)
        name = self._blockwise_score()
        if name == "accuracy":
            return super().score(X, y, sample_weight=sample_weight)
        if name == "neg_log_loss":
            from .. import metrics

            return -metrics.log_loss(
                y,
                self.predict_proba(X),
                sample_weight=sample_weight,
                labels=self.classes_,
            )
        if _data.is_dask(X):
            raise ValueError(
                f"scoring={self.scoring!r} needs in-memory X; compute X to numpy "
                "or use 'neg_log_loss' or 'accuracy'."
            )
        scorer = (
            get_scorer(self.scoring) if isinstance(self.scoring, str) else self.scoring
        )
        options = {} if sample_weight is None else {"sample_weight": sample_weight}
        return scorer(self, X, y, **options)
