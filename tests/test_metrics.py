"""dmltk.metrics against scikit-learn, on numpy and on dask arrays of many
uneven blocks, on worker processes and on threads."""

import ast
import functools
import inspect
import uuid
import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from distributed import wait
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import UndefinedMetricWarning

from dmltk import _metric_blocks, _tasks, metrics
from dmltk._distributed import REDUCTION_FAN_IN, row_block_reduction

# 15 row blocks of very different sizes, one of them empty.
UNEVEN = (1, 37, 120, 3, 0, 64, 200, 11, 90, 2, 150, 45, 77, 100, 100)
N = sum(UNEVEN)


def as_dask(values, chunks=UNEVEN):
    values = np.asarray(values)
    return da.from_array(values, chunks=(chunks, *values.shape[1:]))


def binary_data(n=N, seed=0, labels=(0, 1)):
    """Labels, predicted labels, probabilities of labels[1], and weights."""
    rng = np.random.default_rng(seed)
    proba = rng.random(n)
    y_true = np.asarray(labels)[(rng.random(n) < proba).astype(int)]
    y_pred = np.asarray(labels)[(proba > 0.5).astype(int)]
    return y_true, y_pred, proba, rng.uniform(0.1, 3.0, n)


LABEL_METRICS = [
    "accuracy_score",
    "precision_score",
    "recall_score",
    "f1_score",
    "confusion_matrix",
]
LABELS = {
    "int": ((0, 1), {}),
    "str": (("no", "yes"), {"pos_label": "yes"}),
    "bool": ((False, True), {"pos_label": True}),
    "float": ((-1.0, 1.0), {"pos_label": 1.0}),
}


def assert_same(got, expected, rtol=1e-12):
    if isinstance(expected, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=rtol)
    else:
        assert isinstance(got, float)
        assert got == pytest.approx(float(expected), rel=rtol, nan_ok=True)


# ----------------------------------------------------------- label metrics
@pytest.mark.parametrize("name", LABEL_METRICS)
@pytest.mark.parametrize("kind", LABELS)
@pytest.mark.parametrize("weighted", [False, True])
def test_label_metrics_equal_sklearn_on_dask(scheduler, name, kind, weighted):
    labels, options = LABELS[kind]
    if name in ("accuracy_score", "confusion_matrix"):
        options = {}
    y_true, y_pred, _, weight = binary_data(labels=labels)
    weight = weight if weighted else None
    expected = getattr(skm, name)(y_true, y_pred, sample_weight=weight, **options)
    got = getattr(metrics, name)(
        as_dask(y_true),
        as_dask(y_pred, chunks=(N // 2, N - N // 2)),  # other blocks: realigned
        sample_weight=None if weight is None else as_dask(weight),
        **options,
    )
    assert_same(got, expected)


@pytest.mark.parametrize("name", LABEL_METRICS)
def test_numpy_input_goes_to_sklearn(name):
    y_true, y_pred, _, weight = binary_data()
    expected = getattr(skm, name)(y_true, y_pred, sample_weight=weight)
    got = getattr(metrics, name)(y_true, y_pred, sample_weight=weight)
    assert type(got) is type(expected)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("accuracy_score", {"normalize": False}),
        ("confusion_matrix", {"labels": [2, 0, 1]}),
        ("confusion_matrix", {"normalize": "true"}),
        ("confusion_matrix", {"normalize": "all"}),
        ("precision_score", {"average": "macro"}),
        ("recall_score", {"average": "weighted"}),
        ("f1_score", {"average": "micro"}),
        ("f1_score", {"average": None}),
        ("precision_score", {"average": "macro", "labels": [0, 2]}),
    ],
)
def test_options_and_several_classes_equal_sklearn(scheduler, name, options):
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 3, N)
    y_pred = np.where(rng.random(N) < 0.7, y_true, rng.integers(0, 3, N))
    weight = rng.integers(1, 4, N)  # integer weights keep integer counts
    for w in (None, weight):
        expected = getattr(skm, name)(y_true, y_pred, sample_weight=w, **options)
        got = getattr(metrics, name)(
            as_dask(y_true),
            as_dask(y_pred),
            sample_weight=None if w is None else as_dask(w),
            **options,
        )
        assert_same(got, expected)


def test_zero_division_behaves_like_sklearn(scheduler):
    y_true, _, _, _ = binary_data()
    y_pred = np.zeros_like(y_true)  # no predicted positive: precision is 0 / 0
    with pytest.warns(UndefinedMetricWarning, match="Precision is ill-defined"):
        assert metrics.precision_score(as_dask(y_true), as_dask(y_pred)) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = metrics.precision_score(
            as_dask(y_true), as_dask(y_pred), zero_division=1.0
        )
    assert got == skm.precision_score(y_true, y_pred, zero_division=1.0) == 1.0


