"""The distributed objective: one evaluation as one small task graph.

For every evaluation this module builds a graph by hand and hands it to the
current Dask scheduler (the active distributed client, else the threaded
scheduler) with no optimisation pass: the blocks it reads are already
persisted, so there is nothing to optimise, and building it costs
microseconds. Every task that reads a block depends on that block's key, so
the scheduler runs it where the block lives. What travels depends on the
layout (see ``BlockEvaluator``); blocks of X never do.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import threading
import time
import uuid
from collections.abc import Callable

import dask
import dask.threaded
import numpy as np
from dask.core import flatten
from dask.sizeof import sizeof

from . import _blocks, _loss, _tasks

# Partial results are merged this many at a time: no task receives more than
# four partial results, and the tree has depth ceil(log_4(blocks)).
REDUCTION_FAN_IN = 4


def current_get():
    """The ``get`` function of the Dask scheduler that is current now.

    The active distributed client's ``get`` when there is one (worker
    processes, message passing), else Dask's configured local scheduler,
    by default the threaded one (shared memory).
    """
    return dask.base.get_scheduler() or dask.threaded.get


def _client_of(get):
    owner = getattr(get, "__self__", None)
    return owner if type(owner).__name__ == "Client" else None


def current_client():
    """The distributed client whose scheduler is current, or None."""
    return _client_of(current_get())


def runs_in_process() -> bool:
    """Whether the current scheduler runs tasks in this process (threads)."""
    return current_client() is None


def in_worker_task() -> bool:
    """Whether this thread is running a task on a Dask worker."""
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


# dask's configuration is one per process: the first call inside a task on a
# worker sets its scheduler to "sync", the last one to leave restores it, so
# that calls overlapping on a worker's threads never restore it too early.
_in_task_lock = threading.Lock()
_in_task_state: dict = {"calls": 0, "setting": None}


def local_in_tasks(method: Callable) -> Callable:
    """Run ``method`` on Dask's synchronous scheduler when called inside a
    task on a Dask worker (as dask-ml's GridSearchCV calls ``fit`` and
    ``score``), else unchanged.

    Inside a task, the current scheduler is the worker's client, and waiting
    on the cluster from the task's thread deadlocks once every worker thread
    runs such a task: the work it waits for finds no thread. A task's data
    are in its memory, so its fit runs there, in its own thread, on the
    synchronous scheduler: nothing waits on the cluster, nothing moves, and an
    evaluation costs no round trip. (Seceding with ``worker_client()`` would
    also avoid the deadlock, but would send the task's data to the cluster
    through the scheduler and add a thread per task to the ones dask-ml
    already keeps busy.) While such a call runs, the other threads of the
    worker's process (the client's too, with an in-process cluster) see the
    "sync" scheduler too: dask's configuration is one per process.
    """

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        if not in_worker_task():
            return method(*args, **kwargs)
        with _in_task_lock:
            if _in_task_state["calls"] == 0:
                _in_task_state["setting"] = dask.config.set(scheduler="sync")
            _in_task_state["calls"] += 1
        try:
            return method(*args, **kwargs)
        finally:
            with _in_task_lock:
                _in_task_state["calls"] -= 1
                if _in_task_state["calls"] == 0:
                    _in_task_state["setting"].__exit__(None, None, None)
                    _in_task_state["setting"] = None

    return wrapper


def block_keys(array) -> list:
    """Keys of a dask array's blocks, row-major."""
    return list(flatten(array.__dask_keys__()))


def is_persisted(array) -> bool:
    """Whether every block of a dask array is already materialised.

    True for arrays returned by ``persist()`` (distributed or local): their
    graph holds exactly one entry per block and none of them is a task.
    """
    graph = dict(array.__dask_graph__())
    keys = block_keys(array)
    if len(graph) != len(keys):
        return False
    return not any(
        isinstance(value, dask._task_spec.Task) or dask.core.istask(value)
        for value in graph.values()
    )


def layout_of(chunks: tuple) -> str:
    """``"rows"`` (one column block), ``"columns"`` (one row block, several
    column blocks) or ``"blocks"`` (several of each), from an array's chunks."""
    row_blocks, column_blocks = len(chunks[0]), len(chunks[1])
    if column_blocks == 1:
        return "rows"
    return "columns" if row_blocks == 1 else "blocks"


