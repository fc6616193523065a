"""Where the benchmarks' clusters and Spark sessions come from: here only.

Dask clusters come from :func:`dmltk.connect`, as users get them (work
stealing off: it would move persisted blocks). Spark sessions are
``local[2]`` with a 12 GB driver, as /work/shared/PEERS.md says.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from . import data
from .problems import Problem


def local_client(n_workers: int = 2, threads_per_worker: int = 1, **options):
    """A client on a new ``LocalCluster`` from :func:`dmltk.connect`.

    Parameters
    ----------
    n_workers, threads_per_worker : int
        Worker processes and threads each (the benchmarks' 2 x 1 by default).
    **options
        More ``LocalCluster`` options (``memory_limit``, ...).

    Returns
    -------
    distributed.Client
        Closing it closes the cluster.
    """
    import dmltk

    # A random dashboard port: another engineer's tests may hold 8787.
    options = {"dashboard_address": ":0", "silence_logs": logging.ERROR, **options}
    return dmltk.connect(
        n_workers=n_workers, threads_per_worker=threads_per_worker, **options
    )


def _template(problem: Problem):
    """Lazy dask arrays (never computed) with the problem's chunks and keys."""
    import dask.array as da
    import numpy as np
    import scipy.sparse as sp

    name = f"bench-{problem.name}-{problem.n}-{problem.d}-{problem.seed}"
    chunks = (problem.row_chunks, (problem.d,))
    meta = sp.csr_matrix((0, 0)) if problem.kind == "sparse" else np.empty((0, 0))
    X = da.zeros((problem.n, problem.d), chunks=chunks, name=f"{name}-X")
    X = X.map_blocks(lambda b: b, dtype=problem.dtype, meta=meta, name=f"{name}-Xm")
    y = da.zeros((problem.n,), chunks=(problem.row_chunks,), name=f"{name}-y")
    return X, y


def persist_pinned(client, problem: Problem):
    """X and y generated on the workers, block i on worker ``i * W // blocks``.

    Left to the scheduler, the generating tasks landed 5/11 on two workers
    in one run of six, which would make a timing depend on luck; contiguous
    halves is the layout a balanced persist gives. Each y block is computed
    where its X block is. Returns dask arrays on the futures, as ``persist``
    would.
    """
    from dask.core import flatten
    from distributed import wait

    X, y = _template(problem)
    # Once to every worker, rather than inside each of 2 * blocks tasks.
    [spec] = client.scatter([problem.spec()], broadcast=True)
    workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    keys = zip(flatten(X.__dask_keys__()), flatten(y.__dask_keys__()), strict=True)
    x_futures, y_futures = {}, {}
    for i, ((x_key, y_key), rows) in enumerate(
        zip(keys, problem.row_chunks, strict=True)
    ):
        where = [workers[i * len(workers) // problem.blocks]]
        x_futures[x_key] = client.submit(
            data.block_features, problem.kind, spec, i, rows,
            key=x_key, workers=where, pure=False,
        )  # fmt: skip
        y_futures[y_key] = client.submit(
            data.block_targets, problem.kind, spec, i, x_futures[x_key],
            key=y_key, workers=where, pure=False,
        )  # fmt: skip
    wait([*x_futures.values(), *y_futures.values()])
    return _on_futures(X, x_futures), _on_futures(y, y_futures)


def _on_futures(array, futures: dict):
    """``array`` rebuilt on already computed ``{key: Future}``, as persist does."""
    rebuild, args = array.__dask_postpersist__()
    return rebuild(futures, *args)


def blocks_per_worker(client, X) -> list[int]:
    """How many blocks of X each worker holds, sorted."""
    return sorted(Counter(w[0] for w in client.who_has(X).values()).values())


def worker_info(client, X, modules: list[str]) -> dict:
    """Blocks per worker, the workers' BLAS, and their import seconds.

    ``modules`` are imported on every worker before anything is timed.
    """
    from .report import blas_info

    return {
        "blocks_per_worker": blocks_per_worker(client, X),
        "worker_import_seconds": warm_workers(client, modules),
        "worker_blas": next(iter(client.run(blas_info).values())),
    }


def warm_workers(client, modules: list[str]) -> float:
    """Import ``modules`` on every worker before timing; the slowest's seconds.

    A fresh worker otherwise imports the package inside the first fit, as
    scikit-learn would be imported before its fit is timed.
    """
    return max(client.run(_import_seconds, modules).values())


def _import_seconds(modules: list[str]) -> float:
    import importlib

    start = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    return time.perf_counter() - start


def spark_session(app_name: str = "dmltk-bench"):
    """A ``local[2]`` Spark session with a 12 GB driver, quiet logs, no UI.

    Parameters
    ----------
    app_name : str

    Returns
    -------
    pyspark.sql.SparkSession
    """
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.driver.memory", "12g")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session
