"""dmltk.read_libsvm and dmltk.read_table against scikit-learn and pandas, on
real files in tmp_path."""

from __future__ import annotations

import gzip
import itertools
import math
import re

import dask
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from distributed import futures_of, wait
from sklearn.datasets import dump_svmlight_file, load_svmlight_file

import dmltk
from dmltk.io import read_libsvm, read_table


# ------------------------------------------------------------------ helpers
def random_libsvm_text(seed: int, n_rows: int = 120, n_features: int = 9) -> str:
    """libsvm text with everything the format allows: comments (whole-line
    and trailing), blank and whitespace-only lines, qid tokens, explicit
    zeros, rows without features, CRLF endings, and no final newline."""
    rng = np.random.default_rng(seed)
    lines = ["# generated for dmltk tests"]
    for _ in range(n_rows):
        columns = np.flatnonzero(rng.random(n_features) < 0.4) + 1
        tokens = [f"{rng.integers(0, 2)}"]
        if rng.random() < 0.2:
            tokens.append(f"qid:{rng.integers(1, 5)}")
        tokens += [f"{j}:{rng.normal():.6g}" for j in columns]
        if rng.random() < 0.1 and columns.size == 0:
            tokens.append(f"{n_features}:0")
        line = " ".join(tokens)
        if rng.random() < 0.1:
            line += "  # trailing comment 1:5"
        if rng.random() < 0.05:
            line += "\r"
        lines.append(line)
        if rng.random() < 0.08:
            lines.append(rng.choice(["", "   ", "\t", "# a comment line 3:4"]))
    return "\n".join(lines)  # no final newline


def sklearn_reference(paths, *, zero_based=False, n_features=None):
    """What scikit-learn reads from the files, concatenated in order."""
    X_parts, y_parts = [], []
    for path in paths:
        X, y = load_svmlight_file(
            str(path), zero_based=zero_based, n_features=n_features
        )
        X_parts.append(X)
        y_parts.append(y)
    width = n_features or max(X.shape[1] for X in X_parts)
    X_parts = [sp.csr_matrix(X, shape=(X.shape[0], width)) for X in X_parts]
    return sp.vstack(X_parts).tocsr(), np.concatenate(y_parts)


def assert_known_row_blocks(X, y):
    assert not any(math.isnan(size) for sizes in X.chunks for size in sizes)
    assert len(X.chunks[1]) == 1
    assert y.chunks[0] == X.chunks[0]
    assert all(size > 0 for size in X.chunks[0])


def assert_same_as_reference(X, y, X_ref, y_ref, *, dense=False):
    assert_known_row_blocks(X, y)
    assert X.shape == X_ref.shape
    assert y.shape == y_ref.shape
    assert X.dtype == np.float64 and y.dtype == np.float64
    blocks = dask.compute(*X.to_delayed().ravel())
    for block, rows in zip(blocks, X.chunks[0], strict=True):
        assert block.shape == (rows, X_ref.shape[1])
        if dense:
            assert isinstance(block, np.ndarray)
        else:
            assert sp.isspmatrix_csr(block)
    got = np.vstack(blocks) if dense else sp.vstack(blocks).toarray()
    np.testing.assert_array_equal(got, X_ref.toarray())
    if not dense:
        # Explicit zeros in the file are kept, as scikit-learn keeps them.
        assert sum(block.nnz for block in blocks) == X_ref.nnz
    np.testing.assert_array_equal(y.compute(), y_ref)


def line_offset(text: bytes, line_number: int) -> int:
    """Byte offset of the start of 1-based line ``line_number``."""
    return sum(len(line) + 1 for line in text.split(b"\n")[: line_number - 1])


# ------------------------------------------------------------------- libsvm
@pytest.mark.parametrize("blocksize", ["64MiB", 700, 40])
def test_read_libsvm_matches_sklearn(tmp_path, scheduler, blocksize):
    path = tmp_path / "data.libsvm"
    path.write_text(random_libsvm_text(0))
    X, y = read_libsvm(path, blocksize=blocksize)
    assert_same_as_reference(X, y, *sklearn_reference([path]))
    if blocksize == 40:
        assert X.numblocks[0] > 20


