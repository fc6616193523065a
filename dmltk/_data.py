"""Data at the edge: turn what the user passes into persisted row blocks.

Converts dask DataFrames and Series to dask arrays, checks shapes from chunk
sizes before anything is computed, chooses row blocks for in-memory data, and
persists blocks on the workers in aligned memory.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning

from ._blocks import aligned_block, aligned_meta
from ._distributed import block_keys, current_client, is_persisted

# In-memory data is cut into blocks of about this size, and into at least one
# block per worker thread, so that every thread has work.
TARGET_BLOCK_BYTES = 128 * 1024**2


def is_dask(obj) -> bool:
    """Whether ``obj`` is a dask collection (array, DataFrame or Series)."""
    return dask.is_dask_collection(obj)


def _is_dask_frame(obj) -> bool:
    import dask.dataframe as dd

    return isinstance(obj, dd.DataFrame)


def scheduler_threads() -> int:
    """Worker threads of the current scheduler (distributed client or local)."""
    client = current_client()
    if client is None:
        return os.cpu_count() or 1
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return max(1, sum(worker["nthreads"] for worker in workers))


def feature_array(X, *, lengths: bool = True) -> tuple[da.Array, np.ndarray | None]:
    """A dask collection as a 2-D dask array of features, and its column names.

    ``lengths=True`` measures a DataFrame's partitions (one pass over it) so
    that the array has known chunk sizes; ``False`` keeps everything lazy.

    Raises
    ------
    ValueError
        A DataFrame column that is not numeric; an array that is not 2-D.
    """
    names = None
    if _is_dask_frame(X):
        non_numeric = [
            str(column)
            for column, dtype in X.dtypes.items()
            if not pd.api.types.is_numeric_dtype(dtype)
        ]
        if non_numeric:
            raise ValueError(
                f"X has non-numeric column(s) {non_numeric}: every feature must be "
                "numeric. Drop or encode those columns before fitting."
            )
        names = np.asarray([str(c) for c in X.columns], dtype=object)
        if not all(isinstance(c, str) for c in X.columns):
            names = None
        X = X.to_dask_array(lengths=True if lengths else None)
    elif not isinstance(X, da.Array):
        raise TypeError(
            f"Expected a dask array or dask DataFrame, got {type(X).__name__}."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array, got a {X.ndim}-D dask array of shape "
            f"{X.shape} instead. Reshape your data either using "
            "X.reshape(-1, 1) if your data has a single feature or "
            "X.reshape(1, -1) if it contains a single sample."
        )
    if X.dtype.kind not in "biuf":
        raise ValueError(
            f"X has dtype {X.dtype}: expected numbers (bool, int or float)."
        )
    return X, names


def label_array(y) -> da.Array:
    """Labels as a 1-D dask array (a column vector is raveled, with a warning)."""
    if _is_dask_frame(y):
        if len(y.columns) != 1:
            raise ValueError(
                f"y must be 1-D, got a DataFrame with {len(y.columns)} columns."
            )
        y = y[y.columns[0]]
    if is_dask(y) and not isinstance(y, da.Array):
        y = y.to_dask_array(lengths=True)
    elif not is_dask(y):
        y = np.asarray(y)
        y = da.from_array(y, chunks=-1)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got an array of shape {y.shape}.")
    return y


def has_unknown_chunks(array) -> bool:
    return any(math.isnan(size) for sizes in array.chunks for size in sizes)


def row_chunks(n_rows: int, row_bytes: int, n_threads: int) -> tuple[int, ...]:
    """Row block sizes for in-memory data: as even as possible, at least one
    block per worker thread and blocks of about ``TARGET_BLOCK_BYTES``."""
    n_blocks = max(n_threads, math.ceil(n_rows * row_bytes / TARGET_BLOCK_BYTES))
    n_blocks = max(1, min(n_blocks, n_rows))
    base, extra = divmod(n_rows, n_blocks)
    return tuple(base + (i < extra) for i in range(n_blocks))


def in_memory_to_dask(X, y: np.ndarray) -> tuple[da.Array, da.Array]:
    """Validated numpy or CSR data as dask arrays in row blocks."""
    per_row = X.shape[1] if not sp.issparse(X) else max(1, X.nnz // X.shape[0])
    row_bytes = X.dtype.itemsize * per_row
    chunks = row_chunks(X.shape[0], row_bytes, scheduler_threads())
    X_dask = da.from_array(X, chunks=(chunks, -1), asarray=not sp.issparse(X))
    return X_dask, da.from_array(y, chunks=(chunks, *([-1] * (y.ndim - 1))))


@dataclass
class Blocks:
    """X and y persisted, y in the row blocks of X.

    Attributes
    ----------
    X : dask.array.Array
        C-contiguous float32 or float64 (or CSR) blocks, in the grid the
        user chose.
    y : dask.array.Array
        Chunked like the rows of X.
    """

    X: da.Array
    y: da.Array


def aligned(X: da.Array) -> da.Array:
    """X with every block passed once through :func:`aligned_block`.

    :func:`aligned_block` copies only a block that is misaligned, not
    C-contiguous or neither float32 nor float64 (such as blocks that reached
    the workers inside a graph) and returns any other block as it is, so on
    persisted data it costs no memory and no transfer: each task runs where
    its block lives. float32 stays float32.
    """
    meta = aligned_meta(sp.issparse(X._meta), X.dtype)
    return X.map_blocks(aligned_block, dtype=meta.dtype, meta=meta)


def persist_blocks(X: da.Array, y: da.Array) -> Blocks:
    """Persist X (in aligned blocks, keeping its grid) and y (in X's rows).

    Already persisted blocks stay where they are: on a distributed cluster,
    each one's aligned view is computed on the worker that holds it, so the
    same data gives the same placement (and the same sums) on every fit.
    """
    client = current_client()
    if client is not None and is_persisted(X):
        holders = client.who_has(X)
        keys = X.__dask_keys__()
        if not all(holders.get(key) for key in block_keys(X)):
            # Blocks held in the graph (numpy data wrapped by from_array),
            # not yet on the workers.
            warn_if_too_large(client, X)

        def home(index):
            found = holders.get(keys[index[0]][index[1]]) or ()
            return min(found) if found else None

        meta = aligned_meta(sp.issparse(X._meta), X.dtype)
        X = pin_blocks(client, X, home, aligned_block, meta=meta)
    else:
        if client is not None:
            warn_if_too_large(client, X)
        X = aligned(X)
    y = align_labels(X, y)
    if is_persisted(y):
        (X,) = dask.persist(X)
    else:
        X, y = dask.persist(X, y)
    return Blocks(X, y)


def warn_if_too_large(client, X: da.Array) -> None:
    """Warn when X, about to be persisted, will not fit in the workers'
    free memory below Dask's spill threshold.

    Dense X only: the size of CSR blocks is not known before they are
    computed. Workers without a memory limit are not counted.
    """
    if sp.issparse(X._meta) or any(np.isnan(size) for size in X.shape):
        return
    workers = list(client.scheduler_info(n_workers=-1)["workers"].values())
    limits = [worker.get("memory_limit") or 0 for worker in workers]
    if not workers or not all(limits):
        return
    memory = dask.config.get("distributed.worker.memory")
    fraction = memory.get("target") or memory.get("spill") or 1.0
    total = sum(limits)
    used = sum(worker["metrics"].get("managed_bytes", 0) for worker in workers)
    free = max(0.0, fraction * total - used)
    needed = X.nbytes
    if needed <= free:
        return
    warnings.warn(
        f"X needs about {needed / 1e9:.2f} GB on the workers, and the cluster "
        f"has {free / 1e9:.2f} GB free below Dask's spill threshold ("
        f"{fraction:.0%} of its {total / 1e9:.2f} GB of worker memory): its "
        "blocks will be spilled to disk and read back on every pass, or "
        "workers may run out of memory. Add workers or memory, read X as "
        "float32 (dtype=numpy.float32: half the bytes), or fit on fewer rows.",
        RuntimeWarning,
        stacklevel=4,
    )


def align_labels(X: da.Array, y: da.Array) -> da.Array:
    """y rechunked like the rows of X (lengths must match)."""
    if y.chunks[0] != X.chunks[0]:
        y = y.rechunk((X.chunks[0],))
    return y


def persist(*arrays):
    """Persist dask collections on the current scheduler, together."""
    return dask.persist(*arrays)


def compute(*values):
    """Compute dask collections on the current scheduler, together."""
    return dask.compute(*values)


def resolve_unknown_chunks(X: da.Array, y: da.Array) -> tuple[da.Array, da.Array]:
    """Persist arrays of unknown chunk sizes and measure their blocks.

    Raises
    ------
    ValueError
        The sizes could not be measured.
    """
    try:
        X, y = dask.persist(X, y)
        X.compute_chunk_sizes()
        y.compute_chunk_sizes()
    except Exception as error:
        raise ValueError(
            "X or y has unknown chunk sizes that could not be resolved "
            f"({type(error).__name__}: {error}). Build it with known lengths, for "
            "example dask_dataframe.to_dask_array(lengths=True)."
        ) from error
    return X, y


def sample_weight_array(sample_weight, X: da.Array) -> da.Array:
    """Sample weights as a float64 dask array in the row blocks of X (ones
    when None), checked for length from chunk sizes."""
    if sample_weight is None:
        return da.ones(X.shape[0], chunks=(X.chunks[0],), dtype=np.float64)
    weights = label_array(sample_weight).astype(np.float64)
    if weights.shape[0] != X.shape[0]:
        raise ValueError(
            f"sample_weight has {weights.shape[0]} values but X has {X.shape[0]} "
            "rows: give one weight per sample."
        )
    return align_labels(X, weights)


def checked_weight_sum(weights: da.Array) -> float:
    """Sum of persisted sample weights, after checking that all of them are
    finite and non-negative (one pass over the weights)."""
    total, smallest, finite = dask.compute(
        weights.sum(), weights.min(), da.isfinite(weights).all()
    )
    if not finite:
        raise ValueError(
            "sample_weight contains NaN or infinity: give every sample a finite "
            "weight (0 to leave it out)."
        )
    if smallest < 0:
        raise ValueError(
            f"Negative values in data passed to `sample_weight` (smallest: "
            f"{smallest}): weights must be >= 0."
        )
    return float(total)


def weighted_targets(labels: da.Array, weights: da.Array, class_weights) -> da.Array:
    """Two-column targets ``[label, sample weight * class weight]``, one
    block per row block, for weighted fits."""
    per_sample = weights * np.asarray(class_weights)[labels.astype(np.intp)]
    return stacked_targets(labels, per_sample)


def stacked_targets(labels: da.Array, weights: da.Array) -> da.Array:
    """Two-column targets ``[label, sample weight]``, one block per row
    block (what the loss families' block functions take)."""
    return da.stack([labels, weights], axis=1).rechunk({1: -1})


def weight_per_class(labels: da.Array, weights: da.Array, n_classes: int) -> np.ndarray:
    """Sum of the sample weights of each class (labels are class indices)."""
    totals = da.bincount(labels.astype(np.intp), weights=weights, minlength=n_classes)
    return totals.compute()


def pin_blocks(client, array: da.Array, worker_of, function, *, meta=None) -> da.Array:
    """Persist ``function`` of every block of ``array``, block ``index`` on
    worker ``worker_of(index)``.

    The result has the chunks of ``array``, and its dtype and block type
    unless ``meta`` (an empty block of what ``function`` returns) says
    otherwise.

    Each task prefers its worker: it runs there, fetching its block if the
    block lives elsewhere (one move). The restriction is loose, so that if
    that worker dies, the block is recomputed on another one instead of
    waiting forever. ``worker_of`` may return None for "anywhere".
    """
    out_name = f"dmltk-{function.__name__}-{dask.base.tokenize(array, function)}"
    graph = dict(array.__dask_graph__())
    by_worker: dict[str, list] = {}
    for index in np.ndindex(*array.numblocks):
        key = (array.name, *index)
        new_key = (out_name, *index)
        graph[new_key] = (function, key)
        by_worker.setdefault(worker_of(index), []).append(new_key)
    futures = {}
    for worker, wanted in by_worker.items():
        batch = client.get(
            graph,
            wanted,
            workers=[worker] if worker else None,
            allow_other_workers=True,
            sync=False,
        )
        futures.update(zip(wanted, batch, strict=True))
    if meta is not None:
        return da.Array(futures, out_name, array.chunks, meta=meta)
    rebuild, args = array.__dask_postpersist__()
    return rebuild(futures, *args, rename={array.name: out_name})
