"""The compiled libsvm parser gives scikit-learn's arrays bit for bit, or
hands the bytes to scikit-learn: whichever parser runs, the result is the
same. Every comparison is exact (values compared as bits)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_svmlight_file

from dmltk import _libsvm
from dmltk import io as dmltk_io

# Lines the compiled parser must take itself (the plain form).
PLAIN = {
    "integers": b"1 1:1 2:-3 10:42\n0 3:7\n",
    "exponents": b"1 1:2.5E+10 2:1e-5 3:-4e22 4:1E0\n",
    "leading plus": b"+1 1:+2.5 2:+0.5\n",
    "no digits before or after the point": b"-1 1:.5 2:5. 3:-.25\n",
    "signed zeros": b"-0 1:-0 2:0.0 3:-0.0\n",
    "large index": b"1 999999999:1.5\n",
    "15 significant digits": b"1 1:0.123456789012345 2:9007199254740992\n",
    "trailing zeros": b"1 1:900719925475.0000 2:1200 3:0.50000000000000000000\n",
    "zero with any exponent": b"1 1:0e-999 2:-0.000e+5\n",
    "CRLF and trailing spaces": b"1 1:1 2:2  \r\n0 1:3\t\r\n1 3:4 \n",
    "no final newline": b"1 1:1\n0 2:2",
    "a label alone": b"1\n0 1:2\n",
    "tabs between tokens": b"1\t1:1\t\t2:0.5\n",
    # Numbers past the fast path, converted by float() after the kernel:
    "17 significant digits": b"1 1:0.30000000000000004 2:0.9471000000000001\n",
    "tiny exponent": b"1 1:1e-300 2:2.5e-320\n",
    "huge exponent": b"1 1:1.7976931348623157e308 2:1e400\n",
    "long label": b"0.30000000000000004 1:1\n",
}
# Lines it must give to scikit-learn (which parses or rejects them).
HANDED_OVER = {
    "qid": b"1 qid:3 1:2\n",
    "comment line": b"# a comment\n1 1:2\n",
    "comment after the data": b"1 1:2 # note\n",
    "blank line": b"1 1:2\n\n0 2:3\n",
    "indented line": b" 1 1:2\n",
    "nan and inf": b"1 1:nan 2:inf\n",
    "ten-digit index": b"1 1234567890:1\n",
    "index 0, 1-based": b"1 0:1\n",
    "unsorted indices": b"1 3:1 2:1\n",
    "repeated index": b"1 2:1 2:1\n",
    "missing value": b"1 2:\n",
    "missing colon": b"1 2 3:1\n",
    "text value": b"1 2:abc\n",
    "label with a colon": b"1:2 3:4\n",
    "no space between pairs": b"1 1:2,2:3\n",
    "bare carriage return": b"1 1:2\r0 1:3\n",
    "underscore in a number": b"1 1:1_000\n",
}


def sklearn_arrays(data: bytes, zero_based: bool, dtype):
    X, y = load_svmlight_file(io.BytesIO(data), zero_based=zero_based, dtype=dtype)
    return X, y


def assert_identical(ours, theirs):
    (X, y), (X_ref, y_ref) = ours, theirs
    assert X.shape == X_ref.shape and X.dtype == X_ref.dtype
    np.testing.assert_array_equal(X.indptr, X_ref.indptr)
    np.testing.assert_array_equal(X.indices, X_ref.indices)
    # Bits, not values: -0.0 and 0.0 differ, and so does any rounding.
    assert X.data.tobytes() == X_ref.data.tobytes()
    assert y.tobytes() == y_ref.tobytes()


def outcome(load, data, zero_based, dtype):
    try:
        return "ok", load(data, zero_based, dtype)
    except ValueError as error:
        return "error", str(error)


def ours(data, zero_based, dtype):
    return dmltk_io._load(data, None, zero_based, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("zero_based", [False, True])
@pytest.mark.parametrize("name", [*PLAIN, *HANDED_OVER])
def test_the_corpus_parses_as_scikit_learn_parses_it(name, zero_based, dtype):
    data = PLAIN.get(name, HANDED_OVER.get(name))
    kind, got = outcome(ours, data, zero_based, dtype)
    expected_kind, expected = outcome(sklearn_arrays, data, zero_based, dtype)
    assert kind == expected_kind
    if kind == "ok":
        assert_identical(got, expected)
    else:
        assert got == expected  # scikit-learn's own message


@pytest.mark.parametrize("name", list(PLAIN))
def test_plain_lines_take_the_compiled_path(name):
    assert _libsvm.parse(PLAIN[name], False, np.float64) is not None


@pytest.mark.parametrize("name", list(HANDED_OVER))
def test_other_lines_are_handed_to_scikit_learn(name):
    zero_based = name != "index 0, 1-based"
    assert _libsvm.parse(HANDED_OVER[name], zero_based, np.float64) is None


FORMATS = {
    "repr": repr,
    "%.6g": lambda v: f"{v:.6g}",
    "%e": lambda v: f"{v:e}",
    "%.4f": lambda v: f"{v:.4f}",
}
LINE_ENDS = [b"\n", b"\r\n", b" \n", b"\t\r\n"]


@st.composite
def libsvm_files(draw):
    """A random file: its bytes, and whether it is not written with repr."""
    n_rows = draw(st.integers(1, 12))
    n_features = draw(st.integers(1, 8))
    style = draw(st.sampled_from(sorted(FORMATS)))
    write = FORMATS[style]
    floats = st.floats(
        min_value=-1e11, max_value=1e11, allow_nan=False, allow_infinity=False
    ).filter(lambda v: v == 0 or abs(v) > 1e-12)
    lines = []
    for _ in range(n_rows):
        present = draw(
            st.lists(st.booleans(), min_size=n_features, max_size=n_features)
        )
        pairs = [
            f"{j + 1}:{write(draw(floats))}" for j, keep in enumerate(present) if keep
        ]
        label = draw(st.sampled_from(["0", "1", "-1", "+1", "2.5"]))
        ending = draw(st.sampled_from(LINE_ENDS))
        lines.append(" ".join([label, *pairs]).encode() + ending)
    return b"".join(lines), style != "repr"


@settings(max_examples=100, deadline=None)
@given(libsvm_files(), st.sampled_from([np.float64, np.float32]))
def test_random_files_parse_as_scikit_learn_parses_them(file, dtype):
    data, short = file
    assert_identical(ours(data, False, dtype), sklearn_arrays(data, False, dtype))
    # Every number of these files is plain; repr's long ones (about one in
    # four has 17 digits) may exceed the kernel's room for them.
    if short:
        assert _libsvm.parse(data, False, dtype) is not None


def test_ranges_cut_at_every_line_boundary_give_the_same_arrays():
    data = b"".join(
        PLAIN[name] for name in ("integers", "exponents", "CRLF and trailing spaces")
    )
    whole = _libsvm.parse(data, False, np.float64)
    cuts = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    for cut in cuts:
        first = _libsvm.parse(data[:cut], False, np.float64)
        second = _libsvm.parse(data[cut:], False, np.float64)
        values = np.concatenate([first[0], second[0]])
        indices = np.concatenate([first[1], second[1]])
        indptr = np.concatenate([first[2], second[2][1:] + first[2][-1]])
        labels = np.concatenate([first[3], second[3]])
        for got, expected in zip((values, indices, indptr, labels), whole, strict=True):
            assert got.tobytes() == expected.tobytes(), cut


def test_an_empty_range_has_no_row():
    values, indices, indptr, labels = _libsvm.parse(b"", False, np.float64)
    assert len(values) == len(indices) == len(labels) == 0
    assert indptr.tolist() == [0]
