"""Spark MLlib's adapter: ``pyspark.ml`` in ``local[2]``, the warm fit timed.

Classification: ``LogisticRegression`` with ``regParam = 1/(C n)``,
``elasticNetParam = l1_ratio`` and ``standardization=False``: Spark's mean
loss + penalty is scikit-learn's objective divided by ``C n``
(/work/shared/PEERS.md). Regression: ``LinearRegression`` (the squared
error) and ``GeneralizedLinearRegression`` (IRLS, log link), with
``regParam`` translated as :func:`regression_estimator` says. The first fits
of a session are slower (JIT, class loading): the second fit is reported.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

from . import cluster, files
from .problems import Problem
from .timing import timed_fit

MAX_ITER = 1000


def _write_parquet(problem: Problem, directory: Path) -> None:
    """The blocks as Parquet files, one per block, columns x0.. and label.

    Spark's vectorised Parquet reader loads them far faster than pandas
    blocks sent from Python (54 s for 200,000 x 100 that way here).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [f"x{j}" for j in range(problem.d)]
    for index, (X, y) in enumerate(problem.blocks_in_memory()):
        columns = [pa.array(X[:, j]) for j in range(problem.d)] + [pa.array(y)]
        table = pa.Table.from_arrays(columns, names=[*names, "label"])
        path = directory / f"block-{index:04d}.parquet"
        pq.write_table(table, path, compression="none")


def _frame(spark, problem: Problem, directory: Path):
    """The blocks as one cached, counted ``(label, features)`` DataFrame."""
    _write_parquet(problem, directory)
    data = _assembled(spark.read.parquet(str(directory))).cache()
    data.count()
    return data


def _coefficients(model, family: str) -> dict:
    if family == "multinomial":
        coef = model.coefficientMatrix.toArray()
        intercept = model.interceptVector.toArray()
    else:
        coef = model.coefficients.toArray()[None, :]
        intercept = np.array([model.intercept])
    return {"coef": coef.tolist(), "intercept": intercept.tolist()}


def estimator(C: float, n: int, l1_ratio: float, family: str, tol: float,
              max_iter: int = MAX_ITER):  # fmt: skip
    """Spark's LogisticRegression on scikit-learn's objective (see module)."""
    from pyspark.ml.classification import LogisticRegression

    return LogisticRegression(
        regParam=1.0 / (C * n), elasticNetParam=l1_ratio, standardization=False,
        family=family, fitIntercept=True, maxIter=max_iter, tol=tol,
    )  # fmt: skip


def _fit_classification(data, problem: Problem, tol: float, max_iter: int) -> dict:
    """A cold and a timed warm fit of LogisticRegression."""
    lr = estimator(problem.C, problem.n, problem.l1_ratio, problem.family, tol,
                   max_iter)  # fmt: skip
    cold = timed_fit(lambda: lr.fit(data))
    models = []
    warm = timed_fit(lambda: models.append(lr.fit(data)))
    return {
        **warm,
        **_coefficients(models[0], problem.family),
        "n_iter": int(models[0].summary.totalIterations),
        "settings": f"family={problem.family} tol={tol:g}, warm fit",
        "cold_fit_seconds": cold["fit_seconds"],
    }


def fit(problem: Problem, *, tol: float = 1e-6, max_iter: int = MAX_ITER) -> dict:
    """Fit Spark MLlib on ``problem`` (dense problems); report the warm fit.

    Parameters and returned keys as :func:`dmltk_benchmarks.bench_sklearn.fit`,
    plus session, load and cold-fit seconds.
    """
    if problem.kind != "dense":
        raise ValueError(f"The Spark adapter fits dense problems; got {problem.name}.")
    with _session_data(problem, "dmltk-bench") as (data, seconds):
        run = _fit_regression if problem.is_regression else _fit_classification
        return {**run(data, problem, tol, max_iter), **seconds}


@contextlib.contextmanager
def _session_data(problem: Problem, app_name: str):
    """A ``local[2]`` session and ``problem``'s cached DataFrame, with the
    seconds the session took to start and the data to load; the session is
    stopped at the end."""
    start = time.perf_counter()
    spark = cluster.spark_session(app_name)
    session_seconds = time.perf_counter() - start
    # The Parquet files stay until the end: Spark rereads them if it evicts
    # a cached partition.
    with tempfile.TemporaryDirectory(prefix="dmltk-bench-spark-") as directory:
        try:
            start = time.perf_counter()
            data = _frame(spark, problem, Path(directory))
            load_seconds = time.perf_counter() - start
            yield data, {"session_seconds": session_seconds,
                         "load_seconds": load_seconds}  # fmt: skip
        finally:
            spark.stop()


