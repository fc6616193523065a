"""The ``dmltk`` command line: train, predict, evaluate, info.

Each command runs on a Dask cluster: the scheduler given by ``--scheduler``
or ``$DMLTK_SCHEDULER``, else an embedded local cluster that lives as long as
the command. Data are read, predicted and reduced on the workers; only
coefficients, metrics and file names pass through this process.

A failure exits with a non-zero code and ONE line on stderr (the traceback
with ``--verbose``), and leaves no output file behind: the model file and the
prediction directories are written under a temporary name in the same
directory, then renamed into place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import json
import logging
import math
import os
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator

import click
import numpy as np

from .cluster import SCHEDULER_ENV

# Extensions that name a format when --format is not given (compression
# suffixes aside, which only the table readers accept).
_DATA_EXTENSIONS = {
    ".libsvm": "libsvm",
    ".svm": "libsvm",
    ".svmlight": "libsvm",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_OUTPUT_EXTENSIONS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zst", ".zip")
# The order in which metrics are printed (and keyed in --json).

# --estimator -> the class of dmltk it fits.
ESTIMATORS = {
    "logistic": "LogisticRegression",
    "linear": "LinearRegression",
    "ridge": "Ridge",
    "lasso": "Lasso",
    "elasticnet": "ElasticNet",
    "poisson": "PoissonRegressor",
    "gamma": "GammaRegressor",
    "tweedie": "TweedieRegressor",
}
DEFAULT_TIMEOUT = 10.0


class CommandError(click.ClickException):
    """A failure reported as one line on stderr, exit code 1."""


# -------------------------------------------------------------------- session
@dataclasses.dataclass
class Session:
    """What every command shares: output verbosity and the cluster to use.

    Attributes
    ----------
    verbose : bool
        Log at INFO level and let failures show their traceback.
    quiet : bool
        Print results only: no progress bar, no warning, no step line.
    scheduler : str or None
        Scheduler address; None starts an embedded local cluster.
    timeout : float
        Seconds to wait for the scheduler.
    security : distributed.Security or None
        TLS certificates for a ``tls://`` scheduler; None: Dask's
        configuration.
    """

    verbose: bool
    quiet: bool
    scheduler: str | None
    timeout: float
    security: object = None

    @property
    def progress(self) -> bool:
        """Whether to draw progress bars: on a terminal, unless quiet."""
        return not self.quiet and sys.stderr.isatty()

    def step(self, message: str) -> None:
        """A line about what was done (stdout), left out with --quiet."""
        if not self.quiet:
            click.echo(message)

    def result(self, message: str) -> None:
        """A line of results (stdout), always printed."""
        click.echo(message)

    def configure_logging(self) -> None:
        level = logging.INFO if self.verbose else logging.ERROR
        logging.basicConfig(
            level=level, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
        )
        for name in ("dask", "dmltk"):
            logging.getLogger(name).setLevel(level)
        # distributed logs its own account of a failure (such as "Failed to
        # reconnect to scheduler") before the exception that dmltk reports
        # in one line: its errors are shown with --verbose only. Its import
        # sets the levels of its loggers from Dask's configuration, so they
        # are set after it, each one.
        import distributed  # noqa: F401

        quiet_level = logging.INFO if self.verbose else logging.CRITICAL
        for name in list(logging.root.manager.loggerDict):
            if name == "distributed" or name.startswith("distributed."):
                logging.getLogger(name).setLevel(quiet_level)
        warnings.showwarning = self._show_warning

    def _show_warning(self, message, category, filename, lineno, file=None, line=None):
        # One line per warning (Python's format adds the source line).
        if self.verbose:
            text = warnings.formatwarning(message, category, filename, lineno, line)
            sys.stderr.write(text)
        elif not self.quiet:
            click.echo(f"dmltk: warning: {_one_line(str(message))}", err=True)

    @contextlib.contextmanager
    def client(self) -> Iterator:
        """A distributed client on the chosen cluster, closed at the end."""
        from . import connect
        from ._distributed import scheduler_loss_named

        if self.scheduler:
            client = _connect_to_scheduler(self.scheduler, self.timeout, self.security)
        else:
            # Worker processes log to this process's stderr: errors only,
            # unless --verbose. When another dashboard holds port 8787,
            # distributed warns and takes another port: the line below
            # prints the dashboard's actual link, and stderr stays for errors.
            with warnings.catch_warnings():
                warnings.filterwarnings(
                    "ignore", r"Port \d+ is already in use", UserWarning
                )
                client = connect(
                    silence_logs=logging.INFO if self.verbose else logging.ERROR
                )
        with client:
            workers = client.scheduler_info(n_workers=-1)["workers"]
            threads = sum(worker["nthreads"] for worker in workers.values())
            where = self.scheduler or "an embedded local cluster"
            self.step(
                f"cluster: {where}, {len(workers)} workers, {threads} threads "
                f"(dashboard: {client.dashboard_link})"
            )
            # A scheduler lost while working is named, not reported as
            # distributed's "FutureCancelledError ... reason: unknown".
            with scheduler_loss_named(client):
                yield client


def _connect_to_scheduler(address: str, timeout: float, security=None):
    """:func:`dmltk.connect` to ``address``: its ``OSError`` names the address
    and bounds the time even when a server accepts the connection and never
    answers as a scheduler."""
    from . import connect

    return connect(address, timeout=f"{timeout:g}s", security=security)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _failure_message(error: BaseException) -> str:
    message = _one_line(str(error))
    if isinstance(error, OSError | ValueError | TypeError) and message:
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _session_options(command: Callable) -> Callable:
    """Add the options every command takes, and report failures in one line."""

    @functools.wraps(command)
    def run(*, verbose, quiet, scheduler, timeout, tls_ca_file, tls_cert, tls_key,
            **options):  # fmt: skip
        if verbose and quiet:
            raise click.UsageError("--verbose and --quiet exclude each other.")
        security = _security(scheduler, tls_ca_file, tls_cert, tls_key)
        session = Session(verbose, quiet, scheduler or None, timeout, security)
        session.configure_logging()
        try:
            return command(session, **options)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as error:
            if verbose:
                raise
            raise CommandError(_failure_message(error)) from error

    options = [
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            envvar=SCHEDULER_ENV,
            show_envvar=True,
            help="Dask scheduler to use, such as tcp://10.0.0.5:8786. "
            "Default: an embedded local cluster.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=DEFAULT_TIMEOUT,
            show_default=True,
            help="Seconds to wait for the scheduler.",
        ),
        *(
            click.option(
                f"--tls-{name}",
                type=click.Path(exists=True, dir_okay=False),
                help=f"{what} (PEM) for a tls:// scheduler; default: Dask's "
                "distributed.comm.tls configuration.",
            )
            for name, what in [
                ("ca-file", "The cluster's CA certificate"),
                ("cert", "This client's certificate"),
                ("key", "This client's private key"),
            ]
        ),
        click.option(
            "--verbose", "-v", is_flag=True, help="Log details; show tracebacks."
        ),
        click.option("--quiet", "-q", is_flag=True, help="Print results only."),
    ]
    for option in reversed(options):
        run = option(run)
    return run


def _security(scheduler, ca_file, cert, key):
    """A :class:`distributed.Security` of the TLS options, or None when none
    is given (then Dask's configuration applies)."""
    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if not any(given.values()):
        return None
    if not scheduler:
        raise click.UsageError(
            "The --tls-* options are for a tls:// scheduler: give --scheduler too."
        )
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise click.UsageError(
            f"TLS needs --tls-ca-file, --tls-cert and --tls-key; missing: "
            f"{', '.join(missing)}."
        )
    from distributed import Security

    return Security(
        tls_ca_file=ca_file,
        tls_client_cert=cert,
        tls_client_key=key,
        require_encryption=True,
    )


# --------------------------------------------------------------------- inputs
def _data_options(command: Callable) -> Callable:
    """Options saying how to read DATA."""
    options = [
        click.argument("data"),
        click.option(
            "--format",
            "data_format",
            type=click.Choice(["libsvm", "csv", "parquet"]),
            help="Format of DATA. Default: from its extension (.libsvm, .svm, "
            ".svmlight, .csv, .parquet, .pq; a directory is Parquet).",
        ),
        click.option(
            "--label",
            default="label",
            show_default=True,
            help="Label column of a CSV or Parquet table.",
        ),
        click.option(
            "--zero-based",
            is_flag=True,
            help="libsvm feature indices start at 0 (default: at 1, as in libsvm).",
        ),
        click.option(
            "--blocksize",
            default="64MiB",
            show_default=True,
            help="Bytes of libsvm text per block.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Where DATA is and how to read it."""

    path: str
    format: str
    label: str
    zero_based: bool
    blocksize: str


def _is_url(path: str) -> bool:
    return "://" in path


def _absolute(path: str) -> str:
    # Workers of a remote cluster do not share our working directory.
    return path if _is_url(path) else os.path.abspath(os.path.expanduser(path))


def _extension(path: str) -> str:
    name = path.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        name = name.removesuffix(suffix)
    return os.path.splitext(name)[1]


def data_spec(data, data_format, label, zero_based, blocksize) -> DataSpec:
    """Check DATA before any cluster starts: it exists, its format is known.

    Raises
    ------
    FileNotFoundError
        No local file matches DATA.
    ValueError
        The format cannot be inferred.
    """
    path = _absolute(data)
    if not _is_url(path) and not glob.glob(path):
        raise FileNotFoundError(f"No file matches {data}.")
    if data_format is None:
        data_format = _DATA_EXTENSIONS.get(_extension(path))
        if data_format is None and not _is_url(path) and os.path.isdir(path):
            data_format = "parquet"
        if data_format is None:
            raise ValueError(
                f"Cannot tell the format of {data} from its extension (known: "
                f"{', '.join(sorted(_DATA_EXTENSIONS))}); pass --format libsvm, "
                "csv or parquet."
            )
    return DataSpec(path, data_format, label, zero_based, blocksize)


def read_data(
    session: Session,
    spec: DataSpec,
    n_features: int | None = None,
    *,
    labelled: bool = True,
):
    """X, y from DATA, persisted on the workers.

    With ``labelled=False`` a table may lack the label column (y is then
    None); libsvm lines always start with a label.
    """
    import dmltk

    start = time.perf_counter()
    if spec.format == "libsvm":
        X, y = dmltk.read_libsvm(
            spec.path,
            n_features,
            zero_based=spec.zero_based,
            blocksize=spec.blocksize,
        )
    elif labelled or _has_column(spec, spec.label):
        X, y = dmltk.read_table(spec.path, label=spec.label, format=spec.format)
    else:
        X, y = _read_features_only(spec), None
    session.step(
        f"read {spec.path}: {X.shape[0]:,} rows x {X.shape[1]:,} features "
        f"({spec.format}, {len(X.chunks[0])} blocks) in "
        f"{time.perf_counter() - start:.2f} s"
    )
    return X, y


def _table_frame(spec: DataSpec):
    import dask.dataframe as dd

    reader = dd.read_csv if spec.format == "csv" else dd.read_parquet
    return reader(spec.path)


def _has_column(spec: DataSpec, column: str) -> bool:
    return column in _table_frame(spec).columns


def _read_features_only(spec: DataSpec):
    """X of a table without a label column: every numeric column, as
    :func:`dmltk.read_table` picks them (which needs a label column)."""
    import dask
    import pandas as pd

    frame = _table_frame(spec)
    features = [
        column
        for column, dtype in frame.dtypes.items()
        if pd.api.types.is_numeric_dtype(dtype)
    ]
    if not features:
        raise ValueError(f"{spec.path} has no numeric column.")
    X = frame[features].astype(np.float64).to_dask_array(lengths=True)
    (X,) = dask.persist(X)
    return X


def load_model(path: str):
    """The model in ``path``, loaded before any cluster starts."""
    import dmltk

    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file {path} does not exist.")
    return dmltk.load(path)


def _check_output_directory(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Directory {directory} (of {path}) does not exist.")


# -------------------------------------------------------------------- metrics
def held_out_metrics(model, X, y) -> dict:
    """Metrics of ``model`` on X, y, computed on the workers: those of
    :func:`classification_metrics` for a classifier, of
    :func:`regression_metrics` for a regressor."""
    if hasattr(model, "classes_"):
        return classification_metrics(model, X, y)
    return regression_metrics(model, X, y)


def regression_metrics(model, X, y) -> dict:
    """R², mean squared and absolute errors of ``model`` on X, y, and for
    the GLM regressors the mean deviance of their family and D² (the share
    of the deviance explained), computed on the workers. The predictions are
    persisted once, so that each metric is one reduction."""
    import dask

    from . import metrics

    (predicted,) = dask.persist(model.predict(X))
    results = {
        "r2": metrics.r2_score(y, predicted),
        "mean_squared_error": metrics.mean_squared_error(y, predicted),
        "mean_absolute_error": metrics.mean_absolute_error(y, predicted),
    }
    power = getattr(model, "power", None)
    if power is None and hasattr(model, "_family"):
        family = model._family()
        power = family.power if family.link == "log" else None
    if power is not None:
        results["mean_tweedie_deviance"] = metrics.mean_tweedie_deviance(
            y, predicted, power=power
        )
        results["d2_tweedie"] = metrics.d2_tweedie_score(y, predicted, power=power)
    return {key: float(value) for key, value in results.items()}


def classification_metrics(model, X, y) -> dict:
    """Metrics of a classifier on X, y, computed on the workers.

    Predictions are persisted once (two numbers per row, small next to X) so
    that the metrics, one reduction each, do not recompute them.
    """
    import dask

    from . import metrics

    classes = model.classes_
    labels, proba = dask.persist(model.predict(X), model.predict_proba(X))
    positive = classes[1]
    results = {
        "accuracy": metrics.accuracy_score(y, labels),
        "log_loss": metrics.log_loss(y, proba, labels=classes),
        "roc_auc": _roc_auc(y, proba[:, 1]),
        "precision": metrics.precision_score(
            y, labels, pos_label=positive, zero_division=0.0
        ),
        "recall": metrics.recall_score(
            y, labels, pos_label=positive, zero_division=0.0
        ),
        "f1": metrics.f1_score(y, labels, pos_label=positive, zero_division=0.0),
        "confusion_matrix": metrics.confusion_matrix(y, labels, labels=classes),
    }
    results["confusion_matrix"] = results["confusion_matrix"].tolist()
    return {
        key: float(value) if isinstance(value, np.floating) else value
        for key, value in results.items()
    }


def _roc_auc(y, scores) -> float | None:
    from . import metrics

    try:
        return float(metrics.roc_auc_score(y, scores))
    except ValueError as error:
        # One class only in y: AUC is undefined, the other metrics are not.
        warnings.warn(f"ROC AUC not computed: {error}", stacklevel=2)
        return None


def _fit_summary(model, shape: tuple[int, int], seconds: float) -> str:
    history = model.objective_history_
    objective = f", objective {history[-1]:.6g}" if len(history) else ""
    return (
        f"fit: {shape[0]:,} rows x {shape[1]:,} features, "
        f"{int(np.ravel(model.n_iter_)[0])} iterations in {seconds:.2f} s{objective}"
    )


def _format_metrics(results: dict) -> str:
    return "  ".join(
        f"{name} {'n/a' if value is None else format(value, '.4f')}"
        for name, value in results.items()
        if name != "confusion_matrix"
    )


# ---------------------------------------------------------------- predictions
def _class_name(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _output_classes(classes: np.ndarray) -> np.ndarray:
    """Classes as written: whole-number floats (libsvm labels) as integers."""
    if classes.dtype.kind == "f" and np.all(np.mod(classes, 1) == 0):
        return classes.astype(np.int64)
    return classes


def _prediction_block(labels, proba, columns: list[str]):
    import pandas as pd

    frame = pd.DataFrame(proba, columns=columns[1:])
    frame.insert(0, columns[0], labels)
    return frame


def prediction_frame(model, X):
    """A lazy dask DataFrame with the predicted label and the probability of
    each class (a classifier's) or the predicted value in a column named
    ``prediction`` (a regressor's), one partition per row block of X
    (computed where it lives).

    ``predict`` and ``predict_proba`` build the margins under the same keys,
    so each block's margins are computed once.
    """
    import dask
    import dask.dataframe as dd

    if not hasattr(model, "classes_"):
        return dd.from_dask_array(model.predict(X), columns="prediction").to_frame()
    classes = _output_classes(model.classes_)
    columns = ["label", *(f"proba_{_class_name(c)}" for c in model.classes_)]
    labels = model.predict(X).map_blocks(
        _output_classes, dtype=classes.dtype, meta=np.empty((0,), classes.dtype)
    )
    proba = model.predict_proba(X)
    parts = [
        dask.delayed(_prediction_block, pure=True)(label_block, proba_block, columns)
        for label_block, proba_block in zip(
            labels.to_delayed().ravel(), proba.to_delayed().ravel(), strict=True
        )
    ]
    meta = _prediction_block(classes[:0], np.empty((0, len(classes))), columns)
    return dd.from_delayed(parts, meta=meta, verify_meta=False)


def _part_name(index: int) -> str:
    # Zero-padded, so that the parts sort in row order by name.
    return f"{index:05d}"


def _write_frame(frame, directory: str, output_format: str) -> None:
    if output_format == "parquet":
        frame.to_parquet(
            directory,
            write_index=False,
            name_function=lambda i: f"part-{_part_name(i)}.parquet",
        )
    else:
        frame.to_csv(
            os.path.join(directory, "part-*.csv"),
            index=False,
            name_function=_part_name,
        )


def write_atomically(write: Callable[[str], None], destination: str) -> None:
    """Call ``write(temporary)`` then rename ``temporary`` to ``destination``.

    ``temporary`` is a new name in the destination's directory, so the rename
    is atomic (same file system). An existing destination is swapped out and
    removed only once the new one is in place; on failure the destination is
    left as it was and the temporary is removed.
    """
    parent, name = os.path.split(os.path.abspath(destination))
    token = uuid.uuid4().hex[:12]
    temporary = os.path.join(parent, f".{name}.{token}.tmp")
    try:
        write(temporary)
        if os.path.lexists(destination):
            previous = os.path.join(parent, f".{name}.{token}.old")
            os.rename(destination, previous)
            try:
                os.rename(temporary, destination)
            except BaseException:
                os.rename(previous, destination)
                raise
            _remove(previous)
        else:
            os.rename(temporary, destination)
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _show_progress(session: Session, collection, description: str) -> None:
    """Wait for a persisted collection, with a tqdm bar over its blocks."""
    from distributed import as_completed, futures_of, wait

    futures = futures_of(collection)
    if not session.progress:
        wait(futures)
        return
    from tqdm import tqdm

    with tqdm(total=len(futures), desc=description, unit="block") as bar:
        for _ in as_completed(futures):
            bar.update(1)


def output_format(path: str) -> str:
    """The format of a prediction output, from its extension."""
    extension = os.path.splitext(path.lower())[1]
    if extension not in _OUTPUT_EXTENSIONS:
        raise click.BadParameter(
            f"{path!r} should end in .csv or .parquet (the format of the predictions).",
            param_hint="'--out'",
        )
    return _OUTPUT_EXTENSIONS[extension]


# ------------------------------------------------------------ the estimator
# The options each estimator takes besides solver, standardize, max_iter and
# tol (which every one takes).
_ESTIMATOR_OPTIONS = {
    "logistic": ("C", "l1_ratio"),
    "linear": (),
    "ridge": ("alpha",),
    "lasso": ("alpha",),
    "elasticnet": ("alpha", "l1_ratio"),
    "poisson": ("alpha", "l1_ratio"),
    "gamma": ("alpha", "l1_ratio"),
    "tweedie": ("alpha", "l1_ratio", "power", "link"),
}


def make_estimator(name: str, options: dict, verbose: int = 0):
    """The unfitted estimator of ``--estimator name`` with the options the
    user gave (None: not given, the estimator's default).

    Raises
    ------
    click.UsageError
        An option that this estimator does not take, or a combination that
        it refuses (such as a smooth solver with an L1 penalty).
    """
    import dmltk

    own = _ESTIMATOR_OPTIONS[name]
    given = {key: value for key, value in options.items() if value is not None}
    for key in ("C", "alpha", "l1_ratio", "power", "link"):
        if key in given and key not in own:
            flag = "--" + key.replace("_", "-")
            takers = sorted(e for e, keys in _ESTIMATOR_OPTIONS.items() if key in keys)
            raise click.UsageError(
                f"{flag} does not apply to --estimator {name} (it applies to "
                f"{', '.join(takers)})."
            )
    model = getattr(dmltk, ESTIMATORS[name])(verbose=verbose)
    model.set_params(**given)
    try:
        model._validate_params()  # scikit-learn's check of every parameter
        model._chosen_solver()
        if hasattr(model, "_family"):
            model._family()
    except ValueError as error:
        if "smooth penalties only" in str(error):
            raise click.BadOptionUsage(
                "solver",
                f"--solver {given.get('solver')} cannot fit the L1 penalty of "
                f"--estimator {name} with these options; use --solver owlqn or auto.",
            ) from None
        raise click.UsageError(str(error)) from None
    return model


# ------------------------------------------------------------------- commands
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dmltk", prog_name="dmltk")
def cli() -> None:
    """Distributed logistic regression and GLMs on Dask, from the command line.

    Every command runs on the Dask scheduler given by --scheduler (or
    $DMLTK_SCHEDULER), else on an embedded local cluster. Files are read and
    written by the workers: with a remote cluster, paths must be visible to
    them (a shared file system or a URL such as s3://).
    """


@cli.command()
@_data_options
@click.option(
    "--model",
    "model_path",
    required=True,
    metavar="OUT",
    help="Model file to write (replaced atomically if it exists).",
)
@click.option(
    "--estimator",
    type=click.Choice(list(ESTIMATORS)),
    default="logistic",
    show_default=True,
    help="The model: logistic regression, or a regressor (linear, ridge, lasso, "
    "elasticnet: squared error; poisson, gamma, tweedie: GLMs with a log link).",
)
@click.option(
    "--C",
    "C",
    type=click.FloatRange(min=0, min_open=True),
    help="logistic: inverse regularisation strength (inf: no penalty)  [default: 1.0]",
)
@click.option(
    "--alpha",
    type=click.FloatRange(min=0),
    help="Regressors but linear: strength of the penalty  [default: 1.0]",
)
@click.option(
    "--l1-ratio",
    type=click.FloatRange(min=0, max=1),
    help="Share of the penalty that is L1 (0: ridge, 1: lasso)  "
    "[default: 0.5 for elasticnet, else 0]",
)
@click.option(
    "--power",
    type=float,
    help="tweedie: the Tweedie power (0 normal, 1 Poisson, 2 Gamma)  [default: 0]",
)
@click.option(
    "--link",
    type=click.Choice(["auto", "identity", "log"]),
    help="tweedie: the link (auto: identity for power 0, else log)",
)
@click.option(
    "--solver",
    type=click.Choice(["auto", "lbfgs", "newton", "owlqn", "normal"]),
    default="auto",
    show_default=True,
    help="auto: owlqn when the penalty has an L1 part, else lbfgs (normal "
    "equations for the squared-error estimators on row blocks).",
)
@click.option(
    "--standardize/--no-standardize",
    default=False,
    show_default=True,
    help="Penalise coefficients of standardised columns (Spark's default).",
)
@click.option(
    "--max-iter",
    type=click.IntRange(min=0),
    help="Largest number of solver iterations  [default: the estimator's, 100 "
    "for logistic]",
)
@click.option(
    "--tol",
    type=click.FloatRange(min=0),
    help="Stop when the scaled gradient is below this  [default: the "
    "estimator's, 1e-4 for logistic]",
)
@click.option(
    "--test-size",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of rows held out for the metrics (0: train on all).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of the split."
)
@click.option(
    "--n-features",
    type=click.IntRange(min=1),
    help="Width of libsvm data (default: largest index).",
)
@_session_options
def train(
    session: Session,
    data,
    data_format,
    label,
    zero_based,
    blocksize,
    model_path,
    estimator,
    C,
    alpha,
    l1_ratio,
    power,
    link,
    solver,
    standardize,
    max_iter,
    tol,
    test_size,
    seed,
    n_features,
) -> None:
    """Fit a model (--estimator) on DATA and write it to OUT.

    DATA (a file, a glob or a directory) is split into a training set and a
    held-out set (--test-size); the model is fitted on the first, its metrics
    are printed for the second, and it is written with dmltk.save.
    """
    import dask

    import dmltk

    model = make_estimator(
        estimator,
        {"C": C, "alpha": alpha, "l1_ratio": l1_ratio, "power": power, "link": link,
         "solver": solver, "standardize": standardize, "max_iter": max_iter,
         "tol": tol},
        verbose=int(session.progress),
    )  # fmt: skip
    spec = data_spec(data, data_format, label, zero_based, blocksize)
    _check_output_directory(model_path)
    with session.client():
        X, y = read_data(session, spec, n_features)
        if test_size > 0:
            parts = dmltk.train_test_split(X, y, test_size=test_size, random_state=seed)
            X_train, X_test, y_train, y_test = dask.persist(*parts)
            del X, y  # keep one copy of the data on the workers
            session.step(
                f"split: {X_train.shape[0]:,} training rows, {X_test.shape[0]:,} "
                f"held out (seed {seed})"
            )
        else:
            X_train, y_train, X_test, y_test = X, y, None, None
        start = time.perf_counter()
        model.fit(X_train, y_train)
        session.result(_fit_summary(model, X_train.shape, time.perf_counter() - start))
        if X_test is not None:
            results = held_out_metrics(model, X_test, y_test)
            session.result(
                f"held-out ({X_test.shape[0]:,} rows): {_format_metrics(results)}"
            )
    dmltk.save(model, model_path)
    session.result(f"model: {os.path.abspath(model_path)}")


@cli.command()
@_data_options
@click.option(
    "--model", "model_path", required=True, metavar="M", help="Model file to use."
)
@click.option(
    "--out",
    required=True,
    metavar="PRED",
    help="Output directory: PRED.csv (CSV part files) or PRED.parquet (a "
    "Parquet dataset), one part per block, in row order.",
)
@_session_options
def predict(
    session: Session,
    data,
    data_format,
    label,
    zero_based,
    blocksize,
    model_path,
    out,
) -> None:
    """Predict DATA with a model; write its predictions to PRED.

    Each worker writes the predictions of the blocks it holds; nothing is
    gathered here. Columns: for a classifier label, then proba_<class> for
    each class; for a regressor prediction (the predicted mean).
    """
    spec = data_spec(data, data_format, label, zero_based, blocksize)
    out_format = output_format(out)
    model = load_model(model_path)
    _check_output_directory(out)
    with session.client():
        X, _ = read_data(session, spec, model.n_features_in_, labelled=False)
        frame = prediction_frame(model, X).persist()
        _show_progress(session, frame, "predict")
        start = time.perf_counter()
        write_atomically(
            functools.partial(_write_frame, frame, output_format=out_format), out
        )
        session.result(
            f"predictions: {X.shape[0]:,} rows in {frame.npartitions} parts, "
            f"written in {time.perf_counter() - start:.2f} s to "
            f"{os.path.abspath(out)}"
        )


@cli.command()
@_data_options
@click.option(
    "--model", "model_path", required=True, metavar="M", help="Model file to use."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="End the output with one line holding a JSON object of the metrics.",
)
@_session_options
def evaluate(
    session: Session,
    data,
    data_format,
    label,
    zero_based,
    blocksize,
    model_path,
    as_json,
) -> None:
    """Metrics of a model on labelled DATA, computed on the workers.

    A classifier's: accuracy, log_loss, roc_auc, precision, recall and f1
    (the positive class is the model's second class), and the confusion
    matrix. A regressor's: r2, mean_squared_error, mean_absolute_error, and
    for the GLM regressors the mean deviance of their family and its D².
    """
    spec = data_spec(data, data_format, label, zero_based, blocksize)
    model = load_model(model_path)
    with session.client():
        X, y = read_data(session, spec, model.n_features_in_)
        results = held_out_metrics(model, X, y)
    if as_json:
        session.result(json.dumps(results))
        return
    names = [name for name in results if name != "confusion_matrix"]
    width = max(map(len, names))
    for name in names:
        value = results[name]
        session.result(f"{name:<{width}}  {'n/a' if value is None else f'{value:.6f}'}")
    if "confusion_matrix" not in results:
        return
    classes = ", ".join(_class_name(c) for c in model.classes_)
    matrix = results["confusion_matrix"]
    session.result(f"confusion matrix (rows: true, columns: {classes}): {matrix}")


@cli.command()
@_session_options
def info(session: Session) -> None:
    """Show the cluster: workers, threads, memory, dashboard link."""
    with session.client() as client:
        scheduler_info = client.scheduler_info(n_workers=-1)
        workers = scheduler_info["workers"]
        session.result(f"scheduler: {scheduler_info['address']}")
        session.result(f"dashboard: {client.dashboard_link}")
        threads = sum(worker["nthreads"] for worker in workers.values())
        memory = sum(worker.get("memory_limit") or 0 for worker in workers.values())
        session.result(
            f"workers: {len(workers)}, threads: {threads}, memory: {_bytes(memory)}"
        )
        for address, worker in sorted(workers.items()):
            session.result(
                f"  {address}  threads {worker['nthreads']}  memory "
                f"{_bytes(worker.get('memory_limit'))}  name {worker.get('name')}"
            )


def _bytes(count: int | None) -> str:
    if not count:
        return "no limit"
    exponent = min(4, int(math.log(count, 1024)))
    return f"{count / 1024**exponent:.2f} {['B', 'KiB', 'MiB', 'GiB', 'TiB'][exponent]}"


# ----------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code.

    click's own error display spans several lines (usage, hint, error); here
    every failure is one line on stderr, as scheduled jobs want to log it.
    """
    try:
        return cli.main(args=argv, prog_name="dmltk", standalone_mode=False) or 0
    except click.exceptions.NoArgsIsHelpError as error:
        error.show()
        return error.exit_code
    except click.ClickException as error:
        hint = ""
        if isinstance(error, click.UsageError) and error.ctx is not None:
            hint = f" (see '{error.ctx.command_path} --help')"
        click.echo(f"dmltk: error: {_one_line(error.format_message())}{hint}", err=True)
        return error.exit_code
    except click.Abort:
        click.echo("dmltk: interrupted", err=True)
        return 130
