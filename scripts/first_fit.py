"""The first fit on a fresh cluster against the second.

Each run starts a new ``dmltk.connect(n_workers=2, threads_per_worker=1)``
cluster, persists 400,000 x 100 float64 rows in 8 blocks, and times
``LogisticRegression(tol=1e-6).fit`` twice. What the first fit pays on top
of the second is one-off work on the workers: importing the modules of the
block tasks, unless connect preloaded them. Connecting is timed too, since
preloading moves that work there. Prints one line per run and the medians::

    python scripts/first_fit.py --runs 3
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

# dmltk and dask.array are imported in the functions, not here: the worker
# processes of a LocalCluster start by importing this file (multiprocessing's
# spawn does), and would otherwise import dmltk, scikit-learn and the rest
# before any fit, unlike the workers of a notebook or of a remote cluster.


def one_run(X_np: np.ndarray, y_np: np.ndarray) -> dict[str, float]:
    """Connect, persist, fit twice; the seconds each took."""
    import dask.array as da
    from distributed import wait

    import dmltk
    from dmltk import LogisticRegression

    start = time.perf_counter()
    with dmltk.connect(
        n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as client:
        times = {"connect": time.perf_counter() - start}
        X = da.from_array(X_np, chunks=(50_000, X_np.shape[1])).persist()
        y = da.from_array(y_np, chunks=50_000).persist()
        wait([X, y])
        for which in ("first", "second"):
            start = time.perf_counter()
            LogisticRegression(tol=1e-6).fit(X, y)
            times[which] = time.perf_counter() - start
        client.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="fresh clusters")
    args = parser.parse_args()
    # The data go to the workers inside the graph, as from_array does in a
    # notebook; the warning that says so would repeat on every run.
    warnings.filterwarnings("ignore", message="Sending large graph")
    rng = np.random.default_rng(0)
    X_np = rng.standard_normal((400_000, 100))
    z = X_np @ rng.standard_normal(100) * 0.3
    y_np = (rng.random(400_000) < 1.0 / (1.0 + np.exp(-z))).astype(np.float64)
    runs = []
    for _ in range(args.runs):
        runs.append(one_run(X_np, y_np))
        print("  ".join(f"{k} {v:.2f} s" for k, v in runs[-1].items()), flush=True)
    medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print("median: " + "  ".join(f"{k} {v:.2f} s" for k, v in medians.items()))


if __name__ == "__main__":
    main()
