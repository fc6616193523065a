"""A compiled libsvm parser for the common case, exact or not at all.

:func:`parse` turns the bytes of whole lines into ``(X, y)`` exactly as
scikit-learn's ``load_svmlight_file`` would (same values to the last bit,
same indices, same rows), or returns None when the bytes hold anything
outside the plain form below; the caller then hands them to scikit-learn,
whose parser also produces the error messages. So the result never depends
on which parser ran, only the time does.

Written by hand because no library parses libsvm at memory speed: scikit-
learn's Cython loop calls Python's ``float()`` and ``int()`` on every token
and splits every line into Python objects (about 90 MB/s here), pyarrow has
no libsvm reader, and a CSV reader cannot split ``index:value`` pairs.

The plain form, one line after another::

    label (SPACE|TAB)+ index:value (SPACE|TAB)+ index:value ... [SPACE|TAB]* [CR] LF

- numbers: ``[+-]digits[.digits][(e|E)[+-]digits]`` or with digits only
  after the point; labels are numbers too;
- indices: 1 to 9 decimal digits, strictly increasing along a line (and not
  0 unless ``zero_based``);
- the last line may end without LF.

Anything else (comments, ``qid:``, blank or indented lines, ``nan``, other
white space, an index that decreases) sends the block to scikit-learn.

Exactness: a number is converted as ``M * 10**e`` or ``M / 10**-e`` with the
decimal digits ``M`` at most 2**53 and ``|e|`` at most 22, where both
operands are exact doubles and IEEE multiplication and division round
correctly once: the result is the correctly rounded value, as ``float()``
(strtod) gives (Clinger's fast path). The other numbers (16 or 17
significant digits, such as ``0.9471000000000001`` from ``%.16g``, or
``1e-300``) are noted by the kernel and converted afterwards, all at once,
by Arrow's string-to-float cast, which rounds correctly as Python's
``float()`` (scikit-learn's parser calls it) does. float32 values are
the float64 value rounded to float32, as scikit-learn's parser stores them.

This module imports numpy and numba (pyarrow when a block has long
numbers); the kernels are compiled without
``fastmath``, which would replace the division by a reciprocal multiply.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = {"cache": True, "nogil": True}

# Exact powers of ten in float64 (10**22 is the largest).
_POWERS = np.array([10.0**k for k in range(23)])
_MAX_MANTISSA = 1 << 53
# M times 10**(k + 1) fits in int64 (below 10**18) when M < _MANTISSA_LIMITS[k].
_INTEGER_POWERS = np.array([10**k for k in range(19)], dtype=np.int64)
_MANTISSA_LIMITS = np.array([10**17 // 10**k for k in range(18)], dtype=np.int64)
_MAX_INDEX_DIGITS = 9  # below 2**31: scikit-learn reads indices as C int

_SPACE, _TAB, _LF, _CR, _COLON = 32, 9, 10, 13, 58


_INVALID, _EXACT, _LONG = 0, 1, 2


@njit(inline="always")
def _number(buf, pos, end, powers):
    """Parse a number at ``buf[pos:]``: ``(status, value, next position)``.

    ``_EXACT``: the value is the correctly rounded one. ``_LONG``: a valid
    number outside the fast path (more than 2**53 in its digits, or an
    exponent beyond 22): the caller has it converted by ``float()``.
    ``_INVALID``: not in the plain form.
    """
    negative = False
    if pos < end and (buf[pos] == 43 or buf[pos] == 45):  # + -
        negative = buf[pos] == 45
        pos += 1
    mantissa = 0
    digits = 0
    exponent = 0
    long = False
    # Zeros are held back until a non-zero digit follows, so that trailing
    # zeros ("0.5000", "1200") move the exponent instead of filling M.
    pending = 0
    fraction = False
    while pos < end:
        c = buf[pos]
        digit = np.int64(c) - 48
        if digit < 0 or digit > 9:
            if c == 46 and not fraction:  # the decimal point
                fraction = True
                pos += 1
                continue
            break
        if fraction:
            exponent -= 1
        if digit == 0:
            pending += 1
        elif not long:
            # M * 10**(pending + 1) + digit stays below 10**18 < 2**63.
            if pending >= 17 or mantissa >= _MANTISSA_LIMITS[pending]:
                long = True
            else:
                mantissa = mantissa * _INTEGER_POWERS[pending + 1] + digit
                pending = 0
        digits += 1
        pos += 1
    exponent += pending
    if digits == 0:
        return _INVALID, 0.0, pos
    if pos < end and (buf[pos] == 101 or buf[pos] == 69):  # e E
        pos += 1
        exponent_negative = False
        if pos < end and (buf[pos] == 43 or buf[pos] == 45):
            exponent_negative = buf[pos] == 45
            pos += 1
        written = 0
        exponent_digits = 0
        while pos < end and 48 <= buf[pos] <= 57:
            if exponent_digits < 6:
                written = written * 10 + (buf[pos] - 48)
            else:
                long = True
            exponent_digits += 1
            pos += 1
        if exponent_digits == 0:
            return _INVALID, 0.0, pos
        exponent += -written if exponent_negative else written
    if long or mantissa > _MAX_MANTISSA:
        return _LONG, 0.0, pos
    if mantissa == 0:  # before the exponent check: "0e-999" is 0.0
        value = 0.0
    elif exponent > 22 or exponent < -22:
        return _LONG, 0.0, pos
    elif exponent >= 0:
        value = float(mantissa) * powers[exponent]
    else:
        value = float(mantissa) / powers[-exponent]
    return _EXACT, -value if negative else value, pos


@njit(**_OPTIONS)
def count_bounds(buf):
    """``(line feeds, colons)``: bounds on the rows and the stored values.
    Branch-free, so that it vectorises (5x faster than with ``if``)."""
    newlines = 0
    colons = 0
    for i in range(buf.shape[0]):
        c = buf[i]
        newlines += np.int64(c == _LF)
        colons += np.int64(c == _COLON)
    return newlines, colons


@njit(inline="always")
def _note_long(long, n_long, start, stop, slot):
    """Note a long number (its bytes and its slot) in row ``n_long`` of
    ``long``; return the new count, or -1 when ``long`` is full."""
    if n_long == long.shape[0]:
        return -1
    long[n_long, 0] = start
    long[n_long, 1] = stop
    long[n_long, 2] = slot
    return n_long + 1


@njit(**_OPTIONS)
def parse_lines(buf, zero_based, powers, labels, indptr, indices, values, long):
    """Fill ``labels``, ``indptr``, ``indices`` and ``values`` from the lines
    of ``buf``; return ``(rows, stored values, long numbers)``, or
    ``(-1, -1, -1)`` as soon as the bytes leave the plain form (see the
    module docstring), ``(-2, -2, -2)`` when ``long`` is full.

    Each number outside the fast path leaves a row ``(start, end, slot)``
    in ``long`` (int64, (capacity, 3)): its bytes, and where its value
    goes (``slot >= 0``: ``values[slot]``; ``-1 - row``: ``labels[row]``).
    """
    end = buf.shape[0]
    pos = 0
    row = 0
    nnz = 0
    n_long = 0
    shift = 0 if zero_based else 1
    indptr[0] = 0
    while pos < end:
        start = pos
        status, label, pos = _number(buf, pos, end, powers)
        if status == _INVALID:
            return -1, -1, -1
        if status == _LONG:
            n_long = _note_long(long, n_long, start, pos, -1 - row)
            if n_long < 0:
                return -2, -2, -2
        labels[row] = label
        previous = -1
        while True:
            start = pos
            while pos < end and (buf[pos] == _SPACE or buf[pos] == _TAB):
                pos += 1
            if pos >= end:
                break
            c = buf[pos]
            if c == _LF:
                pos += 1
                break
            if c == _CR:
                if pos + 1 == end:
                    pos += 1
                    break
                if buf[pos + 1] == _LF:
                    pos += 2
                    break
                return -1, -1, -1
            if pos == start:  # a token not preceded by white space
                return -1, -1, -1
            index = 0
            digits = 0
            while pos < end and 48 <= buf[pos] <= 57:
                index = index * 10 + (buf[pos] - 48)
                digits += 1
                pos += 1
                if digits > _MAX_INDEX_DIGITS:
                    return -1, -1, -1
            if digits == 0 or pos >= end or buf[pos] != _COLON:
                return -1, -1, -1
            pos += 1
            if index < shift or index <= previous:
                return -1, -1, -1
            start = pos
            status, value, pos = _number(buf, pos, end, powers)
            if status == _INVALID:
                return -1, -1, -1
            if status == _LONG:
                n_long = _note_long(long, n_long, start, pos, nnz)
                if n_long < 0:
                    return -2, -2, -2
            indices[nnz] = index - shift
            values[nnz] = value
            nnz += 1
            previous = index
        row += 1
        indptr[row] = nnz
    return row, nnz, n_long


@njit(**_OPTIONS)
def _gather(buf, spans, offsets, out):
    """Copy the bytes of each span ``(start, end, _)`` one after the other."""
    for i in range(spans.shape[0]):
        out[offsets[i] : offsets[i + 1]] = buf[spans[i, 0] : spans[i, 1]]


def convert_long(buf, spans, values, labels) -> None:
    """Convert the long numbers the kernel noted, and put them in place.

    They go through Arrow's string-to-float cast in one call: correctly
    rounded (the fast_float library), so the same bits as Python's
    ``float()``, which scikit-learn's parser calls, at about 14 million
    numbers a second instead of 1.3 million.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = spans[:, 1] - spans[:, 0]
    offsets = np.zeros(len(spans) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    chars = np.empty(offsets[-1], dtype=np.uint8)
    _gather(buf, spans, offsets, chars)
    strings = pa.LargeStringArray.from_buffers(
        len(spans), pa.py_buffer(offsets), pa.py_buffer(chars)
    )
    converted = pc.cast(strings, pa.float64()).to_numpy(zero_copy_only=False)
    slots = spans[:, 2]
    stored = slots >= 0
    values[slots[stored]] = converted[stored]
    labels[-1 - slots[~stored]] = converted[~stored]


def parse(data: bytes, zero_based: bool, dtype, bounds=None) -> tuple | None:
    """The lines of ``data`` as ``(data, indices, indptr, y)`` CSR arrays
    (int32 indices, ``dtype`` values, float64 labels), or None when they are
    not all in the plain form: then scikit-learn must parse them.

    Parameters
    ----------
    data : bytes
        Whole lines.
    zero_based : bool
        Whether column indices start at 0 (else at 1).
    dtype : numpy dtype
        float32 or float64.
    bounds : tuple of int, optional
        :func:`count_bounds` of ``data``, when the caller has it already.

    Returns
    -------
    tuple of ndarray, or None
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines, colons = count_bounds(buf) if bounds is None else bounds
    max_rows = newlines + 1
    labels = np.empty(max_rows, dtype=np.float64)
    indptr = np.empty(max_rows + 1, dtype=np.int32)
    indices = np.empty(colons, dtype=np.int32)
    values = np.empty(colons, dtype=dtype)
    # Room for one long number in 8 first (files written with %.16g have a
    # few percent); when that is not enough, room for all of them.
    for capacity in (colons // 8 + 64, colons + max_rows):
        long = np.empty((capacity, 3), dtype=np.int64)
        rows, nnz, n_long = parse_lines(
            buf, bool(zero_based), _POWERS, labels, indptr, indices, values, long
        )
        if rows != -2:
            break
    if rows < 0:
        return None
    if n_long:
        convert_long(buf, long[:n_long], values, labels)
    # In the plain form every colon is a stored value (values and indices are
    # full), and the rows are the line feeds, plus one for a last line
    # without one: the views below drop at most one unused slot.
    return values[:nnz], indices[:nnz], indptr[: rows + 1], labels[:rows]