# ------------------------------------------------------------- regression
def regression_estimator(problem: Problem, reg_param: float, tol: float,
                         max_iter: int = MAX_ITER):  # fmt: skip
    """Spark's estimator of a regression ``problem`` with ``regParam``.

    The squared error: ``LinearRegression`` with ``solver="normal"`` (what
    ``"auto"`` picks for up to 4,096 features and no L1 term: one pass, a
    Cholesky solve) and ``standardization=False``. It still standardises the
    label: its objective is ``mean half squared error + regParam / (2
    sigma_y) ||w||^2`` with ``sigma_y`` the population standard deviation of
    y, so ``regParam = alpha sigma_y`` (checked against scikit-learn's Ridge
    to 1e-16; its ``"l-bfgs"`` solver uses the sample standard deviation).

    The log-link families: ``GeneralizedLinearRegression`` (IRLS), ``link=
    "log"`` (Tweedie: ``linkPower=0``). Each IRLS step solves a weighted
    least squares problem normalised by the *sum of its working weights*
    ``mu^(2-p)``: at its fixed point the L2 strength on the normalised
    objective is ``regParam * mean(mu^(2-p))``, which depends on the
    solution, except for the Gamma (``mean(mu^0) = 1``) and the Poisson
    (``mean(mu) = mean(y)`` at any optimum with an intercept). No fixed
    ``regParam`` is exactly ``alpha`` before the fit; :func:`_fit_regression`
    takes ``mean(mu^(2-p))`` from the untimed cold fit.
    """
    from pyspark.ml.regression import GeneralizedLinearRegression, LinearRegression

    common = {"regParam": reg_param, "fitIntercept": True, "maxIter": max_iter,
              "tol": tol}  # fmt: skip
    if problem.power == 0:
        return LinearRegression(elasticNetParam=0.0, standardization=False,
                                solver="normal", **common)  # fmt: skip
    if problem.power in (1, 2):
        family = {1: "poisson", 2: "gamma"}[problem.power]
        return GeneralizedLinearRegression(family=family, link="log", **common)
    return GeneralizedLinearRegression(family="tweedie", variancePower=problem.power,
                                       linkPower=0.0, **common)  # fmt: skip


def _mean_weight(model, data, power: float) -> float:
    """``mean(mu^(2-p))`` of ``model``'s predicted means on ``data``."""
    from pyspark.sql import functions as F

    if power == 2:
        return 1.0
    weight = F.pow(F.col("prediction"), 2.0 - power)
    return float(model.transform(data).agg(F.mean(weight)).first()[0])


def _fit_regression(data, problem: Problem, tol: float, max_iter: int) -> dict:
    """A cold fit (the pilot of the penalty, untimed) and a timed warm fit.

    ``regParam`` as :func:`regression_estimator` says: ``alpha sigma_y``, or
    ``alpha / mean(mu^(2-p))`` with the cold fit's means (the cold fit
    guesses ``alpha / mean(y)^(2-p)``). The L2 strength that the warm fit's
    fixed point has is reported as ``effective_alpha``.
    """
    from pyspark.sql import functions as F

    alpha, power = problem.alpha, problem.power
    y_mean, y_std = data.agg(F.mean("label"), F.stddev_pop("label")).first()
    if power == 0:
        reg_param = alpha * y_std
        cold = timed_fit(lambda: regression_estimator(problem, reg_param, tol,
                                                      max_iter).fit(data))  # fmt: skip
        pilot = "regParam = alpha * population std of y"
    else:
        guess = regression_estimator(problem, alpha / y_mean ** (2 - power), tol,
                                     max_iter)  # fmt: skip
        models = []
        cold = timed_fit(lambda: models.append(guess.fit(data)))
        reg_param = alpha / _mean_weight(models[0], data, power)
        pilot = "regParam = alpha / mean(mu^(2-p)), mu from the cold fit"
    models = []
    spark_model = regression_estimator(problem, reg_param, tol, max_iter)
    warm = timed_fit(lambda: models.append(spark_model.fit(data)))
    model = models[0]
    if power == 0:  # a direct solve (Spark reports 0 iterations)
        effective, n_iter = alpha, None
    else:
        effective = reg_param * _mean_weight(model, data, power)
        n_iter = int(model.summary.numIterations)
    name = type(spark_model).__name__
    ratio = f"{effective / alpha:.9f}" if alpha else "n/a"
    return {
        **warm,
        "coef": [model.coefficients.toArray().tolist()],
        "intercept": [float(model.intercept)],
        "n_iter": n_iter,
        "settings": f"{name} regParam={reg_param:.6g} ({pilot}; at its solution "
        f"alpha x {ratio}), tol={tol:g}, warm fit",
        "effective_alpha": effective,
        "cold_fit_seconds": cold["fit_seconds"],
    }


