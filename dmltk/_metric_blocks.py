"""Per-block statistics of classification and regression metrics, and how
to merge them.

numpy only (never dask). Each ``*_block`` function reads one row block of
labels (or targets), predictions and weights and returns a small sufficient
statistic; each ``merge_*`` function folds any number of those into one of
the same kind (an associative, commutative merge, so any reduction tree
gives the same result up to floating-point rounding). :mod:`dmltk.metrics`
maps the block functions over dask arrays and tree-reduces them.

These are written here because scikit-learn's metrics need all samples in
memory and neither scikit-learn nor Dask offers mergeable partial results for
them. For classification the statistics are chosen so that scikit-learn
itself can finish the job from a handful of weighted samples (see
:func:`weighted_samples`), so the definitions, options and error messages
stay scikit-learn's. For regression they are weighted sums of scikit-learn's
per-row terms (:class:`WeightedSums`) and, for the R^2 score, the weighted
count, mean and centred sum of squares of the targets (:class:`R2Stats`,
merged with Chan's parallel formula).

Every block function takes ``row_offset``, the index of the block's first row
in the whole array, to name the row that holds a bad value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A classification target has few distinct labels. A block with more than
# this many is most likely a regression target or scores passed by mistake;
# refusing it keeps every partial result small.
MAX_CLASSES = 1_000


@dataclass
class WeightedPairs:
    """Total weight (or count) of each distinct (first, second) value pair.

    For label metrics the pair is (true label, predicted label); for the
    exact ROC AUC it is (true label, score).

    Attributes
    ----------
    first, second : ndarray of shape (n_pairs,)
        The distinct pairs, sorted.
    weight : ndarray of shape (n_pairs,)
        Sum of sample weights of the samples with that pair: int64 counts
        when there are no sample weights, float64 otherwise.
    """

    first: np.ndarray
    second: np.ndarray
    weight: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.first.nbytes + self.second.nbytes + self.weight.nbytes


# Integer labels spanning at most this many values are coded by counting
# (one pass) rather than by sorting (np.unique): 3-10x faster per block.
_COUNTING_SPAN = 1 << 16


def distinct_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and the index of each value among them:
    ``np.unique(values, return_inverse=True)``, without a sort for booleans,
    integers and whole floats (such as 0.0 / 1.0 labels) of a small span."""
    values = np.asarray(values).ravel()
    as_int = _small_integers(values)
    if as_int is not None:
        low = int(as_int.min())
        span = int(as_int.max()) - low + 1
        if span <= _COUNTING_SPAN:
            offsets = as_int - low
            present = np.bincount(offsets, minlength=span) > 0
            distinct = (np.flatnonzero(present) + low).astype(values.dtype)
            if len(distinct) == span:  # every value of the span occurs
                return distinct, offsets
            return distinct, (np.cumsum(present) - 1)[offsets]
    distinct, codes = np.unique(values, return_inverse=True)
    return distinct, codes.ravel()


def _small_integers(values: np.ndarray) -> np.ndarray | None:
    """The values as int64 when each is a whole number and their span is
    small (so counting beats sorting), else None."""
    if not len(values):
        return None
    if values.dtype.kind in "bi" or (
        values.dtype.kind == "u" and values.dtype.itemsize <= 4
    ):
        return values.astype(np.int64)  # holds every such value exactly
    if values.dtype.kind != "f":
        return None
    low, high = values.min(), values.max()
    # NaN fails both comparisons; the bound keeps the cast exact.
    if not (-(2.0**52) < low and high < 2.0**52 and high - low < _COUNTING_SPAN):
        return None
    as_int = values.astype(np.int64)
    return as_int if np.array_equal(as_int, values) else None


def _pair_weights(first, second, weight) -> WeightedPairs:
    return _pairs_from_codes(*distinct_codes(first), *distinct_codes(second), weight)