def test_dask_series_and_frames_are_accepted(scheduler):
    y_true, y_pred, proba, _ = binary_data()
    frame = pd.DataFrame({"y": y_true, "pred": y_pred, "p1": proba, "p0": 1 - proba})
    dask_frame = dd.from_pandas(frame, npartitions=7)
    got = metrics.accuracy_score(dask_frame["y"], dask_frame[["pred"]])
    assert got == skm.accuracy_score(y_true, y_pred)
    got = metrics.roc_auc_score(dask_frame["y"], dask_frame["p1"])
    assert got == pytest.approx(skm.roc_auc_score(y_true, proba), rel=1e-12)
    got = metrics.log_loss(dask_frame["y"], dask_frame[["p0", "p1"]])
    assert got == pytest.approx(skm.log_loss(y_true, proba), rel=1e-12)


def test_dask_predictions_against_numpy_truth(scheduler):
    y_true, y_pred, _, _ = binary_data()
    got = metrics.f1_score(y_true, as_dask(y_pred))
    assert got == pytest.approx(skm.f1_score(y_true, y_pred), rel=1e-15)


# ---------------------------------------------------------------- log loss
@pytest.mark.parametrize("kind", LABELS)
@pytest.mark.parametrize("two_columns", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_log_loss_equals_sklearn(scheduler, kind, two_columns, weighted):
    labels, _ = LABELS[kind]
    y_true, _, proba, weight = binary_data(labels=labels)
    proba[:3] = [0.0, 1.0, 1e-20]  # clipped to [eps, 1 - eps] as sklearn does
    y_proba = np.column_stack([1 - proba, proba]) if two_columns else proba
    weight = weight if weighted else None
    for normalize in (True, False):
        expected = skm.log_loss(
            y_true, y_proba, sample_weight=weight, normalize=normalize
        )
        got = metrics.log_loss(
            as_dask(y_true),
            as_dask(y_proba),
            sample_weight=None if weight is None else as_dask(weight),
            normalize=normalize,
        )
        assert_same(got, expected)


def test_log_loss_with_labels_and_three_classes(scheduler):
    rng = np.random.default_rng(5)
    y_proba = rng.dirichlet([1, 1, 1], N)
    y_true = np.array(["a", "b", "c"])[rng.integers(0, 3, N)]
    expected = skm.log_loss(y_true, y_proba)
    assert_same(metrics.log_loss(as_dask(y_true), as_dask(y_proba)), expected)
    # One class present, the others declared.
    y_one = np.full(N, "b")
    expected = skm.log_loss(y_one, y_proba, labels=["a", "b", "c"])
    got = metrics.log_loss(as_dask(y_one), as_dask(y_proba), labels=["a", "b", "c"])
    assert_same(got, expected)


# ------------------------------------------------------------------ ROC AUC
@pytest.mark.parametrize("kind", LABELS)
@pytest.mark.parametrize("weighted", [False, True])
def test_auc_is_exact_for_few_distinct_scores(scheduler, kind, weighted):
    labels, _ = LABELS[kind]
    y_true, _, proba, weight = binary_data(labels=labels)
    scores = np.round(proba, 2)  # at most 101 distinct values, many ties
    weight = weight if weighted else None
    expected = skm.roc_auc_score(y_true, scores, sample_weight=weight)
    got = metrics.roc_auc_score(
        as_dask(y_true),
        as_dask(scores),
        sample_weight=None if weight is None else as_dask(weight),
        method="exact",
    )
    assert_same(got, expected)


@pytest.mark.parametrize("weighted", [False, True])
def test_binned_auc_is_within_its_stated_bound(scheduler, weighted):
    y_true, _, proba, weight = binary_data(n=20_000, seed=1)
    weight = weight if weighted else None
    exact = skm.roc_auc_score(y_true, proba, sample_weight=weight)
    chunks = (3_000, 7_000, 1, 9_999)
    dask_weight = None if weight is None else as_dask(weight, chunks)
    for n_bins in (10, 1_000):
        auc, bound = metrics._roc_auc_and_bound(
            as_dask(y_true, chunks),
            as_dask(proba, chunks),
            dask_weight,
            "auto",
            n_bins,
            100,
        )
        assert 0 < bound < 1 / n_bins
        assert abs(auc - exact) <= bound
        assert auc == metrics.roc_auc_score(
            as_dask(y_true, chunks),
            as_dask(proba, chunks),
            sample_weight=dask_weight,
            n_bins=n_bins,
            max_exact_scores=100,
        )
    # The default: 20,000 distinct scores are more than max_exact_scores.
    got = metrics.roc_auc_score(
        as_dask(y_true, chunks), as_dask(proba, chunks), sample_weight=dask_weight
    )
    assert abs(got - exact) < 1e-4


def test_binned_auc_bound_is_attained():
    # Every same-bin pair has its positive above its negative: the exact AUC
    # counts each such pair 1, the binned one 1/2, so the error is the bound.
    y_true = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.0, 0.1, 0.2, 0.3, 0.6, 1.0])  # bins [0, .5) and [.5, 1]
    auc, bound = metrics._roc_auc_and_bound(y_true, scores, None, "binned", 2, 1)
    exact = skm.roc_auc_score(y_true, scores)
    # Bin 0 holds 2 negatives and 2 positives, bin 1 one of each: 5 of 9 pairs.
    assert bound == pytest.approx(5 / 9 / 2)
    assert exact - auc == pytest.approx(bound)
    assert metrics.roc_auc_score(y_true, scores, method="binned", n_bins=2) == auc


