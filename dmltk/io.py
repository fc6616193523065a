"""Readers: libsvm files and CSV/Parquet tables as dask arrays in row blocks.

Both readers parse every block once, on the workers, keep the parsed blocks
there (persisted) and return dask arrays with known chunk sizes: a row count
per block needs a pass over the data, and keeping what that pass parsed
costs less than parsing again at the first compute.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from dask.bytes import read_bytes
from dask.utils import parse_bytes
from fsspec.utils import infer_compression

from . import _libsvm, _tables
from ._blocks import float_dtype

# When a byte range fails to parse, its lines are re-parsed this many at a
# time, then one by one inside the failing group, to find the first bad line.
_LOCATE_GROUP_LINES = 1024
# A malformed line is quoted in the error message up to this many bytes.
_QUOTE_BYTES = 120
# Where ``format=None`` looks: the extension of the path (or of its first
# item), compression suffixes aside.
_TABLE_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")


# --------------------------------------------------------------------- libsvm
@dataclass(frozen=True)
class _RangeSummary:
    """What the client learns about one parsed byte range.

    Attributes
    ----------
    rows : int
        Data rows (comments and blank lines excluded).
    width : int
        Largest 0-based column index + 1; 0 when the range has no feature.
    newlines : int
        Line breaks in the range, to number the lines of the ranges after it.
    nbytes : int
        Length of the range, to give byte offsets in the ranges after it.
    error : tuple of (int or None, int, str, bytes), optional
        The first malformed line: its 0-based number and byte offset inside
        the range, scikit-learn's message and the line itself.
    """

    rows: int
    width: int
    newlines: int
    nbytes: int
    error: tuple[int | None, int, str, bytes] | None = None


def read_libsvm(
    path_or_glob: str | os.PathLike | list,
    n_features: int | None = None,
    *,
    zero_based: bool = False,
    blocksize: int | str = "64MiB",
    dense: bool = False,
    dtype=np.float64,
) -> tuple[da.Array, da.Array]:
    """Read libsvm / svmlight files into dask arrays X, y, in parallel.

    Every file is cut into byte ranges of about ``blocksize`` on line
    boundaries (:func:`dask.bytes.read_bytes`), and each range is parsed on a
    worker by a compiled parser that gives the arrays of scikit-learn's
    :func:`sklearn.datasets.load_svmlight_file` bit for bit (a range outside
    its plain form goes to scikit-learn's parser), so lines are read exactly
    as scikit-learn reads them: ``#`` starts a comment, blank lines are
    skipped, a ``qid:`` token is ignored, explicit zeros are kept. Ranges and
    files follow each other in order (files of a glob sorted by name).

    Parameters
    ----------
    path_or_glob : str, path-like or list of them
        A file, a glob such as ``"data/part-*.libsvm"``, or a list of files
        (any fsspec URL that :func:`dask.bytes.read_bytes` can read, such as
        ``s3://``). Compressed files are refused: their byte ranges cannot be
        read independently.
    n_features : int, optional
        Number of columns of X. A column index beyond it raises
        ``ValueError``. ``None`` infers it: largest index + 1 (0-based), at
        least 1.
    zero_based : bool, default=False
        Column indices in the files start at 1, as in libsvm and Spark
        (column ``j`` of X is index ``j + 1`` in the file) unless this is
        True. With ``False``, an index 0 raises ``ValueError``.
    blocksize : int or str, default="64MiB"
        Bytes per range (an int, or a string such as ``"64MiB"``): one row
        block of X per range, except that ranges holding no data row are
        left out.
    dense : bool, default=False
        Return numpy blocks instead of scipy.sparse CSR ones.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Dtype of the values of X, parsed straight into it (as
        scikit-learn's ``load_svmlight_file(..., dtype=dtype)`` does).
        float32 halves the memory of dense blocks and takes a third off CSR
        blocks; :class:`dmltk.LogisticRegression` fits it without a copy.

    Returns
    -------
    X : dask.array.Array of shape (n_samples, n_features), of ``dtype``
        Row blocks of ``scipy.sparse.csr_matrix`` (numpy with ``dense=True``),
        one column block, known chunk sizes.
    y : dask.array.Array of shape (n_samples,), float64
        The labels, chunked like the rows of X.

    Raises
    ------
    FileNotFoundError
        No file matches ``path_or_glob``.
    ValueError
        A malformed line (naming the file, the line number and its byte
        offset), an index out of range, a compressed file, or no data row.

    Notes
    -----
    **Cost.** The call parses every range once, in parallel on the current
    Dask scheduler (the active ``distributed.Client``, else threads), and the
    parsed blocks stay on the workers: X and y come back persisted, so their
    chunk sizes are known and computing them costs nothing more. That pass
    also finds each range's largest column index, so ``n_features=None``
    costs no extra pass: CSR blocks only have their width set afterwards; with
    ``dense=True`` they are densified after the pass, not during it, so each
    block exists briefly in both forms. The cluster needs memory for X: about
    12 bytes per stored value in CSR, 8 bytes per cell dense (8 and 4 with
    ``dtype=numpy.float32``).

    Examples
    --------
    A file of 1.08 GB, read in 16 ranges of about 64 MiB:

    >>> import dmltk
    >>> X, y = dmltk.read_libsvm("data/*.libsvm")  # doctest: +SKIP
    >>> X.shape, X.numblocks  # doctest: +SKIP
    ((1000000, 100), (16, 1))
    """
    if n_features is not None and (
        isinstance(n_features, bool) or not isinstance(n_features, int | np.integer)
    ):
        raise TypeError(f"n_features must be an int or None, got {n_features!r}.")
    if n_features is not None and n_features < 1:
        raise ValueError(f"n_features must be at least 1, got {n_features}.")
    dtype = float_dtype(dtype)
    paths, ranges = _byte_ranges(path_or_glob, _blocksize_bytes(blocksize))
    parsed = [
        [
            dask.delayed(_parse_range, pure=True)(
                byte_range, n_features, bool(zero_based), dense, dtype
            )
            for byte_range in file_ranges
        ]
        for file_ranges in ranges
    ]
    parsed = _persist_nested(parsed)
    summaries = _compute_nested([[part[2] for part in parts] for parts in parsed])
    for path, file_summaries in zip(paths, summaries, strict=True):
        _raise_first_error(path, file_summaries, zero_based)
    flat = [
        (part, summary)
        for parts, file_summaries in zip(parsed, summaries, strict=True)
        for part, summary in zip(parts, file_summaries, strict=True)
        if summary.rows > 0
    ]
    if not flat:
        raise ValueError(f"No data row in {path_or_glob!s} (files: {paths}).")
    width = n_features or max(1, *(summary.width for _, summary in flat))
    meta = np.empty((0, 0), dtype) if dense else sp.csr_matrix((0, 0), dtype=dtype)
    X_blocks, y_blocks = [], []
    for part, summary in flat:
        block = part[0]
        if n_features is None:
            # The width is known only now that every range is parsed.
            block = dask.delayed(_finish_block, pure=True)(block, width, dense)
        X_blocks.append(
            da.from_delayed(block, (summary.rows, width), dtype=dtype, meta=meta)
        )
        y_blocks.append(da.from_delayed(part[1], (summary.rows,), dtype=np.float64))
    return tuple(dask.persist(da.concatenate(X_blocks), da.concatenate(y_blocks)))


def _blocksize_bytes(blocksize: int | str) -> int:
    if isinstance(blocksize, str):
        try:
            blocksize = parse_bytes(blocksize)
        except ValueError as error:
            raise ValueError(
                f"blocksize must be a number of bytes, such as 67108864 or "
                f"'64MiB', got {blocksize!r}."
            ) from error
    if isinstance(blocksize, bool) or not isinstance(blocksize, int | np.integer):
        raise TypeError(f"blocksize must be an int or a str, got {blocksize!r}.")
    if blocksize < 1:
        raise ValueError(f"blocksize must be positive, got {blocksize}.")
    return int(blocksize)


def _byte_ranges(
    path_or_glob, blocksize: int, *, sample: int | bool = False, compressed="refuse"
):
    """The files matched and, per file, delayed byte ranges on line breaks.

    ``compressed="refuse"`` raises on a compressed file; ``"whole"`` reads
    every file as one range, decompressed, when any of them is compressed.
    Returns ``(paths, ranges)``, or ``(sample, paths, ranges)`` with
    ``sample`` (the first bytes of the first file, ending on a line break).
    """
    from fsspec.core import get_fs_token_paths

    _, _, paths = get_fs_token_paths(path_or_glob)
    if not paths:
        raise FileNotFoundError(f"No file matches {path_or_glob!s}.")
    compressed_paths = [path for path in paths if infer_compression(path) is not None]
    if compressed_paths and compressed == "refuse":
        raise ValueError(
            f"Compressed file(s) {compressed_paths}: their byte ranges cannot be "
            "parsed independently. Decompress them first."
        )
    head, ranges, paths = read_bytes(
        path_or_glob,
        delimiter=b"\n",
        blocksize=None if compressed_paths else blocksize,
        sample=sample,
        compression="infer" if compressed_paths else None,
        include_path=True,
    )
    return (head, paths, ranges) if sample else (paths, ranges)


def _persist_nested(nested: list[list]) -> list[list]:
    """``dask.persist`` over a list of lists, keeping the nesting."""
    flat = dask.persist(*(item for items in nested for item in items))
    return _renest(flat, nested)


def _compute_nested(nested: list[list]) -> list[list]:
    flat = dask.compute(*(item for items in nested for item in items))
    return _renest(flat, nested)


def _renest(flat, nested):
    out, start = [], 0
    for items in nested:
        out.append(list(flat[start : start + len(items)]))
        start += len(items)
    return out


def _load(
    data: bytes, n_features: int | None, zero_based: bool, dtype=np.float64, bounds=None
):
    """``(X, y)`` of the lines in ``data``, as ``load_svmlight_file`` gives
    them: from the compiled parser when every line is in its plain form (the
    same bits; see :mod:`dmltk._libsvm`), else from scikit-learn's, which
    also raises the errors."""
    dtype = float_dtype(dtype)
    parsed = _libsvm.parse(data, zero_based, dtype, bounds)
    if parsed is not None:
        values, indices, indptr, y = parsed
        width = int(indices.max()) + 1 if len(indices) else 0
        if n_features is None or width <= n_features:
            X = sp.csr_matrix(
                (values, indices, indptr), shape=(len(y), n_features or max(width, 1))
            )
            X.has_sorted_indices = True  # strictly increasing along each line
            return X, y
    # Imported here: scikit-learn costs a worker 2 s to import, and only
    # lines outside the compiled parser's plain form need it.
    from sklearn.datasets import load_svmlight_file

    return load_svmlight_file(
        io.BytesIO(data),
        n_features=n_features,
        zero_based=zero_based,
        dtype=dtype,
    )


def _parse_range(
    data: bytes,
    n_features: int | None,
    zero_based: bool,
    dense: bool,
    dtype=np.float64,
):
    """Parse one byte range: ``(X, y, _RangeSummary)``, never raising on bad
    data, so that the client can number the bad line across ranges."""
    bounds = _libsvm.count_bounds(np.frombuffer(data, dtype=np.uint8))
    newlines = bounds[0]
    try:
        X, y = _load(data, n_features, zero_based, dtype, bounds)
    except (ValueError, OverflowError):
        # The parser names no line: find it (costs a re-parse of this range).
        error = _first_bad_line(data, n_features, zero_based)
        return None, None, _RangeSummary(0, 0, newlines, len(data), error)
    width = int(X.indices.max()) + 1 if X.nnz else 0
    summary = _RangeSummary(X.shape[0], width, newlines, len(data))
    if n_features is not None:
        X = _finish_block(X, n_features, dense)
    return X, y, summary


def _finish_block(X, n_features: int, dense: bool):
    """A parsed block in its final form: ``n_features`` columns, CSR with
    int32 indices (the parser's are int64; int32 saves a third of the memory
    of CSR and is what scipy's kernels prefer), or numpy."""
    X = sp.csr_matrix(
        (
            X.data,
            X.indices.astype(np.int32, copy=False),
            X.indptr.astype(np.int32, copy=False),
        ),
        shape=(X.shape[0], n_features),
    )
    return X.toarray() if dense else X


def _parse_error(data: bytes, n_features, zero_based) -> Exception | None:
    try:
        _load(data, n_features, zero_based)
    except (ValueError, OverflowError) as error:
        return error
    return None


def _first_bad_line(
    data: bytes, n_features, zero_based
) -> tuple[int | None, int, str, bytes]:
    """(0-based line number, byte offset, message, line) of the first line of
    ``data`` that scikit-learn's parser rejects."""
    lines = data.split(b"\n")
    group_offset = 0
    for first in range(0, len(lines), _LOCATE_GROUP_LINES):
        group = lines[first : first + _LOCATE_GROUP_LINES]
        if _parse_error(b"\n".join(group), n_features, zero_based) is not None:
            offset = group_offset
            for number, line in enumerate(group, start=first):
                error = _parse_error(line, n_features, zero_based)
                if error is not None:
                    return number, offset, str(error), line[:_QUOTE_BYTES]
                offset += len(line) + 1
        group_offset += sum(len(line) + 1 for line in group)
    # Every line parses alone but the range does not: say where it starts.
    error = _parse_error(data, n_features, zero_based)
    return None, 0, str(error), b""


def _raise_first_error(path: str, summaries: list[_RangeSummary], zero_based):
    """Raise ValueError for the first malformed line of one file, if any."""
    lines_before = bytes_before = 0
    for summary in summaries:
        if summary.error is not None:
            number, offset, message, line = summary.error
            if number is None:
                where = f"the bytes from offset {bytes_before}"
            else:
                where = (
                    f"line {lines_before + number + 1} "
                    f"(byte offset {bytes_before + offset})"
                )
            hint = ""
            if "Invalid index 0" in message and not zero_based:
                hint = (
                    " Indices are 1-based by default; pass zero_based=True "
                    "for a file whose indices start at 0."
                )
            raise ValueError(
                f"Malformed libsvm data in {path}, {where}: {message.rstrip('.')}. "
                f"Line: {line.decode('utf-8', 'replace')!r}.{hint}"
            )
        lines_before += summary.newlines
        bytes_before += summary.nbytes


# ---------------------------------------------------------------------- table
# Bytes of the first CSV file from which the columns and their types are
# inferred (dask.dataframe.read_csv reads as much).
_CSV_SAMPLE_BYTES = 256_000


def read_table(
    path_or_glob: str | os.PathLike | list,
    *,
    label: str,
    features: list[str] | None = None,
    format: str | None = None,
    dtype=np.float64,
    blocksize: int | str = "64MiB",
) -> tuple[da.Array, da.Array]:
    """Read a CSV or Parquet table into dask arrays X (features) and y (label).

    The analogue of Spark's ``VectorAssembler``: chosen numeric columns
    become the float64 (or float32) columns of X, in the order given. Each
    piece of the table is read on a worker straight into a C-contiguous
    float block (no pandas frame on the way): Parquet by pyarrow, one file
    or some of its row groups per block; CSV one byte range of about
    ``blocksize`` per block, cut on line breaks by
    :func:`dask.bytes.read_bytes`, parsed by a compiled loop when its lines
    hold plain numbers in the columns read, else by pyarrow's CSV reader
    (the same values either way).

    Parameters
    ----------
    path_or_glob : str, path-like or list of them
        A file, a glob, a list of files, or (Parquet) a dataset directory
        (files whose names start with ``_`` or ``.`` left out). Any fsspec
        URL that dask reads, such as ``s3://``.
    label : str
        Column holding the labels; any type (numbers, strings, booleans).
    features : list of str, optional
        Numeric columns making up X. ``None`` means every numeric column
        except ``label`` (booleans count as numeric; a pandas index stored
        in Parquet does not), in table order.
    format : {"csv", "parquet"}, optional
        Inferred from the extension (``.csv``, ``.parquet``, ``.pq``; a
        directory is read as Parquet) when omitted.
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Dtype of X. float32 halves its memory; :class:`dmltk.LogisticRegression`
        fits it without a copy.
    blocksize : int or str, default="64MiB"
        CSV: bytes per range (compressed files are read whole, one block
        each). Parquet: a file whose chosen columns hold more than twice
        this many bytes as floats is read in groups of row groups of about
        this size; smaller files are one block each.

    Returns
    -------
    X : dask.array.Array of shape (n_samples, n_features), of ``dtype``
        C-contiguous numpy row blocks, one column block, known chunk sizes.
        Missing values are NaN (a fit refuses them).
    y : dask.array.Array of shape (n_samples,)
        The label column as numpy (strings as ``object``), chunked like X.

    Raises
    ------
    FileNotFoundError
        No file matches ``path_or_glob``.
    ValueError
        A missing or non-numeric column (named), no feature column, an
        unknown format, a missing label value, a CSV value that does not
        parse, a CSV header or Parquet schema unlike the first file's (each
        naming the file).

    Notes
    -----
    **Cost.** Like :func:`read_libsvm`, the call reads the files once on the
    current Dask scheduler and keeps the converted blocks there: X and y come
    back persisted, with known chunk sizes. Parquet reads only the columns
    used. CSV columns and their types come from the first 256 kB of the
    first file; every file must have the same header line, and a quoted
    value must not hold a line break (ranges are cut on line breaks).

    Examples
    --------
    >>> import dmltk
    >>> X, y = dmltk.read_table("flights/*.parquet", label="delayed")  # doctest: +SKIP
    """
    dtype = float_dtype(dtype)
    format = _table_format(path_or_glob, format)
    blocksize = _blocksize_bytes(blocksize)
    if format == "csv":
        schema, make_parts = _csv_table(path_or_glob, blocksize)
    else:
        schema, make_parts = _parquet_table(path_or_glob, blocksize)
    features = _feature_columns(schema, label, features, path_or_glob)
    y_dtype = _tables.label_dtype(schema.field(label).type)
    parts = dask.persist(*make_parts(features, label, y_dtype, dtype))
    rows = dask.compute(*(part[2] for part in parts))
    kept = [(part, n) for part, n in zip(parts, rows, strict=True) if n > 0]
    if not kept:
        raise ValueError(f"No data row in {path_or_glob!s}.")
    X = da.concatenate(
        [da.from_delayed(part[0], (n, len(features)), dtype=dtype) for part, n in kept]
    )
    y = da.concatenate(
        [da.from_delayed(part[1], (n,), dtype=y_dtype) for part, n in kept]
    )
    return tuple(dask.persist(X, y))


def _csv_table(path_or_glob, blocksize: int):
    """The CSV table's inferred schema, and a maker of its delayed blocks."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    sample, paths, ranges = _byte_ranges(
        _fspath(path_or_glob), blocksize, sample=_CSV_SAMPLE_BYTES, compressed="whole"
    )
    names = _tables.csv_header(sample)
    if not names or names == [""]:
        raise ValueError(f"{paths[0]} has no header line naming its columns.")
    try:
        inferred = pa_csv.read_csv(
            pa.py_buffer(sample[: sample.rfind(b"\n") + 1] or sample),
            read_options=pa_csv.ReadOptions(use_threads=False),
        ).schema
    except pa.ArrowInvalid as error:
        raise ValueError(
            f"Cannot read the first rows of {paths[0]} as CSV: {error}"
        ) from error

    def make_parts(features, label, y_dtype, dtype):
        column_types = {
            name: (pa.bool_() if pa.types.is_boolean(inferred.field(name).type)
                   else pa.float64())
            for name in features
        }  # fmt: skip
        label_type = inferred.field(label).type
        # A label column empty in the sample: numbers, or Arrow's error.
        column_types[label] = (
            pa.float64() if pa.types.is_null(label_type) else label_type
        )
        return [
            dask.delayed(_tables.csv_block, pure=True)(
                byte_range, index == 0, names, column_types, features, label,
                y_dtype, dtype,
                f"{path}" if index == 0 else
                f"{path} (the lines after byte {index * blocksize})",
            )
            for path, file_ranges in zip(paths, ranges, strict=True)
            for index, byte_range in enumerate(file_ranges)
        ]  # fmt: skip

    return inferred, make_parts


def _parquet_table(path_or_glob, blocksize: int):
    """The Parquet table's schema, and a maker of its delayed blocks."""
    import pyarrow.dataset as pa_dataset
    from fsspec.core import get_fs_token_paths

    fs, _, paths = get_fs_token_paths(_fspath(path_or_glob))
    if not paths:
        raise FileNotFoundError(f"No file matches {path_or_glob!s}.")
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    filesystem = None if "file" in protocols else fs  # Arrow's own local reader
    source = paths[0] if len(paths) == 1 and fs.isdir(paths[0]) else paths
    try:
        dataset = pa_dataset.dataset(source, format="parquet", filesystem=filesystem)
    except (OSError, ValueError) as error:  # pyarrow.ArrowInvalid is a ValueError
        raise ValueError(f"Cannot read {path_or_glob!s} as Parquet: {error}") from error
    fragments = list(dataset.get_fragments())
    if not fragments:
        raise FileNotFoundError(f"No Parquet file in {path_or_glob!s}.")
    schema = dataset.schema
    index_columns = (schema.pandas_metadata or {}).get("index_columns", [])
    schema = schema.remove_metadata()
    for name in index_columns:
        if isinstance(name, str) and name in schema.names:
            schema = schema.remove(schema.get_field_index(name))

    def make_parts(features, label, y_dtype, dtype):
        row_bytes = len(features) * dtype.itemsize
        first = fragments[0].metadata
        split = first.num_row_groups > 1 and first.num_rows * row_bytes > 2 * blocksize
        pieces = []
        for fragment in fragments:
            if not split:
                pieces.append((fragment.path, None))
                continue
            metadata = fragment.metadata
            group, group_rows = [], 0
            for index in range(metadata.num_row_groups):
                group.append(index)
                group_rows += metadata.row_group(index).num_rows
                if group_rows * row_bytes >= blocksize:
                    pieces.append((fragment.path, group))
                    group, group_rows = [], 0
            if group:
                pieces.append((fragment.path, group))
        return [
            dask.delayed(_tables.parquet_block, pure=True)(
                path, groups, filesystem, features, label, y_dtype, dtype
            )
            for path, groups in pieces
        ]

    return schema, make_parts


def _fspath(path_or_glob):
    if isinstance(path_or_glob, list | tuple):
        return [os.fspath(path) for path in path_or_glob]
    return os.fspath(path_or_glob)


def _table_format(path_or_glob, format: str | None) -> str:
    if format is not None:
        if format not in ("csv", "parquet"):
            raise ValueError(f"format must be 'csv' or 'parquet', got {format!r}.")
        return format
    first = _fspath(path_or_glob)
    if isinstance(first, list):
        if not first:
            raise ValueError("path_or_glob is an empty list.")
        first = first[0]
    name = first.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    extension = os.path.splitext(name)[1]
    if extension in _TABLE_EXTENSIONS:
        return _TABLE_EXTENSIONS[extension]
    if os.path.isdir(first):
        return "parquet"
    raise ValueError(
        f"Cannot infer the format of {first!r} from its extension (known: "
        f"{sorted(_TABLE_EXTENSIONS)}); pass format='csv' or format='parquet'."
    )


def _feature_columns(schema, label, features, path_or_glob) -> list[str]:
    """The feature columns to read, checked against the table's Arrow schema."""
    columns = list(schema.names)
    if label not in columns:
        raise ValueError(
            f"Label column {label!r} is not in {path_or_glob!s}; its columns "
            f"are {columns}."
        )
    if features is None:
        features = [
            field.name
            for field in schema
            if field.name != label and _tables.is_numeric(field.type)
        ]
        if not features:
            raise ValueError(
                f"{path_or_glob!s} has no numeric column besides the label "
                f"{label!r}; its columns are "
                f"{ {field.name: str(field.type) for field in schema} }."
            )
        return features
    if isinstance(features, str):
        raise TypeError(
            f"features must be a list of column names, got the string {features!r}."
        )
    features = list(features)
    if not features:
        raise ValueError("features is empty: name at least one column.")
    for column in features:
        if column not in columns:
            raise ValueError(
                f"Feature column {column!r} is not in {path_or_glob!s}; its "
                f"columns are {columns}."
            )
        column_type = schema.field(column).type
        if not _tables.is_numeric(column_type):
            raise ValueError(
                f"Feature column {column!r} is not numeric (type "
                f"{column_type}); encode it or leave it out of features."
            )
    return features
