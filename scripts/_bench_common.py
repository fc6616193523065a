"""Shared pieces of the dmltk benchmarks: data, objective, memory, reporting.

Everything here is imported by the benchmark's parent process, by each
system's child process, and (for the block functions) by the Dask worker
processes, which find this module because spawned workers inherit the
child's ``sys.path``. Keep its top-level imports light: every spawned worker
imports it.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import os
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import psutil
from scipy.special import expit

# The generated problem. Column scales spread over 10**[-0.1, 0.1] and means of
# up to half a scale make the Hessian a little ill-conditioned, so that L-BFGS
# needs about as many iterations as on the reference problem (scikit-learn
# lbfgs at tol=1e-6: 18 there, 20 on this one at 2,000,000 x 100; wider
# ranges quickly need hundreds); a margin of standard deviation 2 gives a
# Bayes accuracy of about 0.80.
LOG10_SCALE_RANGE = (-0.1, 0.1)
MEAN_RANGE = (-0.5, 0.5)
MARGIN_STD = 2.0
TRUE_INTERCEPT = 0.3


@dataclass(frozen=True)
class Problem:
    """Size and seed of the synthetic problem; everything else derives from it.

    Attributes
    ----------
    n : int
        Rows.
    d : int
        Columns.
    blocks : int
        Row blocks; block ``i`` is drawn from ``default_rng([seed, i])``, so
        the data depends on ``blocks`` as well as on ``seed``.
    seed : int
        Base seed.
    """

    n: int
    d: int
    blocks: int
    seed: int

    @property
    def row_chunks(self) -> tuple[int, ...]:
        """Rows of each block, as even as possible."""
        base, extra = divmod(self.n, self.blocks)
        return tuple(base + (i < extra) for i in range(self.blocks))

    @property
    def nbytes(self) -> int:
        """Bytes of X in float64."""
        return self.n * self.d * 8

    def parameters(self) -> dict:
        """Column scales and means, true weights and intercept.

        Drawn from ``default_rng([seed])``: a seed sequence distinct from every
        block's ``[seed, i]``.
        """
        rng = np.random.default_rng([self.seed])
        scales = 10.0 ** rng.uniform(*LOG10_SCALE_RANGE, self.d)
        means = rng.uniform(*MEAN_RANGE, self.d) * scales
        # Weights in standardised units, so the margin has std MARGIN_STD.
        standard_weights = rng.standard_normal(self.d) * MARGIN_STD / np.sqrt(self.d)
        weights = standard_weights / scales
        intercept = TRUE_INTERCEPT - float(means @ weights)
        return {
            "scales": scales,
            "means": means,
            "weights": weights,
            "intercept": intercept,
        }


def _fill_features(out: np.ndarray, rng: np.random.Generator, params: dict) -> None:
    rng.standard_normal(out=out)
    out *= params["scales"]
    out += params["means"]


def feature_block(seed: int, index: int, rows: int, params: dict) -> np.ndarray:
    """Block ``index`` of X, the same bits wherever it is generated.

    The generator first yields the block's label noise (``rows`` uniforms),
    then its features; :func:`label_block` redraws the noise the same way.
    """
    rng = np.random.default_rng([seed, index])
    rng.random(rows)
    out = np.empty((rows, params["scales"].size))
    _fill_features(out, rng, params)
    return out


def label_block(X: np.ndarray, seed: int, index: int, params: dict) -> np.ndarray:
    """Labels (float64 0/1) of block ``index``, given its features."""
    rng = np.random.default_rng([seed, index])
    noise = rng.random(X.shape[0])
    probability = expit(X @ params["weights"] + params["intercept"])
    return (noise < probability).astype(np.float64)


# ------------------------------------------- multinomial and sparse problems
# Used by bench_features.py; the binary problem above is unchanged.
MULTINOMIAL_INTERCEPT_STD = 0.3


def multinomial_parameters(problem: Problem, classes: int) -> dict:
    """Column scales and means, true (d, K) weights and (K,) intercepts.

    Features as in :meth:`Problem.parameters` (same ranges; its own stream
    ``default_rng([seed])``, distinct from every block's ``[seed, i]``);
    each class's margin has standard deviation ``MARGIN_STD`` in
    standardised units.
    """
    rng = np.random.default_rng([problem.seed])
    scales = 10.0 ** rng.uniform(*LOG10_SCALE_RANGE, problem.d)
    means = rng.uniform(*MEAN_RANGE, problem.d) * scales
    standard_weights = rng.standard_normal((problem.d, classes))
    weights = standard_weights * MARGIN_STD / np.sqrt(problem.d) / scales[:, None]
    intercepts = rng.standard_normal(classes) * MULTINOMIAL_INTERCEPT_STD
    return {
        "scales": scales,
        "means": means,
        "weights": weights,
        "intercept": intercepts - means @ weights,
    }


def sparse_binary_parameters(problem: Problem, zero_share: float = 0.5) -> dict:
    """Parameters of a binary problem whose true weights are partly zero.

    Centred columns of scale ``10**[-0.1, 0.1]`` (unit-ish, so that
    stochastic solvers such as scikit-learn's saga are not handicapped);
    ``round(zero_share * d)`` true weights, at random places, are exactly
    zero; the margin has standard deviation ``MARGIN_STD``. For
    :func:`feature_block` and :func:`label_block`.
    """
    rng = np.random.default_rng([problem.seed])
    scales = 10.0 ** rng.uniform(*LOG10_SCALE_RANGE, problem.d)
    zeros = round(zero_share * problem.d)
    standard_weights = rng.standard_normal(problem.d)
    standard_weights *= MARGIN_STD / np.sqrt(max(problem.d - zeros, 1))
    standard_weights[rng.permutation(problem.d)[:zeros]] = 0.0
    return {
        "scales": scales,
        "means": np.zeros(problem.d),
        "weights": standard_weights / scales,
        "intercept": TRUE_INTERCEPT,
    }


def multinomial_label_block(
    X: np.ndarray, seed: int, index: int, params: dict
) -> np.ndarray:
    """Labels (float64 0..K-1) of block ``index``: a draw from the softmax.

    Uses the same block noise as :func:`label_block` (the first ``rows``
    uniforms of ``default_rng([seed, index])``): the label is the class whose
    cumulative probability interval holds the uniform.
    """
    from scipy.special import softmax

    rng = np.random.default_rng([seed, index])
    noise = rng.random(X.shape[0])
    cumulative = np.cumsum(softmax(X @ params["weights"] + params["intercept"], 1), 1)
    return np.sum(noise[:, None] > cumulative[:, :-1], axis=1).astype(np.float64)


def labelled_numpy_data(
    problem: Problem, params: dict, label_function: Callable
) -> tuple[np.ndarray, np.ndarray]:
    """X and y in memory, like :func:`numpy_data` for any parameters and labels.

    ``label_function(X_block, seed, index, params)`` is :func:`label_block`
    or :func:`multinomial_label_block`; blocks are generated with one BLAS
    thread, as on a Dask worker, so the labels are the same bits.
    """
    from threadpoolctl import threadpool_limits

    X = np.empty((problem.n, problem.d))
    y = np.empty(problem.n)
    start = 0
    with threadpool_limits(limits=1, user_api="blas"):
        for index, rows in enumerate(problem.row_chunks):
            block = X[start : start + rows]
            rng = np.random.default_rng([problem.seed, index])
            rng.random(rows)
            _fill_features(block, rng, params)
            y[start : start + rows] = label_function(block, problem.seed, index, params)
            start += rows
    return X, y


def _dask_feature_block(seed, row_chunks, params, block_id=None):
    index = block_id[0]
    return feature_block(seed, index, row_chunks[index], params)


def _dask_label_block(X, seed, params, block_id=None):
    return label_block(X, seed, block_id[0], params)


def dask_data(problem: Problem):
    """X and y as lazy dask arrays, one task per row block (not persisted)."""
    import dask.array as da

    params = problem.parameters()
    X = da.map_blocks(
        _dask_feature_block,
        problem.seed,
        problem.row_chunks,
        params,
        chunks=(problem.row_chunks, (problem.d,)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
        name=f"bench-X-{problem.n}-{problem.d}-{problem.blocks}-{problem.seed}",
    )
    y = X.map_blocks(
        _dask_label_block,
        problem.seed,
        params,
        drop_axis=1,
        dtype=np.float64,
        meta=np.empty((0,)),
    )
    return X, y


def numpy_data(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """X and y in memory: the same blocks as :func:`dask_data`, concatenated.

    X is filled in place, block by block, so that generating it never holds
    more than one copy.
    """
    from threadpoolctl import threadpool_limits

    params = problem.parameters()
    X = np.empty((problem.n, problem.d))
    y = np.empty(problem.n)
    start = 0
    # One BLAS thread, like a Dask worker, so the margins behind the labels
    # are computed the same way in both places.
    with threadpool_limits(limits=1, user_api="blas"):
        for index, rows in enumerate(problem.row_chunks):
            block = X[start : start + rows]
            rng = np.random.default_rng([problem.seed, index])
            rng.random(rows)
            _fill_features(block, rng, params)
            y[start : start + rows] = label_block(block, problem.seed, index, params)
            start += rows
    return X, y


def numpy_blocks(problem: Problem):
    """Yield ``(X_i, y_i)`` block by block, without holding all of X."""
    params = problem.parameters()
    for index, rows in enumerate(problem.row_chunks):
        X = feature_block(problem.seed, index, rows, params)
        yield X, label_block(X, problem.seed, index, params)


def block_keys(array) -> list:
    """Keys of a dask array's blocks, row-major."""
    from dask.core import flatten

    return list(flatten(array.__dask_keys__()))


def as_persisted(array, futures: dict):
    """``array`` rebuilt on already computed ``{key: Future}``, as persist does."""
    rebuild, args = array.__dask_postpersist__()
    return rebuild(futures, *args)


def import_seconds(modules: list[str]) -> float:
    """Import ``modules`` here (on a worker, via ``client.run``); seconds taken."""
    import importlib

    start = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    return time.perf_counter() - start


# ----------------------------------------------------------- block functions
# Run by dmltk's RowBlockEvaluator on the workers, to split one evaluation's
# time into scheduling, reading the block, and the loss arithmetic.
def noop_block(X, y, coef, fit_intercept):
    """Touch nothing: the cost of scheduling one evaluation's graph."""
    return np.zeros(coef.size + 1)


def read_block(X, y, coef, fit_intercept):
    """Read the block once (``X.sum()``), in the packed result layout."""
    out = np.zeros(coef.size + 1)
    out[0] = X.sum()
    return out


def reduction_graph(X, y, block_function, coef, fan_in: int | None = 4):
    """One evaluation's graph, shaped like dmltk's: ``(graph, keys to gather)``.

    The coefficients enter as one key; one task per row block calls
    ``block_function(X_b, y_b, coef, True)``; a tree of fan-in ``fan_in``
    sums the results down to one key. ``fan_in=None`` builds no tree: the
    per-block results are gathered and summed by the caller. Keys are new on
    every call, so no result is reused.
    """
    import uuid

    prefix = f"bench-{uuid.uuid4().hex[:12]}"
    graph = {**dict(X.__dask_graph__()), **dict(y.__dask_graph__())}
    graph[f"{prefix}-coef"] = coef
    level = []
    for i, (x_key, y_key) in enumerate(zip(block_keys(X), block_keys(y), strict=True)):
        level.append((f"{prefix}-leaf", i))
        graph[level[-1]] = (block_function, x_key, y_key, f"{prefix}-coef", True)
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
    """Run evaluation graphs on a distributed client the way dmltk does.

    The previous graph's results are released only after the next graph is
    sent: a release sent first holds the next graph in the client's batched
    stream (10 ms interval), which dmltk's evaluator avoids, so the
    benchmark's graphs must too to be comparable.
    """

    def __init__(self, client):
        self._client = client
        self._previous = None

    def __call__(self, graph: dict, keys: list) -> np.ndarray:
        """Compute ``keys`` of ``graph``; return the sum of their values."""
        futures = self._client.get(graph, keys, sync=False)
        self._previous = None
        results = self._client.gather(futures)
        self._previous = futures
        return sum_parts(*results)


def sum_parts(*parts):
    """Element-wise sum of partial results, in the given order."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


# ------------------------------------------------------------------ objective
def objective(X, y, coef, intercept, C: float) -> float:
    """scikit-learn's objective, ``C * sum logloss + ||w||^2 / 2``, in float64."""
    z = X @ coef + intercept
    loss = float(np.sum(np.logaddexp(0.0, z) - y * z))
    return C * loss + 0.5 * float(coef @ coef)


def accuracy(X, y, coef, intercept) -> float:
    """Share of rows whose predicted class (margin > 0) is the label."""
    z = X @ coef + intercept
    return float(np.mean((z > 0) == (y > 0.5)))


# --------------------------------------------------------------------- timing
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


def split_rows(X: np.ndarray, parts: int) -> list[np.ndarray]:
    """Contiguous row slices of X, as even as possible."""
    bounds = np.linspace(0, X.shape[0], parts + 1).astype(int)
    return [X[a:b] for a, b in itertools.pairwise(bounds)]


def threaded_map(function: Callable, items: list, threads: int) -> list:
    """``[function(item) for item in items]`` on ``threads`` threads.

    numpy releases the GIL inside reductions and BLAS calls, so this uses
    ``threads`` cores.
    """
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))


