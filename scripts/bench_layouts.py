"""Benchmark: one model, three layouts (rows, columns, 2-D blocks).

Fits dmltk.LogisticRegression on the same data partitioned by rows, by
columns and in 2-D blocks, on ``LocalCluster(n_workers=2,
threads_per_worker=1)``, for two shapes:

- tall and dense (default 2,000,000 x 100): the row layout should win;
- wide and sparse (default 100,000 x 2,000,000, 30 non-zeros a row): the row
  layout must ship a d-long coefficient vector and gradient for every block
  at every evaluation, the column layout only n-long vectors.

For each it prints the partition time, fit time, evaluations, bytes the
workers sent per evaluation (distributed's transfer counters; all of it, and
the part that went to other workers rather than to the client) and ratios
against the row layout. Not a test: run it by hand, for example::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python scripts/bench_layouts.py
"""

from __future__ import annotations

import argparse
import logging
import time

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from distributed import Client, LocalCluster, wait
from threadpoolctl import threadpool_info

import dmltk
from dmltk.datasets import make_classification

LAYOUTS = ("rows", "columns", "blocks")


def _sparse_rows_block(n_features, nnz_per_row, seed, coef, block_info=None):
    """One row block of a wide sparse problem, labels in the last column."""
    n_rows = block_info[None]["chunk-shape"][0]
    index = block_info[None]["chunk-location"][0]
    rng = np.random.default_rng([seed, index])
    columns = rng.integers(0, n_features, size=(n_rows, nnz_per_row))
    values = rng.standard_normal((n_rows, nnz_per_row))
    indptr = np.arange(0, n_rows * nnz_per_row + 1, nnz_per_row)
    X = sp.csr_matrix((values.ravel(), columns.ravel(), indptr), (n_rows, n_features))
    X.sum_duplicates()
    margins = X @ coef
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-margins))).astype(np.float64)
    return sp.hstack([X, sp.csr_matrix(y[:, None])], format="csr")


def wide_sparse(n, d, nnz_per_row, n_blocks, seed=0):
    """A wide sparse problem generated on the workers, as (X, y)."""
    coef = (
        np.random.default_rng([seed, 1]).standard_normal(d) * 2.0 / np.sqrt(nnz_per_row)
    )
    base, extra = divmod(n, n_blocks)
    rows = tuple(base + (i < extra) for i in range(n_blocks))
    both = da.map_blocks(
        _sparse_rows_block,
        d,
        nnz_per_row,
        seed,
        coef,
        chunks=(rows, (d + 1,)),
        dtype=np.float64,
        meta=sp.csr_matrix((0, 0)),
    )
    X = both[:, :d]
    y = both[:, d].map_blocks(
        lambda b: np.asarray(b.todense()).ravel(), dtype=np.float64, meta=np.empty(0)
    )
    return X, y


def bytes_sent(client) -> int:
    return sum(dmltk._distributed.transfer_bytes(client).values())


def run_layout(client, X, y, by, n_blocks, tol):
    start = time.perf_counter()
    X_parts, y_parts = dmltk.partition(X, y, by=by, n_blocks=n_blocks)
    partition_seconds = time.perf_counter() - start
    grid = dmltk.placement(X_parts).grid
    model = dmltk.LogisticRegression(tol=tol, max_iter=500).fit(X_parts, y_parts)
    stats = model.fit_stats_
    row = {
        "layout": by,
        "grid": f"{grid[0]}x{grid[1]}",
        "partition_s": partition_seconds,
        "fit_s": stats["seconds"],
        "evaluations": stats["evaluations"],
        "mb_per_eval": stats["bytes_sent"] / stats["evaluations"] / 1e6,
        "mb_workers_per_eval": stats["bytes_between_workers"]
        / stats["evaluations"]
        / 1e6,
        "ms_per_eval": 1000 * stats["seconds"] / stats["evaluations"],
        "coef": model.coef_.ravel(),
    }
    del X_parts, y_parts
    return row


def print_table(title, rows):
    print(f"\n{title}")
    header = (
        f"{'layout':<8} {'grid':>6} {'partition s':>12} {'fit s':>8} "
        f"{'evals':>6} {'ms/eval':>8} {'MB/eval':>9} {'w-to-w MB/eval':>15} "
        f"{'fit / rows':>10} {'MB / rows':>10}"
    )
    print(header)
    print("-" * len(header))
    base = rows[0]
    for r in rows:
        print(
            f"{r['layout']:<8} {r['grid']:>6} {r['partition_s']:>12.2f} "
            f"{r['fit_s']:>8.2f} {r['evaluations']:>6} {r['ms_per_eval']:>8.1f} "
            f"{r['mb_per_eval']:>9.3f} {r['mb_workers_per_eval']:>15.3f} "
            f"{r['fit_s'] / base['fit_s']:>10.2f} "
            f"{r['mb_per_eval'] / base['mb_per_eval']:>10.3f}"
        )
    gaps = [
        np.max(np.abs(r["coef"] - base["coef"])) / np.max(np.abs(base["coef"]))
        for r in rows[1:]
    ]
    print(f"largest coefficient difference from the row layout: {max(gaps):.1e}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tall", default="2000000x100", help="n x d of the dense shape"
    )
    parser.add_argument("--wide", default="100000x2000000", help="n x d, sparse")
    parser.add_argument("--nnz", type=int, default=30, help="non-zeros a row, wide")
    parser.add_argument("--blocks", type=int, default=16, help="blocks per layout")
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument("--quick", action="store_true", help="small shapes")
    parser.add_argument("--only", choices=["tall", "wide"], default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.tall, args.wide = "200000x50", "20000x200000"
    tall = tuple(int(v) for v in args.tall.split("x"))
    wide = tuple(int(v) for v in args.wide.split("x"))

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        blas = {
            (i["internal_api"], i.get("architecture"), i["num_threads"])
            for info in client.run(threadpool_info).values()
            for i in info
            if i["user_api"] == "blas"
        }
        print(
            f"dmltk {dmltk.__version__}, dask {dask.__version__}, 2 workers x 1 "
            f"thread, BLAS on workers: {sorted(blas)}, tol={args.tol}"
        )
        shapes = []
        if args.only in (None, "tall"):
            shapes.append(("tall dense", make_classification(*tall, n_blocks=16)))
        if args.only in (None, "wide"):
            shapes.append(
                (
                    f"wide sparse ({args.nnz} non-zeros a row)",
                    wide_sparse(*wide, args.nnz, n_blocks=16),
                )
            )
        for name, (X, y) in shapes:
            X, y = dask.persist(X, y)
            wait([X, y])
            rows = []
            for by in LAYOUTS:
                n_blocks = args.blocks if by != "blocks" else (args.blocks // 4, 4)
                rows.append(run_layout(client, X, y, by, n_blocks, args.tol))
            print_table(f"{name}: {X.shape[0]:,} x {X.shape[1]:,}", rows)
            del X, y


if __name__ == "__main__":
    main()
