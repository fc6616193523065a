"""The ``dmltk`` command line, end to end, on a real Dask cluster.

A ``dask scheduler`` and two ``dask worker`` processes are started here on
127.0.0.1 and reached with ``--scheduler``; the CLI runs as a subprocess
(``python -m dmltk``). Results are compared with scikit-learn on the same
files; failures must exit non-zero with one line on stderr and leave no
output behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import Client
from sklearn import metrics
from sklearn.datasets import dump_svmlight_file, load_svmlight_file
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

import dmltk
from dmltk import cli
from dmltk.cli import write_atomically

N_FEATURES = 8
C = 0.5
CLI_TIMEOUT = 120


# ---------------------------------------------------------------- the cluster
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(processes: list[subprocess.Popen]) -> None:
    """Stop in the reverse order of starting: workers first, while their
    scheduler still answers (stopped after it, each waited 20 s for it)."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory):
    """A real ``dask scheduler`` and two ``dask worker`` processes (one thread
    each, no dashboard), stopped at the end of the module."""
    logs = tmp_path_factory.mktemp("dask-logs")
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask_cli = [sys.executable, "-m", "dask"]
    processes = []

    def start(name, arguments):
        with open(logs / f"{name}.log", "wb") as log:
            processes.append(
                subprocess.Popen(
                    [*dask_cli, *arguments],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=logs,
                )
            )

    try:
        port = address.rsplit(":")[-1]
        start(
            "scheduler",
            ["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
        )
        for index in range(2):
            start(
                f"worker-{index}",
                [
                    "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                    "--no-nanny", "--no-dashboard", "--memory-limit", "2GiB",
                    "--name", f"w{index}", "--local-directory", str(logs),
                ],
            )  # fmt: skip
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        _stop(processes)


def run_cli(*arguments, scheduler=None, env=None) -> subprocess.CompletedProcess:
    """``python -m dmltk ARGUMENTS [--scheduler ADDRESS]``, captured."""
    command = [sys.executable, "-m", "dmltk", *map(str, arguments)]
    if scheduler is not None:
        command += ["--scheduler", scheduler]
    environment = {
        key: value for key, value in os.environ.items() if key != "DMLTK_SCHEDULER"
    }
    environment.update(env or {})
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        env=environment,
    )


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr


def assert_fails(result, expected_code: int, *fragments: str) -> str:
    """Exit code as expected; stderr is exactly one line holding ``fragments``."""
    assert result.returncode == expected_code, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dmltk: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


# ----------------------------------------------------------------------- data
def _problem(n_samples: int, seed: int):
    rng = np.random.default_rng(seed)
    X = np.round(rng.standard_normal((n_samples, N_FEATURES)), 4)
    X[rng.random(X.shape) < 0.3] = 0.0  # some sparsity, as libsvm files have
    weights = np.linspace(-1.5, 1.5, N_FEATURES)
    y = (rng.random(n_samples) < 1 / (1 + np.exp(-(X @ weights + 0.2)))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def libsvm_files(tmp_path_factory):
    """A training and a test file, labels 0/1, 1-based indices."""
    directory = tmp_path_factory.mktemp("libsvm")
    paths = {}
    for name, (n, seed) in {"train": (3000, 1), "test": (1000, 2)}.items():
        X, y = _problem(n, seed)
        paths[name] = directory / f"{name}.libsvm"
        dump_svmlight_file(X, y, str(paths[name]), zero_based=False)
    return paths


@pytest.fixture(scope="module")
def csv_files(tmp_path_factory):
    """The same kind of problem as tables with string labels."""
    directory = tmp_path_factory.mktemp("csv")
    paths = {}
    for name, (n, seed) in {"train": (3000, 3), "test": (1000, 4)}.items():
        X, y = _problem(n, seed)
        frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(N_FEATURES)])
        frame.insert(2, "outcome", np.where(y == 1, "yes", "no"))
        paths[name] = directory / f"{name}.csv"
        frame.to_csv(paths[name], index=False)
    return paths


