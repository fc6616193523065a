"""Logistic regression, binomial and multinomial, on distributed data."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data

from .. import _blocks, _data, _loss, _prediction
from .._distributed import BlockEvaluator, FitMonitor, local_in_tasks
from ._base import (
    _SOLVERS,
    _X_DTYPES,
    BlockwiseLinearModel,
    _lazy_prediction,
    check_weight_sum,
    choose_solver,
    dask_shapes,
    raise_if_nonfinite,
)


class LogisticRegression(ClassifierMixin, BlockwiseLinearModel):
    """Logistic regression (binomial or multinomial) fitted on data spread
    over Dask workers.

    Minimises exactly scikit-learn's objective::

        C * sum_i s_i logloss(y_i, x_i W + b) + (1 - l1_ratio)/2 ||W||^2
                                               + l1_ratio ||W||_1

    (sample weights ``s_i``; the intercepts ``b`` are not penalised;
    ``C=np.inf`` means no penalty): the binomial loss for two classes, the
    multinomial (softmax) loss for three or more, so coefficients agree with
    :class:`sklearn.linear_model.LogisticRegression`.

    X may be a dask array (dense or of scipy.sparse CSR blocks), a dask
    DataFrame, a numpy array, a CSR matrix or a pandas DataFrame. Work runs on
    the Dask scheduler that is current: the active ``distributed.Client``
    (worker processes, message passing), else Dask's threaded scheduler
    (shared memory); inside a task on a Dask worker (as dask-ml's
    GridSearchCV runs ``fit`` and ``score``), the synchronous scheduler, in
    that task. The estimator never starts a cluster: see
    :func:`dmltk.connect`.

    Parameters
    ----------
    C : float, default=1.0
        Inverse of regularisation strength; must be positive. ``np.inf``
        fits without penalty.
    l1_ratio : float, default=0.0
        Share of the penalty that is L1, in [0, 1]: 0 is ridge (L2), 1 is
        lasso (L1), in between the elastic net. An L1 part gives exact zeros
        in ``coef_`` and needs ``solver="owlqn"`` (or ``"auto"``).
    fit_intercept : bool, default=True
        Whether to fit (unpenalised) intercepts.
    standardize : bool, default=False
        Spark MLlib's ``standardization``: fit as if every column of X were
        divided by its standard deviation (unbiased, weighted by the sample
        weights), so that the penalty applies to the coefficients of
        standardised columns, without making a scaled copy of X (the scale is
        folded into the solver's coordinates). ``coef_`` is reported in the
        original units; a constant column gets coefficient 0. Also makes
        badly scaled data well conditioned for the solvers.
    tol : float, default=1e-4
        The same for every solver: stop when every entry of the gradient of
        the objective divided by ``C * S`` (S: the number of samples, or the
        sum of the sample weights) is at most ``tol`` in absolute value; for
        ``"owlqn"``, of the pseudo-gradient (the smallest subgradient, which
        is zero exactly at the optimum). This is the meaning of scikit-learn's
        ``tol`` for its lbfgs and newton-cg solvers, with one difference: the
        gradient is taken in the solver's coordinates, which, with an
        intercept, are those of centred columns (standardised ones with
        ``standardize``). The intercepts' entries are the same; a weight's
        entry differs from scikit-learn's by its column's mean times an
        intercept's entry, so with centring alone scikit-learn's gradient is
        at most ``(1 + max |column mean|) * tol``. L-BFGS and OWL-QN also stop
        when an iteration gains less than 64 machine epsilons of the
        objective (nothing left to gain in float64).
    max_iter : int, default=100
        Largest number of solver iterations. A ``ConvergenceWarning`` is
        issued when the solver stops before meeting ``tol``.
    solver : {"lbfgs", "newton", "owlqn", "auto"}, default="lbfgs"
        All run on the client and see only functions of the coefficients;
        every function evaluation and every Hessian-vector product is one
        distributed pass over the data.

        - ``"lbfgs"``: scipy's L-BFGS-B, as scikit-learn's lbfgs. Smooth
          penalties only (``l1_ratio=0``).
        - ``"newton"``: scipy's trust-region Newton-CG; each conjugate-
          gradient step is one Hessian-vector product. Fewest iterations on
          ill-conditioned problems (unscaled columns, large C). Smooth
          penalties only.
        - ``"owlqn"``: OWL-QN (Andrew and Gao, 2007; what Spark MLlib uses),
          L-BFGS that handles the L1 part exactly. Any ``l1_ratio``.
        - ``"auto"``: ``"owlqn"`` when the penalty has an L1 part, else
          ``"lbfgs"``. The choice is kept in ``solver_``.
    class_weight : dict, "balanced" or None, default=None
        Weight of each class, multiplying the sample weights:
        ``{label: weight}`` (missing labels weigh 1), or ``"balanced"`` for
        scikit-learn's ``n_samples / (n_classes * np.bincount(y))``.
    warm_start : bool, default=False
        Start from the previous fit's ``coef_`` and ``intercept_`` (when the
        number of features and classes match) instead of zeros.
    verbose : int, default=0
        Show a progress bar (tqdm, on stderr) with the objective and the
        largest gradient entry after each iteration.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted; with two, ``classes_[1]`` is the positive class.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        One row for two classes (binomial), one per class otherwise.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Zero when ``fit_intercept=False``.
    n_iter_ : ndarray of shape (1,)
        Solver iterations.
    solver_ : str
        The solver that ran (what ``"auto"`` chose).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined when X had string column names.
    objective_history_ : ndarray of shape (n_iter_[0],)
        After each iteration, the objective the solver minimises:
        scikit-learn's objective divided by ``C * S`` (L1 term included; with
        ``standardize``, penalty on the standardised coefficients).
    fit_stats_ : dict
        About the last fit: ``layout`` (``"rows"``, ``"columns"`` or
        ``"blocks"``, read from the chunks of X), ``evaluations`` (of loss and
        gradient), ``hessian_products`` (``"newton"`` only), ``tasks``
        (submitted for them), ``seconds`` (wall time of fit), ``bytes_sent``
        (by the workers, from distributed's transfer counters: 0 under the
        threaded scheduler), split into
        ``bytes_to_client`` (results the client gathered) and
        ``bytes_between_workers``. Coefficients travel inside the task graph
        (client to scheduler to worker) and are not counted.
        ``evaluation_seconds`` and ``kernel_seconds`` (lists, one entry per
        loss-and-gradient evaluation): its wall time seen from the client,
        and the time spent in the compiled block kernels along its slowest
        chain of tasks; the difference is scheduling and transfer.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : the in-memory original.

    Notes
    -----
    With an intercept, the solver works in the coordinates of centred columns
    (an exact change of variables: same objective, same optimum; X is not
    modified), which spares L-BFGS most of its iterations when columns have
    non-zero means; one extra pass computes the column means.

    Fitting on dask data persists X and y on the workers first if they are not
    yet (misaligned blocks copied once into aligned memory) and releases them
    at the end. The layout comes from the chunks of X (see
    :func:`dmltk.partition`). With one column block (rows layout) each
    evaluation sends the coefficients to the workers as one key, runs one task
    per worker thread over the blocks that worker holds (loss and gradient by
    compiled kernels, in one read of each block), and merges the partial
    results by a tree of fan-in 4 across workers. With
    several column blocks, margins are summed along block rows and gradient
    slices along block columns (see :class:`dmltk._distributed.BlockEvaluator`).
    No block of X moves.

    X of dtype float32 (numpy, CSR, dask blocks; see the ``dtype`` of
    :func:`dmltk.read_libsvm` and :func:`dmltk.datasets.make_classification`)
    is stored and read as float32, never copied to float64: half the memory
    on the workers and half the bytes read per pass. Sums are still
    accumulated in float64, so the fit reaches, within the same ``tol``, the
    float64 optimum of the float32-rounded data
    ``X.astype(np.float32).astype(np.float64)``: all that differs from a
    float64 fit is X rounded to about 7 significant digits. predict,
    predict_proba and score take float32 X likewise and return float64
    margins and probabilities. Other dtypes (integers, booleans, float16) are
    converted to float64.

    Examples
    --------
    >>> import dask.array as da
    >>> from dmltk import LogisticRegression
    >>> X = da.random.default_rng(0).normal(size=(1000, 3), chunks=(250, 3))
    >>> y = X[:, 0] + X[:, 1] > 0
    >>> model = LogisticRegression().fit(X, y)
    >>> float(model.score(X, y)) > 0.95
    True
    """

    _parameter_constraints: dict = {
        "C": [Interval(numbers.Real, 0, None, closed="right")],
        "l1_ratio": [Interval(numbers.Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "standardize": ["boolean"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "solver": [StrOptions(set(_SOLVERS))],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        C: float = 1.0,
        *,
        l1_ratio: float = 0.0,
        fit_intercept: bool = True,
        standardize: bool = False,
        tol: float = 1e-4,
        max_iter: int = 100,
        solver: str = "lbfgs",
        class_weight=None,
        warm_start: bool = False,
        verbose: int = 0,
    ):
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose

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
            Two distinct labels (numbers, strings or booleans).
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Non-negative weight of every sample (multiplied by ``class_weight``
            when both are given). An integer weight counts the sample that
            many times in the loss; with ``standardize=True`` the standard
            deviations are weighted as reliability weights (as Spark MLlib's
            are), which repeated rows are not.

        Returns
        -------
        self : LogisticRegression
        """
        solver = self._chosen_solver()
        monitor = FitMonitor()
        if _data.is_dask(X):
            blocks, counts, weight_sum = self._prepare_dask(X, y, sample_weight)
        else:
            blocks, counts, weight_sum = self._prepare_in_memory(X, y, sample_weight)
        family = _loss.Binomial() if self._n_outputs == 1 else _loss.Multinomial()
        penalty = _loss.Penalty.from_C(float(self.C), weight_sum, float(self.l1_ratio))
        coef = self._fit_blocks(
            blocks,
            family=family,
            weight_sum=weight_sum,
            penalty=penalty,
            initial_coef=self._initial_coef(counts),
            solver=solver,
            monitor=monitor,
        )
        weights, intercept = _loss.split_coef(
            coef, self.n_features_in_, self.fit_intercept
        )
        self.coef_ = np.asarray(weights).T.reshape(self._n_outputs, -1).copy()
        self.intercept_ = np.atleast_1d(np.asarray(intercept, dtype=np.float64)).copy()
        self.n_iter_ = np.array([self._n_iter], dtype=np.int32)
        return self

    def _chosen_solver(self) -> str:
        """The solver to run; a ValueError if it cannot handle the penalty."""
        return choose_solver(self.solver, self.l1_ratio, self.C)

    def _initial_coef(self, counts: np.ndarray) -> np.ndarray:
        """The solver's starting point, in the packed layout of ``_loss``,
        from ``counts``: the weight of each class (sample weights times class
        weights, summed; its number of samples when unweighted).

        Weighted, so that a fit with integer weights starts where the fit on
        repeated rows does, and the two take the same steps (scikit-learn's
        check_sample_weight_equivalence compares them at rtol=1e-7).
        """
        n_features, k = self.n_features_in_, self._n_outputs
        weights = np.zeros((n_features, k))
        intercept = np.zeros(k)
        previous = getattr(self, "coef_", None) if self.warm_start else None
        if previous is not None and previous.shape == (k, n_features):
            weights = previous.T
            intercept = self.intercept_ if self.fit_intercept else intercept
        elif not np.all(counts > 0):
            # A class of zero weight has log-odds -inf: start from zero, as
            # scikit-learn always does.
            pass
        elif k == 1:
            # The weighted log-odds of the labels: the optimal intercept when
            # every coefficient is zero.
            intercept[0] = np.log(counts[1] / counts[0])
        else:
            # Centred log-priors: the intercepts then sum to zero, and stay so,
            # as scikit-learn's do (the multinomial loss ignores their mean).
            intercept = np.log(counts) - np.log(counts).mean()
        parts = [weights.ravel()] + ([intercept] if self.fit_intercept else [])
        return np.concatenate(parts)

    @property
    def _n_outputs(self) -> int:
        """Margin columns: 1 for two classes (binomial), else one per class."""
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _prepare_in_memory(self, X, y, sample_weight):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=_X_DTYPES,
            order="C",
        )
        check_classification_targets(y)
        classes, y_encoded, counts = np.unique(
            y, return_inverse=True, return_counts=True
        )
        self._set_classes(classes)
        targets = y_encoded.astype(np.float64)
        if sample_weight is not None or self.class_weight is not None:
            weights = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
            totals = np.bincount(y_encoded, weights=weights, minlength=len(classes))
            weights = weights * self._class_weights(totals)[y_encoded]
            targets = np.column_stack([targets, weights])
            weight_sum = float(weights.sum())
            counts = np.bincount(y_encoded, weights=weights, minlength=len(classes))
        else:
            weight_sum = float(X.shape[0])
        check_weight_sum(weight_sum)
        X_dask, targets_dask = _data.in_memory_to_dask(X, targets)
        return _data.persist_blocks(X_dask, targets_dask), counts, weight_sum

    def _class_weights(self, totals: np.ndarray) -> np.ndarray:
        """Weight of each class, in the order of ``classes_``, from the sum of
        the sample weights of each class (its count when unweighted)."""
        if self.class_weight is None:
            return np.ones(len(totals))
        if self.class_weight == "balanced":
            # scikit-learn's definition: n_samples / (n_classes * count), with
            # weighted counts when there are sample weights.
            return totals.sum() / (len(totals) * totals)
        unknown = set(self.class_weight) - set(self.classes_.tolist())
        if unknown:
            raise ValueError(
                f"class_weight names label(s) {sorted(map(str, unknown))} that are "
                f"not in y (classes: {self.classes_.tolist()})."
            )
        return np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])

    def _prepare_dask(self, X, y, sample_weight, check_finite: bool = True):
        """Persisted blocks of X and of the encoded targets, the class counts
        and the weight sum. With ``check_finite=False`` the pass that checks
        the labels reads y alone: the caller checks X in its own first pass
        over it."""
        X, y, names = dask_shapes(X, y)
        n_samples, self.n_features_in_ = X.shape
        self._set_feature_names(names)
        blocks = _data.persist_blocks(X, y)
        nonfinite, label_summaries = BlockEvaluator(blocks.X, blocks.y).map_blocks(
            _blocks.count_nonfinite if check_finite else None, _blocks.summarize_labels
        )
        classes, counts = _merge_summaries(nonfinite, label_summaries)
        self._set_classes(classes)
        targets = blocks.y.map_blocks(_blocks.encode_labels, classes, dtype=np.float64)
        if sample_weight is None and self.class_weight is None:
            (targets,) = _data.persist(targets)
            return _data.Blocks(blocks.X, targets), counts, float(n_samples)
        weights = _data.sample_weight_array(sample_weight, blocks.X)
        totals = counts
        if sample_weight is not None and self.class_weight == "balanced":
            totals = _data.weight_per_class(targets, weights, len(counts))
        targets = _data.weighted_targets(targets, weights, self._class_weights(totals))
        (targets,) = _data.persist(targets)
        weight_sum = _data.checked_weight_sum(targets[:, 1])
        check_weight_sum(weight_sum)
        counts = _data.weight_per_class(targets[:, 0], targets[:, 1], len(counts))
        return _data.Blocks(blocks.X, targets), counts, weight_sum

    def _set_classes(self, classes):
        if len(classes) < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {classes[0]}"
            )
        self.classes_ = classes

    # -------------------------------------------------------------- predict
    def _prediction_weights(self) -> tuple[np.ndarray, np.ndarray | float]:
        """Weights (d,) or (d, K) and intercept, as the block functions take."""
        weights = self.coef_.T if self.coef_.shape[0] > 1 else self.coef_[0]
        intercept = self.intercept_ if weights.ndim == 2 else self.intercept_[0]
        return weights, intercept

    def _predict(self, X, output: str):
        """One of :data:`dmltk._prediction.OUTPUTS` for X: numpy now, or a
        lazy dask array whose blocks are computed where the blocks of X are,
        in any layout (one task per row block when X has one block column)."""
        X = self._check_predict_input(X)
        weights, intercept = self._prediction_weights()
        classes = self.classes_ if output == "labels" else None
        if not _data.is_dask(X):
            return _prediction.predict_block(X, weights, intercept, output, classes)
        return _lazy_prediction(X, weights, intercept, output, classes)

    def decision_function(self, X):
        """Signed distance to the separating hyperplane, ``X @ coef_.T + b``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame}
            Samples.

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples,) or (n_samples, K)
            Lazy for dask input (nothing is computed), numpy otherwise. With
            two classes, positive values favour ``classes_[1]``; with more,
            one column per class.
        """
        return self._predict(X, "decision")

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame}
            Samples.

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; lazy for dask input, each
            block computed from one read of a block of X.
        """
        return self._predict(X, "proba")

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed without underflow.

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples, n_classes)
        """
        return self._predict(X, "log_proba")

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame}
            Samples.

        Returns
        -------
        ndarray or dask.array.Array of shape (n_samples,)
            Labels from ``classes_``; lazy for dask input.
        """
        return self._predict(X, "labels")

    @local_in_tasks
    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on X against y.

        For dask input the predictions are never materialised: one task per
        worker reads each of its blocks of X once, compares the predicted
        labels with y and adds up the hits, then a tree merges the workers'
        sums; only the final numbers reach the client.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame}
            Samples.
        y : array-like or dask array of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the samples.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            X and y (or sample_weight) of different lengths.
        """
        if not _data.is_dask(X):
            predicted = self.predict(X)
            return float(accuracy_score(y, predicted, sample_weight=sample_weight))
        X = self._check_predict_input(X)
        y = _data.label_array(y)
        if _data.has_unknown_chunks(X) or _data.has_unknown_chunks(y):
            X, y = _data.resolve_unknown_chunks(X, y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                "Found input variables with inconsistent numbers of samples: "
                f"X has {X.shape[0]} rows, y has {y.shape[0]}."
            )
        y = _data.align_labels(X, y)
        weights = None
        if sample_weight is not None:
            weights = _data.sample_weight_array(sample_weight, X)
        coef, intercept = self._prediction_weights()
        hits, total = BlockEvaluator(X, y).margin_sums(
            coef,
            intercept,
            _prediction.accuracy_block,
            _prediction.accuracy_sums,
            (self.classes_,),
            companion=weights,
        )
        return float(hits / total)


def _merge_summaries(nonfinite, label_summaries):
    """Fold per-block summaries; raise on non-finite or non-class labels."""
    raise_if_nonfinite(nonfinite)
    bad_y = [i for i, s in enumerate(label_summaries) if s["nonfinite"]]
    if bad_y:
        raise ValueError(
            f"Input y contains NaN or infinity, in row block(s) {bad_y[:10]}."
        )
    if any(s["fractional"] for s in label_summaries):
        raise ValueError(
            "Unknown label type: continuous. Maybe you are trying to fit a "
            "classifier, which expects discrete classes on a regression target "
            "with continuous values."
        )
    labels = np.concatenate([s["labels"] for s in label_summaries])
    counts = np.concatenate([s["counts"] for s in label_summaries])
    classes, inverse = np.unique(labels, return_inverse=True)
    return classes, np.bincount(inverse, weights=counts).astype(np.int64)
