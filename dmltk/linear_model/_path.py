"""Many models per pass over X: regularisation paths and cross-validation
folds, side by side, for logistic regression and the regression families.

Every model (a fold, an ``l1_ratio``, and its path of penalties) keeps
its own solver state on the client, in a thread of its own
(:func:`dmltk.solvers.run_side_by_side`); each pass of the engine evaluates
all the models still running at once (:class:`dmltk._loss.ModelBatch`:
margins ``X_b @ W`` for ``W`` of shape (d, M K), gradients ``X_b.T @ R``),
so that reading X, which dominates a distributed fit, is paid once for all
of them. Along a path, each penalty starts from the solution at the one
before (warm start), as scikit-learn's ``LogisticRegressionCV`` and
``ElasticNetCV`` do.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import dask.array as da
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, check_cv

from .. import _blocks, _data, _loss
from .._distributed import BlockEvaluator, solver_threads
from ..solvers import minimize_lbfgs, minimize_owlqn, run_side_by_side
from ._base import (
    _CONVERGENCE_ADVICE,
    _SolverCoordinates,
    check_weight_sum,
    positive_bounds,
    raise_if_nonfinite,
)


class RegularizationPath(NamedTuple):
    """What :func:`regularization_path` returns.

    Attributes
    ----------
    Cs : ndarray of shape (n_cs,)
    coefs : ndarray of shape (n_cs, n_margins, n_features)
        The weights at every ``C`` (``n_margins`` is 1 for two classes,
        else the number of classes), as ``coef_`` of a fit at that ``C``.
    intercepts : ndarray of shape (n_cs, n_margins)
    n_iter : ndarray of shape (n_cs,)
        Solver iterations at every ``C``.
    """

    Cs: np.ndarray
    coefs: np.ndarray
    intercepts: np.ndarray
    n_iter: np.ndarray


@dataclass
class PathJob:
    """One model's path: the fold it trains on (-1: all rows), the sum of
    its training weights, its penalties in order (:class:`dmltk._loss.
    Penalty`, from ``C`` or ``alpha``), where it starts (packed
    coefficients), and the loss and gradient there if known."""

    fold: int
    weight_sum: float
    penalties: tuple
    start: np.ndarray
    #: The packed loss and gradient at ``start`` when known without a pass
    #: (:func:`dmltk._loss.start_evaluation`), else None.
    start_values: np.ndarray | None = None


@dataclass
class PathResult:
    """A job's coefficients (packed) and iterations at each of its ``C``,
    the stages that stopped before converging (their messages), and the
    packed loss and gradient at each stage's coefficients (None where its
    last evaluation was elsewhere)."""

    coefs: list
    n_iter: list
    not_converged: list
    values: list


class BatchedPaths:
    """Runs many :class:`PathJob` side by side on one engine.

    Parameters
    ----------
    evaluator : BlockEvaluator
        Over X and a batch's targets (:func:`batch_evaluator`).
    n_margins : int
        K: 1 for two classes or a regression, else the number of classes.
    family : RegressionFamily or None
        None for logistic regression.
    fit_intercept : bool
    coordinates : _SolverCoordinates
        The solver's coordinates (centred or standardised), shared by all
        models: they are computed once, on all rows.
    solver : {"lbfgs", "owlqn", "auto"}
    tol : float
    max_iter : int
    positive : bool, default=False
        Weights bounded below by 0 (the regressors' ``positive``): every fit
        by scipy's L-BFGS-B with bounds, the L1 term linear on that orthant
        (``l1 * sum(w)``), as a single regressor's fit does.
    """

    def __init__(
        self,
        evaluator: BlockEvaluator,
        *,
        n_margins: int,
        family: _loss.RegressionFamily | None,
        fit_intercept: bool,
        coordinates: _SolverCoordinates,
        solver: str,
        tol: float,
        max_iter: int,
        positive: bool = False,
    ):
        self._evaluator = evaluator
        self._positive = positive
        self._n_margins = n_margins
        self._family = family
        self._fit_intercept = fit_intercept
        self._coordinates = coordinates
        self._solver = solver
        self._tol = tol
        self._max_iter = max_iter
        self._n_features = evaluator.n_features
        #: Models evaluated by each pass, in order.
        self.models_per_pass: list[int] = []

    @property
    def coordinates(self) -> _SolverCoordinates:
        """The solver's coordinates shared by every model."""
        return self._coordinates

    def run(self, jobs: list[PathJob]) -> list[PathResult]:
        """Every job's path, from shared passes over X."""

        def evaluate_batch(requests):
            folds = tuple(jobs[index].fold for index, _ in requests)
            batch = _loss.ModelBatch(self._n_margins, folds, self._family)
            packed = self._evaluator.loss_gradient(
                _loss.stack_models(
                    [coef for _, coef in requests],
                    self._n_features,
                    self._fit_intercept,
                ),
                self._fit_intercept,
                family=batch,
            )
            self.models_per_pass.append(len(requests))
            return _loss.split_models(
                packed, len(requests), self._n_features, self._fit_intercept
            )

        with solver_threads():
            return run_side_by_side([self._job(job) for job in jobs], evaluate_batch)

    def _job(self, job: PathJob):
        coordinates = self._coordinates
        n_weights = self._n_features * self._n_margins

        def run(evaluate_in_batch) -> PathResult:
            result = PathResult([], [], [], [])
            last: list = []

            def evaluate(coef):
                # The next C starts where the last fit ended, whose loss and
                # gradient are known (so may the first start's be): only the
                # penalty changes, no pass.
                if not (last and np.array_equal(coef, last[0])):
                    last[:] = [coef.copy(), evaluate_in_batch(coef)]
                return last[1].copy()

            beta = coordinates.from_coef(job.start)
            if job.start_values is not None:
                last[:] = [coordinates.to_coef(beta), job.start_values]
            bounds = positive_bounds(beta, n_weights) if self._positive else None
            for penalty in job.penalties:
                solver = self._solver
                if solver == "auto":
                    solver = "owlqn" if penalty.has_l1 else "lbfgs"
                if self._positive:
                    solver = "lbfgs"  # with bounds; the L1 term is linear there
                options = {"weight_sum": job.weight_sum, "penalty": penalty,
                           "n_weights": n_weights,
                           "positive": self._positive}  # fmt: skip

                def value_and_gradient(beta, options=options):
                    packed = evaluate(coordinates.to_coef(beta))
                    packed[1:] = coordinates.pull_back(packed[1:])
                    return _loss.penalized_objective(packed, beta, **options)

                stage = {"tol": self._tol, "max_iter": self._max_iter}
                if bounds is not None:
                    stage["bounds"] = bounds
                if solver == "owlqn":
                    l1_per_coef = np.zeros(coordinates.size)
                    l1_per_coef[:n_weights] = penalty.l1
                    outcome = minimize_owlqn(
                        value_and_gradient, beta, l1_strength=l1_per_coef, **stage
                    )
                else:
                    outcome = minimize_lbfgs(value_and_gradient, beta, **stage)
                beta = outcome.x
                coef = coordinates.to_coef(beta)
                result.coefs.append(coef)
                known = last and np.array_equal(coef, last[0])
                result.values.append(last[1].copy() if known else None)
                result.n_iter.append(outcome.n_iter)
                if not outcome.converged:
                    result.not_converged.append(f"{solver}: {outcome.message}")
            return result

        return run

    def warn_if_not_converged(self, results: list[PathResult]) -> None:
        """One ConvergenceWarning for every fit of the batch that stopped
        before converging."""
        failed = [message for result in results for message in result.not_converged]
        if failed:
            total = sum(len(result.coefs) for result in results)
            warnings.warn(
                f"{len(failed)} of {total} fits failed to converge (first: "
                f"{failed[0].rstrip('.')}). {_CONVERGENCE_ADVICE} "
                f"Got (max_iter={self._max_iter}, tol={self._tol}).",
                ConvergenceWarning,
                stacklevel=4,
            )


def initial_coef(class_weights: np.ndarray, n_features: int, fit_intercept: bool):
    """A path's starting point (packed): zero weights and, with an
    intercept, the log-odds (two classes) or centred log-priors of the
    training weight of each class, the optimum when every weight is zero;
    zero intercepts when a class has no weight."""
    n_classes = class_weights.size
    k = 1 if n_classes == 2 else n_classes
    intercept = np.zeros(k)
    if np.all(class_weights > 0):
        logs = np.log(class_weights)
        intercept = logs[1:] - logs[:1] if k == 1 else logs - logs.mean()
    parts = [np.zeros(n_features * k)] + ([intercept] if fit_intercept else [])
    return np.concatenate(parts)


def solver_coordinates(
    evaluator: BlockEvaluator,
    n_margins: int,
    fit_intercept: bool,
    standardize: bool,
    means: np.ndarray | None = None,
) -> _SolverCoordinates:
    """The coordinates every model of a batch is solved in, from all rows:
    standardised columns, or centred ones with an intercept (a change of
    variables, exact for any subset of the rows). The columns' (training-
    weighted) ``means``, when given, spare the pass that centring takes."""
    coordinates = _SolverCoordinates(evaluator.n_features, n_margins, fit_intercept)
    if standardize:
        coordinates.standardise(*evaluator.column_standard_deviations())
    elif fit_intercept:
        coordinates.centre(evaluator.column_means() if means is None else means)
    return coordinates


def hashed_fold_settings(cv) -> tuple[int, int]:
    """The number of folds and the hash's seed of ``cv`` for dask X: an int
    (None: 5), or a ``KFold`` / ``StratifiedKFold``, whose ``n_splits`` and
    ``random_state`` (0 when not an int) are used."""
    cv = 5 if cv is None else cv
    if isinstance(cv, numbers.Integral):
        return int(cv), 0
    if isinstance(cv, KFold | StratifiedKFold):
        seed = cv.random_state if isinstance(cv.random_state, numbers.Integral) else 0
        return int(cv.n_splits), int(seed)
    raise ValueError(
        "For dask X, cv must be a number of folds, or a KFold or "
        "StratifiedKFold (whose n_splits and random_state are used: rows "
        f"are given to folds by a seeded hash of their position); got {cv!r}. "
        "Compute X to numpy to use any scikit-learn splitter."
    )


def hashed_fold_roles(targets: da.Array, cv) -> tuple[da.Array, int]:
    """Every row's role in each fold of ``cv`` (:func:`hashed_fold_settings`)
    for dask X, from a seeded hash of its position
    (:func:`dmltk._blocks.hashed_folds`): the same on any cluster and
    layout, no pass over X. Returns the roles (in the row blocks of
    ``targets``, X's targets) and the number of folds.

    Each block's roles come from its targets' block (only its position is
    read), so that building a batch's targets (:func:`batch_evaluator`) is
    one task per block, where the targets are."""
    n_folds, seed = hashed_fold_settings(cv)
    roles = targets.map_blocks(
        _blocks.hashed_roles_of_block, n_folds, seed,
        chunks=(targets.chunks[0], (n_folds,)),
        drop_axis=list(range(1, targets.ndim)), new_axis=1, dtype=np.float64,
    )  # fmt: skip
    return roles, n_folds


def splitter_fold_roles(
    X: da.Array, y: np.ndarray, cv, classifier: bool
) -> tuple[da.Array, list]:
    """Every row's role in each fold of scikit-learn's splitter
    (``check_cv(cv, y, classifier=classifier)``) for in-memory data, as
    dask roles in the row blocks of ``X`` (its copy on the cluster); and
    the splits."""
    splits = list(
        check_cv(cv, y, classifier=classifier).split(np.zeros((y.size, 1)), y)
    )
    table = np.zeros((y.size, len(splits)))
    for fold, (train, test) in enumerate(splits):
        table[train, fold] = _loss.TRAIN
        table[test, fold] = _loss.TEST
    return da.from_array(table, chunks=(X.chunks[0], -1)), splits


def no_fold_roles(X: da.Array) -> da.Array:
    """The (empty) roles of a batch with no folds (a path on all rows)."""
    return da.zeros((X.shape[0], 0), chunks=(X.chunks[0], 0))


def check_fold_weights(all_rows: float, folds, n_rows: int) -> None:
    """ValueError when all rows or a fold's training rows weigh nothing, or
    when a fold holds out no weight (it trains on all of it).

    Parameters
    ----------
    all_rows : float
        The training weight of all rows.
    folds : sequence of float
        Each fold's training weight.
    n_rows : int
        X's rows, for the message.
    """
    check_weight_sum(all_rows)
    for weight_sum in folds:
        check_weight_sum(weight_sum)
    empty = np.flatnonzero(np.asarray(folds, dtype=np.float64) >= all_rows)
    if empty.size:
        raise ValueError(
            f"Fold {int(empty[0])} of {len(folds)} holds out no rows of positive "
            f"weight (X has {n_rows} rows): use fewer folds."
        )


def batch_evaluator(X, targets, score_weights, roles) -> BlockEvaluator:
    """An engine over persisted ``X`` and a batch's targets built from
    ``targets`` (labels, or labels and training weights), the scoring
    weights and the fold roles, all dask arrays in X's row blocks."""
    if targets.ndim == 1:
        labels, train = targets, da.ones_like(targets)
    else:
        labels, train = targets[:, 0], targets[:, 1]
    # One task per block (Dask fuses the columns' own steps into it): a
    # concatenation of the columns cost four tasks a block and a rechunk.
    batch = da.blockwise(
        _loss.stack_targets, "ij",
        labels, "i", train, "i", score_weights, "i", roles.rechunk({1: -1}), "ij",
        dtype=np.float64, concatenate=True,
        adjust_chunks={"j": lambda width: width + _loss.ROLE_OFFSET},
    )  # fmt: skip
    (batch,) = _data.persist(batch)
    return BlockEvaluator(X, batch)


def fold_class_sums(
    evaluator: BlockEvaluator, n_classes: int, n_folds: int
) -> np.ndarray:
    """:func:`dmltk._loss.fold_class_sums` over all of X, in one pass:
    (n_folds + 1, n_classes, n_features + 1), each fold's (then all rows')
    training-weighted column sums and training weight by class.

    ``[..., -1]`` are the class weights of each fold, :func:`column_means`
    the centre of the solver's coordinates, and
    :func:`dmltk._loss.start_evaluation` each path's first evaluation."""
    parts = evaluator.block_column_sums(
        functools.partial(_loss.fold_class_sums, n_classes=n_classes, n_folds=n_folds)
    )
    return np.concatenate(
        [part[..., :-1] for part in parts] + [parts[0][..., -1:]], axis=-1
    )


def checked_class_sums(
    evaluator: BlockEvaluator, n_classes: int, n_folds: int
) -> np.ndarray:
    """:func:`fold_class_sums`, which also checks X's values: a NaN or an
    infinity anywhere in X (rows of weight 0 included) makes the sums of
    all rows non-finite. Only then one more pass counts them by block.

    Raises
    ------
    ValueError
        X holds NaN or infinity (naming its blocks, as every fit does), or
        values so large that their sums overflow.
    """
    class_sums = fold_class_sums(evaluator, n_classes, n_folds)
    if not np.isfinite(class_sums[-1]).all():
        nonfinite, _ = evaluator.map_blocks(_blocks.count_nonfinite)
        raise_if_nonfinite(nonfinite)
        raise ValueError(
            "The sums of X's columns overflow float64: X holds values too close "
            "to the largest float64 (about 1.8e308). Rescale X before fitting."
        )
    return class_sums


def column_means(class_sums: np.ndarray) -> np.ndarray:
    """The training-weighted mean of every column over all rows, from
    :func:`fold_class_sums` (as :meth:`BlockEvaluator.column_means`)."""
    every_row = class_sums[-1]
    return every_row[:, :-1].sum(axis=0) / every_row[:, -1].sum()


def fold_target_sums(evaluator: BlockEvaluator, n_folds: int) -> np.ndarray:
    """(n_folds + 1, 2): the training weight and weighted target sum of each
    fold, then of all rows (one pass over the targets only)."""
    _, parts = evaluator.map_blocks(
        None, functools.partial(_loss.fold_target_sums, n_folds=n_folds)
    )
    return np.sum(parts, axis=0)


def held_out_sums(
    evaluator: BlockEvaluator,
    coefs: list,
    folds: tuple,
    n_margins: int,
    fit_intercept: bool,
    family: _loss.RegressionFamily | None = None,
) -> np.ndarray:
    """(M, n_scores): for every model, its sums on the rows its fold holds
    out (one pass for all models; see
    :meth:`dmltk._loss.ModelBatch.held_out_sums`). Models equal to another
    of the same fold are scored once: along a path, every penalty whose
    warm start already met the tolerance repeats the model before it."""
    distinct: dict = {}
    index = np.array(
        [
            distinct.setdefault((int(fold), coef.tobytes()), len(distinct))
            for coef, fold in zip(coefs, folds, strict=True)
        ]
    )
    _, firsts = np.unique(index, return_index=True)  # in order of first use
    coefs = [coefs[first] for first in firsts]
    folds = tuple(int(folds[first]) for first in firsts)
    n_features = evaluator.n_features
    packed = _loss.stack_models(coefs, n_features, fit_intercept)
    width = n_margins * len(coefs)
    weights = packed[: n_features * width].reshape(n_features, width)
    intercept = packed[n_features * width :] if fit_intercept else np.zeros(width)
    batch = _loss.ModelBatch(n_margins, folds, family)
    sums = evaluator.margin_sums(
        weights, intercept, batch.held_out_block, batch.held_out_sums
    )
    return np.asarray(sums).reshape(len(coefs), batch.n_scores)[index]


def regularization_path(
    X,
    y,
    *,
    Cs=10,
    l1_ratio: float = 0.0,
    fit_intercept: bool = True,
    standardize: bool = False,
    solver: str = "lbfgs",
    tol: float = 1e-4,
    max_iter: int = 100,
    class_weight=None,
    sample_weight=None,
) -> RegularizationPath:
    """Logistic regression fitted at every ``C`` of a path, each fit
    warm-started from the one before.

    The same objective as :class:`dmltk.LogisticRegression` at each ``C``;
    the path's passes over X are those of :class:`LogisticRegressionCV`'s
    batches (here a batch of one model; the cross-validation runs every
    fold's path in the same passes).

    Parameters
    ----------
    X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
    y : array-like or dask array/Series of shape (n_samples,)
    Cs : int or array-like of float, default=10
        The ``C`` values in the order they are fitted, or their number: that
        many values in a logarithmic scale from 1e-4 to 1e4 (scikit-learn's
        ``LogisticRegressionCV`` grid).
    l1_ratio : float, default=0.0
    fit_intercept : bool, default=True
    standardize : bool, default=False
    solver : {"lbfgs", "owlqn", "auto"}, default="lbfgs"
    tol : float, default=1e-4
    max_iter : int, default=100
        Iterations at each ``C``.
    class_weight : dict, "balanced" or None, default=None
    sample_weight : array-like or dask array of shape (n_samples,), optional

    Returns
    -------
    RegularizationPath
        ``(Cs, coefs, intercepts, n_iter)``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from dmltk.linear_model import regularization_path
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> path = regularization_path(X, y, Cs=[0.01, 1.0, 100.0])
    >>> path.coefs.shape
    (3, 1, 30)
    >>> bool(abs(path.coefs[0]).sum() < abs(path.coefs[-1]).sum())
    True
    """
    from ._logistic_cv import LogisticRegressionCV

    search = LogisticRegressionCV(
        Cs=Cs,
        l1_ratios=(l1_ratio,),
        fit_intercept=fit_intercept,
        standardize=standardize,
        solver=solver,
        tol=tol,
        max_iter=max_iter,
        class_weight=class_weight,
    )
    return search._path(X, y, sample_weight)
