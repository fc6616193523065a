"""Partition data over the workers: rows, columns or 2-D blocks.

:func:`partition` rechunks an array to a layout, persists it, and places its
blocks so that every worker holds about the same number of bytes.
:func:`placement` tells where the blocks of a persisted array live.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from distributed import wait

from . import _data
from ._blocks import aligned_block, aligned_meta, storage_dtype
from ._distributed import block_keys, current_client, layout_of

LAYOUTS = ("rows", "columns", "blocks")

# Blocks of about this size: large enough that per-task overhead (about a
# millisecond) is small against the pass over the block, small enough that
# every worker gets several.
TARGET_BLOCK_BYTES = 64 * 1024**2


def partition(X, y=None, *, by: str = "rows", n_blocks=None, client=None):
    """Rechunk X (and y) to a layout, persist them and balance the workers.

    Parameters
    ----------
    X : dask array, numpy array or scipy.sparse matrix of shape (n, d)
        The data. Dense or CSR blocks; float32 stays float32, other dtypes
        become float64.
    y : array-like or dask array of shape (n,), optional
        Labels; always split like the rows of X and kept on the worker that
        holds the first block of their block row.
    by : {"rows", "columns", "blocks"}, default="rows"
        ``"rows"``: each block holds some samples and all features.
        ``"columns"``: each block holds some features and all samples.
        ``"blocks"``: a grid of both.
    n_blocks : int or (int, int), optional
        Number of blocks. For ``"blocks"``, an int ``k`` becomes a grid of
        ``c = max(2, floor(sqrt(k)))`` block columns by ``max(2, ceil(k / c))``
        block rows; a pair gives the grid. Default: enough blocks of about
        64 MiB (sparse data counted as a tenth of its dense size), at least
        one per worker (two for ``"blocks"``), rounded up to a multiple of
        the number of workers.
    client : distributed.Client, optional
        Default: the current client. Without one (threaded scheduler, one
        process) blocks are persisted in this process; there is nothing to
        balance.

    Returns
    -------
    X or (X, y) : dask arrays
        Persisted, in aligned C-contiguous float32 or float64 (or CSR)
        blocks.

    Raises
    ------
    ValueError
        Unknown layout, bad ``n_blocks``, or y whose length is not X's.

    Notes
    -----
    Blocks are placed whole units at a time: a unit is a block row for
    ``"rows"``, a block column for ``"columns"``, and, for ``"blocks"``, a
    block row when ``R * d < C * n`` (the gradient slices that then travel
    are shorter than the margins) and a block column otherwise. Units stay
    where they are if the workers are already balanced within 10%; else
    contiguous ranges of units of about equal bytes go to each worker, so
    that the sums of neighbouring blocks are formed without a transfer.

    Examples
    --------
    >>> X, y = dmltk.partition(X, y, by="columns")  # doctest: +SKIP
    >>> print(dmltk.placement(X))  # doctest: +SKIP
    """
    if by not in LAYOUTS:
        raise ValueError(f"by must be one of {LAYOUTS}, got (by={by!r}).")
    X = _as_dask_matrix(X)
    if y is not None:
        y = _data.label_array(y)
        if not (math.isnan(y.shape[0]) or math.isnan(X.shape[0])) and (
            y.shape[0] != X.shape[0]
        ):
            raise ValueError(
                f"y has {y.shape[0]} labels but X has {X.shape[0]} rows: they must "
                "have the same length."
            )
    client = client if client is not None else current_client()
    workers = _worker_addresses(client)
    grid = _grid(X, by, n_blocks, max(1, len(workers)))
    # Distributed's P2P rechunk handles dense blocks only.
    method = "tasks" if sp.issparse(X._meta) else None
    X = X.rechunk(_even_chunks(X.shape, grid), method=method)
    if y is not None:
        y = y.rechunk((X.chunks[0],))
    if client is None or len(workers) < 2:
        X = _data.aligned(X)
        persisted = dask.persist(X) if y is None else dask.persist(X, y)
    else:
        persisted = _place(client, workers, X, y)
    return persisted[0] if y is None else tuple(persisted)


def _as_dask_matrix(X) -> da.Array:
    if _data.is_dask(X):
        X, _ = _data.feature_array(X)
        if _data.has_unknown_chunks(X):
            X = X.compute_chunk_sizes()
        return X
    if sp.issparse(X):
        return da.from_array(sp.csr_matrix(X), chunks=X.shape, asarray=False)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array, got shape {X.shape}.")
    return da.from_array(X, chunks=X.shape)


def _worker_addresses(client) -> list[str]:
    if client is None:
        return []
    return sorted(client.scheduler_info(n_workers=-1)["workers"])


def _grid(X: da.Array, by: str, n_blocks, n_workers: int) -> tuple[int, int]:
    n, d = X.shape
    if n_blocks is None:
        itemsize = storage_dtype(X.dtype).itemsize
        total_bytes = n * d * itemsize / (10 if sp.issparse(X._meta) else 1)
        at_least = n_workers * (2 if by == "blocks" else 1)
        wanted = max(at_least, math.ceil(total_bytes / TARGET_BLOCK_BYTES))
        n_blocks = n_workers * math.ceil(wanted / n_workers)
    if by == "blocks":
        if isinstance(n_blocks, tuple):
            rows, columns = n_blocks
        else:
            columns = max(2, math.isqrt(int(n_blocks)))
            rows = max(2, math.ceil(int(n_blocks) / columns))
    elif isinstance(n_blocks, tuple):
        raise ValueError(
            f"n_blocks must be an int for by={by!r}, got (n_blocks={n_blocks})."
        )
    else:
        rows, columns = (n_blocks, 1) if by == "rows" else (1, n_blocks)
    if min(rows, columns) < 1:
        raise ValueError(f"n_blocks must be positive, got (n_blocks={n_blocks}).")
    return min(rows, max(1, n)), min(columns, max(1, d))


def _even_chunks(shape: tuple, grid: tuple) -> tuple:
    def split(length, parts):
        base, extra = divmod(length, parts)
        return tuple(base + (i < extra) for i in range(parts))

    return split(shape[0], grid[0]), split(shape[1], grid[1])


def _units(X: da.Array) -> list[list[tuple[int, int]]]:
    """Groups of block indices that are placed together on one worker."""
    rows, columns = len(X.chunks[0]), len(X.chunks[1])
    n, d = X.shape
    by_rows = columns == 1 or (rows > 1 and rows * d < columns * n)
    if by_rows:
        return [[(i, j) for j in range(columns)] for i in range(rows)]
    return [[(i, j) for i in range(rows)] for j in range(columns)]


def _plan(unit_bytes: list[float], current: list, workers: list[str]) -> list[str]:
    """The worker of every unit.

    Units stay where they are when that is already balanced (largest worker
    within 10% of the mean). Otherwise consecutive units go to the same
    worker, in contiguous ranges of about equal bytes: the first levels of
    the sum trees, which merge consecutive blocks, then run without moving
    data between workers.
    """
    share = sum(unit_bytes) / len(workers)
    load = dict.fromkeys(workers, 0.0)
    for size, here in zip(unit_bytes, current, strict=True):
        if here in load:
            load[here] += size
    placed = all(here in load for here in current)
    if placed and max(load.values()) <= 1.1 * share:
        return list(current)
    targets, done = [], 0.0
    for size in unit_bytes:
        middle = done + size / 2
        targets.append(workers[min(len(workers) - 1, int(middle // share))])
        done += size
    return targets


def _place(client, workers: list[str], X: da.Array, y):
    """Persist X and y with every unit of blocks on its planned worker."""
    # First compute the blocks wherever Dask finds it cheapest, to learn
    # their sizes and where they are; then move only what must move.
    raw = dask.persist(X) if y is None else dask.persist(X, y)
    wait(raw)
    X_raw = raw[0]
    keys = X_raw.__dask_keys__()
    sizes = client.nbytes(block_keys(X_raw), summary=False)
    where = client.who_has(X_raw)
    units = _units(X_raw)
    unit_bytes = [sum(sizes[keys[i][j]] for i, j in unit) for unit in units]
    # A unit counts as placed only if all its blocks share one worker.
    current = []
    for unit in units:
        holders = {_first_holder(where, keys[i][j]) for i, j in unit}
        current.append(holders.pop() if len(holders) == 1 else None)
    targets = _plan(unit_bytes, current, workers)
    block_worker = {
        block: target
        for unit, target in zip(units, targets, strict=True)
        for block in unit
    }
    # The copy into aligned memory runs on the target worker, after the move:
    # a block received over the network can sit at a misaligned address.
    meta = aligned_meta(sp.issparse(X_raw._meta), X_raw.dtype)
    placed = [
        _data.pin_blocks(
            client, X_raw, block_worker.__getitem__, aligned_block, meta=meta
        )
    ]
    if y is not None:
        placed.append(
            _data.pin_blocks(client, raw[1], lambda i: block_worker[(*i, 0)], _same)
        )
    # Return once the blocks are in place, so that later work (and its
    # transfer counts) does not overlap with the moves.
    wait(placed)
    return placed


def _first_holder(who_has: dict, key) -> str | None:
    holders = who_has.get(key) or ()
    return sorted(holders)[0] if holders else None


def _same(block):
    return block


@dataclass
class Placement:
    """Where the blocks of a persisted array live.

    Attributes
    ----------
    layout : str
        ``"rows"``, ``"columns"`` or ``"blocks"``.
    grid : (int, int)
        Block rows and block columns.
    workers : dict
        Worker address -> ``{"blocks": [(i, j), ...], "bytes": int}``.
    imbalance : float
        Largest worker's bytes over the mean (1.0 is perfect balance).
    """

    layout: str
    grid: tuple[int, int]
    workers: dict[str, dict]
    imbalance: float

    def _rows(self):
        total = sum(w["bytes"] for w in self.workers.values()) or 1
        for address, info in sorted(self.workers.items()):
            yield (
                address,
                len(info["blocks"]),
                info["bytes"] / 2**20,
                100.0 * info["bytes"] / total,
                _compact(info["blocks"]),
            )

    def __str__(self) -> str:
        lines = [
            f"{self.layout} layout, {self.grid[0]} x {self.grid[1]} blocks, "
            f"imbalance {self.imbalance:.2f} (largest worker / mean)",
            f"{'worker':<28} {'blocks':>6} {'MiB':>10} {'share':>7}  which",
        ]
        for address, count, mib, share, which in self._rows():
            lines.append(
                f"{address:<28} {count:>6} {mib:>10.1f} {share:>6.1f}%  {which}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(a)}</td><td>{c}</td><td>{m:.1f}</td>"
            f"<td>{s:.1f}%</td><td>{html.escape(w)}</td></tr>"
            for a, c, m, s, w in self._rows()
        )
        return (
            f"<p>{self.layout} layout, {self.grid[0]} &times; {self.grid[1]} blocks, "
            f"imbalance {self.imbalance:.2f} (largest worker / mean)</p>"
            "<table><thead><tr><th>worker</th><th>blocks</th><th>MiB</th>"
            f"<th>share</th><th>which</th></tr></thead><tbody>{rows}</tbody></table>"
        )


def _compact(blocks: list) -> str:
    shown = " ".join(f"({i},{j})" for i, j in blocks[:8])
    return shown + (" ..." if len(blocks) > 8 else "")


def placement(X, client=None) -> Placement:
    """Where the blocks of a persisted dask array live, and how balanced.

    Parameters
    ----------
    X : dask.array.Array
        Persisted on a distributed cluster.
    client : distributed.Client, optional
        Default: the current client.

    Returns
    -------
    Placement
        Prints as a table in a terminal, renders as HTML in Jupyter.

    Raises
    ------
    ValueError
        No distributed client, or X is not persisted.
    """
    client = client if client is not None else current_client()
    if client is None:
        raise ValueError(
            "placement needs a distributed client: under the threaded scheduler "
            "every block lives in this process."
        )
    if not _data.is_persisted(X):
        raise ValueError("X is not persisted: call partition(X) or X.persist().")
    wait(X)
    keys = X.__dask_keys__()
    sizes = client.nbytes(block_keys(X), summary=False)
    who_has = client.who_has(X)
    workers = {
        w: {"blocks": [], "bytes": 0}
        for w in client.scheduler_info(n_workers=-1)["workers"]
    }
    for i, row in enumerate(keys):
        for j, key in enumerate(row):
            for worker in who_has.get(key, ()):
                workers.setdefault(worker, {"blocks": [], "bytes": 0})
                workers[worker]["blocks"].append((i, j))
                workers[worker]["bytes"] += sizes.get(key, 0)
    loads = [w["bytes"] for w in workers.values()]
    mean = sum(loads) / len(loads) if loads else 0
    return Placement(
        layout=layout_of(X.chunks),
        grid=(len(X.chunks[0]), len(X.chunks[1])),
        workers=workers,
        imbalance=max(loads) / mean if mean else 1.0,
    )