# --------------------------------------------------------------------- memory
def tree_usage(process: psutil.Process) -> tuple[int, float]:
    """Resident bytes and CPU seconds of a process and all its descendants.

    ``(0, 0.0)`` once the process is gone.
    """
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0, 0.0
    rss, cpu = 0, 0.0
    for member in members:
        try:
            rss += member.memory_info().rss
            times = member.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            # A worker may exit between listing and reading: skip it.
            pass
    return rss, cpu


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def own_cpu_seconds() -> float:
    """CPU seconds of this process (the sampler included)."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


class TreeSampler:
    """Sample a process tree's memory and the machine's CPU in a thread.

    Runs in the benchmark's parent, not in the measured process, so that the
    sampling never competes with the measured work for its GIL. Besides the
    tree's resident memory it records the CPU time of the tree, of this
    process and of the whole machine, so that CPU used by anything else
    during a timing (another engineer's tests) can be reported.

    Parameters
    ----------
    pid : int
        Root of the tree.
    interval : float
        Seconds between samples.
    """

    def __init__(self, pid: int, interval: float = 0.05):
        self._process = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        # (time.time(), tree rss, tree cpu, machine busy cpu, own cpu)
        self.samples: list[tuple[float, int, float, float, float]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            rss, cpu = tree_usage(self._process)
            self.samples.append(
                (time.time(), rss, cpu, busy_cpu_seconds(), own_cpu_seconds())
            )
            self._stop.wait(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _window(self, start: float | None, end: float | None) -> list:
        return [
            sample
            for sample in self.samples
            if (start is None or sample[0] >= start)
            and (end is None or sample[0] <= end)
        ]

    def peak_rss(self, start: float | None = None, end: float | None = None) -> int:
        """Largest tree RSS, over the whole run or between two ``time.time()``."""
        return max((sample[1] for sample in self._window(start, end)), default=0)

    def other_cores(self, start: float, end: float) -> float:
        """Cores, on average, busy with anything but the tree and this process.

        Measured between the first and last samples inside the window; NaN
        when fewer than two samples fall in it.
        """
        window = self._window(start, end)
        if len(window) < 2:
            return float("nan")
        (t0, _, tree0, busy0, own0), (t1, _, tree1, busy1, own1) = window[0], window[-1]
        others = (busy1 - busy0) - (tree1 - tree0) - (own1 - own0)
        return max(0.0, others) / (t1 - t0)


def wait_until_quiet(max_cores: float, timeout: float, log: Callable) -> float:
    """Wait until the machine's other work uses at most ``max_cores`` cores.

    Checks once a second (this process is idle meanwhile), gives up after
    ``timeout`` seconds. Returns the last measured load, in cores.
    """
    deadline = time.monotonic() + timeout
    while True:
        busy = psutil.cpu_percent(interval=1.0) / 100 * (psutil.cpu_count() or 1)
        if busy <= max_cores or time.monotonic() > deadline:
            return busy
        log(f"machine busy ({busy:.1f} cores used by others): waiting")
        time.sleep(4.0)


# ---------------------------------------------------------------- environment
PACKAGES = ("dmltk", "dask", "distributed", "scikit-learn", "dask-ml", "pyspark")


def versions() -> dict:
    """Installed versions of the packages compared, without importing them."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def blas_info() -> list[dict]:
    """The BLAS libraries numpy loaded in this process, per threadpoolctl."""
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl inspects)
    from threadpoolctl import threadpool_info

    keys = ("internal_api", "prefix", "architecture", "num_threads", "version")
    return [
        {key: lib.get(key) for key in keys}
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]


