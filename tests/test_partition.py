"""Three layouts, one model: partition, placement, and what each fit moves."""

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from distributed import wait
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import dmltk
from dmltk import LogisticRegression
from dmltk.datasets import make_classification

from .conftest import distance_bound, sklearn_objective

TIGHT = {"tol": 1e-10, "max_iter": 2000}


def dense_problem(n=3_000, d=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * rng.uniform(0.5, 2.0, d)
    y = (X @ rng.standard_normal(d) / 3 + rng.logistic(size=n) > 0).astype(int)
    return X, y


def sparse_problem(n=3_000, d=120, seed=1):
    rng = np.random.default_rng(seed)
    X = sp.random(n, d, density=0.08, format="csr", random_state=rng)
    y = (X @ rng.standard_normal(d) + 0.2 * rng.logistic(size=n) > 0).astype(int)
    return X, y


GRIDS = {
    "rows even": ("rows", 4),
    "rows uneven": ("rows", 5),
    "columns even": ("columns", 4),
    "columns uneven": ("columns", 5),
    "blocks even": ("blocks", (2, 2)),
    "blocks uneven": ("blocks", (3, 5)),
}


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize("grid", list(GRIDS.values()), ids=list(GRIDS))
def test_every_layout_gives_sklearns_model(client, kind, grid):
    by, n_blocks = grid
    X, y = dense_problem() if kind == "dense" else sparse_problem()
    X_parts, y_parts = dmltk.partition(X, y, by=by, n_blocks=n_blocks)
    assert dmltk.placement(X_parts).layout == by
    ours = LogisticRegression(**TIGHT).fit(X_parts, y_parts)
    theirs = SkLogisticRegression(**TIGHT).fit(X, y)
    assert ours.fit_stats_["layout"] == by
    X_dense = X.toarray() if sp.issparse(X) else X
    y01 = y.astype(float)
    assert sklearn_objective(
        X_dense, y01, ours.coef_[0], ours.intercept_[0], 1.0
    ) == pytest.approx(
        sklearn_objective(X_dense, y01, theirs.coef_[0], theirs.intercept_[0], 1.0),
        rel=1e-8,
    )
    bound = distance_bound(X_dense, y01, [ours, theirs], 1.0)
    assert np.linalg.norm(ours.coef_ - theirs.coef_) <= max(bound, 1e-9)


def test_the_three_layouts_agree_with_each_other(client):
    X, y = dense_problem(seed=4)
    models = {
        by: LogisticRegression(**TIGHT).fit(*dmltk.partition(X, y, by=by))
        for by in ("rows", "columns", "blocks")
    }
    for by in ("columns", "blocks"):
        np.testing.assert_allclose(
            models[by].coef_, models["rows"].coef_, rtol=1e-6, atol=1e-9
        )
        np.testing.assert_allclose(
            models[by].intercept_, models["rows"].intercept_, rtol=1e-6
        )


def test_threaded_scheduler_fits_column_layouts_too():
    X, y = dense_problem(n=800, d=9)
    with dask.config.set(scheduler="threads"):
        X_cols, y_cols = dmltk.partition(X, y, by="columns", n_blocks=3)
        ours = LogisticRegression(**TIGHT).fit(X_cols, y_cols)
    theirs = SkLogisticRegression(**TIGHT).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-7)


def test_row_layout_moves_less_than_one_percent_of_X(client):
    X, y = make_classification(200_000, 30, n_blocks=8)
    X, y = dmltk.partition(X, y, by="rows", n_blocks=8)
    model = LogisticRegression(tol=1e-6).fit(X, y)
    assert 0 < model.fit_stats_["bytes_sent"] < 0.01 * X.nbytes


