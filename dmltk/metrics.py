"""Classification and regression metrics on dask arrays, reduced on the
workers.

Each function has the signature and meaning of its scikit-learn namesake
(:mod:`sklearn.metrics`) and returns what it returns: a Python float, or a
numpy array for :func:`confusion_matrix` (and ``multioutput="raw_values"``).
When no argument is a dask collection the call goes straight to
scikit-learn.

Classification: :func:`accuracy_score`, :func:`precision_score`,
:func:`recall_score`, :func:`f1_score`, :func:`confusion_matrix`,
:func:`log_loss`, :func:`roc_auc_score`. Regression (1-D targets):
:func:`r2_score`, :func:`mean_squared_error`, :func:`mean_absolute_error`,
:func:`mean_poisson_deviance`, :func:`mean_gamma_deviance`,
:func:`mean_tweedie_deviance`, :func:`d2_tweedie_score`.

With dask arrays (or dask Series/DataFrames), every row block is turned into
a small sufficient statistic where it lives: a weighted confusion table (at
most one entry per pair of labels), per-label sums of log-probabilities, a
per-label histogram of scores, or, for regression, weighted sums of
scikit-learn's per-row errors or deviances (for :func:`r2_score`, the
weighted count, mean and centred sum of squares of ``y_true``). These are
merged by a tree of fixed fan-in and only the merged statistic reaches the
client, which finishes the metric (with scikit-learn, for classification,
on a handful of weighted samples): no block of labels, targets or scores is
gathered. The per-block functions live in :mod:`dmltk._metric_blocks`
(numpy only).

Inputs are aligned on the row blocks of ``y_true`` (others are rechunked if
their blocks differ). Mismatched lengths are refused before anything is
computed; NaN or infinity is refused with the row that holds it, and so is a
target or prediction outside a deviance's domain. Regression metrics compute
in float64 (scikit-learn keeps float32 inputs in float32: for those, results
differ from its own in about the seventh digit).

Examples
--------
>>> import dask.array as da
>>> from dmltk import metrics
>>> y_true = da.from_array([0, 1, 1, 0, 1, 1], chunks=2)
>>> y_pred = da.from_array([0, 1, 0, 0, 1, 1], chunks=3)
>>> metrics.accuracy_score(y_true, y_pred)
0.8333333333333334
>>> metrics.confusion_matrix(y_true, y_pred)
array([[2, 0],
       [1, 3]])
>>> target = da.from_array([3.0, -0.5, 2.0, 7.0], chunks=3)
>>> metrics.r2_score(target, da.from_array([2.5, 0.0, 2.0, 8.0], chunks=2))
0.9486081370449679
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable

import dask
import dask.array as da
import numpy as np
import sklearn.metrics as skm

from . import _metric_blocks as blocks
from ._data import is_dask, is_persisted
from ._distributed import reduce_row_blocks

__all__ = [
    "accuracy_score",
    "confusion_matrix",
    "d2_tweedie_score",
    "f1_score",
    "log_loss",
    "mean_absolute_error",
    "mean_gamma_deviance",
    "mean_poisson_deviance",
    "mean_squared_error",
    "mean_tweedie_deviance",
    "precision_score",
    "r2_score",
    "recall_score",
    "roc_auc_score",
]

# Defaults of roc_auc_score's exact/binned choice. 10,000 bins of two labels
# are 160 KB per row block; the binned AUC is then typically within 1e-4 of
# the exact one, and the docstring's bound says by how much at most.
DEFAULT_N_BINS = 10_000
DEFAULT_MAX_EXACT_SCORES = 10_000


# ------------------------------------------------------------------ inputs
def _any_dask(*values) -> bool:
    return any(is_dask(v) for v in values if v is not None)


def _as_array(value, name: str, ndims: tuple[int, ...]):
    """A dask array (from a dask collection) or a numpy array, of allowed ndim."""
    if is_dask(value) and not isinstance(value, da.Array):
        # A dask Series or DataFrame; measuring its partitions (one pass)
        # gives the array known chunk sizes to check lengths against.
        value = value.to_dask_array(lengths=True)
    elif not is_dask(value):
        value = np.asarray(value)
    if value.ndim == 2 and value.shape[1] == 1 and 2 not in ndims:
        value = value[:, 0]
    if value.ndim not in ndims:
        expected = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(
            f"{name} must be {expected}, got an array of shape {value.shape}."
        )
    return value


def _unknown_length(array) -> bool:
    return any(math.isnan(size) for size in array.chunks[0])


def _row_aligned(**named) -> list:
    """The inputs, as dask arrays chunked in rows like the first dask input
    (or as they are, numpy or None, when none is dask).

    Raises
    ------
    ValueError
        Unknown chunk sizes; lengths that differ.
    """
    present = {name: value for name, value in named.items() if value is not None}
    for name, value in present.items():
        if isinstance(value, da.Array) and _unknown_length(value):
            raise ValueError(
                f"{name} has unknown chunk sizes, so its length cannot be checked "
                f"against the others. Call {name}.compute_chunk_sizes() first, or "
                "build it with known lengths (to_dask_array(lengths=True))."
            )
    lengths = {name: value.shape[0] for name, value in present.items()}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"{list(lengths.values())} ({described} rows)."
        )
    reference = next((v for v in present.values() if is_dask(v)), None)
    if reference is None:
        return list(named.values())
    return [
        None if value is None else _in_row_blocks(value, reference.chunks[0])
        for value in named.values()
    ]


def _in_row_blocks(value, rows: tuple[int, ...]) -> da.Array:
    chunks = (rows, *((size,) for size in value.shape[1:]))
    if not is_dask(value):
        return da.from_array(value, chunks=chunks)
    if value.chunks != chunks:
        return value.rechunk(chunks)
    return value


# -------------------------------------------------------------- reduction
def _reduce(block_function: Callable, arrays: list, merge: Callable, *args):
    """``merge`` of ``block_function(*row_blocks, row_offset, *args)`` over all
    row blocks, computed on the current scheduler; numpy arrays are one
    block, reduced here.

    Dask inputs go through :func:`dmltk._distributed.reduce_row_blocks`: the
    row blocks that live on one worker are read by one task, which merges
    their statistics, then a tree of merges (``REDUCTION_FAN_IN`` at a time,
    in block order) folds the workers' statistics.
    """
    if not any(is_dask(a) for a in arrays):
        return block_function(*arrays, 0, *args)
    return reduce_row_blocks(block_function, arrays, merge, *args)


def _persist_lazy(arrays: list) -> list:
    """The arrays, those that are dask and not yet persisted now persisted."""
    lazy = [i for i, a in enumerate(arrays) if is_dask(a) and not is_persisted(a)]
    if not lazy:
        return arrays
    arrays = list(arrays)
    for i, array in zip(lazy, dask.persist(*[arrays[i] for i in lazy]), strict=True):
        arrays[i] = array
    return arrays


def _label_pairs(y_true, y_pred, sample_weight) -> blocks.WeightedPairs:
    arrays = _row_aligned(
        y_true=_as_array(y_true, "y_true", (1,)),
        y_pred=_as_array(y_pred, "y_pred", (1,)),
        sample_weight=(
            None
            if sample_weight is None
            else _as_array(sample_weight, "sample_weight", (1,))
        ),
    )
    return _reduce(blocks.label_pairs_block, arrays, blocks.merge_pairs)


def _from_label_pairs(sklearn_metric: Callable):
    """A metric of (y_true, y_pred, sample_weight) for dask arrays: reduce the
    weighted confusion table on the workers, then let scikit-learn compute
    the metric from its entries as weighted samples."""

    @functools.wraps(sklearn_metric)
    def metric(y_true, y_pred, *, sample_weight=None, **options):
        if not _any_dask(y_true, y_pred, sample_weight):
            return sklearn_metric(
                y_true, y_pred, sample_weight=sample_weight, **options
            )
        true, pred, weight = blocks.weighted_samples(
            _label_pairs(y_true, y_pred, sample_weight)
        )
        return sklearn_metric(true, pred, sample_weight=weight, **options)

    return metric


_accuracy = _from_label_pairs(skm.accuracy_score)
_precision = _from_label_pairs(skm.precision_score)
_recall = _from_label_pairs(skm.recall_score)
_f1 = _from_label_pairs(skm.f1_score)
_confusion = _from_label_pairs(skm.confusion_matrix)


# ---------------------------------------------------------- label metrics
def accuracy_score(
    y_true, y_pred, *, normalize: bool = True, sample_weight=None
) -> float:
    """Fraction (or weight, or count) of correct predictions.

    Same as :func:`sklearn.metrics.accuracy_score` (1-D labels), reduced on
    the workers for dask input.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        True labels.
    y_pred : array-like or dask array/Series of shape (n_samples,)
        Predicted labels, such as :meth:`LogisticRegression.predict`'s.
    normalize : bool, default=True
        Return the fraction of correct predictions; else their number (or
        total weight).
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Lengths differ, NaN or infinity (with its row), or labels that
        scikit-learn refuses (such as a continuous target).
    """
    return _accuracy(y_true, y_pred, normalize=normalize, sample_weight=sample_weight)


def confusion_matrix(
    y_true, y_pred, *, labels=None, sample_weight=None, normalize=None
) -> np.ndarray:
    """Confusion matrix ``C[i, j]``: samples of true class i predicted as j.

    Same as :func:`sklearn.metrics.confusion_matrix`, reduced on the workers
    for dask input.

    Parameters
    ----------
    y_true, y_pred : array-like or dask array/Series of shape (n_samples,)
        True and predicted labels.
    labels : array-like of shape (n_classes,), optional
        Classes, in the order of the rows and columns; default: every label
        present in either, sorted.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    normalize : {"true", "pred", "all"}, optional
        Divide by the sum of each row, each column, or everything.

    Returns
    -------
    ndarray of shape (n_classes, n_classes)
        int64 without (or with integer) sample weights and no normalisation.
    """
    return _confusion(
        y_true, y_pred, labels=labels, sample_weight=sample_weight, normalize=normalize
    )


_PRF_PARAMETERS = """
    Parameters
    ----------
    y_true, y_pred : array-like or dask array/Series of shape (n_samples,)
        True and predicted labels.
    labels : array-like, optional
        Labels to include when ``average != "binary"``.
    pos_label : int, float, bool or str, default=1
        The positive class when ``average="binary"``; must be one of the
        labels.
    average : {"binary", "micro", "macro", "weighted"} or None, \
