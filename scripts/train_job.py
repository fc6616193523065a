"""Train a logistic regression as a scheduled job: read, split, fit, evaluate, save.

Meant for cron and other schedulers: every step is logged to stderr with a
timestamp, the model file is replaced atomically only when the run succeeds
(and, with ``--min-accuracy``, only when the held-out accuracy is good
enough), and the exit code says how it went:

- 0: the model was written;
- 1: the run failed (unreadable data, unreachable scheduler, a failed fit,
  accuracy below ``--min-accuracy``); the previous model file is untouched;
- 2: bad arguments.

Example (a cluster at $DMLTK_SCHEDULER, or an embedded local one)::

    python scripts/train_job.py data/train.libsvm --model models/ctr.dmltk \\
        --C 0.1 --min-accuracy 0.75 --metrics-json models/ctr.metrics.json

Only dmltk's public API is used: this file doubles as an example of the
whole workflow in a script.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time

import dask

import dmltk
from dmltk import metrics

log = logging.getLogger("train_job")

LIBSVM_EXTENSIONS = (".libsvm", ".svm", ".svmlight")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Read, split, fit, evaluate and save a dmltk logistic "
        "regression (exit code 0: model written; 1: failure; 2: bad arguments).",
    )
    parser.add_argument("data", help="libsvm file or glob, CSV or Parquet table")
    parser.add_argument("--model", required=True, help="model file to (re)write")
    parser.add_argument(
        "--format",
        choices=["libsvm", "csv", "parquet"],
        help="format of DATA (default: libsvm for .libsvm/.svm/.svmlight, else "
        "inferred by dmltk.read_table)",
    )
    parser.add_argument("--label", default="label", help="label column of a table")
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation")
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    parser.add_argument(
        "--min-accuracy",
        type=float,
        default=None,
        help="fail (exit 1, model not written) below this held-out accuracy",
    )
    parser.add_argument(
        "--metrics-json", help="also write the held-out metrics to this JSON file"
    )
    parser.add_argument(
        "--scheduler",
        default=os.environ.get("DMLTK_SCHEDULER"),
        help="Dask scheduler address (default: $DMLTK_SCHEDULER, else a local cluster)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to reach the scheduler"
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    arguments = parser.parse_args(argv)
    if not 0 < arguments.test_size < 1:
        parser.error(f"--test-size must be in (0, 1), got {arguments.test_size}")
    if arguments.C <= 0:
        parser.error(f"--C must be positive, got {arguments.C}")
    return arguments


def read(arguments: argparse.Namespace):
    """X, y from the data, persisted on the workers."""
    data_format = arguments.format
    if data_format is None and arguments.data.lower().endswith(LIBSVM_EXTENSIONS):
        data_format = "libsvm"
    if data_format == "libsvm":
        return dmltk.read_libsvm(arguments.data)
    return dmltk.read_table(arguments.data, label=arguments.label, format=data_format)


def evaluate(model, X_test, y_test) -> dict[str, float]:
    """Held-out metrics, reduced on the workers."""
    # Predictions are persisted once: each metric is one more pass over them.
    y_pred, proba = dask.persist(model.predict(X_test), model.predict_proba(X_test))
    positive = model.classes_[1]
    return {
        "accuracy": metrics.accuracy_score(y_test, y_pred),
        "log_loss": metrics.log_loss(y_test, proba, labels=model.classes_),
        "roc_auc": metrics.roc_auc_score(y_test, proba[:, 1]),
        "precision": metrics.precision_score(y_test, y_pred, pos_label=positive),
        "recall": metrics.recall_score(y_test, y_pred, pos_label=positive),
        "f1": metrics.f1_score(y_test, y_pred, pos_label=positive),
    }


def write_json(values: dict, path: str) -> None:
    """Write ``values`` as JSON, atomically (temporary file, then rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".metrics-", suffix=".tmp", delete=False
    ) as stream:
        json.dump(values, stream, indent=1)
    os.replace(stream.name, path)


def run(arguments: argparse.Namespace) -> int:
    """The job; returns the exit code."""
    started = time.perf_counter()
    client_options = (
        {"timeout": arguments.timeout}
        if arguments.scheduler
        else {"silence_logs": logging.WARNING}
    )
    with dmltk.connect(arguments.scheduler, **client_options) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        log.info("cluster %s: %d workers", client.scheduler.address, len(workers))

        step = time.perf_counter()
        X, y = read(arguments)
        log.info(
            "read %s: %d rows x %d features in %.2f s",
            arguments.data,
            X.shape[0],
            X.shape[1],
            time.perf_counter() - step,
        )
        X_train, X_test, y_train, y_test = dask.persist(
            *dmltk.train_test_split(
                X, y, test_size=arguments.test_size, random_state=arguments.seed
            )
        )
        del X, y  # one copy of the data on the workers
        log.info("split: %d training rows, %d held out", len(y_train), len(y_test))

        step = time.perf_counter()
        model = dmltk.LogisticRegression(
            C=arguments.C, max_iter=arguments.max_iter, tol=arguments.tol
        ).fit(X_train, y_train)
        log.info(
            "fit: %d iterations in %.2f s", model.n_iter_[0], time.perf_counter() - step
        )
        held_out = evaluate(model, X_test, y_test)
    log.info(
        "held-out metrics: %s",
        ", ".join(f"{name} {value:.4f}" for name, value in held_out.items()),
    )
    if arguments.metrics_json:
        write_json(held_out, arguments.metrics_json)
    if (
        arguments.min_accuracy is not None
        and held_out["accuracy"] < arguments.min_accuracy
    ):
        log.error(
            "held-out accuracy %.4f is below --min-accuracy %.4f: model not written",
            held_out["accuracy"],
            arguments.min_accuracy,
        )
        return 1
    dmltk.save(model, arguments.model)
    log.info(
        "model written to %s; job done in %.1f s",
        arguments.model,
        time.perf_counter() - started,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # Dask's own INFO lines (connections, worker starts) are noise in a job log.
    logging.getLogger("distributed").setLevel(
        logging.INFO if arguments.verbose else logging.WARNING
    )
    logging.captureWarnings(True)  # a ConvergenceWarning goes to the log too
    try:
        return run(arguments)
    except Exception as error:
        # One line for the log; the traceback with --verbose.
        log.error("job failed: %s", " ".join(str(error).split()) or repr(error))
        log.debug("traceback", exc_info=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