def test_auc_on_numpy_goes_to_sklearn_unless_binned():
    y_true, _, proba, weight = binary_data()
    expected = skm.roc_auc_score(y_true, proba, sample_weight=weight)
    assert metrics.roc_auc_score(y_true, proba, sample_weight=weight) == expected
    binned = metrics.roc_auc_score(y_true, proba, method="binned", n_bins=50)
    assert binned != expected and abs(binned - expected) < 0.02


def test_auc_of_one_class_is_nan_with_sklearns_warning(scheduler):
    y_true = np.ones(N, dtype=int)
    _, _, proba, _ = binary_data()
    with pytest.warns(UndefinedMetricWarning, match="Only one class"):
        assert np.isnan(metrics.roc_auc_score(as_dask(y_true), as_dask(proba)))


def test_exact_auc_refuses_too_many_distinct_scores(scheduler):
    y_true, _, proba, _ = binary_data()
    with pytest.raises(ValueError, match="more than max_exact_scores=10 distinct"):
        metrics.roc_auc_score(
            as_dask(y_true), as_dask(proba), method="exact", max_exact_scores=10
        )


# --------------------------------------------------------------- bad input
def never_computed(values):
    """A dask array that raises if any of its blocks is ever computed."""

    def fail(block):
        raise AssertionError("a block was computed")

    return as_dask(values).map_blocks(fail, dtype=values.dtype)


def test_mismatched_lengths_are_refused_before_compute():
    y_true, y_pred, proba, weight = binary_data()
    y_true = never_computed(y_true)
    short = as_dask(y_pred[:-1], chunks=(N - 1,))
    message = r"inconsistent numbers of samples: \[1000, 999\] \(y_true has 1000, "
    for call in (
        lambda: metrics.accuracy_score(y_true, short),
        lambda: metrics.confusion_matrix(y_true, y_pred[:-1]),
        lambda: metrics.log_loss(y_true, proba[:-1]),
        lambda: metrics.roc_auc_score(y_true, as_dask(proba[:-1], (N - 1,))),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match=r"sample_weight has 999 rows"):
        metrics.f1_score(y_true, as_dask(y_pred), sample_weight=weight[:-1])


def test_unknown_chunk_sizes_are_refused():
    y_true, y_pred, _, _ = binary_data()
    masked = as_dask(y_pred)[as_dask(y_true) >= 0]  # same rows, unknown sizes
    with pytest.raises(ValueError, match=r"y_pred has unknown chunk sizes"):
        metrics.accuracy_score(as_dask(y_true), masked)


@pytest.mark.parametrize(
    ("argument", "bad", "message"),
    [
        (
            "y_true",
            np.nan,
            r"Input y_true contains NaN: 1 row\(s\), the first at row 207",
        ),
        ("y_pred", np.inf, r"Input y_pred contains infinity: .* at row 207"),
        ("sample_weight", np.nan, r"Input sample_weight contains NaN: .* row 207"),
    ],
)
def test_non_finite_labels_name_their_row(scheduler, argument, bad, message):
    y_true, y_pred, _, weight = binary_data()
    values = {"y_true": y_true, "y_pred": y_pred, "sample_weight": weight}
    values = {k: v.astype(np.float64) for k, v in values.items()}
    values[argument][207] = bad
    with pytest.raises(ValueError, match=message):
        metrics.accuracy_score(
            as_dask(values["y_true"]),
            as_dask(values["y_pred"]),
            sample_weight=as_dask(values["sample_weight"]),
        )


def test_bad_scores_and_probabilities_name_their_row(scheduler):
    y_true, _, proba, _ = binary_data()
    bad = proba.copy()
    bad[300] = np.nan
    with pytest.raises(ValueError, match=r"y_score contains NaN: .* at row 300"):
        metrics.roc_auc_score(as_dask(y_true), as_dask(bad))
    with pytest.raises(ValueError, match=r"y_proba contains NaN: .* at row 300"):
        metrics.log_loss(as_dask(y_true), as_dask(bad))
    bad[300] = 1.5
    with pytest.raises(ValueError, match=r"greater than 1: 1\.5 at row 300"):
        metrics.log_loss(as_dask(y_true), as_dask(bad))
    bad[300] = -0.5
    with pytest.raises(ValueError, match=r"lower than 0: -0\.5 at row 300"):
        metrics.log_loss(as_dask(y_true), as_dask(bad))