# --------------------------------------------------------- reading a file
def read(path: Path, features: int, repeats: int, data_format: str = "libsvm") -> dict:
    """Seconds of ``repeats`` reads, each variant in turn: ``count()`` and
    ``cache().count()`` of the libsvm source; for a table (Parquet, CSV with
    its schema given, so not inferred), ``cache().count()`` of its columns
    and of the ``(label, features)`` vectors that ``VectorAssembler`` makes,
    as MLlib's estimators take them."""
    start = time.perf_counter()
    spark = cluster.spark_session("dmltk-bench-read")
    start_seconds = time.perf_counter() - start
    kind = {"libsvm": "libsvm", "parquet": "Parquet", "csv": "CSV"}[data_format]
    if data_format == "libsvm":
        variants = {
            "Spark libsvm, count()": lambda: _libsvm(spark, path, features),
            "Spark libsvm, cache().count()":
                lambda: _libsvm(spark, path, features).cache(),
        }  # fmt: skip
    else:
        variants = {
            f"Spark {kind}, columns cache().count()":
                lambda: _table(spark, path, features, data_format).cache(),
            f"Spark {kind}, assembled cache().count()":
                lambda: _assembled(_table(spark, path, features, data_format)).cache(),
        }  # fmt: skip
    runs = {name: [] for name in variants}
    try:
        for _ in range(repeats):
            for name, make in variants.items():
                begin = time.perf_counter()
                frame = make()
                rows = frame.count()
                runs[name].append(time.perf_counter() - begin)
                frame.unpersist(blocking=True)
    finally:
        spark.stop()
    return {"start_seconds": start_seconds, "runs": runs, "shape": [rows, features]}


def _table(spark, path: Path, features: int, data_format: str):
    """The benchmark's table (``files.table_file``): columns x0.. and label."""
    if data_format == "parquet":
        return spark.read.parquet(str(path))
    from pyspark.sql.types import DoubleType, LongType, StructField, StructType

    schema = StructType(
        [StructField(f"x{j}", DoubleType()) for j in range(features)]
        + [StructField("label", LongType())]
    )
    return spark.read.csv(str(path), header=True, schema=schema)


def _assembled(frame):
    """``(label, features)`` as MLlib takes them: the feature columns made
    into one vector column by ``VectorAssembler``."""
    from pyspark.ml.feature import VectorAssembler

    names = [name for name in frame.columns if name != "label"]
    assembler = VectorAssembler(inputCols=names, outputCol="features")
    return assembler.transform(frame).select("label", "features")


def _libsvm(spark, path: Path, features: int):
    # numFeatures spares Spark a scan of the file to find the width.
    reader = spark.read.format("libsvm").option("numFeatures", features)
    return reader.load(str(path))


# ------------------------------------------------------------- the workflow
def _timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def _accuracy(model, test) -> float:
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator

    evaluator = MulticlassClassificationEvaluator(metricName="accuracy")
    return evaluator.evaluate(model.transform(test))


def _source(spark, path: Path, features: int, data_format: str):
    """The ``(label, features)`` frame of the libsvm file or of the table."""
    if data_format == "libsvm":
        return _libsvm(spark, path, features)
    return _assembled(_table(spark, path, features, data_format))