default="binary"
        As in scikit-learn: the positive class only, or an average over the
        labels (None returns one score per label).
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default="warn"
        Value returned when the denominator is zero.

    Returns
    -------
    float or ndarray of shape (n_labels,)
        A float unless ``average=None``.
"""


def precision_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    return _precision(
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def recall_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    return _recall(
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


def f1_score(
    y_true,
    y_pred,
    *,
    labels=None,
    pos_label=1,
    average: str | None = "binary",
    sample_weight=None,
    zero_division="warn",
):
    return _f1(
        y_true,
        y_pred,
        labels=labels,
        pos_label=pos_label,
        average=average,
        sample_weight=sample_weight,
        zero_division=zero_division,
    )


precision_score.__doc__ = (
    """Precision ``tp / (tp + fp)``: of the samples predicted positive, the
    fraction that are.

    Same as :func:`sklearn.metrics.precision_score`, reduced on the workers
    for dask input.
"""
    + _PRF_PARAMETERS
)
recall_score.__doc__ = (
    """Recall ``tp / (tp + fn)``: of the positive samples, the fraction
    predicted positive.

    Same as :func:`sklearn.metrics.recall_score`, reduced on the workers for
    dask input.
"""
    + _PRF_PARAMETERS
)
f1_score.__doc__ = (
    """F1 score, the harmonic mean of precision and recall.

    Same as :func:`sklearn.metrics.f1_score`, reduced on the workers for dask
    input.
