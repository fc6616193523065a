"""Many models on one block at once: M models (logistic, or of one
regression family), each on its own rows (a fold mask), from one read of
the block.

The models' weights sit side by side as the columns of one matrix ``W`` of
shape (n_features, M * K) (K margin columns per model: 1 for the binomial
loss, the number of classes for the multinomial one), so the margins of all
of them are ``X_b @ W`` and their gradients ``X_b.T @ R``. The compiled
kernels (:mod:`dmltk._loss._kernels`, ``*_batch_*``) form both from one
read of each row: its M * K margins, each model's loss and residual, and
the row's share of every gradient, while the row is in cache.

Targets for a batch are one (n_rows, 3 + F) float64 array per block: the
label (0/1, the class index, or the regression target), the training
weight (sample weight times class weight), the scoring weight (sample
weight alone), then one column per fold giving each row's role in it:
:data:`TRAIN`, :data:`TEST` or 0 (neither). A model trained on fold ``f``
sees the rows whose role in fold ``f`` is ``TRAIN``; fold ``-1`` stands
for every row (the refit on all the data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._lazy import sparse as sp
from ._block import _aligned, _as_matrix, _compiled, _csr, _dense, _kernel_coef, _t
from ._regression import RegressionFamily

#: Roles of a row in a fold (the role columns of a batch's targets).
TRAIN, TEST = 1.0, 2.0

#: Columns of a batch's targets before the fold roles.
ROLE_OFFSET = 3

#: Up to this many margin columns, a dense block's held-out sums take every
#: model's margins on every row (one product) rather than each fold's rows
#: copied out: measured on 1,000,000 x 100 in 5 folds, 2.8x faster at 15
#: columns, 1.4x at 50, 8% slower at 150.
_ALL_ROWS_HELD_OUT_COLUMNS = 100


def _kernel_targets_of_batch(targets: np.ndarray) -> np.ndarray:
    """A batch's targets as the kernels take them (C-contiguous float64)."""
    return np.ascontiguousarray(_aligned(targets), dtype=np.float64)


