"""float32 X is stored as float32 end to end, and fits the float64 optimum of
the float32-rounded data."""

from __future__ import annotations

import contextlib

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from dask.callbacks import Callback
from scipy.special import expit, logsumexp, softmax
from sklearn.datasets import dump_svmlight_file, load_svmlight_file, load_wine
from sklearn.metrics import log_loss as sk_log_loss
from sklearn.metrics import roc_auc_score as sk_roc_auc_score
from sklearn.preprocessing import StandardScaler

import dmltk
from dmltk import LogisticRegression, _blocks, _loss, metrics
from dmltk._distributed import current_client
from dmltk.datasets import make_classification
from dmltk.io import read_libsvm, read_table

from .conftest import distance_bound

# Both fits of a pair stop when every gradient entry of the objective / (C n)
# is below TOL (or when it stops decreasing, at 64 eps): their objectives are
# then within ~|gradient|^2 C n of the optimum, far below OBJECTIVE_RTOL.
TOL = 1e-10
OBJECTIVE_RTOL = 1e-10


# ------------------------------------------------------------------ helpers
def rounded(X):
    """The float32 rounding of X, as float64: the data a float32 fit sees."""
    return X.astype(np.float32).astype(np.float64)


def objective(X, y, model, C=1.0):
    """scikit-learn's objective of a fitted model, in float64 on X."""
    codes = np.searchsorted(model.classes_, y)
    z = np.asarray(X @ model.coef_.T) + model.intercept_
    if z.shape[1] == 1:
        losses = np.logaddexp(0.0, z[:, 0]) - codes * z[:, 0]
    else:
        losses = logsumexp(z, axis=1) - z[np.arange(len(y)), codes]
    return C * float(losses.sum()) + 0.5 * float(np.sum(model.coef_**2))


def multinomial_distance_bound(X, y, models, C=1.0):
    """conftest.distance_bound's argument for the multinomial loss: divided by
    C n, the objective is strongly convex with modulus at least 1 / (C n) in
    the weights, so each fit's weights lie within |gradient| C n of the
    optimum's."""
    n = X.shape[0]
    total = 0.0
    for model in models:
        codes = np.searchsorted(model.classes_, y)
        z = np.asarray(X @ model.coef_.T) + model.intercept_
        residual = softmax(z, axis=1)
        residual[np.arange(n), codes] -= 1.0
        gradient = np.asarray(X.T @ residual).T / n + model.coef_ / (C * n)
        parts = [gradient.ravel(), residual.sum(axis=0) / n]
        total += C * n * float(np.linalg.norm(np.concatenate(parts)))
    return total


def assert_same_optimum(X, y, ours32, ours64):
    """Both fits reach the float64 optimum on X (the rounded data)."""
    X = X.toarray() if sp.issparse(X) else X
    assert objective(X, y, ours32) == pytest.approx(
        objective(X, y, ours64), rel=OBJECTIVE_RTOL
    )
    if ours32.coef_.shape[0] == 1:
        y01 = (y == ours32.classes_[1]).astype(float)
        bound = distance_bound(X, y01, [ours32, ours64], 1.0)
    else:
        bound = multinomial_distance_bound(X, y, [ours32, ours64])
    assert bound < 1e-4
    assert np.linalg.norm(ours32.coef_ - ours64.coef_) <= bound
    np.testing.assert_array_equal(ours32.classes_, ours64.classes_)