"""
    + _PRF_PARAMETERS
)


# --------------------------------------------------------------- log loss
def log_loss(
    y_true, y_proba, *, normalize: bool = True, sample_weight=None, labels=None
) -> float:
    """Logistic loss (cross-entropy) of predicted probabilities.

    Same as :func:`sklearn.metrics.log_loss`: probabilities are clipped to
    ``[eps, 1 - eps]`` (``eps`` of their float type), the columns of a 2-D
    ``y_proba`` follow the sorted labels, and a 1-D ``y_proba`` is the
    probability of the larger label. For dask input each block returns, per
    true label, its weight and the weighted sums of the log of each column.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        True labels.
    y_proba : array-like or dask array of shape (n_samples,) or \
(n_samples, n_classes)
        Predicted probabilities, such as ``predict_proba``'s.
    normalize : bool, default=True
        Return the mean loss per sample (weighted); else the sum.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    labels : array-like, optional
        All the classes; default: those present in ``y_true``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity; a probability outside [0, 1] (with
        its row); a single class; labels in ``y_true`` missing from
        ``labels``; as many columns in ``y_proba`` as classes.
    """
    if not _any_dask(y_true, y_proba, sample_weight):
        return skm.log_loss(
            y_true,
            y_proba,
            normalize=normalize,
            sample_weight=sample_weight,
            labels=labels,
        )
    arrays = _row_aligned(
        y_true=_as_array(y_true, "y_true", (1,)),
        y_proba=_as_array(y_proba, "y_proba", (1, 2)),
        sample_weight=(
            None
            if sample_weight is None
            else _as_array(sample_weight, "sample_weight", (1,))
        ),
    )
    stats = _reduce(blocks.log_loss_block, arrays, blocks.merge_log_loss)
    classes = _log_loss_classes(stats.labels, labels)
    if len(classes) != stats.log_proba.shape[1]:
        raise ValueError(
            f"y_true and y_proba contain different numbers of classes: "
            f"{len(classes)} vs {stats.log_proba.shape[1]}. Classes: "
            f"{classes.tolist()}. Pass the classes explicitly through labels."
        )
    if stats.not_normalized:
        warnings.warn(
            "The y_prob values do not sum to one. Make sure to pass probabilities.",
            UserWarning,
            stacklevel=2,
        )
    columns = np.searchsorted(classes, stats.labels)
    total = -float(stats.log_proba[np.arange(len(columns)), columns].sum())
    if not normalize:
        return total
    return total / float(stats.weight.sum())


def _log_loss_classes(present: np.ndarray, labels) -> np.ndarray:
    """The sorted classes of a log loss, checked as scikit-learn checks them."""
    if labels is None:
        if len(present) < 2:
            raise ValueError(
                f"y_true contains only one label ({present[0]}). Please provide "
                "the list of all expected class labels explicitly through the "
                "labels argument."
            )
        return present
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(
            "The labels array needs to contain at least two labels for log_loss, "
            f"got {classes.tolist()}."
        )
    if not np.array_equal(classes, np.asarray(labels)):
        warnings.warn(
            f"Labels passed were {list(labels)}. But this function assumes labels "
            f"are ordered lexicographically. Pass the ordered "
            f"labels={classes.tolist()} and ensure that the columns of y_prob "
            "correspond to this ordering.",
            UserWarning,
            stacklevel=3,
        )
    undeclared = set(present.tolist()) - set(classes.tolist())
    if undeclared:
        raise ValueError(
            f"y_true contains values {undeclared} not belonging to the passed "
            f"labels {list(labels)}."
        )
    return classes


# ----------------------------------------------------------------- ROC AUC
def roc_auc_score(
    y_true,
    y_score,
    *,
    sample_weight=None,
    method: str = "auto",
    n_bins: int = DEFAULT_N_BINS,
    max_exact_scores: int = DEFAULT_MAX_EXACT_SCORES,
) -> float:
    """Area under the ROC curve of a binary classifier's scores.

    The meaning of :func:`sklearn.metrics.roc_auc_score` for binary
    ``y_true`` (the larger label is positive; ties count one half): the
    probability that a random positive scores above a random negative.
    numpy input goes to scikit-learn unless ``method="binned"``.

    For dask input, a first pass collects the labels, the score range and,
    if there are at most ``max_exact_scores`` distinct scores, the weight of
    every (label, score) pair: the AUC is then **exact** (scikit-learn's, on
    those weighted pairs). Otherwise a second pass builds, per label, a
    histogram of the scores over ``n_bins`` equal-width bins spanning
    ``[min, max]``, and the AUC is **binned**: pairs in different bins are
    ordered by their bins, pairs in the same bin count one half. With
    ``P_b`` and ``N_b`` the positive and negative weight in bin b, and ``P``
    and ``N`` their totals, the binned AUC differs from the exact one by at
    most::

        sum_b P_b * N_b / (2 * P * N)

    half the fraction of positive-negative pairs that share a bin (a pair in
    different bins counts the same in both; one in the same bin counts 1/2
    in the binned AUC and 0, 1/2 or 1 in the exact one). For smooth scores
    this is of the order of ``1 / n_bins``.

    Why not always exact: the exact AUC depends on how every positive
    interleaves with every negative, which for continuous scores is as much
    information as the scores themselves; computing it on a cluster means
    sorting and moving all the scores. Few distinct scores (rounded or
    discrete scores, predicted labels) are their own small sufficient
    statistic, and continuous scores get a bounded error instead.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        True labels, two distinct values.
    y_score : array-like or dask array of shape (n_samples,)
        Scores: the probability of the larger label or any increasing
        function of it, such as ``decision_function``.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    method : {"auto", "exact", "binned"}, default="auto"
        ``"auto"``: exact when the scores have at most ``max_exact_scores``
        distinct values, else binned. ``"exact"`` raises rather than bin.
        ``"binned"`` always bins (numpy input included).
    n_bins : int, default=10_000
        Bins of the binned method; each row block sends
        ``8 * n_labels * n_bins`` bytes.
    max_exact_scores : int, default=10_000
        Largest number of distinct scores for the exact method.

    Returns
    -------
    float
        NaN, with scikit-learn's ``UndefinedMetricWarning``, when ``y_true``
        has one class.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity (with its row); more than two
        classes; ``method="exact"`` with too many distinct scores.
    """
    if method not in ("auto", "exact", "binned"):
        raise ValueError(
            f"method must be 'auto', 'exact' or 'binned', got method={method!r}."
        )
    for name, value in (("n_bins", n_bins), ("max_exact_scores", max_exact_scores)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(
                f"{name} must be a positive integer, got {name}={value!r}."
            )
    if method != "binned" and not _any_dask(y_true, y_score, sample_weight):
        return float(skm.roc_auc_score(y_true, y_score, sample_weight=sample_weight))
    auc, _ = _roc_auc_and_bound(
        y_true, y_score, sample_weight, method, n_bins, max_exact_scores
    )
    return auc


def _roc_auc_and_bound(y_true, y_score, sample_weight, method, n_bins, max_exact):
    """The AUC and the largest possible error of it (0.0 when exact)."""
    arrays = _row_aligned(
        y_true=_as_array(y_true, "y_true", (1,)),
        y_score=_as_array(y_score, "y_score", (1,)),
        sample_weight=(
            None
            if sample_weight is None
            else _as_array(sample_weight, "sample_weight", (1,))
        ),
    )
    # A second pass (the histogram) follows when scores are many: lazy inputs
    # such as a model's predictions are computed once, kept on the workers
    # for this call, not recomputed for each pass.
    arrays = _persist_lazy(arrays)
    max_distinct = max_exact if method != "binned" else 0
    summary = _reduce(
        blocks.score_summary_block,
        arrays,
        functools.partial(blocks.merge_score_summaries, max_distinct=max_distinct),
        max_distinct,
    )
    if len(summary.labels) > 2:
        raise ValueError(
            "roc_auc_score needs binary y_true, got "
            f"{len(summary.labels)} classes {summary.labels[:10].tolist()}. For "
            "more classes, score one class against the rest."
        )
    if summary.pairs is not None:
        true, score, weight = blocks.weighted_samples(summary.pairs)
        return float(skm.roc_auc_score(true, score, sample_weight=weight)), 0.0
    if method == "exact":
        raise ValueError(
            f"y_score has more than max_exact_scores={max_exact} distinct values: "
            "the exact AUC would need all scores in one place. Use method='binned' "
            "(or 'auto'), or raise max_exact_scores."
        )
    histogram = _reduce(
        blocks.score_histogram_block,
        arrays,
        blocks.merge_histograms,
        summary.labels,
        summary.low,
        summary.high,
        n_bins,
    )
    true, score, weight = blocks.histogram_samples(histogram, summary.labels)
    auc = float(skm.roc_auc_score(true, score, sample_weight=weight))
    bound = blocks.binned_auc_error_bound(histogram) if len(summary.labels) == 2 else 0
    return auc, bound


# -------------------------------------------------------------- regression
_ERROR_AVERAGES = ("raw_values", "uniform_average")
_R2_AVERAGES = ("raw_values", "uniform_average", "variance_weighted")


def _target(value, name: str, metric: str):
    """A 1-D dask or numpy array of targets (an (n, 1) column is flattened)."""
    array = _as_array(value, name, (1, 2))
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2:
        raise ValueError(
            f"{metric} on dask input takes one output, but {name} has shape "
            f"{array.shape}: multi-output targets are not supported there. Score "
            "each output (column) on its own, or pass numpy arrays to use "
            "scikit-learn."
        )
    return array


def _regression_inputs(metric: str, y_true, y_pred, sample_weight) -> list:
    """y_true, y_pred and sample_weight (or None) as 1-D dask arrays in the
    row blocks of the first dask one; lengths checked."""
    return _row_aligned(
        y_true=_target(y_true, "y_true", metric),
        y_pred=_target(y_pred, "y_pred", metric),
        sample_weight=(
            None
            if sample_weight is None
            else _as_array(sample_weight, "sample_weight", (1,))
        ),
    )


def _few_rows(arrays: list) -> bool:
    """Fewer than two rows: scikit-learn's special cases (an error for none,
    NaN with a warning for the R^2 and D^2 of one) are left to scikit-learn,
    on the computed rows."""
    return arrays[0].shape[0] < 2


def _sklearn_on(sklearn_metric: Callable, arrays: list, **options):
    y_true, y_pred, weight = dask.compute(*arrays)
    return sklearn_metric(y_true, y_pred, sample_weight=weight, **options)


def _check_multioutput(
    metric: str, multioutput, allowed: tuple[str, ...], none_allowed: bool = False
) -> None:
    """Refuse what scikit-learn refuses for one output: an unknown string,
    or custom weights of the outputs."""
    if (isinstance(multioutput, str) and multioutput in allowed) or (
        multioutput is None and none_allowed
    ):
        return
    if isinstance(multioutput, str) or multioutput is None:
        among = "{" + ", ".join(repr(a) for a in allowed) + "}"
        kinds = (
            f"{among}, an array-like or None"
            if none_allowed
            else f"{among} or an array-like"
        )
        raise ValueError(
            f"The 'multioutput' parameter of {metric} must be a str among {kinds}. "
            f"Got {multioutput!r} instead."
        )
    raise ValueError("Custom weights are useful only in multi-output cases.")


def _one_output(value: float, multioutput):
    """A single output's value as scikit-learn returns it: an array of one
    for ``multioutput="raw_values"``, else the float."""
    if isinstance(multioutput, str) and multioutput == "raw_values":
        return np.array([value])
    return value


def _tweedie(power, metric: str) -> blocks.TweedieDeviance:
    """The Tweedie deviance of ``power``, checked as scikit-learn checks it."""
    if not isinstance(power, numbers.Real) or not (power <= 0 or power >= 1):
        raise ValueError(
            f"The 'power' parameter of {metric} must be a float in the range "
            f"(-inf, 0.0] or a float in the range [1.0, inf). Got {power!r} "
            "instead."
        )
    return blocks.TweedieDeviance(power)


def _mean_losses(arrays: list, loss, null_mean: float | None = None) -> np.ndarray:
    """Weighted means of ``loss(y_true, y_pred)`` (and, with ``null_mean``,
    of ``loss(y_true, null_mean)``), in one pass on the workers."""
    stats = _reduce(blocks.loss_sums_block, arrays, blocks.merge_sums, loss, null_mean)
    return stats.means()


def _mean_error(
    sklearn_metric: Callable, loss, y_true, y_pred, sample_weight, multioutput
):
    """mean_squared_error or mean_absolute_error: the weighted mean of a
    per-row loss, on the workers for dask input."""
    if not _any_dask(y_true, y_pred, sample_weight):
        return sklearn_metric(
            y_true, y_pred, sample_weight=sample_weight, multioutput=multioutput
        )
    metric = sklearn_metric.__name__
    arrays = _regression_inputs(metric, y_true, y_pred, sample_weight)
    if _few_rows(arrays):
        return _sklearn_on(sklearn_metric, arrays, multioutput=multioutput)
    _check_multioutput(metric, multioutput, _ERROR_AVERAGES)
    return _one_output(float(_mean_losses(arrays, loss)[0]), multioutput)


def mean_squared_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"
) -> float | np.ndarray:
    return _mean_error(
        skm.mean_squared_error,
        blocks.TweedieDeviance(0),  # power 0: (y_true - y_pred) ** 2
        y_true,
        y_pred,
        sample_weight,
        multioutput,
    )


def mean_absolute_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average"
) -> float | np.ndarray:
    return _mean_error(
        skm.mean_absolute_error,
        blocks.AbsoluteError(),
        y_true,
        y_pred,
        sample_weight,
        multioutput,
    )


_ERROR_PARAMETERS = """
    For dask input each row block sends its weighted count and weighted sum
    of errors; the client divides.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        Ground truth (correct) target values. On dask input, one output
        only: an ``(n_samples, 1)`` column is flattened, wider targets are
        refused.
    y_pred : array-like or dask array/Series of shape (n_samples,)
        Estimated target values, such as a model's ``predict``.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    multioutput : {"raw_values", "uniform_average"} or array-like, \
default="uniform_average"
        With one output, ``"raw_values"`` returns the error as an array of
        one and ``"uniform_average"`` as a float; custom weights of the
        outputs are refused, as scikit-learn refuses them for one output.

    Returns
    -------
    float or ndarray of shape (1,)
        Non-negative, best at 0.0.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity (with its row); every sample weight
        zero.
    ZeroDivisionError
        Sample weights that sum to zero.