def transfer_bytes(client) -> dict[str, int]:
    """Bytes each worker has sent so far (to other workers and to clients).

    A worker that dies while asked is left out (its counter died with it):
    a statistic must not fail a fit that survived the worker's loss.
    """

    def read(dask_worker):
        return dask_worker.transfer_outgoing_bytes_total

    return client.run(read, on_error="ignore")


def _group_by_home(blocks: list, home: dict, threads: dict) -> list:
    """Blocks ``(x_key, arguments)`` in groups ``(worker, [arguments, ...])``.

    The blocks of one worker (``home[x_key]``) are split evenly between its
    threads, in their order; blocks with no known home get a group each
    (worker "").
    """
    by_worker: dict[str, list] = {}
    homeless = []
    for x_key, arguments in blocks:
        worker = home.get(x_key)
        if worker is None:
            homeless.append(("", [arguments]))
        else:
            by_worker.setdefault(worker, []).append(arguments)
    groups = []
    for worker in sorted(by_worker):
        members = by_worker[worker]
        n_groups = min(len(members), max(1, threads.get(worker, 1)))
        bounds = np.linspace(0, len(members), n_groups + 1).astype(int)
        groups += [(worker, members[a:b]) for a, b in itertools.pairwise(bounds)]
    return groups + homeless


