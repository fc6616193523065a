"""One catalog of bad inputs and faults, each held to the same four rules
(issue 13): the exception's type and the words that name the problem, a
time bound, nothing left behind in the output directory, and the client
still usable after it.

Each case is a function ``case(client, directory)`` that provokes the
fault; the table says what must come out. The deeper tests of each part
(and the faults that need their own processes: killed workers and
schedulers, cut-off hosts, TLS) live in the part's test file; this file is
the single place a reader can see every failure dmltk promises to name.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest

import dmltk
from dmltk.model_selection import train_test_split

from .test_cli import leftovers


def _data(n=400, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    return X, (X[:, 0] + 0.3 * rng.standard_normal(n) > 0).astype(int)


def _dask(X, y, rows=100):
    return da.from_array(X, chunks=(rows, -1)), da.from_array(y, chunks=rows)


@functools.cache
def _fitted():
    """A model of ``_data()``, fitted once on threads."""
    X, y = _data()
    with dask.config.set(scheduler="threads"):
        return dmltk.LogisticRegression().fit(X, y)


# ----------------------------------------------------------------- cases
def nan_in_numpy_x(client, directory):
    X, y = _data()
    X[7, 2] = np.nan
    dmltk.LogisticRegression().fit(X, y)


def inf_in_dask_x(client, directory):
    X, y = _data()
    X[250, 1] = np.inf
    dmltk.LogisticRegression().fit(*_dask(X, y))


def nan_in_dask_x_at_predict(client, directory):
    X, _ = _data()
    X[5, 0] = np.nan
    _fitted().predict(da.from_array(X, chunks=(100, -1))).compute()


def mismatched_lengths_at_fit(client, directory):
    X, y = _data()
    dmltk.LogisticRegression().fit(*_dask(X, y[:-3]))


def mismatched_lengths_at_score(client, directory):
    X, y = _data()
    Xd, _ = _dask(X, y)
    _fitted().score(Xd, da.from_array(y[:-3], chunks=100))


def wrong_number_of_features_at_predict(client, directory):
    X, _ = _data(d=4)
    _fitted().predict(da.from_array(X, chunks=(100, -1))).compute()


def one_class(client, directory):
    X, _ = _data()
    dmltk.LogisticRegression().fit(*_dask(X, np.ones(400, dtype=int)))


def unknown_labels_in_a_metric(client, directory):
    X, y = _data()
    Xd, yd = _dask(X, y)
    dmltk.metrics.log_loss(yd + 5, _fitted().predict_proba(Xd), labels=[0, 1])


def negative_poisson_targets(client, directory):
    X, y = _data()
    dmltk.PoissonRegressor().fit(*_dask(X, y - 2.0))


def non_positive_gamma_targets(client, directory):
    X, y = _data()
    dmltk.GammaRegressor().fit(X, y.astype(float))  # zeros


def huge_values_with_newton(client, directory):
    X, y = _data()
    dmltk.LogisticRegression(solver="newton").fit(X * 1e300, y)


def bad_parameter(client, directory):
    X, y = _data()
    dmltk.LogisticRegression(C=-1.0).fit(X, y)


def empty_cross_validation_fold(client, directory):
    X, y = _data(n=12)
    dmltk.LogisticRegressionCV(cv=8).fit(*_dask(X, y, rows=6))


def malformed_libsvm_file(client, directory):
    path = Path(directory) / "bad.libsvm"
    path.write_text("1 1:0.5 2:1.5\n0 1:0.25 2:oops\n")
    X, y = dmltk.read_libsvm(str(path), n_features=2)
    dask.compute(X, y)


def missing_input_file(client, directory):
    dmltk.read_libsvm(str(Path(directory) / "absent.libsvm"))


def corrupted_model_file(client, directory):
    path = Path(directory) / "model.dmltk"
    dmltk.save(_fitted(), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    dmltk.load(path)


def model_file_that_is_a_zip_of_something_else(client, directory):
    path = Path(directory) / "other.dmltk"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a model")
    dmltk.load(path)


def unreachable_scheduler(client, directory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dmltk.connect(f"tcp://127.0.0.1:{port}", timeout=2)


def silent_server(client, directory):
    """A server that accepts the connection and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    accepted = []

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        dmltk.connect(f"tcp://127.0.0.1:{server.getsockname()[1]}", timeout=2)
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()


def split_of_mismatched_lengths(client, directory):
    X, y = _data()
    train_test_split(*_dask(X, y[:-10]))


@dataclass
class Fault:
    """What a case must raise: the type, a regex of the words that name the
    problem, and the seconds it may take."""

    case: object
    error: type
    words: str
    seconds: float = 30.0


CATALOG = [
    Fault(nan_in_numpy_x, ValueError, r"X contains NaN"),
    Fault(
        inf_in_dask_x,
        ValueError,
        r"NaN or infinity: 1 value\(s\) in row block\(s\) \[2\]",
    ),
    Fault(nan_in_dask_x_at_predict, ValueError, r"NaN or infinity.*row 5 of the block"),
    Fault(mismatched_lengths_at_fit, ValueError, r"X has 400 rows, y has 397"),
    Fault(mismatched_lengths_at_score, ValueError, r"X has 400 rows, y has 397"),
    Fault(
        wrong_number_of_features_at_predict,
        ValueError,
        r"X has 4 features.*expecting 5",
    ),
    Fault(one_class, ValueError, r"only one class"),
    Fault(
        unknown_labels_in_a_metric,
        ValueError,
        r"\{5, 6\} not belonging to the passed labels",
    ),
    Fault(negative_poisson_targets, ValueError, r"negative.*Poisson.*smallest is -2"),
    Fault(
        non_positive_gamma_targets, ValueError, r"valid range of the Gamma loss.*y > 0"
    ),
    Fault(
        huge_values_with_newton, ValueError, r"overflowed float64 although X is finite"
    ),
    Fault(bad_parameter, ValueError, r"'C' parameter.*Got -1\.0"),
    Fault(empty_cross_validation_fold, ValueError, r"Fold 3 of 8 holds out no rows"),
    Fault(
        malformed_libsvm_file,
        ValueError,
        r"Malformed libsvm data in .*bad\.libsvm, line 2",
    ),
    Fault(missing_input_file, FileNotFoundError, r"absent\.libsvm"),
    Fault(corrupted_model_file, ValueError, r"model\.dmltk is a damaged model file"),
    Fault(
        model_file_that_is_a_zip_of_something_else,
        ValueError,
        r"other\.dmltk is not a dmltk model file",
    ),
    Fault(
        unreachable_scheduler,
        OSError,
        r"Could not reach the Dask scheduler at tcp://127",
    ),
    Fault(silent_server, OSError, r"accepted the connection but did not answer", 10.0),
    Fault(split_of_mismatched_lengths, ValueError, r"X has 400 rows, y has 390"),
]


@pytest.mark.parametrize("fault", CATALOG, ids=[f.case.__name__ for f in CATALOG])
def test_every_fault_is_named_bounded_and_harmless(client, tmp_path, fault):
    start = time.monotonic()
    with pytest.raises(fault.error, match=fault.words):
        fault.case(client, tmp_path)
    elapsed = time.monotonic() - start
    assert elapsed < fault.seconds, f"took {elapsed:.1f} s"
    # Nothing half-written: only the files the case itself put there.
    assert leftovers(tmp_path) == []
    # The client still works, and so does dmltk's engine on it.
    assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
    X, y = _data()
    Xd, yd = _dask(X, y)
    assert dmltk.metrics.accuracy_score(yd, _fitted().predict(Xd)) > 0.8