@contextlib.contextmanager
def aligned_blocks_recorded(scheduler):
    """``(dtype, nbytes)`` of every block of X that fit or partition
    persisted (the results of ``aligned_block`` tasks), read where they were
    stored: in the worker processes, or in this process under threads."""
    seen = []
    if scheduler == "threads":
        results = {}

        def posttask(key, result, dsk, state, worker_id):
            # Graph optimisation fuses the task into one named
            # "array-aligned_block-..." and keeps the key as an alias of the
            # same object: count each block once.
            if _is_aligned_block(key):
                results[id(result)] = result

        with Callback(posttask=posttask):
            yield seen
        seen.extend(_dtype_and_bytes(block) for block in results.values())
        return
    from distributed import WorkerPlugin

    client = current_client()

    # Defined here so that cloudpickle ships the class itself to the workers.
    class Recorder(WorkerPlugin):
        name = "dmltk-test-aligned-blocks"

        def setup(self, worker):
            self.worker, self.seen = worker, []

        def transition(self, key, start, finish, **kwargs):
            # Computed here, not received from another worker.
            computed = start == "executing" and finish == "memory"
            if computed and _is_aligned_block(key):
                self.seen.append(_dtype_and_bytes(self.worker.data[key]))

    client.register_plugin(Recorder())
    try:
        yield seen
        per_worker = client.run(
            lambda dask_worker: dask_worker.plugins[Recorder.name].seen
        )
        seen.extend(item for items in per_worker.values() for item in items)
    finally:
        client.unregister_worker_plugin(Recorder.name)


def _is_aligned_block(key) -> bool:
    # Keys of aligned_block tasks: ("aligned_block-<token>", i, j) from
    # _data.aligned, ("dmltk-aligned_block-<token>", i, j) from pin_blocks.
    name = key[0] if isinstance(key, tuple) else key
    return "aligned_block-" in str(name)


def _dtype_and_bytes(block):
    values = block.data if sp.issparse(block) else block
    return values.dtype, values.nbytes


@pytest.fixture(scope="module")
def problems(breast_cancer):
    """Dense and CSR problems of two and of three classes, in float64."""
    rng = np.random.default_rng(9)
    binary_dense = breast_cancer
    wine_X, wine_y = load_wine(return_X_y=True)
    multi_dense = (StandardScaler().fit_transform(wine_X), wine_y)
    X = sp.random(500, 40, density=0.15, format="csr", random_state=rng)
    scores = X @ rng.standard_normal((40, 3)) + 0.3 * rng.logistic(size=(500, 3))
    binary_sparse = (X, (scores[:, 0] > np.median(scores[:, 0])).astype(int))
    multi_sparse = (X, scores.argmax(axis=1))
    return {
        ("dense", 2): binary_dense,
        ("dense", 3): multi_dense,
        ("sparse", 2): binary_sparse,
        ("sparse", 3): multi_sparse,
    }


# Input forms: (dense or sparse data, how to wrap it).
FORMS = {
    "numpy": ("dense", lambda X: X),
    "dask rows": ("dense", lambda X: da.from_array(X, chunks=(120, -1))),
    "dask columns": ("dense", lambda X: da.from_array(X, chunks=(-1, 8))),
    "dask csr rows": (
        "sparse",
        lambda X: da.from_array(X, chunks=(120, -1), asarray=False),
    ),
    "dask csr columns": (
        "sparse",
        lambda X: da.from_array(X, chunks=(-1, 15), asarray=False),
    ),
}


# --------------------------------------------------------------------- fits
# Every form and loss on threads; on worker processes every form once, the
# loss alternating (a distributed fit costs about 20 threaded ones here, in
# round trips, and computes the same blocks).
FIT_CASES = [
    *[("threads", form, k) for form in FORMS for k in (2, 3)],
    *[("distributed", form, 2 + i % 2) for i, form in enumerate(FORMS)],
]


@pytest.mark.parametrize(
    "scheduler, form, n_classes",
    FIT_CASES,
    indirect=["scheduler"],
    ids=[f"{s}-{f}-{'binomial' if k == 2 else 'multinomial'}" for s, f, k in FIT_CASES],
)
def test_float32_fit_is_the_float64_fit_of_the_rounded_data(
    scheduler, problems, form, n_classes
):
    kind, wrap = FORMS[form]
    X, y = problems[(kind, n_classes)]
    X32 = X.astype(np.float32)
    params = {"tol": TOL, "max_iter": 1000}
    with aligned_blocks_recorded(scheduler) as stored:
        ours32 = LogisticRegression(**params).fit(wrap(X32), y)
    ours64 = LogisticRegression(**params).fit(wrap(rounded(X)), y)
    # What fit persisted is float32, and all of X: half of a float64 copy.
    assert stored and {dtype for dtype, _ in stored} == {np.dtype(np.float32)}
    values = X32.data if sp.issparse(X32) else X32
    assert sum(nbytes for _, nbytes in stored) == values.nbytes
    assert ours32.fit_stats_["layout"] == ours64.fit_stats_["layout"]
    assert_same_optimum(rounded(X), y, ours32, ours64)