def test_labels_outside_the_expected_set_are_refused(scheduler):
    y_true, y_pred, proba, _ = binary_data(labels=("no", "yes"))
    with pytest.raises(ValueError, match=r"pos_label=1 is not a valid label"):
        metrics.precision_score(as_dask(y_true), as_dask(y_pred))
    with pytest.raises(ValueError, match=r"y_true contains values \{'yes'\} not "):
        metrics.log_loss(as_dask(y_true), as_dask(proba), labels=["maybe", "no"])
    with pytest.raises(ValueError, match=r"y_true contains only one label \(no\)"):
        metrics.log_loss(as_dask(np.full(N, "no")), as_dask(proba))
    three = np.where(np.arange(N) % 3 == 0, "maybe", y_true)
    with pytest.raises(ValueError, match=r"needs binary y_true, got 3 classes"):
        metrics.roc_auc_score(as_dask(three), as_dask(proba))
    with pytest.raises(ValueError, match=r"different numbers of classes: 3 vs 2"):
        metrics.log_loss(as_dask(three), as_dask(proba))
    with pytest.raises(ValueError, match=r"Target is multiclass but average='binary'"):
        metrics.f1_score(as_dask(three), as_dask(y_pred), pos_label="yes")


def test_continuous_targets_are_refused(scheduler):
    _, _, proba, _ = binary_data(n=2_500)
    message = r"y_true has more than 1000 distinct values in the row block starting "
    with pytest.raises(ValueError, match=message + "at row 500 "):
        metrics.accuracy_score(
            as_dask(proba, chunks=(500, 2_000)), as_dask(proba > 0.5, (500, 2_000))
        )
    proba = proba[:N]
    with pytest.raises(ValueError, match=r"continuous"):
        metrics.accuracy_score(as_dask(np.round(proba, 1)), as_dask(proba > 0.5))


def test_bad_auc_options_are_refused():
    y_true, _, proba, _ = binary_data()
    with pytest.raises(ValueError, match=r"method must be .* got method='sorted'"):
        metrics.roc_auc_score(y_true, proba, method="sorted")
    with pytest.raises(ValueError, match=r"n_bins must be a positive integer"):
        metrics.roc_auc_score(as_dask(y_true), as_dask(proba), n_bins=0)


# ------------------------------------------------- what travels, and where
def blocks_on_workers(client, n_rows, n_blocks):
    """y_true, y_score and y_pred as dask arrays whose blocks i live, all
    three, on worker i % 2: computed there by tasks pinned to it."""
    workers = sorted(client.scheduler_info()["workers"])
    rows = n_rows // n_blocks

    def make(i, part):
        rng = np.random.default_rng(i)
        score = rng.random(rows)
        if part == "y_true":
            return (rng.random(rows) < score).astype(np.int8)
        return score if part == "y_score" else score > 0.5

    arrays = []
    for part, dtype in (("y_true", np.int8), ("y_score", float), ("y_pred", bool)):
        futures = [
            client.submit(make, i, part, workers=[workers[i % 2]])
            for i in range(n_blocks)
        ]
        wait(futures)
        arrays.append(
            da.concatenate(
                [da.from_delayed(dask.delayed(f), (rows,), dtype) for f in futures]
            )
        )
    return arrays


class Transfers:
    """What workers send from now on: (to the client?, {key: bytes}) each.

    Reads the workers' transfer logs, emptied first (they keep only the last
    entries, so positions in them cannot mark a start).
    """

    def __init__(self, client):
        self.client = client
        self.workers = set(client.scheduler_info()["workers"])
        client.run(lambda dask_worker: dask_worker.transfer_outgoing_log.clear())

    def since_start(self) -> list[tuple[bool, dict]]:
        def log(dask_worker):
            return [
                (entry["who"], entry["keys"])
                for entry in dask_worker.transfer_outgoing_log
            ]

        return [
            (who not in self.workers, keys)
            for entries in self.client.run(log).values()
            for who, keys in entries
        ]


def test_only_small_statistics_leave_the_workers(client):
    n_blocks = 8
    y_true, y_score, y_pred = blocks_on_workers(client, 2_000_000, n_blocks)
    data_bytes = y_true.nbytes + y_score.nbytes + y_pred.nbytes  # 20 MB
    calls = {
        "accuracy": lambda: metrics.accuracy_score(y_true, y_pred),
        "f1": lambda: metrics.f1_score(y_true, y_pred),
        "confusion": lambda: metrics.confusion_matrix(y_true, y_pred),
        "log_loss": lambda: metrics.log_loss(y_true, y_score),
        "auc": lambda: metrics.roc_auc_score(y_true, y_score),
    }
    for name, call in calls.items():
        log = Transfers(client)
        call()
        new = log.since_start()
        to_client = [keys for to_client, keys in new if to_client]
        between_workers = sum(
            sum(keys.values()) for to_client, keys in new if not to_client
        )
        # The client receives one merged statistic per pass (AUC of
        # continuous scores makes two: a summary, then the histograms).
        passes = 2 if name == "auc" else 1
        assert len(to_client) <= passes and all(len(k) == 1 for k in to_client)
        largest = 2 * 8 * metrics.DEFAULT_N_BINS if name == "auc" else 1_000
        assert all(size < largest * 1.05 for k in to_client for size in k.values())
        # Workers exchange partial statistics, not blocks (a block is 2.5 MB;
        # an overloaded scheduler may still move one or two to balance work).
        assert between_workers < 0.25 * data_bytes, (name, between_workers)
    # The logs do record data that reaches the client.
    log = Transfers(client)
    y_score.compute()
    received = sum(sum(k.values()) for to_client, k in log.since_start() if to_client)
    assert received >= y_score.nbytes


