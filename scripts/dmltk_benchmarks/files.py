"""The libsvm file of the reading and workflow benchmarks, written once.

1,000,000 rows of 100 dense features (standard normal, 4 decimals; labels
0/1 from a logistic model) by scikit-learn's ``dump_svmlight_file``, 1-based
indices: about 1.08 GB. Dense rows are the hardest case for a libsvm parser
(every cell is a token).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS = 1_000_000
QUICK_ROWS = 100_000
FEATURES = 100
SEED = 0
# Rows generated and written at a time, to bound the generator's memory.
WRITE_ROWS = 50_000
READ_CHUNK = 64 * 1024**2


def data_file(data_dir: Path, rows: int, features: int = FEATURES) -> Path:
    """The benchmark file, written once (atomically) and then reused.

    Parameters
    ----------
    data_dir : Path
    rows, features : int

    Returns
    -------
    Path
    """
    path = data_dir / f"dense-{rows}x{features}-seed{SEED}.libsvm"
    if path.exists():
        return path
    from scipy.special import expit
    from sklearn.datasets import dump_svmlight_file

    data_dir.mkdir(parents=True, exist_ok=True)
    weights = np.random.default_rng([SEED]).standard_normal(features)
    weights *= 2.0 / np.sqrt(features)
    print(f"writing {path} (once) ...", flush=True)
    start = time.perf_counter()
    with tempfile.NamedTemporaryFile(dir=data_dir, suffix=".tmp", delete=False) as f:
        try:
            for index, first in enumerate(range(0, rows, WRITE_ROWS)):
                n = min(WRITE_ROWS, rows - first)
                rng = np.random.default_rng([SEED, index])
                X = np.round(rng.standard_normal((n, features)), 4)
                y = (rng.random(n) < expit(X @ weights + 0.3)).astype(np.int64)
                dump_svmlight_file(X, y, f, zero_based=False)
        except BaseException:
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
    print(f"  written in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def warm_page_cache(path: Path) -> None:
    """Read the file once so that every reader is timed from memory."""
    with open(path, "rb") as f:
        while f.read(READ_CHUNK):
            pass
