"""Timing helpers and the per-evaluation baselines, measured without patching.

The baselines give one distributed evaluation something to be compared
with: one read of X (numpy ``X.sum()`` over the same blocks, in memory and
on the cluster) and a no-op graph of the same shape as dmltk's (coefficients
as one key, one task per row block, a fan-in-4 sum tree), which costs
scheduling and messages alone.
"""

from __future__ import annotations

import itertools
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

FAN_IN = 4


def timed_fit(fit: Callable[[], object]) -> dict:
    """Run ``fit()``: its wall seconds and the wall-clock window it ran in.

    The window (``time.time()``, comparable across processes) lets the
    parent pick the memory samples taken during the fit.
    """
    window_start = time.time()
    start = time.perf_counter()
    fit()
    seconds = time.perf_counter() - start
    return {"fit_seconds": seconds, "fit_start": window_start, "fit_end": time.time()}


def median_seconds(function: Callable[[], object], repeats: int, warmup: int = 1):
    """Median wall seconds of ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------ in memory, 2 threads
def numpy_read_seconds(X: np.ndarray, threads: int = 2, repeats: int = 5) -> float:
    """Median seconds of one read of X (``X.sum()``) on ``threads`` row slices.

    numpy releases the GIL inside reductions, so this uses ``threads`` cores:
    the in-memory floor for one evaluation.
    """
    bounds = np.linspace(0, X.shape[0], threads + 1).astype(int)
    parts = [X[a:b] for a, b in itertools.pairwise(bounds)]
    with ThreadPoolExecutor(threads) as pool:
        return median_seconds(lambda: list(pool.map(np.sum, parts)), repeats)


def csr_read_seconds(X, threads: int = 2, repeats: int = 5) -> float:
    """:func:`numpy_read_seconds` for a CSR matrix: each thread sums the
    ``data``, ``indices`` and ``indptr`` of its row slice, every stored byte
    read once (what an evaluation of a CSR block must read)."""
    bounds = np.linspace(0, X.shape[0], threads + 1).astype(int)
    parts = [
        (X.data[X.indptr[a] : X.indptr[b]], X.indices[X.indptr[a] : X.indptr[b]],
         X.indptr[a : b + 1])
        for a, b in itertools.pairwise(bounds)
    ]  # fmt: skip

    def read(arrays):
        return sum(float(array.sum()) for array in arrays)

    with ThreadPoolExecutor(threads) as pool:
        return median_seconds(lambda: list(pool.map(read, parts)), repeats)


# ---------------------------------------------------------------- on cluster
def noop_group(coef, *blocks):
    """Touch nothing: the cost of scheduling one evaluation's graph."""
    return np.zeros(coef.size + 1)


def read_group(coef, *blocks):
    """Read every block once (``X.sum()``), in the packed result's shape."""
    out = np.zeros(coef.size + 1)
    for block in blocks[::2]:  # X, y, X, y, ...
        out[0] += block.sum()
    return out


def sum_parts(*parts):
    """Element-wise sum of partial results, in the given order."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def reduction_graph(client, X, y, group_function, coef, *, per_worker: bool = True,
                    fan_in: int | None = FAN_IN):  # fmt: skip
    """One evaluation-shaped graph: ``(graph, keys to gather)``.

    ``per_worker=True`` is dmltk's shape: one task per worker over every
    block it holds (read from ``client.who_has``), then a merge tree;
    ``False``, one task per block (the shape before it). ``fan_in=None``
    builds no tree: the leaves' results are gathered and summed by the
    client. Keys are new on every call, so nothing is reused.
    """
    from dask.core import flatten

    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    graph = {**dict(X.__dask_graph__()), **dict(y.__dask_graph__())}
    graph[f"{prefix}-coef"] = coef
    pairs = list(zip(flatten(X.__dask_keys__()), flatten(y.__dask_keys__()),
                     strict=True))  # fmt: skip
    if per_worker:
        home = {key: min(found) for key, found in client.who_has(X).items()}
        groups: dict[str, list] = {}
        for x_key, y_key in pairs:
            groups.setdefault(home.get(x_key, ""), []).extend([x_key, y_key])
        members = [groups[worker] for worker in sorted(groups)]
    else:
        members = [[x_key, y_key] for x_key, y_key in pairs]
    level = []
    for i, keys in enumerate(members):
        level.append((f"{prefix}-leaf", i))
        graph[level[-1]] = (group_function, f"{prefix}-coef", *keys)
    depth = 0
    while fan_in is not None and len(level) > 1:
        depth += 1
        parents = []
        for j in range(0, len(level), fan_in):
            parents.append((f"{prefix}-sum-{depth}", j // fan_in))
            graph[parents[-1]] = (sum_parts, *level[j : j + fan_in])
        level = parents
    return graph, level


class GraphRunner:
    """Run evaluation graphs on a client the way dmltk's evaluator does.

    The previous graph's results are released only after the next graph is
    sent: a release sent first holds the next graph in the client's batched
    stream (10 ms interval), which dmltk avoids, so these graphs must too.
    """

    def __init__(self, client):
        self._client = client
        self._previous = None

    def __call__(self, graph: dict, keys: list) -> np.ndarray:
        """Compute ``keys`` of ``graph``; the sum of their values."""
        futures = self._client.get(graph, keys, sync=False)
        self._previous = None
        results = self._client.gather(futures)
        self._previous = futures
        return sum_parts(*results)


def cluster_baselines(client, X, y, coef: np.ndarray, repeats: int = 10) -> dict:
    """Median seconds of evaluation-shaped graphs on the cluster.

    ``read``: one task per worker that sums its blocks; ``noop``: the same
    tasks doing nothing (scheduling and messages alone); ``noop_per_block``:
    one no-op task per block and a sum tree, the shape before one task per
    worker.
    """
    run = GraphRunner(client)
    variants = {
        "read": (read_group, True),
        "noop": (noop_group, True),
        "noop_per_block": (noop_group, False),
    }
    return {
        name: median_seconds(
            lambda f=function, w=per_worker: run(
                *reduction_graph(client, X, y, f, coef, per_worker=w)
            ),
            repeats,
            warmup=2,
        )
        for name, (function, per_worker) in variants.items()
    }