def _pairs_from_codes(
    first_values, first_codes, second_values, second_codes, weight
) -> WeightedPairs:
    pair_codes = first_codes * len(second_values) + second_codes
    cells = len(first_values) * len(second_values)
    if cells <= max(_COUNTING_SPAN, len(pair_codes)):
        # Few possible pairs: count them all, keep those that occur.
        counts = np.bincount(pair_codes, minlength=cells)
        pairs = np.flatnonzero(counts)
        inverse = None
    else:
        pairs, inverse = np.unique(pair_codes, return_inverse=True)
        inverse = inverse.ravel()
        counts = np.bincount(inverse, minlength=len(pairs))
    if weight is None:
        totals = counts[pairs] if inverse is None else counts
    else:
        bins = pair_codes if inverse is None else inverse
        totals = np.bincount(bins, weights=weight, minlength=len(counts))
        totals = totals[pairs] if inverse is None else totals
        if weight.dtype.kind in "biu":
            totals = np.rint(totals).astype(np.int64)
    return WeightedPairs(
        first_values[pairs // len(second_values)],
        second_values[pairs % len(second_values)],
        totals.astype(np.int64) if weight is None else totals,
    )


def check_lengths(row_offset: int, **arrays) -> None:
    """Raise if the arrays of one block do not have the same number of rows."""
    lengths = {name: len(a) for name, a in arrays.items() if a is not None}
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            "Found input variables with inconsistent numbers of samples in the "
            f"row block starting at row {row_offset}: {described} rows. Give them "
            "the same lengths (and chunks)."
        )


def check_finite(values: np.ndarray, name: str, row_offset: int) -> None:
    """Raise on NaN or infinity in a numeric array, naming the first bad row."""
    if values.dtype.kind not in "fc":
        return
    finite = np.isfinite(values)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.reshape(len(values), -1).all(axis=1))
    first = bad[0]
    what = "NaN" if np.isnan(values[first]).any() else "infinity"
    raise ValueError(
        f"Input {name} contains {what}: {len(bad)} row(s), the first at row "
        f"{row_offset + first} (value {values[first].tolist()!r})."
    )


def _check_few_labels(labels: np.ndarray, name: str, row_offset: int) -> None:
    if len(labels) > MAX_CLASSES:
        raise ValueError(
            f"{name} has more than {MAX_CLASSES} distinct values in the row block "
            f"starting at row {row_offset} ({len(labels)} there, for example "
            f"{labels[:3].tolist()}): classification metrics expect class labels. "
            "Is it a continuous target, or scores passed in place of labels?"
        )


def _check_weights(sample_weight, row_offset: int) -> None:
    if sample_weight is not None:
        check_finite(sample_weight, "sample_weight", row_offset)