def standardized_distance_bound(X, y01, weights, models, C):
    """conftest.distance_bound's argument in the solver's coordinates with
    ``standardize=True``: beta = W * std, whose objective (divided by C S, S
    the weight sum) is strongly convex with modulus 1 / (C S) in beta, so
    each fit's W is within |gradient in beta| C S / min(std) of the
    optimum's."""
    S = weights.sum()
    mean = weights @ X / S
    centred = X - mean
    std = np.sqrt(
        weights @ centred**2 / (S - weights @ weights / S)
    )  # dmltk's (Spark's) unbiased weighted standard deviation
    total = 0.0
    for model in models:
        coef = model.coef_[0]
        residual = weights * (expit(X @ coef + model.intercept_[0]) - y01)
        # Intercept held in centred coordinates: the weights' gradient uses
        # the centred columns.
        gradient = (centred.T @ residual) / (S * std) + coef * std / (C * S)
        parts = [gradient, [residual.sum() / S]]
        total += C * S * float(np.linalg.norm(np.concatenate(parts))) / std.min()
    return total


def test_float32_standardized_weighted_fit(scheduler, problems):
    # Column means and standard deviations are float64 sums of float32 blocks.
    X, y = problems[("sparse", 2)]
    weights = np.linspace(0.5, 2.0, X.shape[0])
    C = 0.5
    params = {"tol": TOL, "max_iter": 1000, "standardize": True, "C": C}
    wrap = FORMS["dask csr rows"][1]
    ours32 = LogisticRegression(**params).fit(
        wrap(X.astype(np.float32)), y, sample_weight=weights
    )
    ours64 = LogisticRegression(**params).fit(
        wrap(rounded(X)), y, sample_weight=weights
    )
    assert ours32.objective_history_[-1] == pytest.approx(
        ours64.objective_history_[-1], rel=OBJECTIVE_RTOL
    )
    bound = standardized_distance_bound(
        rounded(X).toarray(), y.astype(float), weights, [ours32, ours64], C
    )
    assert bound < 1e-4
    assert np.linalg.norm(ours32.coef_ - ours64.coef_) <= bound


def test_partitioned_float32_fit_keeps_its_blocks(client, problems):
    X, y = problems[("dense", 3)]
    X32 = X.astype(np.float32)
    X_parts, y_parts = dmltk.partition(X32, y, by="columns", n_blocks=3)
    with aligned_blocks_recorded("distributed") as stored:
        ours32 = LogisticRegression(tol=TOL, max_iter=1000).fit(X_parts, y_parts)
    # Blocks partition placed in aligned memory are used as they are.
    assert {dtype for dtype, _ in stored} == {np.dtype(np.float32)}
    assert sum(nbytes for _, nbytes in stored) == X32.nbytes
    ours64 = LogisticRegression(tol=TOL, max_iter=1000).fit(
        *dmltk.partition(rounded(X), y, by="columns", n_blocks=3)
    )
    assert_same_optimum(rounded(X), y, ours32, ours64)


def test_other_dtypes_are_still_stored_as_float64(scheduler):
    rng = np.random.default_rng(1)
    X = rng.integers(-3, 4, size=(300, 5))
    y = (X @ rng.standard_normal(5) + rng.logistic(size=300) > 0).astype(int)
    for X_in in (X, X.astype(np.float16), da.from_array(X, chunks=(100, -1))):
        with aligned_blocks_recorded(scheduler) as stored:
            LogisticRegression().fit(X_in, y)
        assert {dtype for dtype, _ in stored} == {np.dtype(np.float64)}