def machine() -> dict:
    """Cores and memory of this machine."""
    return {
        "logical_cores": psutil.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "openblas_env": {
            key: value
            for key, value in os.environ.items()
            if key.startswith("OPENBLAS")
        },
    }


# ------------------------------------------------------------------ reporting
def format_table(rows: list[dict], columns: list[tuple[str, str, str]]) -> str:
    """A plain-text table.

    Parameters
    ----------
    rows : list of dict
        One dict per row.
    columns : list of (key, heading, format)
        ``format`` is a format spec applied to numbers; missing values print
        as ``-``.
    """

    def cell(row, key, spec):
        value = row.get(key)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return "-"
        return format(value, spec) if spec else str(value)

    body = [[cell(row, key, spec) for key, _, spec in columns] for row in rows]
    headings = [heading for _, heading, _ in columns]
    widths = [
        max(len(text) for text in column)
        for column in zip(headings, *body, strict=False)
    ]
    lines = [
        "  ".join(text.rjust(width) for text, width in zip(line, widths, strict=True))
        for line in [headings, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# ------------------------------------------------ shared by the fit benchmarks
# A timing counts as undisturbed when other processes used fewer cores than
# this while it ran.
QUIET_CORES = 0.3


def timed_fit(fit: Callable[[], object]) -> dict:
    """Run ``fit()``; its wall seconds and the wall-clock window it ran in.

    The window (``time.time()``, comparable across processes) lets the
    parent pick the memory samples taken during the fit.
    """
    window_start = time.time()
    start = time.perf_counter()
    fit()
    seconds = time.perf_counter() - start
    return {"fit_seconds": seconds, "fit_start": window_start, "fit_end": time.time()}


def spark_session(app_name: str):
    """A local[2] Spark session with a 12 GB driver, as PEERS.md says."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.driver.memory", "12g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def run_undisturbed(
    label: str,
    attempt: Callable[[], dict],
    *,
    retries: int,
    quiet_wait: float,
    log: Callable[[str], None],
    describe: Callable[[dict], str],
) -> dict:
    """Run one system; rerun it while other processes disturbed its timing.

    Waits for a quiet machine before each attempt; keeps the least disturbed
    of at most ``1 + retries`` attempts. ``attempt()`` returns the system's
    row (with ``other_cores``, or ``error``); ``describe(row)`` is logged.
    """
    attempts = []
    for number in range(1 + retries):
        wait_until_quiet(QUIET_CORES, quiet_wait, log)
        log(f"{label} (attempt {number + 1}) ...")
        row = attempt()
        if "error" in row:
            log(f"{label}: {row['error']}")
            return row
        row["attempt"] = number + 1
        attempts.append(row)
        log(f"{label}: {describe(row)}")
        if not row["other_cores"] > QUIET_CORES:
            break
    kept = min(attempts, key=lambda row: np.nan_to_num(row["other_cores"]))
    kept["attempts_made"] = len(attempts)
    return kept


def add_run_options(parser) -> None:
    """The options every child-process fit benchmark takes: output, retries,
    quiet wait, and the hidden ones of its child processes."""
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="reruns of a system whose timing other processes disturbed",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=300.0,
        help="seconds to wait, before each timing, for other work on the machine "
        f"to drop below {QUIET_CORES} cores",
    )
    parser.add_argument("--_child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--_result", default=None, help=argparse.SUPPRESS)
