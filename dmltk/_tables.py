"""Table pieces (a Parquet file or row groups, a CSV byte range) as row blocks.

Runs on the workers; numpy, pyarrow and numba only (never dask or pandas).
Arrow's readers give typed columns: float columns come out of Parquet
without a copy and out of CSV parsed straight to doubles (correctly
rounded), so the one copy of the block is its transposition into the
C-contiguous rows that the solvers read. Numeric CSV lines skip even that:
the compiled parser of :mod:`dmltk._csv` writes each value into its row.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pyarrow as pa

# Rows copied per tile when transposing columns into a C-contiguous block:
# a tile of rows x columns stays in the L2 cache while every column writes
# its strip, where whole columns would write each cache line d times.
_TILE_BYTES = 1 << 20
_MIN_TILE_ROWS = 256


def is_numeric(arrow_type: pa.DataType) -> bool:
    """Whether a column of this type can be a feature (booleans count, and a
    column of nulls only, as an all-empty CSV column is typed)."""
    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def label_dtype(arrow_type: pa.DataType) -> np.dtype:
    """The numpy dtype of the label column's values: strings (plain or
    dictionary-encoded) and anything numpy has no dtype for as ``object``."""
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_null(arrow_type):
        return np.dtype(np.float64)
    try:
        return np.dtype(arrow_type.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        return np.dtype(object)


def _float_column(array: pa.Array) -> np.ndarray:
    """One column of a record batch as numpy numbers; nulls become NaN."""
    arrow_type = array.type
    plain = pa.types.is_floating(arrow_type) or (
        pa.types.is_integer(arrow_type) and array.null_count == 0
    )
    if not plain:  # booleans, decimals, nulls, integers with nulls
        array = array.cast(pa.float64(), safe=False)
    return array.to_numpy(zero_copy_only=False)


def feature_block(table: pa.Table, features: list[str], dtype) -> np.ndarray:
    """The feature columns as one C-contiguous ``(rows, len(features))`` block.

    Parameters
    ----------
    table : pyarrow.Table
        Holds every name of ``features``, of numeric types (:func:`is_numeric`).
    features : list of str
    dtype : numpy.float32 or numpy.float64

    Returns
    -------
    numpy.ndarray
        Nulls as NaN.
    """
    out = np.empty((table.num_rows, len(features)), dtype)
    tile = max(_MIN_TILE_ROWS, _TILE_BYTES // max(1, out.itemsize * len(features)))
    first = 0
    # Record batches slice every column at the same rows, without a copy.
    for batch in table.select(features).to_batches():
        columns = [_float_column(batch.column(j)) for j in range(len(features))]
        for start in range(0, batch.num_rows, tile):
            rows = out[first + start : first + min(start + tile, batch.num_rows)]
            for j, column in enumerate(columns):
                rows[:, j] = column[start : start + tile]
        first += batch.num_rows
    return out


def label_values(table: pa.Table, label: str, dtype: np.dtype, where: str):
    """The label column as numpy of ``dtype``.

    Raises
    ------
    ValueError
        A missing label, or values that ``dtype`` cannot hold unchanged.
    """
    column = table.column(label)
    if column.null_count:
        raise ValueError(
            f"Label column {label!r} has {column.null_count} missing value(s) "
            f"in {where}; drop those rows or fill them in."
        )
    if pa.types.is_dictionary(column.type):
        column = pa.chunked_array(
            [chunk.dictionary_decode() for chunk in column.chunks],
            column.type.value_type,
        )
    values = column.to_numpy()
    if values.dtype != dtype:
        strings = (values.dtype.kind == "O") != (dtype.kind == "O")
        if strings or not np.can_cast(values.dtype, dtype, "safe"):
            raise ValueError(
                f"Label column {label!r} holds {values.dtype} values in {where}, "
                f"{dtype} in the first file's rows; make its type the same "
                "everywhere."
            )
        values = values.astype(dtype)
    return values


def table_block(table: pa.Table, features, label, y_dtype, dtype, where: str):
    """``(X, y, rows)`` of one piece of a table."""
    y = label_values(table, label, y_dtype, where)
    return feature_block(table, features, dtype), y, table.num_rows


# -------------------------------------------------------------------- Parquet
def parquet_block(
    path: str,
    row_groups: list[int] | None,
    filesystem,
    features: list[str],
    label: str,
    y_dtype: np.dtype,
    dtype,
):
    """``(X, y, rows)`` of one Parquet file, or of some of its row groups.

    Parameters
    ----------
    path : str
    row_groups : list of int, optional
        ``None`` reads the whole file.
    filesystem : fsspec or pyarrow filesystem, optional
        ``None`` for a local path.
    features, label, y_dtype, dtype
        As :func:`table_block`.
    """
    import pyarrow.parquet as pq

    try:
        # pre_buffer: the column chunks in a few large reads (a row group
        # read 1.6x faster here than column by column).
        parquet_file = pq.ParquetFile(path, filesystem=filesystem, pre_buffer=True)
    except pa.ArrowInvalid as error:
        raise ValueError(f"Cannot read the Parquet file {path}: {error}") from error
    columns = [*features, label]
    missing = [c for c in columns if c not in parquet_file.schema_arrow.names]
    if missing:
        raise ValueError(
            f"Column(s) {missing} are not in {path}, although the first file of "
            f"the table has them; its columns are {parquet_file.schema_arrow.names}."
        )
    if row_groups is None:
        table = parquet_file.read(columns, use_threads=False)
    else:
        table = parquet_file.read_row_groups(row_groups, columns, use_threads=False)
    return table_block(table, features, label, y_dtype, dtype, path)


# ------------------------------------------------------------------------ CSV
def csv_header(data: bytes) -> list[str]:
    """The column names on the first line of ``data`` (CSV quoting rules)."""
    first = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8")
    return next(csv.reader(io.StringIO(first)), [])


def csv_block(
    data: bytes,
    has_header: bool,
    names: list[str],
    column_types: dict,
    features: list[str],
    label: str,
    y_dtype: np.dtype,
    dtype,
    where: str,
):
    """``(X, y, rows)`` of one CSV byte range: by the compiled parser of
    :mod:`dmltk._csv` when every line is in its plain form (numbers only in
    the columns read), else by Arrow's reader; the same values either way.

    Parameters
    ----------
    data : bytes
        Whole lines (a range cut on line breaks by :func:`dask.bytes.read_bytes`).
    has_header : bool
        The range starts its file: its first line must name ``names``.
    names : list of str
        The columns of the table, from the first file's header.
    column_types : dict of str to pyarrow.DataType
        Types to parse the read columns as.
    features, label, y_dtype, dtype
        As :func:`table_block`.
    where : str
        The file and byte offset, for error messages.

    Raises
    ------
    ValueError
        A header unlike the first file's, or a value that does not parse as
        its column's type (Arrow's message, naming column and row).
    """
    import pyarrow.csv as pa_csv

    if has_header:
        header = csv_header(data)
        if header != names:
            raise ValueError(
                f"The header of {where} names the columns {header}, the first "
                f"file's {names}: every file of a table must have the same columns."
            )
        data = data[data.find(b"\n") + 1 if b"\n" in data else len(data) :]
    columns = [*features, label]
    parsed = _plain_csv(data, names, column_types, features, label, dtype)
    if parsed is not None:
        return parsed[0], parsed[1], len(parsed[1])
    if not data.strip():
        table = pa.table({c: pa.array([], column_types[c]) for c in columns})
    else:
        try:
            table = pa_csv.read_csv(
                pa.py_buffer(data),
                # One thread: the Dask worker's threads are the parallelism.
                read_options=pa_csv.ReadOptions(column_names=names, use_threads=False),
                convert_options=pa_csv.ConvertOptions(
                    column_types=column_types,
                    include_columns=columns,
                    # An empty or "NA" label is missing, as pandas reads it.
                    strings_can_be_null=True,
                ),
            )
        except pa.ArrowInvalid as error:
            raise ValueError(f"Malformed CSV data in {where}: {error}") from error
        # Arrow parses in batches of about 1 MB of text; one batch per
        # column copies faster than a thousand small ones.
        table = table.combine_chunks()
    return table_block(table, features, label, y_dtype, dtype, where)


def _plain_csv(data, names, column_types, features, label, dtype):
    """``(X, y)`` from the compiled parser, or None: when a feature is read
    as anything but float64 or the label as anything but a number, or when
    the bytes are not all in the parser's plain form."""
    from . import _csv

    label_type = column_types[label]
    if not data.strip() or label_type not in (pa.int64(), pa.float64()):
        return None
    if any(column_types[name] != pa.float64() for name in features):
        return None
    roles = np.full(len(names), _csv.SKIP, dtype=np.int64)
    for j, name in enumerate(features):
        roles[names.index(name)] = j
    roles[names.index(label)] = _csv.LABEL
    return _csv.parse(data, roles, len(features), dtype, label_type == pa.int64())