@pytest.mark.parametrize("seed", range(5))
def test_tiny_blocks_never_split_a_line(tmp_path, seed):
    """Byte ranges of 1 to 50 bytes: each line lands whole in one block (a
    line cut in two would parse differently or fail)."""
    path = tmp_path / "data.libsvm"
    path.write_text(random_libsvm_text(seed, n_rows=60))
    blocksize = int(np.random.default_rng(seed).integers(1, 50))
    with dask.config.set(scheduler="threads"):
        X, y = read_libsvm(path, blocksize=blocksize)
        X_ref, y_ref = sklearn_reference([path])
        assert_same_as_reference(X, y, X_ref, y_ref)
        # Blocks hold consecutive rows: block i is rows [start_i, end_i).
        starts = np.cumsum((0, *X.chunks[0][:-1]))
        for i, start in enumerate(starts):
            rows = X.chunks[0][i]
            np.testing.assert_array_equal(
                X.blocks[i].compute().toarray(), X_ref[start : start + rows].toarray()
            )


def test_glob_and_list_of_files(tmp_path, client):
    """Files of different widths: the width is the largest index overall."""
    texts = [
        random_libsvm_text(seed, n_rows=50, n_features=4 + 3 * seed)
        for seed in range(4)
    ]
    paths = [tmp_path / f"part-{i}.libsvm" for i in range(4)]
    for path, text in zip(paths, texts, strict=True):
        path.write_text(text)
    (tmp_path / "other.txt").write_text("not libsvm 1:x\n")
    X, y = read_libsvm(str(tmp_path / "part-*.libsvm"), blocksize=200)
    X_ref, y_ref = sklearn_reference(paths)
    assert X_ref.shape[1] == 13
    assert_same_as_reference(X, y, X_ref, y_ref)
    X_list, y_list = read_libsvm([paths[2], paths[0]], blocksize=300)
    assert_same_as_reference(X_list, y_list, *sklearn_reference([paths[2], paths[0]]))


def test_comments_blank_lines_and_qid(tmp_path):
    text = (
        "# header: 1-based indices\n"
        "\n"
        "1 qid:3 1:0.5 3:-2 # trailing comment 7:7\n"
        "   \n"
        "0 qid:1 2:1e-3 4:0\n"
        "# 5:5\n"
        "1\n"
        "\t\n"
        "-1 1:1.5\r\n"
        "1 4:2"
    )
    path = tmp_path / "commented.libsvm"
    path.write_text(text)
    for blocksize in (5, 30, "1MiB"):
        X, y = read_libsvm(path, blocksize=blocksize)
        X_ref, y_ref = sklearn_reference([path])
        assert X_ref.shape == (5, 4)
        assert_same_as_reference(X, y, X_ref, y_ref)


def test_zero_based(tmp_path):
    path = tmp_path / "zero.libsvm"
    dump_svmlight_file(
        np.array([[1.0, 0, 2], [0, 3, 0], [4, 0, 5]]),
        [0, 1, 1],
        str(path),
        zero_based=True,
    )
    X, y = read_libsvm(path, zero_based=True, blocksize=12)
    X_ref, y_ref = sklearn_reference([path], zero_based=True)
    assert X_ref.shape == (3, 3)
    assert_same_as_reference(X, y, X_ref, y_ref)
    # Read as 1-based, its index 0 is an error that says what to do.
    with pytest.raises(ValueError, match="zero_based=True"):
        read_libsvm(path)


def test_dense_and_n_features(tmp_path, scheduler):
    path = tmp_path / "data.libsvm"
    path.write_text(random_libsvm_text(3, n_features=6))
    X_ref, y_ref = sklearn_reference([path], n_features=10)
    X, y = read_libsvm(path, 10, blocksize=300)
    assert_same_as_reference(X, y, X_ref, y_ref)
    X, y = read_libsvm(path, 10, blocksize=300, dense=True)
    assert_same_as_reference(X, y, X_ref, y_ref, dense=True)
    X, y = read_libsvm(path, blocksize=300, dense=True)  # width inferred
    assert_same_as_reference(X, y, *sklearn_reference([path]), dense=True)