def test_reduction_is_one_task_per_worker_and_a_tree_of_small_fan_in(client):
    y_true, y_pred, _, _ = binary_data()
    arrays = metrics._row_aligned(
        y_true=as_dask(y_true).persist(), y_pred=as_dask(y_pred), sample_weight=None
    )
    wait(arrays[0])
    home = {key: min(found) for key, found in client.who_has(arrays[0]).items()}
    graph, root, _ = row_block_reduction(
        _metric_blocks.label_pairs_block, arrays, _metric_blocks.merge_pairs
    )
    tasks = {k: v for k, v in graph.items() if isinstance(v, tuple)}
    leaves = {k: v for k, v in tasks.items() if v[0] is _tasks.group_merge}
    merges = {k: v for k, v in tasks.items() if v[0] is _tasks.merge_with}
    # One task per worker (1 thread each) over every block row it holds: the
    # worker the task names holds every y_true block the task reads.
    assert len(leaves) == len(set(home.values())) == 2
    read = []
    for task in leaves.values():
        worker, n_per_block, n_common = task[3], task[4], task[5]
        rows = task[6 + n_common :]
        own = [rows[i] for i in range(0, len(rows), n_per_block)]
        assert {home[key] for key in own} == {worker}
        read += own
    assert sorted(read) == sorted(home)
    assert len(merges) == 1 and len(merges[root]) - 2 <= REDUCTION_FAN_IN
    # The client receives one small table, equal to the whole data's.
    (partial,) = client.get(graph, [root])
    assert partial.value.nbytes < 100
    assert metrics.accuracy_score(*arrays[:2]) == skm.accuracy_score(y_true, y_pred)


def test_lazy_inputs_are_computed_once_per_metric(client):
    # roc_auc_score takes two passes when scores are many: a lazy y_score
    # (such as a model's decision_function) is persisted for the call, so
    # each of its blocks is computed once.
    y_true, _, proba, _ = binary_data()
    calls = f"dmltk-test-calls-{uuid.uuid4().hex}"
    y_score = as_dask(proba).map_blocks(
        functools.partial(_counted, calls), dtype=np.float64
    )
    got = metrics.roc_auc_score(y_true, y_score, max_exact_scores=10)
    assert got == pytest.approx(skm.roc_auc_score(y_true, proba), abs=1e-3)
    counts = client.run(_count_of, calls)
    assert sum(counts.values()) == len(UNEVEN)


def _counted(name, block):
    import distributed

    worker = distributed.get_worker()
    setattr(worker, name, getattr(worker, name, 0) + 1)
    return block


def _count_of(name, dask_worker):
    return getattr(dask_worker, name, 0)


# ------------------------------------------- block statistics (numpy only)
def test_block_statistics_never_import_dask():
    tree = ast.parse(inspect.getsource(_metric_blocks))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"__future__", "dataclasses", "numpy"}


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 2**16),
    weighted=st.booleans(),
)
def test_merged_block_statistics_equal_the_whole_data(cuts, seed, weighted):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, 200)
    y_pred = rng.integers(0, 3, 200)
    proba = rng.random(200)
    weight = rng.random(200) if weighted else None
    pieces = np.split(np.arange(200), sorted(cuts))

    def part(values, rows):
        return None if values is None else values[rows]

    whole = _metric_blocks.label_pairs_block(y_true, y_pred, weight)
    merged = _metric_blocks.merge_pairs(
        *[
            _metric_blocks.label_pairs_block(y_true[r], y_pred[r], part(weight, r))
            for r in pieces
        ]
    )
    np.testing.assert_array_equal(merged.first, whole.first)
    np.testing.assert_array_equal(merged.second, whole.second)
    np.testing.assert_allclose(merged.weight, whole.weight, rtol=1e-12)

    binary = y_true % 2
    whole = _metric_blocks.log_loss_block(binary, proba, weight)
    merged = _metric_blocks.merge_log_loss(
        *[
            _metric_blocks.log_loss_block(binary[r], proba[r], part(weight, r))
            for r in pieces
        ]
    )
    np.testing.assert_array_equal(merged.labels, whole.labels)
    np.testing.assert_allclose(merged.log_proba, whole.log_proba, rtol=1e-12)
    np.testing.assert_allclose(merged.weight, whole.weight, rtol=1e-12)

    args = (whole_labels := np.unique(binary), 0.0, 1.0, 16)
    whole = _metric_blocks.score_histogram_block(binary, proba, weight, 0, *args)
    merged = _metric_blocks.merge_histograms(
        *[
            _metric_blocks.score_histogram_block(
                binary[r], proba[r], part(weight, r), 0, *args
            )
            for r in pieces
        ]
    )
    assert merged.shape == (len(whole_labels), 16)
    np.testing.assert_allclose(merged, whole, rtol=1e-12)