# ------------------------------------------------------------------ predict
PREDICTION_CASES = [("threads", 2), ("threads", 3), ("distributed", 3)]


@pytest.mark.parametrize(
    "scheduler, n_classes",
    PREDICTION_CASES,
    indirect=["scheduler"],
    ids=[f"{s}-{'binomial' if k == 2 else 'multinomial'}" for s, k in PREDICTION_CASES],
)
def test_predictions_on_float32_agree_with_the_rounded_data(
    scheduler, problems, n_classes
):
    X, y = problems[("dense", n_classes)]
    model = LogisticRegression().fit(X, y)
    X32, X_csr32 = X.astype(np.float32), sp.csr_matrix(X.astype(np.float32))
    inputs = {
        "numpy": (X32, rounded(X)),
        "csr": (X_csr32, sp.csr_matrix(rounded(X))),
        "dask": (
            da.from_array(X32, chunks=(50, -1)),
            da.from_array(rounded(X), chunks=(50, -1)),
        ),
        "dask columns": (
            da.from_array(X32, chunks=(50, 7)),
            da.from_array(rounded(X), chunks=(50, 7)),
        ),
    }
    for name, (X_in32, X_in64) in inputs.items():
        for method in ("decision_function", "predict_proba", "predict_log_proba"):
            got32, got64 = dask.compute(
                getattr(model, method)(X_in32), getattr(model, method)(X_in64)
            )
            assert got32.dtype == np.float64, (name, method)
            # The same float64 products summed, perhaps in another order:
            # a few units in the last place of sums of |x_ij w_j| ~ 10.
            np.testing.assert_allclose(got32, got64, rtol=1e-12, atol=1e-12)
        got32, got64 = dask.compute(model.predict(X_in32), model.predict(X_in64))
        np.testing.assert_array_equal(got32, got64)
        assert model.score(X_in32, y) == model.score(X_in64, y)


def test_metrics_of_float32_predictions(client, problems):
    X, y = problems[("dense", 2)]
    model = LogisticRegression().fit(X, y)
    X_dask = da.from_array(X.astype(np.float32), chunks=(100, -1))
    y_dask = da.from_array(y, chunks=100)
    proba = model.predict_proba(X_dask)
    reference = model.predict_proba(rounded(X))
    assert metrics.log_loss(y_dask, proba) == pytest.approx(
        sk_log_loss(y, reference), rel=1e-12
    )
    assert metrics.roc_auc_score(
        y_dask, model.decision_function(X_dask)
    ) == pytest.approx(
        sk_roc_auc_score(y, model.decision_function(rounded(X))), rel=1e-12
    )
    assert metrics.accuracy_score(y_dask, model.predict(X_dask)) == model.score(
        rounded(X), y
    )