"""
mean_squared_error.__doc__ = (
    """Mean squared error ``sum(w * (y_true - y_pred) ** 2) / sum(w)``.

    Same as :func:`sklearn.metrics.mean_squared_error` (1-D targets),
    averaged on the workers for dask input.
"""
    + _ERROR_PARAMETERS
)
mean_absolute_error.__doc__ = (
    """Mean absolute error ``sum(w * |y_true - y_pred|) / sum(w)``.

    Same as :func:`sklearn.metrics.mean_absolute_error` (1-D targets),
    averaged on the workers for dask input.
"""
    + _ERROR_PARAMETERS
)


def r2_score(
    y_true,
    y_pred,
    *,
    sample_weight=None,
    multioutput="uniform_average",
    force_finite: bool = True,
) -> float | np.ndarray:
    """R^2, the coefficient of determination: ``1 - SS_res / SS_tot``.

    Same as :func:`sklearn.metrics.r2_score` (1-D targets), with
    ``SS_res = sum(w * (y_true - y_pred) ** 2)`` and
    ``SS_tot = sum(w * (y_true - mean) ** 2)`` about the weighted mean of
    ``y_true``. Best at 1.0; 0.0 for the constant prediction of the mean;
    it can be negative.

    For dask input it takes **one pass**: each row block sends its weighted
    count, its weighted sum of ``y_true``, its sum of squares about its own
    mean and its ``SS_res``; the merge moves each part's squares to the
    common mean with Chan, Golub and LeVeque's parallel formula
    (:func:`dmltk._metric_blocks.merge_r2`). For non-negative weights that
    is a sum of non-negative terms, as accurate as scikit-learn's two passes
    even when the mean is large against the spread, where
    ``sum(w * y ** 2) - S ** 2 / W`` would lose every digit.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        Ground truth (correct) target values. On dask input, one output
        only: an ``(n_samples, 1)`` column is flattened, wider targets are
        refused.
    y_pred : array-like or dask array/Series of shape (n_samples,)
        Estimated target values, such as a model's ``predict``.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    multioutput : {"raw_values", "uniform_average", "variance_weighted"}, \
array-like or None, default="uniform_average"
        With one output, ``"raw_values"`` returns the score as an array of
        one; the others (and None) return it as a float; custom weights of
        the outputs are refused, as scikit-learn refuses them for one output.
    force_finite : bool, default=True
        For a constant ``y_true`` (``SS_tot = 0``), return 1.0 for perfect
        predictions and 0.0 otherwise, rather than NaN and ``-inf``.

    Returns
    -------
    float or ndarray of shape (1,)
        NaN, with scikit-learn's ``UndefinedMetricWarning``, for fewer than
        two samples.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity (with its row); every sample weight
        zero.
    ZeroDivisionError
        Sample weights that sum to zero.
    """
    if not _any_dask(y_true, y_pred, sample_weight):
        return skm.r2_score(
            y_true,
            y_pred,
            sample_weight=sample_weight,
            multioutput=multioutput,
            force_finite=force_finite,
        )
    arrays = _regression_inputs("r2_score", y_true, y_pred, sample_weight)
    if _few_rows(arrays):
        return _sklearn_on(
            skm.r2_score, arrays, multioutput=multioutput, force_finite=force_finite
        )
    _check_multioutput("r2_score", multioutput, _R2_AVERAGES, none_allowed=True)
    stats = _reduce(blocks.r2_block, arrays, blocks.merge_r2)
    blocks.check_weight_total(stats.nonzero, stats.weight)
    score = _explained(stats.residual, stats.squares, force_finite)
    return _one_output(score, multioutput)


def _explained(numerator: float, denominator: float, force_finite: bool) -> float:
    """``1 - numerator / denominator`` for one output, as scikit-learn's R^2
    assembles it (numpy division: NaN or ``-inf`` with a RuntimeWarning for
    a zero denominator, unless ``force_finite``)."""
    if not force_finite:
        return float(1 - np.float64(numerator) / np.float64(denominator))
    if numerator == 0:
        return 1.0
    if denominator == 0:
        return 0.0
    return float(1 - numerator / denominator)


def mean_tweedie_deviance(y_true, y_pred, *, sample_weight=None, power=0) -> float:
    """Mean Tweedie deviance ``sum(w * d_p(y_true, y_pred)) / sum(w)``.

    Same as :func:`sklearn.metrics.mean_tweedie_deviance`, with the same
    per-row unit deviance ``d_p`` to the last bit
    (:class:`dmltk._metric_blocks.TweedieDeviance`). For dask input each row
    block checks its rows against the domain of ``power`` and sends its
    weighted count and weighted sum of deviances.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        Ground truth (correct) target values; one output.
    y_pred : array-like or dask array/Series of shape (n_samples,)
        Estimated target values, such as a model's ``predict``.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    power : float, default=0
        Tweedie power, ``power <= 0`` or ``power >= 1``. Domains:

        - ``power < 0`` (extreme stable): ``y_pred > 0``.
        - ``power = 0`` (normal): any; the mean squared error.
        - ``power = 1`` (Poisson) and ``1 < power < 2`` (compound Poisson):
          ``y_true >= 0`` and ``y_pred > 0``.
        - ``power >= 2`` (2: Gamma, 3: inverse Gaussian): ``y_true > 0`` and
          ``y_pred > 0``.

    Returns
    -------
    float
        Non-negative, best at 0.0.

    Raises
    ------
    ValueError
        ``0 < power < 1``; lengths differ; NaN or infinity; a value outside
        the domain of ``power`` (scikit-learn's message, and the first row of
        a block that holds one); every sample weight zero.
    ZeroDivisionError
        Sample weights that sum to zero.
    """
    if not _any_dask(y_true, y_pred, sample_weight):
        return skm.mean_tweedie_deviance(
            y_true, y_pred, sample_weight=sample_weight, power=power
        )
    loss = _tweedie(power, "mean_tweedie_deviance")
    arrays = _regression_inputs("mean_tweedie_deviance", y_true, y_pred, sample_weight)
    if _few_rows(arrays):
        return _sklearn_on(skm.mean_tweedie_deviance, arrays, power=power)
    return float(_mean_losses(arrays, loss)[0])


def mean_poisson_deviance(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean Poisson deviance: :func:`mean_tweedie_deviance` with ``power=1``.

    Same as :func:`sklearn.metrics.mean_poisson_deviance`, averaged on the
    workers for dask input.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        Ground truth (correct) target values, ``y_true >= 0``.
    y_pred : array-like or dask array/Series of shape (n_samples,)
        Estimated target values, ``y_pred > 0``.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.

    Returns
    -------
    float
        Non-negative, best at 0.0.

    Raises
    ------
    ValueError
        As :func:`mean_tweedie_deviance`: a negative ``y_true`` or a
        non-positive ``y_pred`` is refused with its row.
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=1)


def mean_gamma_deviance(y_true, y_pred, *, sample_weight=None) -> float:
    """Mean Gamma deviance: :func:`mean_tweedie_deviance` with ``power=2``.

    Same as :func:`sklearn.metrics.mean_gamma_deviance`, averaged on the
    workers for dask input. Invariant to a scaling of the target: it
    measures relative errors.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        Ground truth (correct) target values, ``y_true > 0``.
    y_pred : array-like or dask array/Series of shape (n_samples,)
        Estimated target values, ``y_pred > 0``.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.

    Returns
    -------
    float
        Non-negative, best at 0.0.

    Raises
    ------
    ValueError
        As :func:`mean_tweedie_deviance`: a non-positive ``y_true`` or
        ``y_pred`` is refused with its row.
    """
    return mean_tweedie_deviance(y_true, y_pred, sample_weight=sample_weight, power=2)


def d2_tweedie_score(y_true, y_pred, *, sample_weight=None, power=0) -> float:
    """D^2, the fraction of Tweedie deviance explained.

    Same as :func:`sklearn.metrics.d2_tweedie_score`: ``1 - D(y_pred) /
    D(mean)``, with ``D(m)`` the mean Tweedie deviance of predicting ``m``
    and ``mean`` the weighted mean of ``y_true``. Best at 1.0; 0.0 for the
    constant prediction of the mean; it can be negative. With ``power=0`` it
    is R^2.

    For dask input it takes **two passes**, each one reduction on the
    workers: the weighted count and sum of ``y_true`` (the mean), then, for
    every row, the deviance of ``y_pred`` and that of the mean, summed.
    Lazy inputs (a model's predictions) are persisted for the call, so they
    are computed once.

    Why two: the deviance of a constant is not a sum of per-block
    statistics in general. A one-pass form exists (the deviance is a Bregman
    divergence, so a block's deviance about any ``m`` is its deviance about
    its own mean plus its weight times the deviance of its mean from ``m``),
    but it breaks down where scikit-learn's formulas are delicate: negative
    block means with ``power < 0``, blocks of zeros with ``1 < power < 2``.
    Two passes compute every row's deviance with scikit-learn's formula, at
    the same mean up to rounding.

    Parameters
    ----------
    y_true : array-like or dask array/Series of shape (n_samples,)
        Ground truth (correct) target values; one output.
    y_pred : array-like or dask array/Series of shape (n_samples,)
        Estimated target values, such as a model's ``predict``.
    sample_weight : array-like or dask array of shape (n_samples,), optional
        Weights of the samples.
    power : float, default=0
        Tweedie power, ``power <= 0`` or ``power >= 1``; its domain applies
        to ``y_true`` and ``y_pred`` as in :func:`mean_tweedie_deviance`.

    Returns
    -------
    float
        NaN, with scikit-learn's ``UndefinedMetricWarning``, for fewer than
        two samples.

    Raises
    ------
    ValueError
        As :func:`mean_tweedie_deviance`.
    ZeroDivisionError
        A constant ``y_true`` (the mean's deviance is 0), as in scikit-learn;
        sample weights that sum to zero.
    """
    if not _any_dask(y_true, y_pred, sample_weight):
        return skm.d2_tweedie_score(
            y_true, y_pred, sample_weight=sample_weight, power=power
        )
    loss = _tweedie(power, "d2_tweedie_score")
    arrays = _regression_inputs("d2_tweedie_score", y_true, y_pred, sample_weight)
    if _few_rows(arrays):
        return _sklearn_on(skm.d2_tweedie_score, arrays, power=power)
    arrays = _persist_lazy(arrays)
    target, _, weight = arrays
    mean = _reduce(blocks.target_sums_block, [target, weight], blocks.merge_sums)
    model, null = _mean_losses(arrays, loss, float(mean.means()[0]))
    return 1 - float(model) / float(null)
