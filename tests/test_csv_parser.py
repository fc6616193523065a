"""The compiled CSV parser gives Arrow's CSV reader's values bit for bit, or
hands the bytes to Arrow: whichever parser runs, the block ``read_table``
makes is the same. Every comparison is exact (values compared as bits)."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmltk import _csv, _tables

NAMES = ["a", "city", "b", "label"]
FEATURES = ["a", "b"]
FLOAT_LABEL = {"a": pa.float64(), "b": pa.float64(), "label": pa.float64()}
INTEGER_LABEL = {**FLOAT_LABEL, "label": pa.int64()}

# Lines the compiled parser must take itself (the plain form).
PLAIN = {
    "integers": b"1,x,-3,0\n42,y,7,1\n",
    "exponents": b"2.5E+10,x,1e-5,1\n-4e22,x,1E0,0\n",
    "leading plus": b"+2.5,x,+0.5,1\n",
    "no digits before or after the point": b".5,x,5.,1\n-.25,x,1.e5,0\n",
    "signed zeros": b"-0,x,0.0,-0\n-0.0,x,-0,0\n",
    "leading zeros": b"007,x,00.5,007\n",
    "15 significant digits": b"0.123456789012345,x,9007199254740992,1\n",
    "trailing zeros": b"900719925475.0000,x,1200,1\n",
    "zero with any exponent": b"0e-999,x,-0.000e+5,1\n",
    "empty fields are missing": b",x,1,1\n2,x,,0\n,,,1\n",
    "CRLF": b"1,x,2,1\r\n3,y,4,0\r\n",
    "no final newline": b"1,x,2,1\n3,y,4,0",
    "a final CR without LF": b"1,x,2,1\r",
    "skipped column with spaces and text": b"1,New York (NY),2,1\n",
    # Numbers past the fast path, converted by Arrow's cast after the kernel:
    "17 significant digits": b"0.30000000000000004,x,0.9471000000000001,1\n",
    "tiny exponent": b"1e-300,x,2.5e-320,1\n",
    "huge exponent": b"1.7976931348623157e308,x,1e400,1\n",
    "many digits": b"123456789012345678901234567890,x,1,1\n",
}
# Lines it must give to Arrow's reader (which parses or rejects them).
HANDED_OVER = {
    "quoted field": b'1,"x,y",2,1\n',
    "quoted number": b'"1",x,2,1\n',
    "NA": b"NA,x,2,1\n",
    "nan and inf": b"nan,x,inf,1\n",
    "spaces around a number": b" 1,x,2 ,1\n",
    "blank line": b"1,x,2,1\n\n3,y,4,0\n",
    "too few fields": b"1,x,2\n",
    "too many fields": b"1,x,2,1,5\n",
    "text in a feature": b"abc,x,2,1\n",
    "boolean in a feature": b"True,x,2,1\n",
    "missing label": b"1,x,2,\n",
    "bare carriage return": b"1,x,2,1\r3,y,4,0\n",
    "underscore in a number": b"1_000,x,2,1\n",
}
# Labels of an integer column: the compiled parser takes Arrow's int64 form.
INTEGER_LABELS = {
    "-0": True,
    "007": True,
    "123456789012345": True,
    "+1": False,  # Arrow rejects it as int64
    "1.0": False,  # Arrow rejects it as int64
    "1e3": False,
    "1234567890123456": False,  # past 15 digits: Arrow reads it exactly
}


def arrow_block(data: bytes, column_types: dict, dtype):
    """What Arrow's reader alone gives: ``(X, y)``, or its error message."""
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(data),
            read_options=pa_csv.ReadOptions(column_names=NAMES),
            convert_options=pa_csv.ConvertOptions(
                column_types=column_types,
                include_columns=[*FEATURES, "label"],
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as error:
        return "error", str(error)
    y_dtype = _tables.label_dtype(column_types["label"])
    try:
        y = _tables.label_values(table, "label", y_dtype, "here")
    except ValueError as error:
        return "error", str(error)
    return "ok", (_tables.feature_block(table, FEATURES, dtype), y)


def dmltk_block(data: bytes, column_types: dict, dtype):
    """What ``read_table``'s CSV block gives, header line included."""
    header = ",".join(NAMES).encode() + b"\n"
    y_dtype = _tables.label_dtype(column_types["label"])
    try:
        X, y, rows = _tables.csv_block(
            header + data, True, NAMES, column_types, FEATURES, "label",
            y_dtype, dtype, "here",
        )  # fmt: skip
    except ValueError as error:
        return "error", str(error)
    assert rows == len(y) == X.shape[0]
    return "ok", (X, y)


def compiled(data: bytes, column_types: dict, dtype):
    roles = np.array([0, _csv.SKIP, 1, _csv.LABEL], dtype=np.int64)
    integer = column_types["label"] == pa.int64()
    return _csv.parse(data, roles, len(FEATURES), dtype, integer)


def assert_identical(got, expected):
    (kind, value), (expected_kind, expected_value) = got, expected
    assert kind == expected_kind, (value, expected_value)
    if kind == "error":
        # Arrow's message, with the place (Arrow numbers rows only when it
        # reads with one thread, as read_table does).
        assert re.sub(r"Row #\d+: ", "", expected_value) in re.sub(
            r"Row #\d+: ", "", value
        )
        return
    (X, y), (X_ref, y_ref) = value, expected_value
    assert X.shape == X_ref.shape and X.dtype == X_ref.dtype
    assert X.flags.c_contiguous
    # Bits, not values: -0.0 and 0.0 differ, and so does any rounding.
    assert X.tobytes() == X_ref.tobytes()
    assert y.dtype == y_ref.dtype and y.tobytes() == y_ref.tobytes()


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # 1e308 in float32
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", [*PLAIN, *HANDED_OVER])
def test_the_corpus_reads_as_arrow_reads_it(name, dtype):
    data = PLAIN.get(name, HANDED_OVER.get(name))
    for column_types in (FLOAT_LABEL, INTEGER_LABEL):
        if column_types is INTEGER_LABEL and name in ("exponents", "leading plus"):
            continue  # labels that are not int64 text
        assert_identical(
            dmltk_block(data, column_types, dtype),
            arrow_block(data, column_types, dtype),
        )


@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_lines_take_the_compiled_path(name):
    assert compiled(PLAIN[name], FLOAT_LABEL, np.float64) is not None


@pytest.mark.parametrize("name", list(HANDED_OVER))
def test_other_lines_are_handed_to_arrow(name):
    assert compiled(HANDED_OVER[name], FLOAT_LABEL, np.float64) is None


@pytest.mark.parametrize("label, plain", list(INTEGER_LABELS.items()))
def test_integer_labels_take_arrows_int64_form(label, plain):
    data = f"1,x,2,{label}\n".encode()
    assert (compiled(data, INTEGER_LABEL, np.float64) is not None) == plain
    assert_identical(
        dmltk_block(data, INTEGER_LABEL, np.float64),
        arrow_block(data, INTEGER_LABEL, np.float64),
    )


FORMATS = {
    "repr": repr,
    "%.6g": lambda v: f"{v:.6g}",
    "%e": lambda v: f"{v:e}",
    "%.4f": lambda v: f"{v:.4f}",
}


@st.composite
def csv_files(draw):
    """Random rows of the table: numbers in one of FORMATS, empty fields,
    text in the skipped column, LF or CRLF line ends."""
    write = FORMATS[draw(st.sampled_from(sorted(FORMATS)))]
    floats = st.floats(
        min_value=-1e11, max_value=1e11, allow_nan=False, allow_infinity=False
    ).filter(lambda v: v == 0 or abs(v) > 1e-12)
    cell = st.one_of(st.just(""), floats.map(write))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    lines = []
    for _ in range(draw(st.integers(1, 12))):
        a, b = draw(cell), draw(cell)
        city = draw(st.sampled_from(["", "Oslo", "New York"]))
        label = draw(st.sampled_from(["0", "1", "-1", "3"]))
        lines.append(f"{a},{city},{b},{label}{ending}")
    return "".join(lines).encode()


@settings(max_examples=100, deadline=None)
@given(csv_files(), st.sampled_from([np.float64, np.float32]))
def test_random_files_read_as_arrow_reads_them(data, dtype):
    for column_types in (FLOAT_LABEL, INTEGER_LABEL):
        got = dmltk_block(data, column_types, dtype)
        assert_identical(got, arrow_block(data, column_types, dtype))
    assert compiled(data, INTEGER_LABEL, dtype) is not None


def test_ranges_cut_at_every_line_boundary_give_the_same_block():
    data = b"".join(PLAIN[name] for name in ("integers", "exponents", "CRLF"))
    X, y = compiled(data, FLOAT_LABEL, np.float64)
    for cut in [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]:
        first = compiled(data[:cut], FLOAT_LABEL, np.float64)
        second = compiled(data[cut:], FLOAT_LABEL, np.float64)
        assert np.concatenate([first[0], second[0]]).tobytes() == X.tobytes(), cut
        assert np.concatenate([first[1], second[1]]).tobytes() == y.tobytes(), cut
