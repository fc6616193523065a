"""A compiled CSV parser for numeric tables, exact or not at all.

:func:`parse` turns the bytes of whole CSV lines into a C-contiguous float
block of the chosen columns and the label column, the same values to the
last bit as Arrow's CSV reader gives (:mod:`dmltk._tables`), or returns None
when the bytes hold anything outside the plain form below; the caller then
hands them to Arrow's reader, which also produces the error messages. So the
result never depends on which parser ran, only the time does.

Written by hand because Arrow's CSV reader converts about 55 to 75 MB/s per
core here and pandas' about 80 to 150, with the transposition of its columns
into rows still to do; this loop writes each value straight into its row,
with the number kernel of the libsvm parser (:mod:`dmltk._libsvm`).

The plain form, one line after another::

    field , field , ... , field [CR] LF

- a chosen column's field is a number, ``[+-]digits[.digits][(e|E)[+-]digits]``
  or with digits only after the point, or empty (a missing value: NaN);
- the label's field is a number, never empty (an integer where the label
  column is of integers);
- any other field holds neither a comma nor a double quote;
- every line has the table's number of fields; the last line may end
  without LF.

Anything else (quoted fields, blank lines, ``NA``, ``nan``, ``inf``, spaces
around numbers, ``True``) sends the block to Arrow's reader. Numbers are
converted as in :mod:`dmltk._libsvm`: exactly on the fast path, the long
ones afterwards by Arrow's string-to-float cast, which Arrow's CSV reader
also uses, so both routes round every number the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._libsvm import (
    _INVALID,
    _LONG,
    _POWERS,
    _note_long,
    _number,
    convert_long,
    count_bounds,
)

_OPTIONS = {"cache": True, "nogil": True}
_COMMA, _QUOTE, _LF, _CR, _MINUS = 44, 34, 10, 13, 45
# What each column of the table is: skipped, the label, or a feature (its
# output column, 0 and up).
SKIP, LABEL = -1, -2
# An integer label of at most this many digits is exact in float64.
_MAX_INTEGER_DIGITS = 15


@njit(inline="always")
def _integer(buf, pos, end):
    """``(valid, value, next position)`` of ``-?digits`` at ``buf[pos:]``,
    the form Arrow reads as int64, of at most 15 digits."""
    negative = pos < end and buf[pos] == _MINUS
    if negative:
        pos += 1
    value = 0
    digits = 0
    while pos < end and 48 <= buf[pos] <= 57:
        value = value * 10 + (buf[pos] - 48)
        digits += 1
        pos += 1
    valid = 0 < digits <= _MAX_INTEGER_DIGITS
    return valid, float(-value if negative else value), pos


@njit(**_OPTIONS)
def parse_lines(buf, roles, integer_label, powers, out, labels, long):
    """Fill ``out`` (rows, features) and ``labels`` from the lines of ``buf``.

    ``roles[k]`` says what column ``k`` of the table is (:data:`SKIP`,
    :data:`LABEL`, or an output column); ``integer_label``: labels are
    integers (:func:`_integer`). Returns ``(rows, long numbers)``,
    ``(-1, -1)`` as soon as the bytes leave the plain form, ``(-2, -2)``
    when ``long`` is full. Each long number leaves ``(start, end, slot)``
    in ``long``: ``slot >= 0`` is its index in ``out`` flattened, ``-1 -
    row`` the label of ``row``.
    """
    end = buf.shape[0]
    n_columns = roles.shape[0]
    width = out.shape[1]
    pos = 0
    row = 0
    n_long = 0
    while pos < end:
        for k in range(n_columns):
            role = roles[k]
            start = pos
            if role == SKIP:
                while pos < end:
                    c = buf[pos]
                    if c == _COMMA or c == _LF or c == _CR:
                        break
                    if c == _QUOTE:
                        return -1, -1
                    pos += 1
            elif role == LABEL and integer_label:
                valid, value, pos = _integer(buf, pos, end)
                if not valid:
                    return -1, -1
                labels[row] = value
            elif role == LABEL:
                status, value, pos = _number(buf, pos, end, powers)
                if status == _INVALID:
                    return -1, -1
                if status == _LONG:
                    n_long = _note_long(long, n_long, start, pos, -1 - row)
                    if n_long < 0:
                        return -2, -2
                labels[row] = value
            elif pos < end and (
                buf[pos] == _COMMA or buf[pos] == _LF or buf[pos] == _CR
            ):
                out[row, role] = np.nan  # an empty field: missing
            else:
                status, value, pos = _number(buf, pos, end, powers)
                if status == _INVALID:
                    return -1, -1
                if status == _LONG:
                    n_long = _note_long(long, n_long, start, pos, row * width + role)
                    if n_long < 0:
                        return -2, -2
                out[row, role] = value
            # The field must end here: a comma between fields, the line's
            # end after the last.
            if k < n_columns - 1:
                if pos >= end or buf[pos] != _COMMA:
                    return -1, -1
                pos += 1
            elif pos < end:
                if buf[pos] == _CR and pos + 1 < end and buf[pos + 1] == _LF:
                    pos += 2
                elif buf[pos] == _LF or (buf[pos] == _CR and pos + 1 == end):
                    pos += 1
                else:
                    return -1, -1
        row += 1
    return row, n_long


def parse(data: bytes, roles: np.ndarray, n_features: int, dtype, integer_label: bool):
    """The lines of ``data`` as ``(X, y)``: X C-contiguous ``(rows,
    n_features)`` of ``dtype``, y float64 (int64 with ``integer_label``), or
    None when they are not all in the plain form.

    Parameters
    ----------
    data : bytes
        Whole lines, no header.
    roles : ndarray of int64
        Per column of the table: :data:`SKIP`, :data:`LABEL` or the column
        of X it fills.
    n_features : int
    dtype : numpy dtype
        float32 or float64. float32 values are the float64 value rounded to
        float32, as a float64 column cast to float32 gives them.
    integer_label : bool
        The label column is of integers: a label other than ``-?digits`` of
        at most 15 digits sends the block to Arrow's reader.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    max_rows = count_bounds(buf)[0] + 1
    # Parsed in float64 and rounded once to float32, as a cast would.
    out = np.empty((max_rows, n_features), dtype=np.float64)
    labels = np.empty(max_rows, dtype=np.float64)
    for capacity in (out.size // 8 + 64, out.size + max_rows):
        long = np.empty((capacity, 3), dtype=np.int64)
        rows, n_long = parse_lines(
            buf, roles, bool(integer_label), _POWERS, out, labels, long
        )
        if rows != -2:
            break
    if rows < 0:
        return None
    if n_long:
        convert_long(buf, long[:n_long], out.reshape(-1), labels)
    X, y = out[:rows], labels[:rows]
    if integer_label:
        y = y.astype(np.int64)
    if dtype != np.float64:
        X = X.astype(dtype)
    return X, y