@given(st.lists(st.floats(-1e308, 1e308), min_size=2, max_size=50))
def test_bins_are_monotone_in_the_score(scores):
    scores = np.sort(np.asarray(scores))
    bins = _metric_blocks.bin_index(scores, scores[0], scores[-1], 7)
    assert np.all(np.diff(bins) >= 0)
    assert bins.min() >= 0 and bins.max() <= 6


# ------------------------------------------------------------- regression
def regression_data(n=N, seed=7):
    """Targets of four kinds, their predictions, and weights.

    "real": any real value; "counts": Poisson counts, zeros included;
    "positive": Gamma, > 0; "offset": real values around 1e9 (the mean is
    large against the spread). Predictions are > 0 except for "real" and
    "offset".
    """
    rng = np.random.default_rng(seed)
    mu = rng.gamma(2.0, 1.5, n)
    real = rng.normal(0.0, 2.0, n)
    real_pred = real + rng.normal(0.0, 1.0, n)
    data = {
        "real": (real, real_pred),
        "counts": (rng.poisson(mu).astype(np.float64), mu),
        "positive": (rng.gamma(3.0, mu / 3.0), mu),
        "offset": (1e9 + real, 1e9 + real_pred),
    }
    return data, rng.uniform(0.1, 3.0, n)


REGRESSION_METRICS = [
    "r2_score",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_poisson_deviance",
    "mean_gamma_deviance",
    "mean_tweedie_deviance",
    "d2_tweedie_score",
]
# Each Tweedie power, and the kind of data in its domain.
TWEEDIE_POWERS = {
    -1: "positive",
    0: "real",
    1: "counts",
    1.5: "counts",
    2: "positive",
    3: "positive",
}
# (metric, options, kind of data)
REGRESSION_CASES = [
    ("r2_score", {}, "real"),
    ("r2_score", {}, "offset"),
    ("mean_squared_error", {}, "real"),
    ("mean_absolute_error", {}, "real"),
    ("mean_poisson_deviance", {}, "counts"),
    ("mean_gamma_deviance", {}, "positive"),
    *[
        (name, {"power": power}, kind)
        for name in ("mean_tweedie_deviance", "d2_tweedie_score")
        for power, kind in TWEEDIE_POWERS.items()
    ],
]


