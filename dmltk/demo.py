"""End-to-end demo: ``python -m dmltk.demo``.

Starts (or connects to) a Dask cluster, generates a synthetic binary problem
on the workers, fits :class:`dmltk.LogisticRegression` on 80% of the rows,
and reports accuracy on the other 20% with timings. Exits 0 when the model
beats chance clearly, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time

import dask
from distributed import wait

from . import LogisticRegression, __version__, connect
from .datasets import make_classification


def run(client, n_samples: int, n_features: int) -> float:
    """Run the demo on ``client``'s cluster and return the held-out accuracy."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    print(f"dmltk {__version__} on {len(workers)} workers: {client.dashboard_link}")
    n_blocks = 10 * max(1, len(workers))
    X, y = make_classification(n_samples, n_features, n_blocks=n_blocks)
    start = time.perf_counter()
    X, y = dask.persist(X, y)
    wait([X, y])
    print(
        f"generated {n_samples:,} x {n_features} on the workers in "
        f"{time.perf_counter() - start:.2f} s"
    )
    # The last 20% of blocks are held out (blocks are i.i.d. by construction).
    cut = sum(X.chunks[0][: int(n_blocks * 0.8)])
    start = time.perf_counter()
    model = LogisticRegression(tol=1e-6).fit(X[:cut], y[:cut])
    fit_seconds = time.perf_counter() - start
    accuracy = model.score(X[cut:], y[cut:])
    print(f"fit {cut:,} rows in {fit_seconds:.2f} s, {model.n_iter_[0]} iterations")
    print(f"held-out accuracy on {n_samples - cut:,} rows: {accuracy:.4f}")
    return accuracy


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m dmltk.demo", description=__doc__)
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=50)
    parser.add_argument(
        "--scheduler", default=None, help="scheduler address (default: local cluster)"
    )
    args = parser.parse_args(argv)
    with connect(args.scheduler) as client:
        accuracy = run(client, args.n_samples, args.n_features)
    return 0 if accuracy > 0.7 else 1


if __name__ == "__main__":
    sys.exit(main())
