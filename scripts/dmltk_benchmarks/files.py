"""The data files of the reading and workflow benchmarks, written once.

1,000,000 rows of 100 dense features (standard normal, 4 decimals; labels
0/1 from a logistic model), the same numbers in three formats:

- libsvm, by scikit-learn's ``dump_svmlight_file``, 1-based indices: about
  1.08 GB. Dense rows are the hardest case for a libsvm parser (every cell
  is a token).
- Parquet, by pyarrow (its default snappy compression): a directory of 4
  files of 250,000 rows, in row groups of 50,000 rows, columns ``x0``..
  ``x99`` (float64) and ``label`` (int64).
- CSV, by pyarrow: one file with a header line, the same columns.
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
PARQUET_FILE_ROWS = 250_000
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
    from sklearn.datasets import dump_svmlight_file

    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"writing {path} (once) ...", flush=True)
    start = time.perf_counter()
    with tempfile.NamedTemporaryFile(dir=data_dir, suffix=".tmp", delete=False) as f:
        try:
            for X, y in _chunks(rows, features):
                dump_svmlight_file(X, y, f, zero_based=False)
        except BaseException:
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
    print(f"  written in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def table_file(data_dir: Path, rows: int, features: int, data_format: str) -> Path:
    """The same data as :func:`data_file` as a Parquet directory or a CSV
    file, written once (into a temporary name, then renamed).

    Parameters
    ----------
    data_dir : Path
    rows, features : int
    data_format : {"parquet", "csv"}

    Returns
    -------
    Path
        The Parquet directory or the CSV file.
    """
    import shutil

    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    path = data_dir / f"dense-{rows}x{features}-seed{SEED}.{data_format}"
    if path.exists():
        return path
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"writing {path} (once) ...", flush=True)
    start = time.perf_counter()
    names = [f"x{j}" for j in range(features)] + ["label"]
    temporary = Path(tempfile.mkdtemp(dir=data_dir, suffix=".tmp"))
    try:
        writer = None
        for index, (X, y) in enumerate(_chunks(rows, features)):
            columns = [pa.array(X[:, j]) for j in range(features)] + [pa.array(y)]
            table = pa.Table.from_arrays(columns, names=names)
            if data_format == "csv":
                if writer is None:
                    writer = pa_csv.CSVWriter(temporary / "data.csv", table.schema)
                writer.write_table(table)
                continue
            if index * WRITE_ROWS % PARQUET_FILE_ROWS == 0:
                if writer is not None:
                    writer.close()
                part = temporary / f"part-{index * WRITE_ROWS // PARQUET_FILE_ROWS}"
                writer = pq.ParquetWriter(part.with_suffix(".parquet"), table.schema)
            writer.write_table(table)  # one row group per chunk
        writer.close()
        if data_format == "csv":
            os.replace(temporary / "data.csv", path)
        else:
            os.replace(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    print(f"  written in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def _chunks(rows: int, features: int):
    """``(X, y)`` of ``WRITE_ROWS`` rows at a time, the same in every format."""
    from scipy.special import expit

    weights = np.random.default_rng([SEED]).standard_normal(features)
    weights *= 2.0 / np.sqrt(features)
    for index, first in enumerate(range(0, rows, WRITE_ROWS)):
        n = min(WRITE_ROWS, rows - first)
        rng = np.random.default_rng([SEED, index])
        X = np.round(rng.standard_normal((n, features)), 4)
        y = (rng.random(n) < expit(X @ weights + 0.3)).astype(np.int64)
        yield X, y


def size(path: Path) -> int:
    """Bytes of a file, or of every file of a directory."""
    return sum(name.stat().st_size for name in _file_names(path))


def _file_names(path: Path) -> list[Path]:
    return sorted(path.iterdir()) if path.is_dir() else [path]


def warm_page_cache(path: Path) -> None:
    """Read the file (every file of a directory) once so that every reader
    is timed from memory."""
    for name in _file_names(path):
        with open(name, "rb") as f:
            while f.read(READ_CHUNK):
                pass