@dataclass(frozen=True)
class ModelBatch:
    """M models side by side, each trained on its own fold's rows: logistic
    (binomial or multinomial), or of one regression family.

    A loss family for the distributed engine
    (:class:`dmltk._distributed.BlockEvaluator`): its packed coefficients
    are those of one multinomial-like model with M * K margin columns
    (``W`` raveled row by row, then the M * K intercepts), and its packed
    result holds one loss per model, then the gradients in the same layout.

    Parameters
    ----------
    n_margins : int
        K: margin columns per model (1: binomial; the number of classes:
        multinomial).
    folds : tuple of int
        The fold each model trains on (a role column of the targets), or
        -1 for all rows.
    family : RegressionFamily or None, default=None
        None: the logistic losses; else the regression family of every
        model (``n_margins`` must then be 1).
    """

    n_margins: int
    folds: tuple
    family: RegressionFamily | None = None

    name = "batch"

    @property
    def n_models(self) -> int:
        """M."""
        return len(self.folds)

    @property
    def n_losses(self) -> int:
        """Losses at the head of a packed result: one per model."""
        return len(self.folds)

    @property
    def n_scores(self) -> int:
        """Held-out sums per model (:meth:`held_out_sums`)."""
        return 3 if self.family is None else 5

    def _family_arguments(self) -> tuple:
        """The kernels' family code (-1: logistic) and Tweedie power."""
        if self.family is None:
            return np.int64(-1), 0.0
        return np.int64(self.family.code), float(self.family.power)

    # ---------------------------------------------------------- training
    def loss_gradient_block(
        self, X, targets: np.ndarray, coef: np.ndarray, fit_intercept: bool, out=None
    ) -> np.ndarray:
        """Every model's loss sum and gradient sum on one block, from one read.

        Returns
        -------
        ndarray of shape (M + coef.size,)
            ``[loss of each model, sum_i x_i r_i^T raveled (n_features, M *
            K), (sum_i r_i)]`` with ``r_i = t_im (p_im - y_i)`` and ``t_im``
            the row's training weight in model m's fold (0 outside it).
        """
        n_features = X.shape[1]
        weights, intercept = _kernel_coef(coef, n_features, fit_intercept)
        m = self.n_models
        out = np.zeros(m + coef.size) if out is None else out
        gradient = out[m : m + weights.size].reshape(weights.shape)
        sums = np.zeros(weights.shape[1])
        losses = np.zeros(m)
        targets = _kernel_targets_of_batch(targets)
        folds = np.asarray(self.folds, dtype=np.int64)
        if sp.issparse(X):
            _compiled().sparse_batch_loss_gradient(
                *_csr(X), targets, folds, self.n_margins, weights, intercept,
                gradient, sums, losses, *self._family_arguments(),
            )  # fmt: skip
        else:
            transposed = np.zeros(weights.shape[::-1])
            _compiled().dense_batch_loss_gradient(
                _dense(X), targets, folds, self.n_margins, _t(weights), intercept,
                transposed, sums, losses, *self._family_arguments(),
            )  # fmt: skip
            gradient += transposed.T
        out[:m] += losses
        if fit_intercept:
            out[m + weights.size :] += sums
        return out

    def loss_residual(self, z: np.ndarray, targets: np.ndarray, intercept) -> tuple:
        """Losses and residuals of one block row from its summed margins
        (the column layouts' second step).

        Returns
        -------
        scalars : ndarray of shape (M + M * K,)
            ``[loss of each model, residual sum of each margin column]``.
        residual : ndarray of shape (n_rows, M * K)
        """
        residual = _as_matrix(z) + intercept
        sums = np.zeros(residual.shape[1])
        losses = np.zeros(self.n_models)
        _compiled().margins_batch_loss_residual(
            residual, _kernel_targets_of_batch(targets),
            np.asarray(self.folds, dtype=np.int64), self.n_margins, sums, losses,
            *self._family_arguments(),
        )  # fmt: skip
        return np.concatenate([losses, sums]), residual

    # ----------------------------------------------------------- scoring
    def held_out_block(
        self, X, targets, companion, weights, intercept, out=None
    ) -> np.ndarray:
        """Every model's held-out sums on one block (the rows layout of
        :meth:`dmltk._distributed.BlockEvaluator.margin_sums`): a dense
        block with few margin columns in one compiled pass over its rows
        (:func:`dmltk._loss._kernels.dense_batch_held_out`); else, for each
        fold, the margins of its models on the rows it holds out only
        (``X_f @ W_f``, BLAS), then :meth:`held_out_sums`."""
        weights = np.asarray(weights, dtype=np.float64).reshape(X.shape[1], -1)
        intercept = np.broadcast_to(np.asarray(intercept, np.float64), weights.shape[1])
        n_scores = self.n_scores
        out = np.zeros(n_scores * self.n_models) if out is None else out
        if not sp.issparse(X) and weights.shape[1] <= _ALL_ROWS_HELD_OUT_COLUMNS:
            _compiled().dense_batch_held_out(
                _dense(X), _kernel_targets_of_batch(targets),
                np.asarray(self.folds, dtype=np.int64), self.n_margins,
                np.ascontiguousarray(weights), np.ascontiguousarray(intercept),
                out.reshape(self.n_models, n_scores), *self._family_arguments(),
            )  # fmt: skip
            return out
        targets = np.asarray(targets)
        k = self.n_margins
        folds = np.asarray(self.folds)
        for fold in np.unique(folds[folds >= 0]):
            models = np.flatnonzero(folds == fold)
            rows = np.flatnonzero(targets[:, ROLE_OFFSET + fold] == TEST)
            if rows.size == 0:
                continue
            columns = (models[:, None] * k + np.arange(k)).ravel()
            part = X[rows]
            if not sp.issparse(part):
                part = np.asarray(part, dtype=np.float64)
            margins = part @ weights[:, columns] + intercept[columns]
            sums = ModelBatch(k, (int(fold),) * models.size, self.family).held_out_sums(
                margins, targets[rows], None
            )
            out.reshape(-1, n_scores)[models] += sums.reshape(-1, n_scores)
        return out

    def held_out_sums(self, margins: np.ndarray, targets, companion) -> np.ndarray:
        """For every model, on the rows its fold holds out, raveled (M,
        :attr:`n_scores`): for the logistic losses ``[scoring weight,
        weight of the rows predicted right, weighted log loss]``
        (scikit-learn's predictions and ``log_loss``, see
        :func:`dmltk._loss._kernels.margins_batch_held_out`); for a
        regression family ``[s, s (y - mu)^2, s y, s y^2, s deviance]``
        (:func:`dmltk._loss._kernels.margins_batch_held_out_regression`)."""
        sums = np.zeros((self.n_models, self.n_scores))
        if self.family is not None:
            _compiled().margins_batch_held_out_regression(
                _as_matrix(margins), _kernel_targets_of_batch(targets),
                np.asarray(self.folds, dtype=np.int64), *self._family_arguments(),
                sums,
            )  # fmt: skip
            return sums.ravel()
        _compiled().margins_batch_held_out(
            _as_matrix(margins), _kernel_targets_of_batch(targets),
            np.asarray(self.folds, dtype=np.int64), self.n_margins, sums,
        )  # fmt: skip
        return sums.ravel()