def read_libsvm_numpy(path):
    X, y = load_svmlight_file(str(path), n_features=N_FEATURES, zero_based=False)
    return X.toarray(), y


def read_csv_numpy(path):
    frame = pd.read_csv(path)
    return frame.drop(columns="outcome").to_numpy(), frame["outcome"].to_numpy()


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def assert_metrics_match(reported: dict, model, X, y) -> None:
    """The CLI's metrics equal scikit-learn's on the model's own predictions."""
    predicted = model.predict(X)
    proba = model.predict_proba(X)
    positive = model.classes_[1]
    expected = {
        "accuracy": metrics.accuracy_score(y, predicted),
        "log_loss": metrics.log_loss(y, proba, labels=model.classes_),
        "roc_auc": metrics.roc_auc_score(y == positive, proba[:, 1]),
        "precision": metrics.precision_score(y, predicted, pos_label=positive),
        "recall": metrics.recall_score(y, predicted, pos_label=positive),
        "f1": metrics.f1_score(y, predicted, pos_label=positive),
    }
    for name, value in expected.items():
        assert reported[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    matrix = metrics.confusion_matrix(y, predicted, labels=model.classes_)
    assert reported["confusion_matrix"] == matrix.tolist()


def written_predictions(path: Path) -> pd.DataFrame:
    parts = sorted(path.iterdir())
    assert parts and all(p.name.startswith("part-") for p in parts), parts
    reader = pd.read_parquet if path.suffix == ".parquet" else pd.read_csv
    return pd.concat([reader(part) for part in parts], ignore_index=True)


def leftovers(directory: Path) -> list[str]:
    """Temporary files or directories left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------ workflows
def test_info_lists_the_workers(scheduler_address):
    result = run_cli("info", scheduler=scheduler_address)
    assert_ok(result)
    with Client(scheduler_address) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        dashboard = client.dashboard_link
    assert len(workers) == 2
    assert f"scheduler: {scheduler_address}" in result.stdout
    assert "workers: 2, threads: 2, memory: 4.00 GiB" in result.stdout
    assert f"dashboard: {dashboard}" in result.stdout
    for address in workers:
        assert address in result.stdout


def test_scheduler_address_from_the_environment(scheduler_address):
    result = run_cli("info", env={"DMLTK_SCHEDULER": scheduler_address})
    assert_ok(result)
    assert f"scheduler: {scheduler_address}" in result.stdout


@pytest.mark.slow
def test_libsvm_train_predict_evaluate(scheduler_address, libsvm_files, tmp_path):
    """Trained on the whole file (--test-size 0), the model is
    scikit-learn's; predictions and metrics match it on the test file."""
    model_path = tmp_path / "model.dmltk"
    result = run_cli(
        "train", libsvm_files["train"], "--model", model_path, "--C", C,
        "--tol", 1e-8, "--max-iter", 500, "--test-size", 0, "--blocksize", "16KiB",
        "--quiet",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    model = dmltk.load(model_path)
    assert f"{model.n_iter_[0]} iterations" in result.stdout
    X_train, y_train = read_libsvm_numpy(libsvm_files["train"])
    reference = SklearnLogisticRegression(C=C, tol=1e-10, max_iter=1000)
    reference.fit(X_train, y_train)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, atol=1e-6)

    out = tmp_path / "pred.parquet"
    result = run_cli(
        "predict", libsvm_files["test"], "--model", model_path, "--out", out,
        "--blocksize", "8KiB",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    X_test, y_test = read_libsvm_numpy(libsvm_files["test"])
    written = written_predictions(out)
    # One part per block, written by the workers, in row order.
    assert len(list(out.iterdir())) > 2
    assert list(written.columns) == ["label", "proba_0", "proba_1"]
    np.testing.assert_array_equal(written["label"], model.predict(X_test))
    np.testing.assert_allclose(
        written[["proba_0", "proba_1"]], reference.predict_proba(X_test), atol=1e-6
    )

    result = run_cli(
        "evaluate", libsvm_files["test"], "--model", model_path, "--json",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    assert_metrics_match(last_json_line(result.stdout), model, X_test, y_test)
    assert leftovers(tmp_path) == []


def test_train_with_an_l1_penalty_and_standardisation(
    scheduler_address, libsvm_files, tmp_path
):
    """The penalty options reach the estimator: the model file holds the same
    sparse model a Python fit with the same parameters gives."""
    model_path = tmp_path / "model.dmltk"
    result = run_cli(
        "train", libsvm_files["train"], "--model", model_path, "--C", 0.01,
        "--l1-ratio", 1, "--standardize", "--tol", 1e-8, "--max-iter", 1000,
        "--test-size", 0, "--quiet",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    model = dmltk.load(model_path)
    assert model.solver_ == "owlqn" and model.standardize and model.l1_ratio == 1
    X_train, y_train = read_libsvm_numpy(libsvm_files["train"])
    reference = dmltk.LogisticRegression(
        C=0.01, l1_ratio=1, standardize=True, solver="owlqn", tol=1e-8, max_iter=1000
    ).fit(X_train, y_train)
    assert 0 < np.count_nonzero(model.coef_ == 0) < model.coef_.size
    np.testing.assert_array_equal(model.coef_ == 0, reference.coef_ == 0)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_csv_train_predict_evaluate(scheduler_address, csv_files, tmp_path):
    """A table with string labels: the held-out split, CSV predictions and
    evaluate's metrics against scikit-learn's."""
    model_path = tmp_path / "model.dmltk"
    result = run_cli(
        "train", csv_files["train"], "--model", model_path, "--label", "outcome",
        "--test-size", 0.25, "--seed", 3,
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    assert "split: 2,250 training rows, 750 held out (seed 3)" in result.stdout
    held_out = next(
        line for line in result.stdout.splitlines() if line.startswith("held-out")
    )
    assert "(750 rows): accuracy 0." in held_out
    model = dmltk.load(model_path)
    assert model.classes_.tolist() == ["no", "yes"]

    out = tmp_path / "pred.csv"
    result = run_cli(
        "predict", csv_files["test"], "--model", model_path, "--out", out,
        "--label", "outcome",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    X_test, y_test = read_csv_numpy(csv_files["test"])
    written = written_predictions(out)
    assert list(written.columns) == ["label", "proba_no", "proba_yes"]
    np.testing.assert_array_equal(written["label"], model.predict(X_test))
    np.testing.assert_allclose(
        written[["proba_no", "proba_yes"]], model.predict_proba(X_test), rtol=1e-12
    )

    result = run_cli(
        "evaluate", csv_files["test"], "--model", model_path, "--label", "outcome",
        "--json",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    reported = last_json_line(result.stdout)
    assert_metrics_match(reported, model, X_test, y_test)
    assert reported["accuracy"] == pytest.approx(model.score(X_test, y_test))

    # New data come without the label column.
    unlabelled = tmp_path / "new.csv"
    pd.read_csv(csv_files["test"]).drop(columns="outcome").to_csv(
        unlabelled, index=False
    )
    out = tmp_path / "new-pred.parquet"
    result = run_cli(
        "predict", unlabelled, "--model", model_path, "--out", out,
        "--label", "outcome",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    np.testing.assert_array_equal(
        written_predictions(out)["label"], model.predict(X_test)
    )
    assert leftovers(tmp_path) == []


def test_poisson_regression_train_evaluate_predict(scheduler_address, tmp_path):
    """--estimator poisson on a Parquet table of counts: the model file holds a
    PoissonRegressor, evaluate's metrics are scikit-learn's on its
    predictions, predict writes them."""
    rng = np.random.default_rng(5)
    X = np.round(rng.standard_normal((2000, N_FEATURES)), 4)
    counts = rng.poisson(np.exp(X @ np.linspace(-0.3, 0.3, N_FEATURES) + 0.5))
    frame = pd.DataFrame(X, columns=[f"x{j}" for j in range(N_FEATURES)])
    frame["claims"] = counts.astype(float)
    data = tmp_path / "claims.parquet"
    frame.to_parquet(data)
    model_path = tmp_path / "model.dmltk"
    result = run_cli(
        "train", data, "--model", model_path, "--label", "claims",
        "--estimator", "poisson", "--alpha", 0.01, "--l1-ratio", 0.5,
        "--tol", 1e-8, "--test-size", 0,
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    model = dmltk.load(model_path)
    assert type(model) is dmltk.PoissonRegressor and model.l1_ratio == 0.5
    with dask.config.set(scheduler="threads"):
        expected = dmltk.PoissonRegressor(alpha=0.01, l1_ratio=0.5, tol=1e-8)
        expected.fit(X, counts)
    np.testing.assert_allclose(model.coef_, expected.coef_, rtol=1e-6, atol=1e-8)

    result = run_cli(
        "evaluate", data, "--model", model_path, "--label", "claims", "--json",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    reported = last_json_line(result.stdout)
    predicted = model.predict(X)
    for name, value in {
        "r2": metrics.r2_score(counts, predicted),
        "mean_squared_error": metrics.mean_squared_error(counts, predicted),
        "mean_absolute_error": metrics.mean_absolute_error(counts, predicted),
        "mean_tweedie_deviance": metrics.mean_poisson_deviance(counts, predicted),
        "d2_tweedie": metrics.d2_tweedie_score(counts, predicted, power=1),
    }.items():
        assert reported[name] == pytest.approx(value, rel=1e-9), name

    out = tmp_path / "pred.csv"
    result = run_cli(
        "predict", data, "--model", model_path, "--out", out, "--label", "claims",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_ok(result)
    written = written_predictions(out)
    assert list(written.columns) == ["prediction"]
    np.testing.assert_allclose(written["prediction"], predicted, rtol=1e-12)


@pytest.mark.slow
def test_embedded_local_cluster(libsvm_files, tmp_path):
    """Without --scheduler or $DMLTK_SCHEDULER, an embedded local cluster;
    with the dashboard's port 8787 taken by another program, its dashboard
    moves to another port without a word on stderr."""
    model_path = tmp_path / "model.dmltk"
    with contextlib.ExitStack() as stack:
        holder = stack.enter_context(socket.socket())
        with contextlib.suppress(OSError):  # else something holds it already
            holder.bind(("", 8787))
            holder.listen(1)
        result = run_cli("train", libsvm_files["train"], "--model", model_path)
    assert_ok(result)
    assert result.stderr == ""
    assert "cluster: an embedded local cluster" in result.stdout
    assert "dashboard: http" in result.stdout
    assert ":8787/" not in result.stdout
    held_out = next(
        line for line in result.stdout.splitlines() if line.startswith("held-out")
    )
    assert "(600 rows)" in held_out
    assert dmltk.load(model_path).n_features_in_ == N_FEATURES


# ------------------------------------------------------------------- failures
def test_missing_input(scheduler_address, tmp_path):
    model_path = tmp_path / "model.dmltk"
    result = run_cli(
        "train", tmp_path / "absent.libsvm", "--model", model_path,
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_fails(result, 1, "No file matches", "absent.libsvm")
    assert list(tmp_path.iterdir()) == []


def test_malformed_libsvm_leaves_no_model(scheduler_address, libsvm_files, tmp_path):
    bad = tmp_path / "bad.libsvm"
    lines = libsvm_files["train"].read_text().splitlines()[:50]
    lines[41] = "1 3:0.5 oops"
    bad.write_text("\n".join(lines) + "\n")
    model_path = tmp_path / "model.dmltk"
    result = run_cli(
        "train", bad, "--model", model_path, "--blocksize", "1KiB",
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_fails(result, 1, str(bad), "line 42")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.libsvm"]


def test_failed_predict_keeps_the_previous_output(
    scheduler_address, libsvm_files, tmp_path
):
    """A failure leaves an existing output as it was, and no temporary."""
    model_path = tmp_path / "model.dmltk"
    dmltk.save(_fitted_model(libsvm_files["train"]), model_path)
    out = tmp_path / "pred.csv"
    out.mkdir()
    (out / "part-00000.csv").write_text("previous\n")
    wide = tmp_path / "wide.libsvm"
    wide.write_text(f"1 1:0.5 {N_FEATURES + 3}:1.0\n")
    result = run_cli(
        "predict", wide, "--model", model_path, "--out", out,
        scheduler=scheduler_address,
    )  # fmt: skip
    assert_fails(result, 1, str(wide))
    assert [p.name for p in out.iterdir()] == ["part-00000.csv"]
    assert (out / "part-00000.csv").read_text() == "previous\n"
    assert leftovers(tmp_path) == []


def _fitted_model(path):
    X, y = read_libsvm_numpy(path)
    return dmltk.LogisticRegression(C=C).fit(X, y)


def test_unreachable_scheduler(libsvm_files, tmp_path):
    model_path = tmp_path / "model.dmltk"
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.perf_counter()
    result = run_cli(
        "train", libsvm_files["train"], "--model", model_path, "--timeout", 1,
        scheduler=address,
    )  # fmt: skip
    assert_fails(result, 1, "Could not reach the Dask scheduler", address, "1s")
    assert time.perf_counter() - start < 60
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_is_not_a_scheduler(tmp_path):
    """A server that accepts the connection but never answers as a scheduler
    does (here an HTTP server) fails after the timeout instead of hanging."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        address = f"tcp://127.0.0.1:{port}"
        result = run_cli("info", "--timeout", 1, scheduler=address)
    finally:
        _stop([server])
    assert_fails(result, 1, address, "did not answer as a Dask scheduler")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--C", "-1"], "--C"),
        (["--test-size", "1.5"], "--test-size"),
        (["--no-such-option"], "No such option"),
        (["--verbose", "--quiet"], "exclude each other"),
        (["--l1-ratio", "2"], "--l1-ratio"),
        (["--solver", "saga"], "--solver"),
        (["--solver", "lbfgs", "--l1-ratio", "0.5"], "use --solver owlqn or auto"),
        (["--estimator", "lasso", "--solver", "newton"], "use --solver owlqn or auto"),
        (
            ["--estimator", "ridge", "--C", "2"],
            "--C does not apply to --estimator ridge",
        ),
        (["--alpha", "2"], "--alpha does not apply to --estimator logistic"),
        (["--estimator", "tweedie", "--power", "0.5"], "power=0.5 is not allowed"),
        (["--estimator", "gbm"], "--estimator"),
        (["--solver", "normal"], "'solver' parameter of LogisticRegression"),
    ],
)
def test_bad_train_options(libsvm_files, tmp_path, capsys, options, fragment):
    """Options are checked before anything is read or connected: in this
    process (``dmltk.cli.main``, what ``python -m dmltk`` runs), as the
    process-level tests above show it behaves in a process of its own."""
    model_path = tmp_path / "model.dmltk"
    arguments = ["train", libsvm_files["train"], "--model", model_path, *options]
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    result = subprocess.CompletedProcess(arguments, code, captured.out, captured.err)
    assert_fails(result, 2, fragment, "dmltk train --help")
    assert list(tmp_path.iterdir()) == []


def test_unknown_data_format(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"1 1:2\n")
    result = run_cli("train", data, "--model", tmp_path / "model.dmltk")
    assert_fails(result, 1, "Cannot tell the format", "--format")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.bin"]


def test_bad_prediction_extension(libsvm_files, tmp_path):
    model_path = tmp_path / "model.dmltk"
    dmltk.save(_fitted_model(libsvm_files["train"]), model_path)
    result = run_cli(
        "predict", libsvm_files["test"], "--model", model_path, "--out",
        tmp_path / "pred.txt",
    )  # fmt: skip
    assert_fails(result, 2, "--out", ".csv or .parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.dmltk"]


@pytest.mark.parametrize("content", ["text", "pickle"])
def test_a_model_file_that_is_not_a_model(libsvm_files, tmp_path, content):
    model_path = tmp_path / "model.dmltk"
    if content == "text":
        model_path.write_text("label,x0\n1,2\n")
        expected = "is not a dmltk model file"
    else:
        model_path.write_bytes(pickle.dumps(_fitted_model(libsvm_files["train"])))
        expected = "pickle"
    out = tmp_path / "pred.parquet"
    result = run_cli(
        "predict", libsvm_files["test"], "--model", model_path, "--out", out
    )
    assert_fails(result, 1, str(model_path), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.dmltk"]


def test_verbose_shows_the_traceback(tmp_path):
    result = run_cli(
        "evaluate", tmp_path / "absent.csv", "--model", tmp_path / "m", "--verbose"
    )
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "No file matches" in result.stderr


# ------------------------------------------------------------- atomic writes
def test_write_atomically_replaces_only_on_success(tmp_path):
    destination = tmp_path / "pred.csv"
    destination.mkdir()
    (destination / "old").write_text("old")

    def write_then_fail(path):
        os.mkdir(path)
        Path(path, "half").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(write_then_fail, str(destination))
    assert [p.name for p in tmp_path.iterdir()] == ["pred.csv"]
    assert [p.name for p in destination.iterdir()] == ["old"]

    def write(path):
        os.mkdir(path)
        Path(path, "new").write_text("new")

    write_atomically(write, str(destination))
    assert [p.name for p in tmp_path.iterdir()] == ["pred.csv"]
    assert [p.name for p in destination.iterdir()] == ["new"]


# ------------------------------------------------------------ the job script
TRAIN_JOB = Path(__file__).resolve().parents[1] / "scripts" / "train_job.py"


def run_job(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TRAIN_JOB), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )


@pytest.mark.slow
def test_train_job(scheduler_address, libsvm_files, tmp_path):
    """The job's held-out metrics are scikit-learn's on the same split (redone
    here on the threaded scheduler: the same blocks and seed give the same
    rows); a run below --min-accuracy exits 1 and writes no model."""
    model_path = tmp_path / "model.dmltk"
    metrics_path = tmp_path / "metrics.json"
    result = run_job(
        libsvm_files["train"], "--model", model_path, "--seed", 7,
        "--metrics-json", metrics_path, "--scheduler", scheduler_address,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "model written to" in result.stderr
    model = dmltk.load(model_path)
    X, y = dmltk.read_libsvm(libsvm_files["train"])
    _, X_test, _, y_test = dmltk.train_test_split(X, y, test_size=0.2, random_state=7)
    X_test, y_test = X_test.compute().toarray(), y_test.compute()
    reported = json.loads(metrics_path.read_text())
    assert reported["accuracy"] == pytest.approx(model.score(X_test, y_test))
    assert reported["roc_auc"] == pytest.approx(
        metrics.roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    )

    rejected = tmp_path / "rejected.dmltk"
    result = run_job(
        libsvm_files["train"], "--model", rejected, "--min-accuracy", 0.999,
        "--scheduler", scheduler_address,
    )  # fmt: skip
    assert result.returncode == 1
    assert "below --min-accuracy" in result.stderr
    assert not rejected.exists()
    assert leftovers(tmp_path) == []


def test_train_job_failures(libsvm_files, tmp_path):
    model_path = tmp_path / "model.dmltk"
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = run_job(
        libsvm_files["train"], "--model", model_path, "--scheduler", address,
        "--timeout", 1,
    )  # fmt: skip
    assert result.returncode == 1
    assert "job failed: Could not reach the Dask scheduler" in result.stderr
    assert run_job(libsvm_files["train"], "--test-size", 2).returncode == 2
    assert list(tmp_path.iterdir()) == []