def _workflow_once(spark, path: Path, features: int, settings: dict,
                   data_format: str = "libsvm") -> dict:  # fmt: skip
    """One run, every stage materialised (cached and counted) before the next."""
    seconds = {}
    test_size, seed = settings["test_size"], settings["seed"]

    def read():
        frame = _source(spark, path, features, data_format).cache()
        frame.count()
        return frame

    def split(frame):
        train, test = frame.randomSplit([1 - test_size, test_size], seed=seed)
        train, test = train.cache(), test.cache()
        n_train = train.count()
        test.count()
        frame.unpersist(blocking=True)
        return train, test, n_train

    frame, seconds["read"] = _timed(read)
    (train, test, n_train), seconds["split"] = _timed(lambda: split(frame))
    lr = estimator(settings["C"], n_train, 0.0, "binomial", settings["spark_tol"],
                   settings["max_iter"])  # fmt: skip
    model, seconds["fit"] = _timed(lambda: lr.fit(train))
    accuracy, seconds["predict + accuracy"] = _timed(lambda: _accuracy(model, test))
    train.unpersist(blocking=True)
    test.unpersist(blocking=True)
    return {"seconds": seconds, "accuracy": accuracy, "n_train": n_train,
            "n_iter": int(model.summary.totalIterations),
            **_coefficients(model, "binomial")}  # fmt: skip


def _workflow_uncached(spark, path: Path, features: int, settings: dict,
                       data_format: str = "libsvm") -> dict:  # fmt: skip
    """The same pipeline as usually written: no explicit cache, total only."""
    test_size = settings["test_size"]

    def run():
        frame = _source(spark, path, features, data_format)
        train, test = frame.randomSplit(
            [1 - test_size, test_size], seed=settings["seed"]
        )
        # regParam needs n_train: one count, as a user would do.
        lr = estimator(settings["C"], train.count(), 0.0, "binomial",
                       settings["spark_tol"], settings["max_iter"])  # fmt: skip
        model = lr.fit(train)
        return _accuracy(model, test), model

    (accuracy, model), total = _timed(run)
    return {"total": total, "accuracy": accuracy,
            "n_iter": int(model.summary.totalIterations)}  # fmt: skip


def workflow(path: Path, features: int, repeats: int, warmup: int,
             settings: dict, data_format: str = "libsvm") -> dict:  # fmt: skip
    """``warmup`` untimed and ``repeats`` timed runs; also without cache()
    when ``settings["uncached"]``."""
    spark, start_seconds = _timed(lambda: cluster.spark_session("dmltk-bench-flow"))
    runs, uncached = [], []
    try:
        for index in range(warmup + repeats):
            files.warm_page_cache(path)
            runs.append(_workflow_once(spark, path, features, settings, data_format))
            if settings.get("uncached") and index >= warmup:
                files.warm_page_cache(path)
                uncached.append(
                    _workflow_uncached(spark, path, features, settings, data_format)
                )
    finally:
        spark.stop()
    return {"start_seconds": start_seconds, "runs": runs[warmup:],
            "uncached": uncached}  # fmt: skip


def cv(problem: Problem, *, tol: float, Cs: list, folds: int,
       max_iter: int = MAX_ITER) -> dict:  # fmt: skip
    """Spark's ``CrossValidator`` over ``regParam = 1/(C n_train)`` for each C
    (``n_train`` the rows of a training fold, about ``n (folds - 1) /
    folds``), ``numFolds=folds``, ``parallelism=2``, log loss as the metric;
    timed after one warm-up fit."""
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    with _session_data(problem, "dmltk-bench-cv") as (data, seconds):
        n_train = problem.n * (folds - 1) / folds
        lr = estimator(1.0, problem.n, 0.0, "binomial", tol, max_iter)
        grid = (
            ParamGridBuilder()
            .addGrid(lr.regParam, [1.0 / (C * n_train) for C in Cs])
            .build()
        )
        search = CrossValidator(
            estimator=lr, estimatorParamMaps=grid, numFolds=folds, seed=0,
            parallelism=2,
            evaluator=MulticlassClassificationEvaluator(metricName="logLoss"),
        )  # fmt: skip
        # One fit at the grid's middle warms the session (JIT, class
        # loading); a second search would double a run of 50 fits.
        cold = timed_fit(lambda: lr.fit(data, grid[len(grid) // 2]))
        models = []
        warm = timed_fit(lambda: models.append(search.fit(data)))
        metrics = np.asarray(models[0].avgMetrics)
        best = int(np.argmin(metrics))
        return {
            **warm,
            "C": float(Cs[best]),
            "mean_log_loss": metrics.tolist(),
            "cold_fit_seconds": cold["fit_seconds"],
            **seconds,
            "settings": f"CrossValidator {folds} folds x {len(Cs)} regParam, "
            "parallelism=2, after a warm-up fit",
        }