# ----------------------------------------------------------------- labels
def label_pairs_block(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sample_weight: np.ndarray | None,
    row_offset: int = 0,
) -> WeightedPairs:
    """Weighted counts of each (true label, predicted label) pair in a block.

    The sufficient statistic of every metric computed from predicted labels
    (accuracy, precision, recall, F1, confusion matrix): a sparse weighted
    confusion table, at most ``MAX_CLASSES ** 2`` entries and 4 for binary
    labels.

    Raises
    ------
    ValueError
        Lengths differ, a label is NaN or infinite, or a label array has more
        than ``MAX_CLASSES`` distinct values.
    """
    check_lengths(row_offset, y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
    for values, name in ((y_true, "y_true"), (y_pred, "y_pred")):
        check_finite(values, name, row_offset)
    _check_weights(sample_weight, row_offset)
    pairs = _pair_weights(y_true, y_pred, sample_weight)
    _check_few_labels(np.unique(pairs.first), "y_true", row_offset)
    _check_few_labels(np.unique(pairs.second), "y_pred", row_offset)
    return pairs


def merge_pairs(*parts: WeightedPairs) -> WeightedPairs:
    """Fold weighted pair tables: the weights of equal pairs are added."""
    weights = np.concatenate([p.weight for p in parts])
    return _pair_weights(
        np.concatenate([p.first for p in parts]),
        np.concatenate([p.second for p in parts]),
        weights,
    )


def weighted_samples(pairs: WeightedPairs) -> tuple[np.ndarray, ...]:
    """The pair table as samples with weights, ready for scikit-learn.

    Any metric that sums per-sample terms depending only on the pair gives the
    same value on these few weighted samples as on the data they summarise
    (weights of equal samples add up), and the labels present are the same.
    """
    return pairs.first, pairs.second, pairs.weight


# --------------------------------------------------------------- log loss
@dataclass
class LogLossStats:
    """Per true label: weight, and weighted sums of the log of each column.

    Attributes
    ----------
    labels : ndarray of shape (n_labels,)
        Distinct true labels, sorted.
    weight : ndarray of shape (n_labels,)
        Sum of sample weights (or count) of each label.
    log_proba : ndarray of shape (n_labels, n_columns)
        ``sum w * log(clip(p[:, k], eps, 1 - eps))`` over the samples of each
        label, for each column ``k`` of the (two-column) probabilities.
    not_normalized : int
        Rows whose probabilities do not sum to one (relative tolerance
        ``sqrt(eps)``, as scikit-learn checks).
    """

    labels: np.ndarray
    weight: np.ndarray
    log_proba: np.ndarray
    not_normalized: int


def _two_columns(y_proba: np.ndarray) -> np.ndarray:
    if y_proba.ndim == 1:
        y_proba = y_proba[:, None]
    if y_proba.shape[1] == 1:
        y_proba = np.concatenate([1 - y_proba, y_proba], axis=1)
    return y_proba


def log_loss_block(
    y_true: np.ndarray,
    y_proba: np.ndarray,
    sample_weight: np.ndarray | None,
    row_offset: int = 0,
) -> LogLossStats:
    """Sufficient statistic of the log loss over one block.

    Probabilities are clipped to ``[eps, 1 - eps]`` (``eps`` of their float
    type) as scikit-learn does; a one-column ``y_proba`` is the probability of
    the positive class.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity; a probability outside [0, 1] (with
        the first row that holds one).
    """
    check_lengths(
        row_offset, y_true=y_true, y_proba=y_proba, sample_weight=sample_weight
    )
    check_finite(y_true, "y_true", row_offset)
    if y_proba.dtype.kind != "f":
        y_proba = y_proba.astype(np.float64)
    check_finite(y_proba, "y_proba", row_offset)
    _check_weights(sample_weight, row_offset)
    for outside, word in (
        (y_proba > 1, "greater than 1"),
        (y_proba < 0, "lower than 0"),
    ):
        if outside.any():
            row = np.flatnonzero(outside.reshape(len(y_proba), -1).any(axis=1))[0]
            raise ValueError(
                f"y_proba contains values {word}: {y_proba[row].tolist()!r} at row "
                f"{row_offset + row}. Pass probabilities, such as predict_proba's."
            )
    y_proba = _two_columns(y_proba)
    eps = np.finfo(y_proba.dtype).eps
    row_sums = y_proba.sum(axis=1)
    not_normalized = int(np.count_nonzero(~np.isclose(row_sums, 1, rtol=np.sqrt(eps))))
    log_proba = np.log(np.clip(y_proba, eps, 1 - eps)).astype(np.float64)
    labels, codes = distinct_codes(y_true)
    _check_few_labels(labels, "y_true", row_offset)
    weight = (
        np.bincount(codes, minlength=len(labels)).astype(np.float64)
        if sample_weight is None
        else np.bincount(codes, weights=sample_weight, minlength=len(labels))
    )
    if sample_weight is not None:
        log_proba = log_proba * np.asarray(sample_weight, dtype=np.float64)[:, None]
    return LogLossStats(
        labels, weight, _sums_by_code(codes, log_proba, len(labels)), not_normalized
    )


def _sums_by_code(codes: np.ndarray, values: np.ndarray, n_codes: int) -> np.ndarray:
    """Column sums of ``values`` over the rows of each code."""
    return np.column_stack(
        [np.bincount(codes, weights=column, minlength=n_codes) for column in values.T]
    ).reshape(n_codes, values.shape[1])


def merge_log_loss(*parts: LogLossStats) -> LogLossStats:
    """Fold log-loss statistics: sums of equal labels are added."""
    widths = {p.log_proba.shape[1] for p in parts}
    if len(widths) != 1:
        raise ValueError(f"y_proba blocks have different widths: {sorted(widths)}")
    labels, codes = distinct_codes(np.concatenate([p.labels for p in parts]))
    weight = np.bincount(
        codes, weights=np.concatenate([p.weight for p in parts]), minlength=len(labels)
    )
    sums = _sums_by_code(
        codes, np.concatenate([p.log_proba for p in parts]), len(labels)
    )
    return LogLossStats(labels, weight, sums, sum(p.not_normalized for p in parts))


# ----------------------------------------------------------------- ROC AUC
@dataclass
class ScoreSummary:
    """What the first pass of ROC AUC learns about one or more blocks.

    Attributes
    ----------
    labels : ndarray
        Distinct true labels, sorted.
    low, high : float
        Smallest and largest score (``inf``/``-inf`` for no rows).
    pairs : WeightedPairs or None
        Weight of each distinct (label, score) pair, the data of the exact
        AUC; None once the scores have more than ``max_distinct`` distinct
        values.
    """

    labels: np.ndarray
    low: float
    high: float
    pairs: WeightedPairs | None


def score_summary_block(
    y_true: np.ndarray,
    y_score: np.ndarray,
    sample_weight: np.ndarray | None,
    row_offset: int = 0,
    max_distinct: int = 10_000,
) -> ScoreSummary:
    """Labels, score range, and (if few) the distinct scores of one block.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity in a label, a score or a weight; more
        than ``MAX_CLASSES`` distinct labels.
    """
    check_lengths(
        row_offset, y_true=y_true, y_score=y_score, sample_weight=sample_weight
    )
    check_finite(y_true, "y_true", row_offset)
    check_finite(y_score, "y_score", row_offset)
    _check_weights(sample_weight, row_offset)
    labels, label_codes = distinct_codes(y_true)
    _check_few_labels(labels, "y_true", row_offset)
    if len(y_score) == 0:
        return ScoreSummary(
            labels, np.inf, -np.inf, _pair_weights(y_true, y_score, None)
        )
    low, high = float(np.min(y_score)), float(np.max(y_score))
    # Continuous scores show more than max_distinct distinct values among
    # their first 2 * max_distinct: then the whole block need not be sorted.
    if len(np.unique(y_score[: 2 * max_distinct + 1])) > max_distinct:
        return ScoreSummary(labels, low, high, None)
    scores, score_codes = distinct_codes(y_score)
    pairs = None
    if len(scores) <= max_distinct:
        pairs = _pairs_from_codes(
            labels, label_codes, scores, score_codes, sample_weight
        )
    return ScoreSummary(labels, low, high, pairs)


def merge_score_summaries(
    *parts: ScoreSummary, max_distinct: int = 10_000
) -> ScoreSummary:
    """Fold first-pass summaries; drop the pair table once it grows too big."""
    pairs = None
    if all(p.pairs is not None for p in parts):
        pairs = merge_pairs(*(p.pairs for p in parts))
        if len(np.unique(pairs.second)) > max_distinct:
            pairs = None
    return ScoreSummary(
        np.unique(np.concatenate([p.labels for p in parts])),
        min(p.low for p in parts),
        max(p.high for p in parts),
        pairs,
    )


def bin_index(y_score: np.ndarray, low: float, high: float, n_bins: int) -> np.ndarray:
    """Equal-width bin of each score over ``[low, high]``, from 0 to n_bins - 1.

    Monotone: a larger score never gets a smaller bin (every floating-point
    step below is monotone), so two scores in different bins are ordered
    like their bins. Halving first keeps ``high - low`` finite.
    """
    span = high / 2 - low / 2
    if not span > 0:
        return np.zeros(len(y_score), dtype=np.intp)
    position = (y_score / 2 - low / 2) / span * n_bins
    return np.clip(position.astype(np.intp), 0, n_bins - 1)


def score_histogram_block(
    y_true: np.ndarray,
    y_score: np.ndarray,
    sample_weight: np.ndarray | None,
    row_offset: int,
    labels: np.ndarray,
    low: float,
    high: float,
    n_bins: int,
) -> np.ndarray:
    """Weight of each label in each of ``n_bins`` equal-width score bins.

    Returns
    -------
    ndarray of shape (len(labels), n_bins)
        int64 counts without sample weights, float64 with them.
    """
    check_lengths(
        row_offset, y_true=y_true, y_score=y_score, sample_weight=sample_weight
    )
    codes = np.searchsorted(labels, y_true)
    cells = codes * n_bins + bin_index(y_score, low, high, n_bins)
    size = len(labels) * n_bins
    if sample_weight is None:
        histogram = np.bincount(cells, minlength=size)
    else:
        histogram = np.bincount(cells, weights=sample_weight, minlength=size)
    return histogram.reshape(len(labels), n_bins)


def merge_histograms(*parts: np.ndarray) -> np.ndarray:
    """Fold histograms over the same labels and bins."""
    return np.sum(parts, axis=0)


def histogram_samples(
    histogram: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A label-by-bin histogram as weighted samples whose score is the bin.

    The ROC AUC of these samples is the binned AUC: pairs in different bins
    are ordered by their bins, pairs in the same bin count one half (a tie).
    """
    n_labels, n_bins = histogram.shape
    return (
        np.repeat(labels, n_bins),
        np.tile(np.arange(n_bins, dtype=np.float64), n_labels),
        histogram.ravel(),
    )


def binned_auc_error_bound(histogram: np.ndarray) -> float:
    """Largest possible difference between the binned and the exact ROC AUC.

    With ``P_b`` and ``N_b`` the weights of positives and negatives in bin
    ``b`` (rows 1 and 0 of a two-label histogram) and ``P``, ``N`` their
    totals, the bound is ``sum_b P_b N_b / (2 P N)``: half the fraction of
    positive-negative pairs (weighted) that share a bin. A pair in different
    bins counts the same in both AUCs (bins are monotone in the score); a
    pair in one bin counts 1/2 in the binned AUC and 0, 1/2 or 1 in the exact
    one.
    """
    negatives, positives = histogram[0].astype(float), histogram[1].astype(float)
    pairs = positives.sum() * negatives.sum()
    if pairs == 0:
        return 0.0
    return float(positives @ negatives / (2 * pairs))


# -------------------------------------------------------------- regression
def regression_block(
    y_true: np.ndarray,
    y_pred: np.ndarray | None,
    sample_weight: np.ndarray | None,
    row_offset: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One block's targets, predictions and weights as float64, checked.

    scikit-learn computes in float64 for every input but float32, which it
    keeps; float64 throughout makes float32 inputs more precise than there.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity (with the first row that holds one).
    """
    check_lengths(row_offset, y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
    checked = []
    for values, name in (
        (y_true, "y_true"),
        (y_pred, "y_pred"),
        (sample_weight, "sample_weight"),
    ):
        if values is not None:
            values = np.asarray(values, dtype=np.float64)
            check_finite(values, name, row_offset)
        checked.append(values)
    return tuple(checked)


@dataclass
class WeightedSums:
    """Weighted sums of per-row terms over one or more row blocks.

    Attributes
    ----------
    nonzero : int
        Rows whose sample weight is not zero (every row, without weights).
    weight : float
        Sum of the sample weights (the number of rows, without weights).
    sums : ndarray of shape (n_terms,)
        ``sum(w * term)`` of each per-row term, float64.
    """

    nonzero: int
    weight: float
    sums: np.ndarray

    def means(self) -> np.ndarray:
        """The weighted means ``sums / weight``, as :func:`numpy.average`
        computes them.

        Raises
        ------
        ValueError
            Every sample weight is zero (scikit-learn's check).
        ZeroDivisionError
            Weights, not all zero, that sum to zero (numpy's).
        """
        check_weight_total(self.nonzero, self.weight)
        return self.sums / self.weight


def check_weight_total(nonzero: int, weight: float) -> None:
    """Refuse sample weights that cannot normalise a mean, as scikit-learn
    and :func:`numpy.average` do."""
    if nonzero == 0:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    if weight == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")


def _weighted_sums(
    sample_weight: np.ndarray | None, n_rows: int, terms: list
) -> WeightedSums:
    if sample_weight is None:
        sums = [np.sum(term) for term in terms]
        return WeightedSums(n_rows, float(n_rows), np.array(sums, dtype=np.float64))
    sums = [np.sum(sample_weight * term) for term in terms]
    return WeightedSums(
        int(np.count_nonzero(sample_weight)),
        float(np.sum(sample_weight)),
        np.array(sums, dtype=np.float64),
    )


def merge_sums(*parts: WeightedSums) -> WeightedSums:
    """Fold weighted sums: counts, weights and sums add, in the order given."""
    return WeightedSums(
        sum(p.nonzero for p in parts),
        float(sum(p.weight for p in parts)),
        np.sum([p.sums for p in parts], axis=0),
    )


@dataclass(frozen=True)
class AbsoluteError:
    """Per-row absolute error ``|y_pred - y_true|``, any real values."""

    def check(self, y_true: np.ndarray, y_pred: np.ndarray, row_offset: int) -> None:
        """Every finite value is allowed."""

    def __call__(self, y_true: np.ndarray, y_pred) -> np.ndarray:
        return np.abs(y_pred - y_true)


@dataclass(frozen=True)
class TweedieDeviance:
    """Per-row unit deviance of the Tweedie distribution of power ``power``.

    The formulas of scikit-learn's ``_mean_tweedie_deviance``, term for term,
    so that every row's value is the same to the last bit; power 0 is the
    squared error ``(y_true - y_pred) ** 2``, power 1 Poisson's, power 2
    Gamma's. Powers strictly between 0 and 1 do not exist.

    Attributes
    ----------
    power : float
        ``power <= 0`` or ``power >= 1``, kept as given (so that messages
        print it as scikit-learn's do).
    """

    power: float

    def check(self, y_true: np.ndarray, y_pred: np.ndarray, row_offset: int) -> None:
        """Raise scikit-learn's domain error of this power, naming the first
        row of the block outside it.

        power < 0: y_pred > 0; power 0: any; 1 <= power < 2: y_true >= 0 and
        y_pred > 0; power >= 2: y_true > 0 and y_pred > 0.
        """
        p = self.power
        if p == 0:
            return
        if p < 0:
            rules = [("y_pred", y_pred, y_pred <= 0)]
            allowed = "strictly positive y_pred"
        elif 1 <= p < 2:
            rules = [("y_true", y_true, y_true < 0), ("y_pred", y_pred, y_pred <= 0)]
            allowed = "non-negative y and strictly positive y_pred"
        elif p >= 2:
            rules = [("y_true", y_true, y_true <= 0), ("y_pred", y_pred, y_pred <= 0)]
            allowed = "strictly positive y and y_pred"
        else:
            raise ValueError(f"Tweedie power must be <= 0 or >= 1, got power={p}.")
        for name, values, outside in rules:
            if outside.any():
                bad = np.flatnonzero(outside)
                raise ValueError(
                    f"Mean Tweedie deviance error with power={p} can only be used "
                    f"on {allowed}. Got {name}={values[bad[0]].item()!r} at row "
                    f"{row_offset + bad[0]} ({len(bad)} such row(s) in the row "
                    f"block starting at row {row_offset})."
                )

    def __call__(self, y_true: np.ndarray, y_pred) -> np.ndarray:
        p = self.power
        if p < 0:
            return 2 * (
                np.power(np.where(y_true > 0, y_true, 0.0), 2 - p) / ((1 - p) * (2 - p))
                - y_true * np.power(y_pred, 1 - p) / (1 - p)
                + np.power(y_pred, 2 - p) / (2 - p)
            )
        if p == 0:
            return (y_true - y_pred) ** 2
        if p == 1:
            return 2 * (_xlogy(y_true, y_true / y_pred) - y_true + y_pred)
        if p == 2:
            return 2 * (np.log(y_pred / y_true) + y_true / y_pred - 1)
        return 2 * (
            np.power(y_true, 2 - p) / ((1 - p) * (2 - p))
            - y_true * np.power(y_pred, 1 - p) / (1 - p)
            + np.power(y_pred, 2 - p) / (2 - p)
        )


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x * log(y)``, 0 where x is 0 (scikit-learn's ``_xlogy``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        product = x * np.log(y)
    return np.where(x == 0.0, 0.0, product)


def target_sums_block(
    y_true: np.ndarray, sample_weight: np.ndarray | None, row_offset: int = 0
) -> WeightedSums:
    """Weighted count and ``sum(w * y_true)`` of one block: merged, the
    weighted mean of the targets, as :func:`numpy.average` computes it.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity (with its row).
    """
    y_true, _, weight = regression_block(y_true, None, sample_weight, row_offset)
    return _weighted_sums(weight, len(y_true), [y_true])


def loss_sums_block(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sample_weight: np.ndarray | None,
    row_offset: int,
    loss: AbsoluteError | TweedieDeviance,
    null_mean: float | None = None,
) -> WeightedSums:
    """Weighted count and ``sum(w * loss(y_true, y_pred))`` of one block.

    With ``null_mean``, also ``sum(w * loss(y_true, null_mean))``: the loss
    of the model that predicts that constant (the denominator of D^2),
    which, as in scikit-learn, is not checked against the loss's domain.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity; a value outside the loss's domain
        (each with the first row that holds one).
    """
    y_true, y_pred, weight = regression_block(y_true, y_pred, sample_weight, row_offset)
    loss.check(y_true, y_pred, row_offset)
    terms = [loss(y_true, y_pred)]
    if null_mean is not None:
        terms.append(loss(y_true, null_mean))
    return _weighted_sums(weight, len(y_true), terms)


@dataclass
class R2Stats:
    """What the R^2 score needs of one or more blocks, found in one pass.

    The mean of ``y_true`` is held as two numbers, a ``center`` near it and
    the small ``offset / weight`` from there, so that parts are compared
    through differences of nearby numbers (exact in floating point) rather
    than through their means, each rounded to ``eps * |mean|``: the squares
    then keep their digits when the mean is large against the spread.

    Attributes
    ----------
    nonzero : int
        Rows whose sample weight is not zero.
    weight : float
        ``W = sum(w)``.
    center : float
        ``c``, a number near the mean of ``y_true`` (a block's first estimate
        of its mean; a merge keeps the first part's); for weights that sum
        to 0, a target (or 0 for no rows).
    offset : float
        ``T = sum(w * (y_true - c))``: the mean is ``c + T / W``.
    squares : float
        ``sum(w * (y_true - (c + T / W)) ** 2)``, the squares about the mean
        (about ``c`` when ``W`` is 0): the denominator of R^2.
    residual : float
        ``sum(w * (y_true - y_pred) ** 2)``, the numerator of R^2.
    """

    nonzero: int
    weight: float
    center: float
    offset: float
    squares: float
    residual: float

    @property
    def shift(self) -> float:
        """``T / W``, the mean's distance from the center (0 when ``W`` is 0)."""
        return self.offset / self.weight if self.weight != 0 else 0.0


def r2_block(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    sample_weight: np.ndarray | None,
    row_offset: int = 0,
) -> R2Stats:
    """R^2 statistics of one block, from two passes over it in memory: the
    mean, then the deviations from it.

    Raises
    ------
    ValueError
        Lengths differ; NaN or infinity (with its row).
    """
    y_true, y_pred, weight = regression_block(y_true, y_pred, sample_weight, row_offset)
    sums = _weighted_sums(weight, len(y_true), [y_true, (y_true - y_pred) ** 2])
    if sums.weight != 0:
        center = float(sums.sums[0] / sums.weight)
    else:
        center = float(y_true[0]) if len(y_true) else 0.0
    deviations = y_true - center
    (offset,) = _weighted_sums(weight, len(y_true), [deviations]).sums
    stats = R2Stats(
        sums.nonzero, sums.weight, center, float(offset), 0.0, float(sums.sums[1])
    )
    (squares,) = _weighted_sums(
        weight, len(y_true), [(deviations - stats.shift) ** 2]
    ).sums
    stats.squares = float(squares)
    return stats


def merge_r2(*parts: R2Stats) -> R2Stats:
    """Fold R^2 statistics: counts, weights and residuals add; each part's
    squares move from its mean ``a_i`` to the common mean ``a``.

    Chan, Golub and LeVeque's parallel formula, in a form that also holds for
    parts whose weights sum to zero (empty blocks, zero or cancelling
    weights). Over the rows of part i, with ``R_i = sum(w * (y - a_i))``
    (zero up to rounding unless ``W_i`` is 0)::

        sum(w * (y - a) ** 2) = Q_i + (a_i - a) * (2 * R_i + (a_i - a) * W_i)

    Means are measured from the first part's center ``c``: ``a_i - a =
    (c_i - c) + T_i / W_i - T / W``, where ``c_i - c`` is a difference of
    nearby numbers (exact) and the rest are small. For non-negative weights
    every term is non-negative, never the difference of two large sums of
    squares (which loses every digit when the mean is large against the
    spread).
    """
    weight = float(sum(p.weight for p in parts))
    center = next((p for p in parts if p.nonzero), parts[0]).center
    offset = float(sum(p.offset + p.weight * (p.center - center) for p in parts))
    merged = R2Stats(
        sum(p.nonzero for p in parts),
        weight,
        center,
        offset,
        0.0,
        float(sum(p.residual for p in parts)),
    )
    squares = 0.0
    for p in parts:
        gap = (p.center - center) + p.shift - merged.shift
        remainder = p.offset - p.shift * p.weight
        squares += p.squares + gap * (2 * remainder + gap * p.weight)
    merged.squares = float(squares)
    return merged
