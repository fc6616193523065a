"""Block math of prediction: margins to decisions, probabilities, labels and
per-block accuracy sums, on ONE block.

Like :mod:`dmltk._loss`, this module knows numpy and the compiled kernels of
:mod:`dmltk._loss._kernels` only (never dask, scipy.special or scikit-learn), so a
worker that predicts imports nothing more than a worker that fits. Margins
come from the same compiled kernel as a fit's (one read of the block), and
probabilities from one exp per margin.

``weights`` are the coefficients of the block's columns, shape
(n_columns,) for two classes or (n_columns, K) for K >= 3, and ``intercept``
a scalar or a (K,) array (zero for all but one block of a block row).
"""

from __future__ import annotations

import numpy as np

from . import _loss

#: What a prediction block function can return, by name.
OUTPUTS = ("decision", "proba", "log_proba", "labels")


def margins(X, weights: np.ndarray, intercept) -> np.ndarray:
    """``X @ weights + intercept`` of one block: (n,) or (n, K), float64.

    Raises
    ------
    ValueError
        When a margin is not finite (see :func:`check_finite`).
    """
    return check_finite(_loss.margins_block(X, weights) + intercept)


def check_finite(values: np.ndarray) -> np.ndarray:
    """``values`` (margins of a block), if all are finite.

    A NaN or an infinity in a row of X makes its margin NaN or infinite
    (``0 * inf`` is NaN too), so checking the n margins catches what a check
    of the n x d values would, for the price of n comparisons; numpy input
    gets scikit-learn's check instead.

    Raises
    ------
    ValueError
        Naming the first such row of the block.
    """
    finite = np.isfinite(values)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(len(values), -1).all(axis=1))
        raise ValueError(
            f"Input X contains NaN or infinity: {len(rows)} row(s) of a block of "
            f"{len(values)} rows (the first is row {rows[0]} of the block) have "
            "margins X @ coef_.T + intercept_ that are not finite (or values so "
            "large that the product overflows). Remove or impute them before "
            "predicting."
        )
    return values


def _kernel_margins(values: np.ndarray) -> np.ndarray:
    """Margins (n,) or (n, K) as the contiguous (n, K) float64 kernels take."""
    return _loss._as_matrix(values)


def probabilities(values: np.ndarray) -> np.ndarray:
    """Class probabilities from margins: (n, 2) from (n,), else a softmax.

    Returns
    -------
    ndarray of shape (n, max(K, 2)), float64
    """
    matrix = _kernel_margins(values)
    out = np.empty((matrix.shape[0], max(matrix.shape[1], 2)))
    _loss._compiled().margins_probabilities(matrix, out)
    return out


def log_probabilities(values: np.ndarray) -> np.ndarray:
    """Logarithms of :func:`probabilities`, without underflow."""
    matrix = _kernel_margins(values)
    out = np.empty((matrix.shape[0], max(matrix.shape[1], 2)))
    _loss._compiled().margins_log_probabilities(matrix, out)
    return out


def labels(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The class of the largest margin (``classes[1]`` where a binomial
    margin is positive, as scikit-learn decides ties)."""
    if values.ndim == 2:
        return classes[np.argmax(values, axis=1)]
    return classes[(values > 0).astype(np.intp)]


def from_margins(values: np.ndarray, output: str, classes: np.ndarray | None):
    """One of :data:`OUTPUTS` from the margins of a block."""
    if output == "decision":
        return values
    if output == "proba":
        return probabilities(values)
    if output == "log_proba":
        return log_probabilities(values)
    if output == "labels":
        return labels(values, classes)
    raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")


def predict_block(
    X, weights: np.ndarray, intercept, output: str, classes: np.ndarray | None = None
):
    """One of :data:`OUTPUTS` for the rows of a block that holds every
    column: margins and their transform in one task."""
    return from_margins(margins(X, weights, intercept), output, classes)


def first_block(blocks: list, function, *arguments):
    """``function(blocks[0], *arguments)``: for ``dask.array.blockwise``
    with the column axis contracted and ``concatenate=False``, which hands
    a task the list of its block row's blocks (one here)."""
    (block,) = blocks
    return function(block, *arguments)


def accuracy_sums(
    values: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    classes: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``[weight of correct predictions, total weight]`` of one block, from
    its margins; added to ``out`` when given.

    Raises
    ------
    ValueError
        When the block's margins and labels differ in length, or a margin
        is not finite.
    """
    if len(y) != len(values):
        raise ValueError(
            f"A row block of X has {len(values)} rows and its block of y has "
            f"{len(y)}: X and y must have the same number of rows."
        )
    check_finite(values)
    hits = labels(values, classes) == np.asarray(y).ravel()
    if sample_weight is None:
        sums = np.array([np.count_nonzero(hits), len(hits)], dtype=np.float64)
    else:
        sample_weight = np.asarray(sample_weight, dtype=np.float64).ravel()
        sums = np.array([sample_weight[hits].sum(), sample_weight.sum()])
    if out is None:
        return sums
    out += sums
    return out


def accuracy_block(
    X,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    weights: np.ndarray,
    intercept,
    classes: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`accuracy_sums` of one block that holds every column (margins
    and comparison in one task)."""
    return accuracy_sums(
        margins(X, weights, intercept), y, sample_weight, classes, out=out
    )