def test_returns_persisted_arrays_with_known_chunks(tmp_path, client):
    path = tmp_path / "data.libsvm"
    path.write_text(random_libsvm_text(1))
    X, y = read_libsvm(path, blocksize=500)
    for array in (X, y):
        graph = dict(array.__dask_graph__())
        assert len(graph) == array.npartitions  # one key per block, no task
        futures = futures_of(array)
        assert len(futures) == array.npartitions
        wait(futures)
        assert all(future.status == "finished" for future in futures)


MALFORMED = {
    "feature without colon": "1 3",
    "non-numeric value": "1 2:abc",
    "empty value": "1 2:",
    "non-numeric index": "1 a:1",
    "index 0 in a 1-based file": "1 0:1",
    "negative index": "1 -2:1",
    "missing label": "1:2 3:4",
    "non-numeric label": "yes 1:2",
    "unsorted indices": "1 3:1 2:1",
    "repeated index": "1 2:1 2:3",
    "index too large for the parser": "1 99999999999:1",
    "qid after a feature": "1 1:2 qid:4",
    "index beyond n_features": "1 12:1",
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_line_names_file_line_and_offset(tmp_path, case):
    lines = random_libsvm_text(2, n_rows=40, n_features=5).split("\n")
    bad_line_number = 31  # 1-based, in a later byte range
    lines.insert(bad_line_number - 1, MALFORMED[case])
    text = "\n".join(lines) + "\n"
    path = tmp_path / "bad.libsvm"
    path.write_text(text)
    n_features = 10
    # scikit-learn rejects the file too: the reader agrees on what is malformed.
    with pytest.raises((ValueError, OverflowError)):
        load_svmlight_file(str(path), zero_based=False, n_features=n_features)
    offset = line_offset(text.encode(), bad_line_number)
    with dask.config.set(scheduler="threads"):
        with pytest.raises(ValueError) as raised:
            read_libsvm(path, n_features, blocksize=100)
    message = str(raised.value)
    assert str(path) in message
    assert f"line {bad_line_number} (byte offset {offset})" in message
    assert repr(MALFORMED[case]) in message


def test_malformed_line_on_the_cluster_and_in_the_second_file(tmp_path, client):
    good = tmp_path / "a.libsvm"
    good.write_text(random_libsvm_text(4, n_rows=30))
    bad = tmp_path / "b.libsvm"
    bad.write_text("1 1:1\n\n# comment\n0 2:x\n1 1:1\n")
    with pytest.raises(ValueError, match=re.escape(f"{bad}, line 4 (byte offset 17)")):
        read_libsvm(str(tmp_path / "*.libsvm"), blocksize=64)


def test_inferred_width_error_is_reported_with_n_features(tmp_path):
    path = tmp_path / "wide.libsvm"
    path.write_text("1 1:1\n0 5:1\n")
    with pytest.raises(
        ValueError, match=r"line 2 \(byte offset 6\).*n_features was set"
    ):
        read_libsvm(path, 4)
    X, _ = read_libsvm(path)
    assert X.shape == (2, 5)


def test_bad_arguments_and_paths(tmp_path):
    path = tmp_path / "data.libsvm"
    path.write_text("1 1:1\n")
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        read_libsvm(tmp_path / "nothing-here*.libsvm")
    with pytest.raises(ValueError, match="n_features must be at least 1"):
        read_libsvm(path, 0)
    with pytest.raises(TypeError, match="n_features"):
        read_libsvm(path, 2.5)
    with pytest.raises(ValueError, match="blocksize"):
        read_libsvm(path, blocksize="lots")
    with pytest.raises(ValueError, match="blocksize must be positive"):
        read_libsvm(path, blocksize=0)
    empty = tmp_path / "comments-only.libsvm"
    empty.write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="No data row"):
        read_libsvm(empty)
    compressed = tmp_path / "data.libsvm.gz"
    compressed.write_bytes(gzip.compress(b"1 1:1\n"))
    with pytest.raises(ValueError, match="Compressed"):
        read_libsvm(compressed)


def test_exported_from_the_package():
    assert dmltk.read_libsvm is read_libsvm
    assert dmltk.read_table is read_table
    assert {"read_libsvm", "read_table"} <= set(dmltk.__all__)


# -------------------------------------------------------------------- table
@pytest.fixture
def table():
    rng = np.random.default_rng(0)
    n = 300
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "x1": rng.normal(size=n),
            "city": rng.choice(["Oslo", "Lima", "Pune"], size=n),
            "x2": rng.integers(-5, 5, size=n),
            "flag": rng.random(n) < 0.5,
            "label": rng.choice(["spam", "ham"], size=n),
        }
    )