def stack_models(coefs: list, n_features: int, fit_intercept: bool) -> np.ndarray:
    """The packed coefficients of a batch from those of its models (each
    ``W_m`` (n_features, K) raveled, then its K intercepts): ``[W_1 ...
    W_M]`` side by side, raveled, then all the intercepts in model order."""
    per_model = [np.asarray(coef, dtype=np.float64) for coef in coefs]
    k = per_model[0].size // (n_features + int(fit_intercept))
    weights = np.hstack(
        [coef[: n_features * k].reshape(n_features, k) for coef in per_model]
    )
    parts = [weights.ravel()]
    if fit_intercept:
        parts += [coef[n_features * k :] for coef in per_model]
    return np.concatenate(parts)


def split_models(
    packed: np.ndarray, n_models: int, n_features: int, fit_intercept: bool
) -> list[np.ndarray]:
    """A batch's packed result (:meth:`ModelBatch.loss_gradient_block`
    summed over the blocks) as one packed ``[loss, gradient]`` per model,
    each as a single model's evaluation would give it."""
    losses = packed[:n_models]
    rest = packed[n_models:]
    width = rest.size // (n_features + int(fit_intercept))  # M * K
    k = width // n_models
    gradient = rest[: n_features * width].reshape(n_features, width)
    sums = rest[n_features * width :]
    out = []
    for m in range(n_models):
        parts = [losses[m : m + 1], gradient[:, m * k : (m + 1) * k].ravel()]
        if fit_intercept:
            parts.append(sums[m * k : (m + 1) * k])
        out.append(np.concatenate(parts))
    return out


def stack_targets(labels, train_weights, score_weights, roles) -> np.ndarray:
    """One block of a batch's targets (float64): the labels, the training
    weights, the scoring weights (n_rows,) and the fold roles (n_rows,
    n_folds) side by side."""
    return np.column_stack(
        [
            np.asarray(labels, dtype=np.float64),
            np.asarray(train_weights, dtype=np.float64),
            np.asarray(score_weights, dtype=np.float64),
            np.asarray(roles, dtype=np.float64).reshape(len(labels), -1),
        ]
    )