def test_regression_metrics_equal_sklearn_on_dask():
    # Threads (no fixture): the same block and merge functions as on the
    # workers, for every case; test_regression_metrics_on_workers runs each
    # metric once on worker processes.
    data, weight = regression_data()
    half = (N // 2, N - N // 2)
    for name, options, kind in REGRESSION_CASES:
        y_true, y_pred = data[kind]
        for w in (None, weight):
            expected = getattr(skm, name)(y_true, y_pred, sample_weight=w, **options)
            got = getattr(metrics, name)(
                as_dask(y_true),
                as_dask(y_pred, chunks=half),  # other blocks: realigned
                sample_weight=None if w is None else as_dask(w),
                **options,
            )
            assert isinstance(got, float), (name, options)
            assert got == pytest.approx(expected, rel=1e-12), (name, options, w)


def test_regression_metrics_on_workers(client):
    data, weight = regression_data()
    y_true, y_pred = data["positive"]
    # Each block function and loss once (a call is 0.3-1 s): R^2's
    # statistics, the absolute error, and D^2's two passes (the mean, then
    # Tweedie deviances); the other metrics are these block functions too.
    for name, options in [
        ("r2_score", {}),
        ("mean_absolute_error", {}),
        ("d2_tweedie_score", {"power": 1.5}),
    ]:
        expected = getattr(skm, name)(y_true, y_pred, sample_weight=weight, **options)
        got = getattr(metrics, name)(
            as_dask(y_true),
            as_dask(y_pred, chunks=(N // 3, N - N // 3)),
            sample_weight=as_dask(weight),
            **options,
        )
        assert got == pytest.approx(expected, rel=1e-12), name
    # A block's domain error reaches the client with its row.
    y_true, y_pred = data["counts"]
    y_true[321] = -1.0
    message = (
        r"^Mean Tweedie deviance error with power=1 can only be used on "
        r"non-negative y and strictly positive y_pred\. Got y_true=-1\.0 at row "
        r"321 \(1 such row\(s\) in the row block starting at row 225\)\.$"
    )
    with pytest.raises(ValueError, match=message):
        metrics.mean_poisson_deviance(as_dask(y_true), as_dask(y_pred))


def test_r2_keeps_its_digits_far_from_zero():
    # Around -3e14 with a spread of 2, scikit-learn's R^2 is off in the
    # fourth digit; the merged one is exact to rounding (exact arithmetic on
    # the same floats as the oracle).
    from fractions import Fraction

    data, _ = regression_data(n=300)
    real, real_pred = data["real"]
    y_true, y_pred = -3e14 + real, -3e14 + real_pred
    exact = [Fraction(v) for v in y_true]
    mean = sum(exact) / len(exact)
    total = sum((v - mean) ** 2 for v in exact)
    residual = sum((t - Fraction(p)) ** 2 for t, p in zip(exact, y_pred, strict=True))
    expected = float(1 - residual / total)
    chunks = (1, 99, 0, 150, 50)
    got = metrics.r2_score(as_dask(y_true, chunks), as_dask(y_pred, chunks))
    assert got == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("name", REGRESSION_METRICS)
def test_regression_numpy_input_goes_to_sklearn(name):
    data, weight = regression_data()
    y_true, y_pred = data["positive"]
    expected = getattr(skm, name)(y_true, y_pred, sample_weight=weight)
    got = getattr(metrics, name)(y_true, y_pred, sample_weight=weight)
    assert type(got) is type(expected) and got == expected


def test_regression_options_and_special_cases():
    # Threads (no fixture): these check semantics, not placement.
    data, weight = regression_data()
    y_true, y_pred = data["real"]
    dask_true, dask_pred = as_dask(y_true), as_dask(y_pred)
    for name in ("mean_squared_error", "mean_absolute_error", "r2_score"):
        expected = getattr(skm, name)(y_true, y_pred, multioutput="raw_values")
        got = getattr(metrics, name)(dask_true, dask_pred, multioutput="raw_values")
        assert got.shape == (1,) and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    for multioutput in (None, "variance_weighted"):
        got = metrics.r2_score(dask_true, dask_pred, multioutput=multioutput)
        assert got == pytest.approx(skm.r2_score(y_true, y_pred), rel=1e-12)
    # A constant y_true: SS_tot is 0.
    constant = np.full(N, 2.5)
    for force_finite in (True, False):
        for prediction in (constant, y_pred):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = skm.r2_score(constant, prediction, force_finite=force_finite)
                got = metrics.r2_score(
                    as_dask(constant), as_dask(prediction), force_finite=force_finite
                )
            assert got == expected or (np.isnan(got) and np.isnan(expected))
    with pytest.raises(ZeroDivisionError):  # as in scikit-learn
        metrics.d2_tweedie_score(as_dask(constant), dask_pred)
    # Fewer than two rows: scikit-learn's warning and NaN, or its error.
    with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
        assert np.isnan(metrics.r2_score(dask_true[:1], dask_pred[:1]))
    with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
        assert np.isnan(metrics.d2_tweedie_score(dask_true[:1], dask_pred[:1]))
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        metrics.mean_squared_error(dask_true[:0], dask_pred[:0])
    # Dask Series and a one-column frame.
    frame = dd.from_pandas(pd.DataFrame({"y": y_true, "p": y_pred}), npartitions=7)
    got = metrics.mean_absolute_error(frame["y"], frame[["p"]])
    assert got == pytest.approx(skm.mean_absolute_error(y_true, y_pred), rel=1e-12)
    # Zero weights are left out; negative weights count as scikit-learn
    # counts them, including blocks whose weights cancel.
    signed = weight.copy()
    signed[:40] = 0.0
    signed[100:102] = [-1.0, 1.0]
    signed[500:600] *= -0.1
    for name in ("r2_score", "mean_squared_error", "d2_tweedie_score"):
        expected = getattr(skm, name)(y_true, y_pred, sample_weight=signed)
        got = getattr(metrics, name)(
            dask_true, dask_pred, sample_weight=as_dask(signed, (100, 2, 898))
        )
        assert got == pytest.approx(expected, rel=1e-12), name


def test_d2_computes_lazy_predictions_once():
    # Two passes, but a lazy y_pred (a model's predict) is persisted first.
    data, _ = regression_data()
    y_true, y_pred = data["counts"]
    calls = []

    def counted(block):
        calls.append(len(block))
        return block

    lazy = as_dask(y_pred).map_blocks(counted, meta=np.array([], np.float64))
    got = metrics.d2_tweedie_score(as_dask(y_true), lazy, power=1)
    assert got == pytest.approx(skm.d2_tweedie_score(y_true, y_pred, power=1))
    assert sorted(calls) == sorted(UNEVEN)


def test_bad_regression_input_is_refused():
    data, weight = regression_data()
    y_true, y_pred = data["counts"]
    negative = y_true.copy()
    negative[[321, 700]] = -1.0
    with pytest.raises(ValueError, match=r"non-negative y .* Got y_true=-1\.0 at "):
        metrics.mean_poisson_deviance(as_dask(negative), as_dask(y_pred))
    with pytest.raises(ValueError, match=r"strictly positive y and y_pred\. Got y_t"):
        metrics.mean_gamma_deviance(as_dask(y_true), as_dask(y_pred))  # zeros
    zero_pred = y_pred.copy()
    zero_pred[999] = 0.0
    with pytest.raises(ValueError, match=r"Got y_pred=0\.0 at row 999 "):
        metrics.d2_tweedie_score(as_dask(y_true), as_dask(zero_pred), power=1.5)
    nan = y_pred.copy()
    nan[207] = np.nan
    with pytest.raises(ValueError, match=r"y_pred contains NaN: .* at row 207"):
        metrics.r2_score(as_dask(y_true), as_dask(nan))
    with pytest.raises(ValueError, match=r"sample_weight contains infinity"):
        metrics.mean_squared_error(
            as_dask(y_true), y_pred, sample_weight=np.where(nan > 0, weight, np.inf)
        )
    with pytest.raises(ValueError, match=r"at least one non-zero number"):
        metrics.r2_score(as_dask(y_true), y_pred, sample_weight=0 * weight)
    never = never_computed(y_true)
    message = r"inconsistent numbers of samples: \[1000, 999\] \(y_true has 1000, "
    for name in ("r2_score", "mean_absolute_error", "d2_tweedie_score"):
        with pytest.raises(ValueError, match=message):
            getattr(metrics, name)(never, y_pred[:-1])
    for power in (0.5, float("nan"), "1"):
        with pytest.raises(ValueError, match=r"'power' parameter of mean_tweedie_dev"):
            metrics.mean_tweedie_deviance(never, y_pred, power=power)
    with pytest.raises(ValueError, match=r"multi-output targets are not supported"):
        metrics.r2_score(as_dask(np.c_[y_true, y_true]), np.c_[y_pred, y_pred])
    with pytest.raises(ValueError, match=r"'multioutput' parameter of r2_score"):
        metrics.r2_score(never, y_pred, multioutput="sum")
    with pytest.raises(ValueError, match=r"Custom weights are useful only in multi"):
        metrics.mean_squared_error(never, y_pred, multioutput=[0.5])


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(0, 200), max_size=6),
    seed=st.integers(0, 2**16),
    weights=st.sampled_from(["none", "positive", "some zero", "signed"]),
    offset=st.sampled_from([0.0, 1e9]),
)
def test_merged_regression_statistics_equal_the_whole_data(cuts, seed, weights, offset):
    rng = np.random.default_rng(seed)
    y_true = offset + rng.gamma(2.0, 1.5, 200)
    y_pred = offset + rng.gamma(2.0, 1.5, 200)
    weight = {
        "none": None,
        "positive": rng.random(200),
        "some zero": rng.random(200) * (rng.random(200) < 0.5),
        "signed": rng.normal(1.0, 1.0, 200),
    }[weights]
    pieces = np.split(np.arange(200), sorted(cuts))

    def part(values, rows):
        return None if values is None else values[rows]

    def merged(block, merge, *args):
        return merge(
            *[block(y_true[r], y_pred[r], part(weight, r), 0, *args) for r in pieces]
        )

    whole = _metric_blocks.r2_block(y_true, y_pred, weight)
    parts = merged(_metric_blocks.r2_block, _metric_blocks.merge_r2)
    assert parts.nonzero == whole.nonzero
    np.testing.assert_allclose(parts.weight, whole.weight, rtol=1e-12)
    np.testing.assert_allclose(parts.residual, whole.residual, rtol=1e-12)
    if weights != "signed":  # else the squares can cancel to anything
        np.testing.assert_allclose(parts.squares, whole.squares, rtol=1e-11)
    for loss in (_metric_blocks.AbsoluteError(), _metric_blocks.TweedieDeviance(1.5)):
        whole = _metric_blocks.loss_sums_block(y_true, y_pred, weight, 0, loss, 2.0)
        parts = merged(
            _metric_blocks.loss_sums_block, _metric_blocks.merge_sums, loss, 2.0
        )
        np.testing.assert_allclose(parts.sums, whole.sums, rtol=1e-12)


@pytest.mark.parametrize("power", TWEEDIE_POWERS)
@pytest.mark.parametrize("weighted", [False, True])
def test_one_block_deviance_is_sklearns_bit_for_bit(power, weighted):
    data, weight = regression_data()
    y_true, y_pred = data[TWEEDIE_POWERS[power]]
    weight = weight if weighted else None
    loss = _metric_blocks.TweedieDeviance(power)
    got = _metric_blocks.loss_sums_block(y_true, y_pred, weight, 0, loss).means()[0]
    assert got == skm.mean_tweedie_deviance(
        y_true, y_pred, sample_weight=weight, power=power
    )