def write_parts(frame, directory, fmt, parts=3):
    directory.mkdir()
    bounds = np.linspace(0, len(frame), parts + 1).astype(int)
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        part = frame.iloc[start:end]
        if fmt == "csv":
            part.to_csv(directory / f"part-{i}.csv", index=False)
        else:
            part.to_parquet(directory / f"part-{i}.parquet")
    return directory / f"part-*.{fmt}"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_table_matches_pandas(tmp_path, scheduler, table, fmt):
    pattern = write_parts(table, tmp_path / "data", fmt)
    X, y = read_table(str(pattern), label="label")
    assert_known_row_blocks(X, y)
    assert X.numblocks[0] == 3
    expected = table[["id", "x1", "x2", "flag"]].to_numpy(dtype=np.float64)
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X.compute(), expected)
    assert y.dtype == object
    np.testing.assert_array_equal(y.compute(), table["label"].to_numpy())

    X, y = read_table(str(pattern), label="x2", features=["x1", "id"])
    np.testing.assert_array_equal(X.compute(), table[["x1", "id"]].to_numpy(float))
    np.testing.assert_array_equal(y.compute(), table["x2"].to_numpy())


def test_read_table_single_files_and_formats(tmp_path, table):
    csv = tmp_path / "t.csv"
    table.to_csv(csv, index=False)
    parquet = tmp_path / "t.parquet"
    table.to_parquet(parquet)
    renamed = tmp_path / "t.data"
    table.to_csv(renamed, index=False)
    dataset = tmp_path / "dataset"
    write_parts(table, dataset, "parquet")
    expected = table[["x1", "x2"]].to_numpy(dtype=np.float64)
    for path, fmt in [(csv, None), (parquet, None), (renamed, "csv"), (dataset, None)]:
        X, y = read_table(path, label="label", features=["x1", "x2"], format=fmt)
        assert_known_row_blocks(X, y)
        np.testing.assert_array_equal(X.compute(), expected)
        np.testing.assert_array_equal(y.compute(), table["label"].to_numpy())
    with pytest.raises(ValueError, match="format='csv' or format='parquet'"):
        read_table(renamed, label="label")
    with pytest.raises(ValueError, match="format must be"):
        read_table(csv, label="label", format="excel")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_table_column_errors(tmp_path, table, fmt):
    path = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path)
    with pytest.raises(ValueError, match="Label column 'target' is not in"):
        read_table(path, label="target")
    with pytest.raises(ValueError, match="Feature column 'x3' is not in"):
        read_table(path, label="label", features=["x1", "x3"])
    with pytest.raises(ValueError, match="Feature column 'city' is not numeric"):
        read_table(path, label="label", features=["x1", "city"])
    with pytest.raises(ValueError, match="features is empty"):
        read_table(path, label="label", features=[])
    with pytest.raises(TypeError, match="list of column names"):
        read_table(path, label="label", features="x1")
    only_text = tmp_path / f"text.{fmt}"
    frame = table[["city", "label"]]
    if fmt == "csv":
        frame.to_csv(only_text, index=False)
    else:
        frame.to_parquet(only_text)
    with pytest.raises(ValueError, match="no numeric column besides the label"):
        read_table(only_text, label="label")