def fold_class_sums(
    X, targets: np.ndarray, n_classes: int, n_folds: int, out=None
) -> np.ndarray:
    """Training weight and training-weighted column sums of X, by class,
    over the training rows of each fold and (last) over all rows, on one
    block of X and of its batch's targets (compiled: one read of each row).

    Everything a search needs before its first pass: each fold's class
    weights, the columns' means, and each model's loss and gradient at zero
    weights (:func:`start_evaluation`).

    Returns
    -------
    ndarray of shape (n_folds + 1, n_classes, n_features + 1)
        ``[f, c, :n_features]``: ``sum t_i x_i`` over the rows of class c
        that fold f trains on (``t_i`` the training weight);
        ``[f, c, n_features]``: ``sum t_i`` over them. Added into ``out``
        when given (and returned), so that one buffer sums many blocks.
    """
    if out is None:
        out = np.zeros((n_folds + 1, n_classes, X.shape[1] + 1))
    targets = _kernel_targets_of_batch(targets)
    if sp.issparse(X):
        _compiled().sparse_fold_class_sums(*_csr(X), targets, n_folds, out)
    else:
        _compiled().dense_fold_class_sums(_dense(X), targets, n_folds, out)
    return out


def start_evaluation(
    class_sums: np.ndarray, start: np.ndarray, fit_intercept: bool
) -> np.ndarray:
    """A logistic model's packed loss and gradient sums (as an evaluation
    over X gives them) at a start with zero weights, from its fold's
    :func:`fold_class_sums` (``class_sums`` of shape (n_classes, n_features
    + 1)): every margin is then an intercept, so the sums over the rows
    reduce to sums by class, and the first evaluation needs no pass.

    Parameters
    ----------
    class_sums : ndarray of shape (n_classes, n_features + 1)
    start : ndarray
        Packed coefficients with zero weights (binomial for two classes,
        else multinomial).
    fit_intercept : bool

    Returns
    -------
    ndarray of shape (1 + start.size,)
    """
    column_sums, weights = class_sums[:, :-1], class_sums[:, -1]
    n_classes, n_features = column_sums.shape
    k = 1 if n_classes == 2 else n_classes
    if np.any(start[: n_features * k]):
        raise ValueError("start_evaluation needs a start with zero weights")
    intercept = start[n_features * k :] if fit_intercept else np.zeros(k)
    # Every row of a class has the same loss and residual: those of its
    # intercepts. With scipy, not the compiled kernels: this runs on the
    # client, where the kernels' first use loads numba (0.29 s of a search,
    # measured), and a search has no other use for them there. Imported
    # here: the workers, which import this module, never need it.
    from scipy.special import expit, logsumexp, softmax

    if k == 1:
        b = float(intercept[0])
        # log(1 + exp(b)) - y b for y = 0 and 1; residuals p - y.
        losses = np.logaddexp(0.0, b) - np.array([0.0, b])
        residuals = expit(b) - np.array([[0.0], [1.0]])
    else:
        losses = logsumexp(intercept) - intercept
        residuals = softmax(intercept)[None, :] - np.eye(n_classes)
    parts = [[weights @ losses], (column_sums.T @ residuals).ravel()]
    if fit_intercept:
        parts.append(weights @ residuals)
    return np.concatenate(parts)


def fold_target_sums(targets: np.ndarray, n_folds: int) -> np.ndarray:
    """Training weight and weighted target sum of each fold's training rows,
    and (last row) of all rows, on one block of a batch's targets.

    Returns
    -------
    ndarray of shape (n_folds + 1, 2)
        ``[sum s, sum s y]`` per fold.
    """
    targets = np.asarray(targets, dtype=np.float64)
    y, weights = targets[:, 0], targets[:, 1]
    inside = np.ones((targets.shape[0], n_folds + 1), dtype=bool)
    inside[:, :n_folds] = targets[:, ROLE_OFFSET : ROLE_OFFSET + n_folds] == TRAIN
    trained = np.where(inside, weights[:, None], 0.0)
    return np.column_stack([trained.sum(axis=0), y @ trained])