def merge_tree(
    graph: dict,
    keys: list,
    name: str,
    merge: tuple = (_tasks.merge,),
    fan_in: int = REDUCTION_FAN_IN,
):
    """Add a tree of merge tasks ``(*merge, *children)`` over ``keys`` (in
    their order, ``fan_in`` at a time) to ``graph``; return the root key."""
    level, depth = list(keys), 0
    while len(level) > 1:
        depth += 1
        parents = []
        for j in range(0, len(level), fan_in):
            parents.append((f"{name}-{depth}", j // fan_in))
            graph[parents[-1]] = (*merge, *level[j : j + fan_in])
        level = parents
    return level[0]


def row_block_reduction(
    block_function: Callable, arrays: list, merge_function: Callable, *common
) -> tuple[dict, object, object]:
    """The graph of ``merge_function`` over ``block_function(*row_blocks_i,
    row_offset_i, *common)`` for every row block i of ``arrays``.

    Each block row's blocks go to the worker that holds the first of them
    that is persisted (one task per worker thread reads all of its block
    rows, as an evaluation does); block rows with none persisted get a task
    each. A merge tree of fan-in :data:`REDUCTION_FAN_IN` follows, in block
    order.

    Parameters
    ----------
    block_function, merge_function : callable
        As :mod:`dmltk._metric_blocks`' ``*_block`` and ``merge_*`` functions.
    arrays : list of dask.array.Array or None
        Chunked alike in rows, with one block column each (None is passed
        to ``block_function`` as it is).
    *common
        More arguments of ``block_function``, after the row offset.

    Returns
    -------
    graph : dict
    root : key
        The key of the merged :class:`dmltk._tasks.Partial`.
    client : distributed.Client or None
        The client whose cluster placed the blocks (None: a local scheduler).
    """
    # Lazy inputs (predictions not persisted, a column of probabilities) are
    # optimised first: their chains of blockwise steps become one task each.
    # (Persisted ones are left as they are: optimising one empties its graph.)
    lazy = [i for i, a in enumerate(arrays) if a is not None and not is_persisted(a)]
    arrays = list(arrays)
    for i, array in zip(lazy, dask.optimize(*[arrays[i] for i in lazy]), strict=True):
        arrays[i] = array
    present = [a for a in arrays if a is not None]
    rows = present[0].chunks[0]
    offsets = np.concatenate([[0], np.cumsum(rows)[:-1]]).tolist()
    graph: dict = {}
    columns = []
    for array in arrays:
        if array is None:
            columns.append([None] * len(rows))
            continue
        graph.update(dict(array.__dask_graph__()))
        columns.append(block_keys(array))
    client = current_client()
    home: dict = {}
    threads: dict = {}
    if client is not None:
        for key, holders in client.who_has(present).items():  # one round trip
            if holders:
                home[key] = min(holders)
        threads = client.nthreads()
    blocks = []
    for i, row in enumerate(zip(*columns, strict=True)):
        held = next((key for key in row if key is not None and key in home), None)
        blocks.append((held, (*row, offsets[i])))
    name = f"dmltk-reduce-{uuid.uuid4().hex[:12]}"
    leaves = []
    for g, (worker, members) in enumerate(_group_by_home(blocks, home, threads)):
        leaves.append((name, g))
        graph[leaves[-1]] = (
            _tasks.group_merge,
            block_function,
            merge_function,
            worker if client is not None else None,
            len(members[0]),
            len(common),
            *common,
            *[argument for arguments in members for argument in arguments],
        )
    merge = (_tasks.merge_with, merge_function)
    root = merge_tree(graph, leaves, f"{name}-merge", merge)
    return graph, root, client


def reduce_row_blocks(
    block_function: Callable, arrays: list, merge_function: Callable, *common
):
    """Compute :func:`row_block_reduction` on the current scheduler; its
    merged statistic."""
    graph, root, client = row_block_reduction(
        block_function, arrays, merge_function, *common
    )
    if client is None:
        return current_get()(graph, [root])[0].value
    future = client.get(graph, [root], sync=False)
    with scheduler_loss_named(client):
        return client.gather(future)[0].value


#: How long a cancellation waits for the client to say whether it lost its
#: scheduler (a cancellation with the client still running after this is
#: re-raised as it is).
_STATUS_SETTLE_SECONDS = 5.0


@contextlib.contextmanager
def scheduler_loss_named(client):
    """Re-raise a failure that comes from losing the scheduler as an
    ``OSError`` that says so: distributed reports it as futures "cancelled
    for reason: unknown" (``FutureCancelledError``) once its client gives up
    reconnecting, which names no problem."""
    try:
        yield
    except Exception as error:
        if "Cancelled" in type(error).__name__:
            # Futures cancelled for an unknown reason: the client may not yet
            # have noticed that its scheduler is gone (measured: a loaded
            # machine reports the cancellation first).
            deadline = time.monotonic() + _STATUS_SETTLE_SECONDS
            while client.status == "running" and time.monotonic() < deadline:
                time.sleep(0.05)
        if client.status == "running":
            raise
        # "connecting": the client lost its scheduler and tries to reconnect;
        # the work the scheduler held is gone either way.
        address = getattr(client.scheduler, "address", None) or "its address"
        raise OSError(
            f"Lost the Dask scheduler at {address} while working (the client "
            f"is {client.status}; {type(error).__name__}): the work it held is "
            "gone, and nothing was written. Run it again once the scheduler is "
            "back."
        ) from error


class FitMonitor:
    """What a fit costs, measured by the engine: started before a fit's data
    are prepared, finished with the evaluator that ran it.

    The estimator reads :meth:`finish`'s dict as its ``fit_stats_`` and
    never asks the scheduler itself.
    """

    def __init__(self):
        self._start = time.perf_counter()
        self._client = current_client()
        self._sent_before = transfer_bytes(self._client) if self._client else {}

    def finish(self, evaluator: BlockEvaluator) -> dict:
        """``fit_stats_``: layout, evaluations, Hessian products, passes over
        X of any kind (those two, column statistics, held-out scores; not
        the checks of X before the engine starts), tasks, wall seconds,
        bytes the workers sent (to the client and between them), and the
        seconds of each evaluation and of its kernels."""
        # Per worker, since the start: a worker that joined since counts
        # from 0, one that died is left out (a lower bound under faults).
        now = transfer_bytes(self._client) if self._client is not None else {}
        sent = sum(
            max(0, total - self._sent_before.get(worker, 0))
            for worker, total in now.items()
        )
        return {
            "layout": evaluator.layout,
            "evaluations": evaluator.n_evaluations,
            "hessian_products": evaluator.n_hessian_products,
            "passes": evaluator.n_passes,
            "tasks": evaluator.n_tasks,
            "seconds": time.perf_counter() - self._start,
            "bytes_sent": sent,
            "bytes_to_client": evaluator.bytes_gathered,
            "bytes_between_workers": max(0, sent - evaluator.bytes_gathered),
            "evaluation_seconds": list(evaluator.evaluation_seconds),
            "kernel_seconds": list(evaluator.kernel_seconds),
        }


def solver_threads():
    """A context for the client-side solver loop: under a local scheduler,
    worker threads share this process, and one BLAS thread each avoids
    oversubscribing the cores. Distributed workers already run
    single-threaded BLAS (Dask's nanny sets it)."""
    if runs_in_process():
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    return contextlib.nullcontext()


class BlockEvaluator:
    """A loss family's loss, gradient and Hessian products over a grid of
    persisted blocks.

    Parameters
    ----------
    X : dask.array.Array
        Persisted; any grid of blocks.
    y : dask.array.Array
        Persisted targets (labels, or labels and sample weights), chunked
        like the rows of X.
    family : object, default=dmltk._loss.Binomial()
        The loss family whose block functions run on the blocks
        (``loss_gradient_block``, ``hessian_product_block``,
        ``loss_residual``, ``hessian_residual``; see :mod:`dmltk._loss`).
    fan_in : int
        How many partial results one merge task takes.

    Notes
    -----
    Every sum over blocks runs as one task per worker thread holding blocks
    (the task depends on all of them, so it runs where they live and reads
    them one after the other into one buffer), then a tree of merges of fixed
    fan-in across workers. Task count, not block count, sets the overhead.

    How one evaluation runs, by layout (R row blocks, C column blocks):

    - rows (C = 1): loss and gradient summed over all blocks, in one pass
      over each block; the (d + 2)-long partial sums are merged.
    - columns and blocks (C > 1): the coefficients go out as one key per
      column block (inside the task when a single block reads them); the
      margins ``X_ij @ w_j`` are summed over the blocks of block row i; a task
      per block row turns them into loss and residual; the residual goes to
      every block of that row, and ``X_ij.T @ r_i`` is summed over the blocks
      of block column j. Per evaluation that moves about two n-vectors per
      column block and the gradient slices, never a block.

    A Hessian-vector product travels the same way as a gradient: the rows
    layout sends the point and the direction as one key; the column layouts
    sum margins of both (2K columns instead of K) and send back the Hessian
    weights times the direction's margins in place of the residual.

    Blocks are grouped by the worker that holds them, in an order fixed while
    they stay there, so results are the same bit for bit from one call to
    the next. When a worker dies, its blocks are recomputed elsewhere; the
    tasks that then run away from the worker they were made for say so in
    their results (:class:`dmltk._tasks.Partial`), and the next evaluation
    groups the blocks where they now live. Holding the evaluator holds the
    persisted blocks: drop it to let them go.

    Attributes
    ----------
    evaluation_seconds, kernel_seconds : list of float
        For each loss-and-gradient evaluation: its wall time as the client
        sees it, and the time spent in block functions along its slowest
        chain of tasks.
    """

    def __init__(self, X, y, *, family=None, fan_in: int = REDUCTION_FAN_IN):
        if X.chunks[0] != y.chunks[0]:
            raise ValueError("y must be chunked like the rows of X")
        self.layout = layout_of(X.chunks)
        self._family = _loss.Binomial() if family is None else family
        self._X = X
        self._x_keys = [list(row) for row in X.__dask_keys__()]
        self._y_keys = block_keys(y)
        self._column_bounds = np.cumsum([0, *X.chunks[1]])
        # Persisted collections hold one graph entry per block (a Future, or
        # the block itself under a local scheduler); evaluation graphs refer
        # to those entries by key.
        self._base_graph = {**dict(X.__dask_graph__()), **dict(y.__dask_graph__())}
        self._get = current_get()
        self._client = _client_of(self._get)
        # Where each block lives and how many threads its worker has: a sum
        # over blocks is one task per worker thread. Under a local scheduler
        # every block is its own task (threads share the memory).
        self._home: dict = {}
        self._threads: dict = {}
        if self._client is not None:
            from distributed import wait

            wait(X)  # blocks still being computed have no holder yet
            self._find_blocks()
        # The futures of the previous evaluation are released only after the
        # next graph is sent: a release sent first would hold the next graph
        # in the client's batched stream for up to 10 ms (measured: 12 ms of
        # a 55 ms round trip).
        self._previous = None
        self._fan_in = fan_in
        self._prefix = f"dmltk-{uuid.uuid4().hex[:12]}"
        self._counter = itertools.count()
        self.n_evaluations = 0
        self.n_hessian_products = 0
        #: Passes over X of any kind (evaluations, Hessian products, column
        #: statistics, sums of margins such as held-out scores).
        self.n_passes = 0
        self.n_tasks = 0
        self.bytes_gathered = 0
        self.evaluation_seconds: list[float] = []
        self.kernel_seconds: list[float] = []

    @property
    def n_features(self) -> int:
        """Columns of X."""
        return int(self._X.shape[1])

    @property
    def n_rows(self) -> int:
        """Rows of X."""
        return int(self._X.shape[0])

    # ------------------------------------------------------------ graphs
    def _find_blocks(self) -> None:
        """Read where the blocks live, and how many threads each worker has."""
        holders = self._client.who_has(self._X)
        self._home = {key: min(found) for key, found in holders.items() if found}
        self._threads = self._client.nthreads()

    def _grouped_sum(
        self, graph: dict, name: str, function: Callable, common: tuple, blocks: list
    ):
        """Add ``sum_b function(*arguments_b, *common)`` to ``graph``; return
        the key of its partial (see :mod:`dmltk._tasks`).

        ``blocks`` lists ``(x_key, arguments_b)``: the block of X whose home
        decides the task the term goes to, and the term's own arguments (keys
        or values). The blocks of one worker are split evenly between its
        threads, one task each; blocks with no known home get a task each.
        """
        groups = _group_by_home(blocks, self._home, self._threads)
        leaves = []
        for g, (worker, members) in enumerate(groups):
            flat = [argument for arguments in members for argument in arguments]
            leaves.append((name, g))
            graph[leaves[-1]] = (
                _tasks.group_sum,
                function,
                worker if self._client is not None else None,
                len(members[0]),
                len(common),
                *common,
                *flat,
            )
        return self._tree(graph, leaves, f"{name}-merge")

    def _tree(self, graph: dict, keys: list, name: str):
        """Add a merge tree over the partials ``keys`` (in their order) to
        ``graph``; return the root key."""
        return merge_tree(graph, keys, name, fan_in=self._fan_in)

    def _row_margins(self, graph: dict, step: str, weights: np.ndarray) -> list:
        """Add to ``graph`` the margins ``sum_j X_ij @ weights_j`` of every
        block row of a column layout (intercepts not included): the key of
        each row's partial, one grouped sum per block row.

        Slice j goes to the blocks of block column j: as one key when several
        block rows read it; inside the task itself when only one does (a key
        would be computed on any worker and fetched from there: measured 16 MB
        per evaluation at d = 2,000,000).
        """
        bounds = self._column_bounds
        slices = []
        for j in range(len(bounds) - 1):
            weights_slice = weights[bounds[j] : bounds[j + 1]]
            if len(self._x_keys) > 1:
                slices.append(f"{step}-coef-{j}")
                graph[slices[-1]] = weights_slice
            else:
                slices.append(weights_slice)
        return [
            self._grouped_sum(
                graph,
                f"{step}-margins-{i}",
                _loss.margins_block,
                (),
                [(x_key, (x_key, slices[j])) for j, x_key in enumerate(row)],
            )
            for i, row in enumerate(self._x_keys)
        ]

    def loss_gradient_graph(
        self,
        coef: np.ndarray,
        fit_intercept: bool,
        direction: np.ndarray | None = None,
        family=None,
    ) -> tuple[dict, list]:
        """The graph of one evaluation at ``coef``, and the keys to gather.

        Gathering the keys and passing them to :meth:`assemble` gives the
        packed ``[loss sum, gradient sum]`` of :func:`_loss.loss_gradient_block`;
        with a ``direction``, the packed ``[0, Hessian times direction]`` of
        :func:`_loss.hessian_product_block` instead. Both have the same shape
        and travel the same way: only the functions at the ends differ.
        ``family`` replaces the evaluator's own for this evaluation (a batch
        of models, :class:`dmltk._loss.ModelBatch`).
        """
        family = self._family if family is None else family
        step = f"{self._prefix}-{next(self._counter)}"
        graph = dict(self._base_graph)
        if self.layout == "rows":
            coef_key = f"{step}-coef"
            if direction is None:
                block_function = family.loss_gradient_block
                graph[coef_key] = coef
            else:
                block_function = family.hessian_product_block
                graph[coef_key] = np.stack([coef, direction])
            blocks = [
                (row[0], (row[0], y_key))
                for row, y_key in zip(self._x_keys, self._y_keys, strict=True)
            ]
            common = (coef_key, fit_intercept)
            root = self._grouped_sum(
                graph, f"{step}-blocks", block_function, common, blocks
            )
            return graph, [root]

        bounds = self._column_bounds
        if direction is None:
            residual_function = family.loss_residual
            weights, intercept = _loss.split_coef(coef, bounds[-1], fit_intercept)
        else:
            # Margins of the point and of the direction from one product per
            # block: the same traffic as a gradient, with 2K columns not K.
            residual_function = family.hessian_residual
            weights, intercept = _loss.stacked_weights(
                coef, direction, bounds[-1], fit_intercept
            )
        residual_keys, scalar_leaves = [], []
        margin_keys = self._row_margins(graph, step, weights)
        for i, (z_key, y_key) in enumerate(zip(margin_keys, self._y_keys, strict=True)):
            residual_keys.append((f"{step}-residual", i))
            graph[residual_keys[-1]] = (
                _tasks.timed,
                residual_function,
                z_key,
                y_key,
                intercept,
            )
            scalar_leaves.append((f"{step}-scalars", i))
            graph[scalar_leaves[-1]] = (
                _tasks.timed,
                _loss.residual_scalars,
                residual_keys[-1],
            )
        outputs = [self._tree(graph, scalar_leaves, f"{step}-scalar-merge")]
        for j in range(len(bounds) - 1):
            column = [
                (row[j], (row[j], residual_key))
                for row, residual_key in zip(self._x_keys, residual_keys, strict=True)
            ]
            outputs.append(
                self._grouped_sum(
                    graph, f"{step}-gradient-{j}", _loss.gradient_block, (), column
                )
            )
        return graph, outputs

    def margin_sums(
        self,
        weights: np.ndarray,
        intercept,
        block_function: Callable,
        margins_function: Callable,
        common: tuple = (),
        companion=None,
    ) -> np.ndarray:
        """A sum over block rows of a statistic of the margins
        ``X_i @ weights + intercept``, the labels ``y_i`` and a companion
        ``c_i`` (such as sample weights; None when absent).

        Parameters
        ----------
        weights : ndarray of shape (n_features,) or (n_features, K)
        intercept : float or ndarray of shape (K,)
        block_function : callable
            ``block_function(X_b, y_b, c_b, weights, intercept, *common,
            out=None)``: the statistic of a block that holds every column,
            margins included, added into ``out``. Used in the rows layout:
            one task per worker reads each of its blocks once.
        margins_function : callable
            ``margins_function(margins_i, y_i, c_i, *common)``: the statistic
            of a block row from its summed margins. Used in the column
            layouts, where a block row's margins are first summed across its
            blocks (as in an evaluation) by one task per worker.
        common : tuple
            More arguments, the same for every block.
        companion : dask.array.Array, optional
            Chunked like ``y``.

        Returns
        -------
        ndarray
            The merged statistic (in block order: bit-identical from one call
            to the next).
        """
        step = f"{self._prefix}-{next(self._counter)}"
        graph = dict(self._base_graph)
        self.n_passes += 1
        companions: list = [None] * len(self._y_keys)
        if companion is not None:
            if companion.chunks[0] != self._X.chunks[0]:
                raise ValueError("the companion must be chunked like the rows of X")
            graph.update(dict(companion.__dask_graph__()))
            companions = block_keys(companion)
        if self.layout == "rows":
            graph[f"{step}-weights"] = weights
            blocks = [
                (row[0], (row[0], y_key, companion_key))
                for row, y_key, companion_key in zip(
                    self._x_keys, self._y_keys, companions, strict=True
                )
            ]
            root = self._grouped_sum(
                graph,
                f"{step}-blocks",
                block_function,
                (f"{step}-weights", intercept, *common),
                blocks,
            )
            return self._run(graph, [root])[0].value
        leaves = []
        for i, (z_key, y_key, companion_key) in enumerate(
            zip(self._row_margins(graph, step, weights), self._y_keys, companions,
                strict=True)
        ):  # fmt: skip
            leaves.append((f"{step}-rows", i))
            graph[leaves[-1]] = (
                _tasks.timed,
                _tasks.shifted,
                margins_function,
                z_key,
                intercept,
                y_key,
                companion_key,
                *common,
            )
        root = self._tree(graph, leaves, f"{step}-merge")
        return self._run(graph, [root])[0].value

    def assemble(
        self, results: list, fit_intercept: bool, n_losses: int = 1
    ) -> np.ndarray:
        """Gathered outputs of :meth:`loss_gradient_graph` as one packed array
        (``n_losses`` loss sums at its head: one per model of a batch)."""
        values = [part.value for part in results]
        if self.layout == "rows":
            return values[0]
        scalars, *gradients = values
        tail = [scalars[n_losses:]] if fit_intercept else []
        return np.concatenate([scalars[:n_losses], *gradients, *tail])

    # --------------------------------------------------------- execution
    def loss_gradient(
        self, coef: np.ndarray, fit_intercept: bool, family=None
    ) -> np.ndarray:
        """Loss sum and gradient sum over all blocks at ``coef``.

        Parameters
        ----------
        coef : ndarray
            Packed coefficients (``_loss``'s layout).
        fit_intercept : bool
        family : object, optional
            A family for this evaluation only, such as a
            :class:`dmltk._loss.ModelBatch` of many models (whose ``coef``
            packs all of theirs, and whose result starts with one loss per
            model).

        Returns
        -------
        ndarray of shape (n_losses + coef.size,)
            As the family's ``loss_gradient_block`` for the whole data.
        """
        family = self._family if family is None else family
        start = time.perf_counter()
        graph, outputs = self.loss_gradient_graph(coef, fit_intercept, family=family)
        self.n_evaluations += 1
        self.n_passes += 1
        self.n_tasks += len(graph) - len(self._base_graph)
        results = self._run(graph, outputs)
        packed = self.assemble(results, fit_intercept, family.n_losses)
        self.evaluation_seconds.append(time.perf_counter() - start)
        self.kernel_seconds.append(max(part.seconds for part in results))
        return packed

    def hessian_product(
        self, coef: np.ndarray, direction: np.ndarray, fit_intercept: bool
    ) -> np.ndarray:
        """Hessian of the loss sum at ``coef`` times ``direction``: one pass.

        Returns
        -------
        ndarray of shape (1 + coef.size,)
            As :func:`_loss.hessian_product_block` for the whole data.
        """
        graph, outputs = self.loss_gradient_graph(coef, fit_intercept, direction)
        self.n_hessian_products += 1
        self.n_passes += 1
        self.n_tasks += len(graph) - len(self._base_graph)
        return self.assemble(self._run(graph, outputs), fit_intercept)

    def reduce(self, block_function: Callable, *common) -> np.ndarray:
        """``sum_b block_function(X_b, y_b, *common, out=...)`` over the row
        blocks of a rows layout, in one pass: one task per worker thread over
        the blocks it holds, then the merge tree (as an evaluation runs).
        Counted as an evaluation in the fit's statistics.

        Raises
        ------
        ValueError
            On a layout with several column blocks (the function needs whole
            rows).
        """
        if self.layout != "rows":
            raise ValueError(
                f"a sum over whole rows needs the rows layout, not {self.layout!r}"
            )
        start = time.perf_counter()
        (result,) = self._grouped_pass(block_function, common)
        self.n_evaluations += 1
        self.evaluation_seconds.append(time.perf_counter() - start)
        self.kernel_seconds.append(result.seconds)
        return result.value

    def column_standard_deviations(self) -> tuple[np.ndarray, np.ndarray]:
        """Weighted mean and unbiased weighted standard deviation of every
        column of X.

        Two passes (weighted sums, then centred squares; see
        :func:`dmltk._blocks.standard_deviations`), each a task per block and
        a sum tree per block column; only per-column vectors travel.

        Returns
        -------
        mean, std : ndarray of shape (n_features,)
        """
        means, std = self._moments()
        if np.isfinite(means).all() and np.isfinite(std).all():
            return means, std
        # Values so large (beyond about 1e154) that their squares or sums
        # overflow float64: the moments of X / c, times c, with c about each
        # column's largest |x|. Three more passes, taken only then.
        scales = np.concatenate(self._per_column_sums(_blocks.column_abs_max))
        if not np.isfinite(scales).all():
            raise ValueError(
                "X holds values too close to the largest float64 (about 1.8e308) "
                "to standardize: rescale X before fitting."
            )
        scales[scales == 0] = 1.0
        means, std = self._moments(scales)
        return means * scales, std * scales

    def _moments(self, scales: np.ndarray | None = None) -> tuple:
        """Means and standard deviations of the columns of X (of ``X /
        scales`` when given): two passes."""
        means, weight_sum, weight_square_sum = self._column_means(scales)
        if scales is None:
            function, data = _blocks.centred_squares, means
        else:
            function, data = _blocks.scaled_centred_squares, np.stack([means, scales])
        squares = self._per_column_sums(function, self._column_slices(data))
        std = _blocks.standard_deviations(
            weight_sum, weight_square_sum, np.concatenate(squares)
        )
        return means, std

    def _column_slices(self, values: np.ndarray) -> list:
        """``values`` (one per column, along the last axis) cut at the
        block columns' bounds."""
        bounds = self._column_bounds
        return [values[..., bounds[j] : bounds[j + 1]] for j in range(len(bounds) - 1)]

    def column_means(self) -> np.ndarray:
        """Weighted mean of every column of X, in one pass.

        Returns
        -------
        ndarray of shape (n_features,)
        """
        return self._column_means()[0]

    def _column_means(
        self, scales: np.ndarray | None = None
    ) -> tuple[np.ndarray, float, float]:
        column_data = None if scales is None else self._column_slices(scales)
        sums = self._per_column_sums(_blocks.column_sums, column_data)
        weight_sum, weight_square_sum = sums[0][0], sums[0][1]
        means = np.concatenate([part[2:] for part in sums]) / weight_sum
        return means, weight_sum, weight_square_sum

    def block_column_sums(self, block_function: Callable) -> list:
        """``block_function(X_ij, targets_i, out=...)`` summed over the block
        rows of every block column j, in one pass over X; one result per
        block column, in order.

        For statistics of X by row (such as sums by class and fold), whose
        per-column parts the caller joins. Runs as :meth:`reduce` does, for
        each block column.
        """
        return [part.value for part in self._grouped_pass(block_function, ())]

    def _grouped_pass(self, block_function: Callable, common: tuple) -> list:
        """One pass: for each block column j, ``sum_i block_function(X_ij,
        targets_i, *common, out=...)`` by one task per worker thread over
        the blocks it holds (the function adds into ``out`` when given and
        returns it), then a merge tree; the partial of each block column."""
        step = f"{self._prefix}-{next(self._counter)}"
        graph = dict(self._base_graph)
        outputs = []
        for j in range(len(self._column_bounds) - 1):
            blocks = [
                (row[j], (row[j], y_key))
                for row, y_key in zip(self._x_keys, self._y_keys, strict=True)
            ]
            outputs.append(
                self._grouped_sum(graph, f"{step}-{j}", block_function, common, blocks)
            )
        self.n_passes += 1
        self.n_tasks += len(graph) - len(self._base_graph)
        return self._run(graph, outputs)

    def _per_column_sums(
        self, block_function: Callable, column_data: list | None = None
    ) -> list:
        """``block_function(X_ij, targets_i[, column_data[j]])`` summed over
        the block rows of every block column j; one result per block column."""
        step = f"{self._prefix}-{next(self._counter)}"
        graph = dict(self._base_graph)
        outputs = []
        for j in range(len(self._column_bounds) - 1):
            extra = ()
            if column_data is not None:
                graph[f"{step}-data-{j}"] = column_data[j]
                extra = (f"{step}-data-{j}",)
            leaves = []
            for i, (row, y_key) in enumerate(
                zip(self._x_keys, self._y_keys, strict=True)
            ):
                leaves.append((f"{step}-{j}", i))
                graph[leaves[-1]] = (
                    _tasks.timed,
                    block_function,
                    row[j],
                    y_key,
                    *extra,
                )
            outputs.append(self._tree(graph, leaves, f"{step}-{j}-merge"))
        self.n_passes += 1
        return [part.value for part in self._run(graph, outputs)]

    def map_blocks(
        self, x_function: Callable | None = None, y_function: Callable | None = None
    ) -> tuple[list, list]:
        """``x_function`` on every block of X and ``y_function`` on every block
        of y, results gathered in block order (X's as a list of rows).

        For small per-block results only (summaries): they all reach the
        client.
        """
        step = f"{self._prefix}-{next(self._counter)}"
        graph = dict(self._base_graph)
        x_outputs = []
        if x_function is not None:
            for i, row in enumerate(self._x_keys):
                for j, x_key in enumerate(row):
                    x_outputs.append((f"{step}-x", i, j))
                    graph[x_outputs[-1]] = (x_function, x_key)
        y_outputs = []
        if y_function is not None:
            for i, y_key in enumerate(self._y_keys):
                y_outputs.append((f"{step}-y", i))
                graph[y_outputs[-1]] = (y_function, y_key)
        self.n_passes += int(x_function is not None)
        results = list(self._run(graph, x_outputs + y_outputs))
        n_columns = len(self._column_bounds) - 1
        x_results = results[: len(x_outputs)]
        x_rows = [
            x_results[i : i + n_columns] for i in range(0, len(x_results), n_columns)
        ]
        return x_rows, results[len(x_outputs) :]

    def _run(self, graph: dict, keys: list) -> list:
        if self._client is None:
            return list(self._get(graph, keys))
        futures = self._client.get(graph, keys, sync=False)
        self._previous = None
        with scheduler_loss_named(self._client):
            result = self._client.gather(futures)
        self._previous = futures
        self.bytes_gathered += sum(sizeof(part) for part in result)
        if any(isinstance(part, _tasks.Partial) and part.misplaced for part in result):
            self._find_blocks()
        return result