def test_read_table_fits_with_string_labels(tmp_path, client, breast_cancer):
    X_np, y_np = breast_cancer
    frame = pd.DataFrame(X_np, columns=[f"f{i}" for i in range(X_np.shape[1])])
    frame["diagnosis"] = np.where(y_np == 1, "benign", "malignant")
    pattern = write_parts(frame, tmp_path / "bc", "parquet", parts=4)
    X, y = read_table(str(pattern), label="diagnosis")
    model = dmltk.LogisticRegression(tol=1e-8).fit(X, y)
    assert list(model.classes_) == ["benign", "malignant"]
    from sklearn.linear_model import LogisticRegression

    reference = LogisticRegression(tol=1e-8, max_iter=1000).fit(
        X_np, frame["diagnosis"]
    )
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_table_in_blocks_within_files(tmp_path, scheduler, table, fmt):
    """CSV byte ranges inside each file (the header read from the first) and
    Parquet groups of row groups give the same rows, in order, as pandas."""
    if fmt == "csv":
        path = tmp_path / "t.csv"
        table.to_csv(path, index=False, lineterminator="\r\n")
        blocksize = 2_000  # about 45 lines: 7 ranges
    else:
        path = tmp_path / "t.parquet"
        table.to_parquet(path, row_group_size=40)  # 8 row groups
        blocksize = 40 * 4 * 8  # 40 rows of 4 float64 features
    X, y = read_table(path, label="label", blocksize=blocksize)
    assert_known_row_blocks(X, y)
    assert X.numblocks[0] >= 5
    expected = table[["id", "x1", "x2", "flag"]].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(X.compute(), expected)
    np.testing.assert_array_equal(y.compute(), table["label"].to_numpy())
    blocks = dask.compute(*X.to_delayed()[:, 0])
    assert all(block.flags.c_contiguous for block in blocks)


def test_read_table_compressed_csv_whole_files(tmp_path, table):
    path = tmp_path / "t.csv.gz"
    with gzip.open(path, "wt") as f:
        table.to_csv(f, index=False)
    X, _ = read_table(path, label="label", features=["x1"], blocksize=500)
    assert X.numblocks[0] == 1  # a compressed file cannot be cut
    np.testing.assert_array_equal(X.compute()[:, 0], table["x1"].to_numpy())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_table_missing_values(tmp_path, table, fmt):
    """A missing feature value is NaN (as pandas reads it); a missing label
    is refused, naming the file."""
    frame = table[["x1", "x2", "label"]].astype({"x2": "float64"})
    frame.loc[[3, 250], "x1"] = np.nan
    frame.loc[7, "x2"] = np.nan
    path = tmp_path / f"t.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    X, _ = read_table(path, label="label")
    np.testing.assert_array_equal(X.compute(), frame[["x1", "x2"]].to_numpy())
    frame.loc[290, "label"] = None
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    missing = rf"Label column 'label' has 1 missing .*{re.escape(str(path))}"
    with pytest.raises(ValueError, match=missing):
        read_table(path, label="label")


def test_read_table_csv_errors_name_the_file(tmp_path, table):
    directory = tmp_path / "data"
    pattern = write_parts(table, directory, "csv")
    # A value that is not a number, far past the rows the types are taken from.
    lines = (directory / "part-2.csv").read_text().splitlines()
    cells = lines[50].split(",")
    cells[1] = "abc"  # column x1
    lines[50] = ",".join(cells)
    (directory / "part-2.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"Malformed CSV data in .*part-2\.csv.*abc"):
        read_table(str(pattern), label="label")
    # A file whose header differs from the first file's.
    table.rename(columns={"x1": "x_one"}).iloc[:10].to_csv(
        directory / "part-2.csv", index=False
    )
    with pytest.raises(ValueError, match=r"header of .*part-2\.csv names the columns"):
        read_table(str(pattern), label="label")
    with pytest.raises(FileNotFoundError, match="No file matches"):
        read_table(str(tmp_path / "absent-*.csv"), label="label")


def test_read_table_parquet_schemas_and_indexes(tmp_path, table):
    # A stored pandas index is not a feature; a categorical label reads as strings.
    indexed = table.set_index(table["id"].astype(str).rename("key"))
    indexed["label"] = indexed["label"].astype("category")
    path = tmp_path / "indexed.parquet"
    indexed.to_parquet(path)
    X, y = read_table(path, label="label")
    assert X.shape == (300, 4)  # id, x1, x2, flag; not the index "key"
    np.testing.assert_array_equal(y.compute(), table["label"].to_numpy())
    assert y.dtype == object
    # A file without a column the first file has, and a label changing type.
    directory = tmp_path / "parts"
    write_parts(table, directory, "parquet")
    table.iloc[:5].drop(columns="x2").to_parquet(directory / "part-3.parquet")
    with pytest.raises(ValueError, match=r"\['x2'\] are not in .*part-3\.parquet"):
        read_table(directory, label="label")
    table.iloc[:5].assign(label=1.5).to_parquet(directory / "part-3.parquet")
    with pytest.raises(ValueError, match=r"Label column 'label' holds float64 values"):
        read_table(directory, label="label")