def test_column_layout_moves_only_its_n_vectors(client):
    n, d, blocks = 50_000, 40, 4
    X, y = make_classification(n, d, n_blocks=4)
    X, y = dmltk.partition(X, y, by="columns", n_blocks=blocks)
    wait([X, y])
    holders = client.who_has(X)
    model = LogisticRegression(tol=1e-6).fit(X, y)
    stats = model.fit_stats_
    # Margins up and residual down: two n-vectors of float64 per column
    # block per evaluation; 25% slack for message framing and the small
    # summary pass. Blocks stay where they were.
    allowed = stats["evaluations"] * blocks * 2 * n * 8 * 1.25
    assert 0 < stats["bytes_sent"] <= allowed
    assert client.who_has(X) == holders


def test_partition_balances_blocks_that_start_on_one_worker(client):
    X = np.arange(64_000, dtype=float).reshape(8_000, 8)
    y = np.arange(8_000) % 2
    # da.from_array puts the whole array in one task: every block it
    # produces starts on the worker that holds it.
    start = da.from_array(X, chunks=(1_000, 8))
    X_parts, y_parts = dmltk.partition(start, y, by="rows", n_blocks=8)
    report = dmltk.placement(X_parts)
    assert report.imbalance <= 1.1
    assert all(len(w["blocks"]) == 4 for w in report.workers.values())
    # Labels live with the rows they label.
    y_where = client.who_has(y_parts)
    x_where = client.who_has(X_parts)
    x_keys = dask.core.flatten(X_parts.__dask_keys__())
    y_keys = dask.core.flatten(y_parts.__dask_keys__())
    for x_key, y_key in zip(x_keys, y_keys, strict=True):
        assert y_where[y_key] == x_where[x_key]
    np.testing.assert_array_equal(X_parts.compute(), X)
    np.testing.assert_array_equal(y_parts.compute(), y)
    assert y_parts.chunks[0] == X_parts.chunks[0]


@pytest.mark.parametrize("by", ["columns", "blocks"])
def test_partition_preserves_values_in_every_layout(client, by):
    X, y = sparse_problem(n=500, d=37)
    X_parts, y_parts = dmltk.partition(X, y, by=by, n_blocks=6)
    assert dmltk.placement(X_parts).imbalance <= 1.35  # 6 blocks of unequal nnz
    result = X_parts.compute()
    dense = result.toarray() if sp.issparse(result) else np.asarray(result)
    np.testing.assert_array_equal(dense, X.toarray())
    np.testing.assert_array_equal(y_parts.compute(), y)


def test_partition_refuses_bad_arguments(client):
    X = np.zeros((10, 3))
    with pytest.raises(ValueError, match=r"y has 9 labels but X has 10 rows"):
        dmltk.partition(X, np.zeros(9))
    with pytest.raises(ValueError, match=r"by must be one of .*got \(by='diagonal'\)"):
        dmltk.partition(X, by="diagonal")
    with pytest.raises(ValueError, match=r"n_blocks must be positive"):
        dmltk.partition(X, by="rows", n_blocks=0)


def test_placement_report_in_text_and_html(client):
    X, _ = dmltk.partition(*dense_problem(n=1_000, d=6), by="blocks")
    report = dmltk.placement(X)
    assert report.grid == (2, 2)
    text, page = str(report), report._repr_html_()
    for address in report.workers:
        assert address in text and address in page
    assert "blocks layout" in text and "<table>" in page
    with pytest.raises(ValueError, match=r"not persisted"):
        dmltk.placement(da.zeros((4, 4), chunks=2))


def test_blocks_layout_keeps_each_block_row_on_one_worker(client):
    # Tall data: R * d < C * n, so block rows are the units placed together
    # and the margins of a block row are summed without a transfer.
    X, y = dense_problem(n=4_000, d=8)
    X_parts, _ = dmltk.partition(X, y, by="blocks", n_blocks=(4, 2))
    where = client.who_has(X_parts)
    for row in X_parts.__dask_keys__():
        assert len({min(where[key]) for key in row}) == 1
    assert dmltk.placement(X_parts).imbalance <= 1.1