# ------------------------------------------------------------------- blocks
def test_aligned_block_keeps_float32_and_copies_only_when_needed():
    block = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert _blocks.aligned_block(block) is block
    # A float32 view at 4 bytes past an 8-byte boundary, as a block
    # deserialised from a message can be.
    buffer = np.zeros(12 * 4 + 8, dtype=np.uint8)
    start = 4 + (-buffer.ctypes.data) % 8
    misaligned = buffer[start : start + 48].view(np.float32).reshape(4, 3)
    misaligned[...] = block
    assert misaligned.ctypes.data % 8 == 4
    copied = _blocks.aligned_block(misaligned)
    assert copied.dtype == np.float32 and copied.ctypes.data % 64 == 0
    assert copied.flags.c_contiguous
    np.testing.assert_array_equal(copied, block)
    fortran = _blocks.aligned_block(np.asfortranarray(block))
    assert fortran.dtype == np.float32 and fortran.flags.c_contiguous
    for other in (np.int64, np.int8, bool, np.float16):
        converted = _blocks.aligned_block(block.astype(other))
        assert converted.dtype == np.float64
        np.testing.assert_array_equal(converted, block.astype(other))
    csr = sp.csr_matrix(block)
    kept = _blocks.aligned_block(csr)
    assert kept.dtype == np.float32 and np.shares_memory(kept.data, csr.data)
    assert _blocks.aligned_block(csr.astype(np.int32)).dtype == np.float64


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_block_sums_of_float32_blocks_are_float64(sparse, n_outputs):
    # Every block function must accumulate in float64: float32 sums would be
    # off by ~1e-7 relative, the float64 ones agree to rounding (1e-12).
    rng = np.random.default_rng(2)
    n, d = 3_000, 7
    X64 = rounded(rng.standard_normal((n, d)) * 3.0 + 1.0)
    if sparse:
        X64[rng.random((n, d)) < 0.6] = 0.0
    X32 = X64.astype(np.float32)
    if sparse:
        X64, X32 = sp.csr_matrix(X64), sp.csr_matrix(X32)
    labels = rng.integers(0, max(2, n_outputs), n).astype(float)
    targets = np.column_stack([labels, rng.uniform(0.5, 2.0, n)])
    coef = rng.standard_normal((d + 1) * n_outputs)
    direction = rng.standard_normal(coef.size)
    weights = coef[: d * n_outputs].reshape((d, n_outputs) if n_outputs > 1 else -1)
    residual = _loss.loss_residual(_loss.margins_block(X64, weights), targets, 0.0)
    calls = {
        "loss_gradient_block": lambda X: _loss.loss_gradient_block(
            X, targets, coef, True
        ),
        "hessian_product_block": lambda X: _loss.hessian_product_block(
            X, targets, np.stack([coef, direction]), True
        ),
        "margins_block": lambda X: _loss.margins_block(X, weights),
        "gradient_block": lambda X: _loss.gradient_block(X, residual),
        "column_sums": lambda X: _blocks.column_sums(X, targets),
        "centred_squares": lambda X: _blocks.centred_squares(
            X, targets, np.linspace(-1.0, 2.0, d)
        ),
    }
    for name, call in calls.items():
        got, expected = call(X32), call(X64)
        assert got.dtype == np.float64, name
        scale = np.max(np.abs(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12 * scale)


# --------------------------------------------------------------- readers
@pytest.mark.parametrize("dense", [False, True], ids=["csr", "dense"])
def test_read_libsvm_float32_matches_sklearn(tmp_path, scheduler, dense):
    rng = np.random.default_rng(4)
    X = sp.random(300, 12, density=0.3, format="csr", random_state=rng)
    X.data = rng.standard_normal(X.nnz) * 10.0 ** rng.integers(-8, 8, X.nnz)
    path = tmp_path / "data.libsvm"
    dump_svmlight_file(X, rng.integers(0, 2, 300), str(path), zero_based=False)
    X_ref, y_ref = load_svmlight_file(str(path), dtype=np.float32, zero_based=False)
    X_got, y_got = read_libsvm(path, blocksize=2_000, dtype=np.float32, dense=dense)
    assert X_got.dtype == np.float32 and y_got.dtype == np.float64
    assert len(X_got.chunks[0]) > 1
    blocks = dask.compute(*X_got.to_delayed().ravel())
    for block in blocks:
        assert isinstance(block, np.ndarray) == dense
        assert (block if dense else block.data).dtype == np.float32
    got = np.vstack(blocks) if dense else sp.vstack(blocks).toarray()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, X_ref.toarray())
    np.testing.assert_array_equal(y_got.compute(), y_ref)
    # The values really are rounded: float64 reading keeps more digits.
    X64, _ = read_libsvm(path, blocksize=2_000, dense=dense)
    assert X64.dtype == np.float64
    got64 = X64.compute()
    got64 = got64 if dense else got64.toarray()
    assert not np.array_equal(got64, got.astype(np.float64))
    np.testing.assert_array_equal(got64.astype(np.float32), got)


def test_read_table_float32(tmp_path, scheduler):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "a": rng.standard_normal(200),
            "b": rng.integers(0, 9, 200),
            "label": rng.integers(0, 2, 200),
        }
    )
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    X, y = read_table(path, label="label", dtype=np.float32)
    assert X.dtype == np.float32
    expected = pd.read_csv(path)[["a", "b"]].to_numpy(dtype=np.float32)
    got = X.compute()
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(y.compute(), frame["label"])


def test_readers_and_generator_refuse_other_dtypes(tmp_path):
    path = tmp_path / "data.libsvm"
    path.write_text("1 1:0.5\n")
    for dtype in (np.float16, np.int32, "not a dtype"):
        with pytest.raises(ValueError, match=r"dtype must be numpy\.float32"):
            read_libsvm(path, dtype=dtype)
        with pytest.raises(ValueError, match=r"dtype must be numpy\.float32"):
            read_table(path, label="label", dtype=dtype)
        with pytest.raises(ValueError, match=r"dtype must be numpy\.float32"):
            make_classification(10, 2, dtype=dtype)


def test_make_classification_float32_is_the_float64_data_rounded(scheduler):
    X32, y32 = make_classification(2_000, 6, n_blocks=4, dtype=np.float32)
    X64, y64 = make_classification(2_000, 6, n_blocks=4)
    assert X32.dtype == np.float32 and X32.chunks == X64.chunks
    blocks32, blocks64, labels32, labels64 = dask.compute(
        list(X32.to_delayed().ravel()), list(X64.to_delayed().ravel()), y32, y64
    )
    for block32, block64 in zip(blocks32, blocks64, strict=True):
        assert block32.dtype == np.float32
        np.testing.assert_array_equal(block32, block64.astype(np.float32))
    np.testing.assert_array_equal(labels32, labels64)


# ------------------------------------------------------ partition and split
@pytest.mark.parametrize("by", ["rows", "columns", "blocks"])
def test_partition_keeps_float32(client, by):
    rng = np.random.default_rng(6)
    dense = rng.standard_normal((400, 10)).astype(np.float32)
    csr = sp.random(400, 10, density=0.3, format="csr", random_state=rng).astype(
        np.float32
    )
    y = rng.integers(0, 2, 400)
    n_blocks = (2, 2) if by == "blocks" else 4
    for X in (dense, csr, da.from_array(dense, chunks=(100, -1))):
        X_parts, y_parts = dmltk.partition(X, y, by=by, n_blocks=n_blocks)
        assert X_parts.dtype == np.float32
        np.testing.assert_array_equal(y_parts.compute(), y)
        blocks = client.compute(list(X_parts.to_delayed().ravel()), sync=True)
        for block in blocks:
            assert (block.data if sp.issparse(block) else block).dtype == np.float32
        got = X_parts.compute()
        got = got.toarray() if sp.issparse(got) else got
        expected = X.toarray() if sp.issparse(X) else np.asarray(X)
        np.testing.assert_array_equal(got, expected)
    # Other dtypes become float64, and the array says so.
    X_parts = dmltk.partition(dense.astype(np.int16), by=by, n_blocks=n_blocks)
    assert X_parts.dtype == np.float64
    assert X_parts.blocks[0, 0].compute().dtype == np.float64


def test_train_test_split_keeps_float32(scheduler):
    rng = np.random.default_rng(7)
    dense = rng.standard_normal((200, 4)).astype(np.float32)
    csr = sp.csr_matrix(dense * (dense > 0.5))
    y = rng.integers(0, 2, 200)
    for X in (
        dense,
        da.from_array(dense, chunks=(50, -1)),
        da.from_array(csr, chunks=(50, -1), asarray=False),
    ):
        X_train, X_test, _, _ = dmltk.train_test_split(X, y, random_state=0)
        for part in (X_train, X_test):
            assert part.dtype == np.float32
            computed = part.compute() if isinstance(part, da.Array) else part
            assert computed.dtype == np.float32
