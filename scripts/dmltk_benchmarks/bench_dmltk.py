"""dmltk's adapter: X and y persisted on ``dmltk.connect``'s 2 x 1 cluster.

Classification problems fit ``dmltk.LogisticRegression``; regression ones
the estimator of their family (:func:`estimator`), on the same objective.

Per-evaluation timings come from the estimator's own ``fit_stats_``
(``evaluation_seconds``, ``kernel_seconds`` where the installed dmltk
records them), never from patching it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from . import cluster, files, timing
from .problems import Problem

MAX_ITER = 1000


def _partition(X, y, problem: Problem) -> tuple:
    """X and y in the problem's layout; seconds taken (None for rows)."""
    if problem.layout == "rows":
        return X, y, None
    import dmltk

    blocks = problem.blocks if problem.layout == "columns" else (problem.blocks // 4, 4)
    start = time.perf_counter()
    X, y = dmltk.partition(X, y, by=problem.layout, n_blocks=blocks)
    return X, y, time.perf_counter() - start


def _grid(X) -> str:
    """Blocks of X down and across, as ``"16x1"``."""
    return "x".join(str(count) for count in X.numblocks)


def _json_stats(stats: dict) -> dict:
    """``fit_stats_`` with numpy numbers as plain ones."""
    return {
        key: (np.asarray(value).tolist() if not isinstance(value, str) else value)
        for key, value in stats.items()
    }


def _checksums(X, y) -> dict | None:
    """Sums of X and y on the cluster, in float64, for the parent to compare."""
    if not isinstance(X._meta, np.ndarray):
        return None
    return {
        "x_sum": float(X.sum(dtype=np.float64).compute()),
        "y_sum": float(y.sum().compute()),
    }


def estimator(problem: Problem, *, tol: float, solver: str = "auto",
              max_iter: int = MAX_ITER):  # fmt: skip
    """dmltk's estimator of ``problem``'s objective.

    Classification: ``LogisticRegression(C, l1_ratio)``. Regression: ``Ridge``
    with ``alpha * n`` (its objective is summed), ``PoissonRegressor``,
    ``GammaRegressor`` or ``TweedieRegressor(power)`` with ``alpha``.
    """
    import dmltk

    common = {"solver": solver, "tol": tol, "max_iter": max_iter}
    if not problem.is_regression:
        return dmltk.LogisticRegression(C=problem.C, l1_ratio=problem.l1_ratio,
                                        **common)  # fmt: skip
    if problem.power == 0:
        return dmltk.Ridge(alpha=problem.alpha * problem.n, **common)
    if problem.power == 1:
        return dmltk.PoissonRegressor(alpha=problem.alpha, **common)
    if problem.power == 2:
        return dmltk.GammaRegressor(alpha=problem.alpha, **common)
    return dmltk.TweedieRegressor(power=problem.power, link="log",
                                  alpha=problem.alpha, **common)  # fmt: skip


def fit(problem: Problem, *, tol: float, solver: str = "auto",
        max_iter: int = MAX_ITER, baselines: bool = False,
        cluster_options: dict | None = None) -> dict:  # fmt: skip
    """Fit dmltk's :func:`estimator` on ``problem``, generated on the workers.

    Parameters
    ----------
    problem : Problem
    tol : float
    solver : str, default="auto"
        dmltk's choice: L-BFGS for L2 penalties, OWL-QN with an L1 part, the
        normal equations for the squared error on row blocks.
    max_iter : int
    baselines : bool, default=False
        After the fit, also time a no-op and a read-only graph of the same
        shape on the same blocks (see :mod:`dmltk_benchmarks.timing`).
    cluster_options : dict, optional
        More :func:`dmltk.connect` options; ``{"processes": False}`` (threads
        in the child process) starts fast, for the golden-master test.

    Returns
    -------
    dict
        As :func:`dmltk_benchmarks.bench_sklearn.fit`, plus ``fit_stats``,
        ``partition_seconds``, the blocks' placement and checksums.
    """
    client = cluster.local_client(**(cluster_options or {}))
    try:
        X, y = cluster.persist_pinned(client, problem)
        info = cluster.worker_info(client, X, ["dmltk"])
        X, y, partition_seconds = _partition(X, y, problem)
        model = estimator(problem, tol=tol, solver=solver, max_iter=max_iter)
        name = f"{type(model).__name__} " if problem.is_regression else ""
        result = {
            **timing.timed_fit(lambda: model.fit(X, y)),
            "coef": np.atleast_2d(model.coef_).tolist(),
            "intercept": np.atleast_1d(model.intercept_).tolist(),
            "n_iter": int(np.max(model.n_iter_)),
            "settings": f"{name}solver={model.solver_} tol={tol:g} "
            f"layout={problem.layout}",
            "fit_stats": _json_stats(model.fit_stats_),
            "partition_seconds": partition_seconds,
            "grid": _grid(X),
            **info,
        }
        if baselines:
            coef = np.append(model.coef_.ravel(), model.intercept_)
            result["cluster_baselines"] = timing.cluster_baselines(client, X, y, coef)
            result["timed_end"] = time.time()
        result["checksums"] = _checksums(X, y)
        return result
    finally:
        client.close()


# --------------------------------------------------------- reading a file
def _held_tasks(client) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def _wait_until_released(client, held: int = 0) -> None:
    """Wait until the scheduler holds only ``held`` tasks (none by default):
    the next call must compute again, not find the previous results under
    the same keys."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _held_tasks(client) <= held:
            return
        time.sleep(0.02)
    raise RuntimeError(f"the scheduler still holds more than {held} tasks after 60 s")


def _read_once(path: Path, features: int | None, data_format: str = "libsvm"):
    """``read_libsvm`` or ``read_table`` until X and y are persisted (parsed)
    on the workers."""
    from distributed import wait

    import dmltk

    if data_format == "libsvm":
        X, y = dmltk.read_libsvm(path, features)
    else:
        X, y = dmltk.read_table(path, label="label", format=data_format)
    wait([X, y])
    return X.shape, X.numblocks[0]


def _read_dask_dataframe(path: Path, data_format: str):
    """What a Dask user writes without dmltk: ``dask.dataframe``'s reader,
    the frame persisted, then arrays of known chunks persisted from it."""
    import dask
    import dask.dataframe as dd
    from distributed import wait

    reader = dd.read_parquet if data_format == "parquet" else dd.read_csv
    frame = reader(str(path)).persist()
    wait(frame)
    features = [name for name in frame.columns if name != "label"]
    X = frame[features].to_dask_array(lengths=True)
    y = frame["label"].to_dask_array(lengths=X.chunks[0])
    X, y = dask.persist(X, y)
    wait([X, y])
    del frame
    return X.shape, X.numblocks[0]


def read(path: Path, features: int, repeats: int, data_format: str = "libsvm") -> dict:
    """Seconds of ``repeats`` reads, its variants taking turns: libsvm with
    the width given and inferred; a table with ``read_table`` and with
    ``dask.dataframe``."""
    client, start = _timed_start(lambda: cluster.local_client(memory_limit="10GiB"))
    if data_format == "libsvm":
        variants = {
            "dmltk read_libsvm": lambda: _read_once(path, features),
            "dmltk read_libsvm, width inferred": lambda: _read_once(path, None),
        }
    else:
        kind = {"parquet": "Parquet", "csv": "CSV"}[data_format]
        variants = {
            f"dmltk read_table, {kind}": lambda: _read_once(path, None, data_format),
            f"dask.dataframe read_{data_format} + to_dask_array":
                lambda: _read_dask_dataframe(path, data_format),
        }  # fmt: skip
    runs = {name: [] for name in variants}
    blocks = {}
    try:
        for _ in range(repeats):
            for name, read_once in variants.items():
                begin = time.perf_counter()
                shape, blocks[name] = read_once()
                runs[name].append(time.perf_counter() - begin)
                _wait_until_released(client)
    finally:
        client.close()
    # The row blocks of dmltk's reader (the first variant).
    return {"start_seconds": start, "runs": runs, "shape": list(shape),
            "blocks": blocks[next(iter(variants))]}  # fmt: skip


def _timed_start(factory):
    start = time.perf_counter()
    made = factory()
    return made, time.perf_counter() - start


# ------------------------------------------------------------- the workflow
def _workflow_once(path: Path, features: int, settings: dict,
                   data_format: str = "libsvm") -> dict:  # fmt: skip
    """read_libsvm (or read_table) -> train_test_split (persisted) -> fit ->
    predict, accuracy."""
    import dask
    from distributed import wait

    import dmltk
    from dmltk import metrics

    seconds, start = {}, time.perf_counter()
    if data_format == "libsvm":
        X, y = dmltk.read_libsvm(path, features)
    else:
        X, y = dmltk.read_table(path, label="label", format=data_format)
    seconds["read"] = time.perf_counter() - start
    start = time.perf_counter()
    split = dask.persist(*dmltk.train_test_split(
        X, y, test_size=settings["test_size"], random_state=settings["seed"]
    ))  # fmt: skip
    wait(split)
    seconds["split"] = time.perf_counter() - start
    del X, y  # one copy of the data on the workers
    X_train, X_test, y_train, y_test = split
    start = time.perf_counter()
    model = dmltk.LogisticRegression(
        C=settings["C"], tol=settings["tol"], max_iter=settings["max_iter"]
    ).fit(X_train, y_train)
    seconds["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = metrics.accuracy_score(y_test, model.predict(X_test))
    seconds["predict + accuracy"] = time.perf_counter() - start
    return {
        "seconds": seconds,
        "accuracy": accuracy,
        "n_iter": int(model.n_iter_[0]),
        "n_train": int(X_train.shape[0]),
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
    }


def workflow(path: Path, features: int, repeats: int, warmup: int,
             settings: dict, data_format: str = "libsvm") -> dict:  # fmt: skip
    """``warmup`` untimed and ``repeats`` timed runs of the workflow."""
    client, start = _timed_start(lambda: cluster.local_client(memory_limit="10GiB"))
    runs = []
    try:
        for _ in range(warmup + repeats):
            files.warm_page_cache(path)
            runs.append(_workflow_once(path, features, settings, data_format))
            _wait_until_released(client)
    finally:
        client.close()
    return {"start_seconds": start, "runs": runs[warmup:]}


# ------------------------------------------------- prediction and metrics
def predict(problem: Problem, *, tol: float, repeats: int = 5,
            cluster_options: dict | None = None) -> dict:  # fmt: skip
    """Median seconds of prediction and metrics over the persisted blocks.

    A model is fitted first (untimed). Lazy predictions are timed until they
    are persisted on the workers (``persist()`` and ``wait``), as a pipeline
    would keep them; ``score`` and the metrics return numbers. Every timing
    is a median of ``repeats`` calls after one untimed call, each computing
    anew. The baselines are those of an evaluation: a read of X on the
    cluster (one task per worker), and in memory (``X.sum()``, 2 threads).
    """
    from distributed import wait

    import dmltk
    from dmltk import metrics

    client = cluster.local_client(**(cluster_options or {}))
    try:
        X, y = cluster.persist_pinned(client, problem)
        model = dmltk.LogisticRegression(C=problem.C, tol=tol).fit(X, y)
        held = _held_tasks(client)

        def persisted(make):
            def run():
                result = make().persist()
                wait(result)

            return run

        operations = {
            "predict_proba (persisted)": persisted(lambda: model.predict_proba(X)),
            "predict (persisted)": persisted(lambda: model.predict(X)),
            "decision_function (persisted)": persisted(
                lambda: model.decision_function(X)
            ),
            "score": lambda: model.score(X, y),
            "metrics.accuracy_score": lambda: metrics.accuracy_score(
                y, model.predict(X)
            ),
            "metrics.log_loss": lambda: metrics.log_loss(y, model.predict_proba(X)),
            "metrics.roc_auc_score": lambda: metrics.roc_auc_score(
                y, model.decision_function(X)
            ),
        }
        # The metrics again, on predictions already persisted (untimed), as a
        # pipeline that keeps its predictions scores them.
        kept = dict(
            labels=model.predict(X).persist(),
            proba=model.predict_proba(X).persist(),
            margins=model.decision_function(X).persist(),
        )
        wait(list(kept.values()))
        held_with_predictions = _held_tasks(client)
        on_persisted = {
            "metrics.accuracy_score, persisted predictions": lambda: (
                metrics.accuracy_score(y, kept["labels"])
            ),
            "metrics.log_loss, persisted predictions": lambda: metrics.log_loss(
                y, kept["proba"]
            ),
            "metrics.roc_auc_score, persisted predictions": lambda: (
                metrics.roc_auc_score(y, kept["margins"])
            ),
        }

        def medians(operations: dict, held: int) -> dict:
            seconds = {}
            for name, operation in operations.items():
                times = []
                for _ in range(repeats + 1):  # the first call is not timed
                    start = time.perf_counter()
                    operation()
                    times.append(time.perf_counter() - start)
                    _wait_until_released(
                        client, held
                    )  # untimed: the next call computes anew
                seconds[name] = statistics.median(times[1:])
            return seconds

        seconds = medians(on_persisted, held_with_predictions)
        kept.clear()  # the predictions go: the calls below compute their own
        seconds.update(medians(operations, held))
        coef = np.append(model.coef_.ravel(), model.intercept_)
        baselines = timing.cluster_baselines(client, X, y, coef)
    finally:
        client.close()
    numpy_read = timing.numpy_read_seconds(problem.numpy_data()[0])
    return {"seconds": seconds, "cluster_baselines": baselines,
            "numpy_read": numpy_read, "n_iter": int(model.n_iter_[0])}  # fmt: skip


# ------------------------------------------------------- cross-validation
def cv(problem: Problem, *, tol: float, Cs: list, folds: int,
       max_iter: int = MAX_ITER) -> dict:  # fmt: skip
    """One ``LogisticRegression`` fit at the problem's C, then
    ``LogisticRegressionCV`` over ``Cs`` with ``folds`` folds (hashed row
    positions), on the same persisted blocks, both at ``tol``.

    Returns
    -------
    dict
        ``fit_seconds`` (the search), ``single_seconds`` and ``single_n_iter``
        (the one fit), the chosen ``C``, the ``scores`` (folds x Cs), and
        the search's passes and models per pass.
    """
    import dmltk

    client = cluster.local_client()
    try:
        X, y = cluster.persist_pinned(client, problem)
        info = cluster.worker_info(client, X, ["dmltk"])
        X, y, _ = _partition(X, y, problem)
        single = dmltk.LogisticRegression(C=problem.C, tol=tol, max_iter=max_iter)
        single_timing = timing.timed_fit(lambda: single.fit(X, y))
        search = dmltk.LogisticRegressionCV(
            Cs=Cs, cv=folds, tol=tol, max_iter=max_iter, scoring="neg_log_loss"
        )
        result = timing.timed_fit(lambda: search.fit(X, y))
        stats = search.fit_stats_
        return {
            **result,
            "single_seconds": single_timing["fit_seconds"],
            "single_n_iter": int(np.max(single.n_iter_)),
            "C": float(search.C_),
            "scores": search.scores_[:, 0, :].tolist(),
            "n_iter": int(search.n_iter_.sum()),
            "passes": len(stats["models_per_pass"]),
            "models_per_pass": max(stats["models_per_pass"]),
            "evaluations": stats["evaluations"],
            "settings": f"LogisticRegressionCV lbfgs tol={tol:g}, {folds} hashed "
            f"folds x {len(Cs)} Cs, warm-started paths",
            **info,
        }
    finally:
        client.close()


def regression_cv(problem: Problem, *, search: str, alphas: int, folds: int,
                  tol: float, max_iter: int = MAX_ITER) -> dict:  # fmt: skip
    """``LassoCV(alphas, cv=folds)`` or ``RidgeCV(alphas, cv=folds)`` (a
    list of alphas; ``folds`` 0 for leave-one-out) on the problem's persisted
    blocks (hashed folds); then, for the "one fit" baseline, ``Lasso`` or
    ``Ridge`` at the chosen alpha on the same blocks.

    Returns
    -------
    dict
        ``fit_seconds`` (the search), ``single_seconds``, the chosen
        ``alpha``, the passes over X (``evaluations``) and the mean held-out
        error at the chosen alpha (Lasso).
    """
    import dmltk

    client = cluster.local_client()
    try:
        X, y = cluster.persist_pinned(client, problem)
        info = cluster.worker_info(client, X, ["dmltk"])
        X, y, _ = _partition(X, y, problem)
        if search == "lasso":
            model = dmltk.LassoCV(alphas=int(alphas), cv=folds, tol=tol,
                                  max_iter=max_iter)  # fmt: skip
        else:
            model = dmltk.RidgeCV(alphas=alphas, cv=folds or None)
        result = timing.timed_fit(lambda: model.fit(X, y))
        if search == "lasso":
            single = dmltk.Lasso(alpha=model.alpha_, tol=tol, max_iter=max_iter)
        else:
            single = dmltk.Ridge(alpha=model.alpha_)
        single_timing = timing.timed_fit(lambda: single.fit(X, y))
        stats = model.fit_stats_
        held_out = (float(model.mse_path_.mean(axis=1).min())
                 if search == "lasso" else float(model.best_score_))  # fmt: skip
        return {
            **result,
            "single_seconds": single_timing["fit_seconds"],
            "alpha": float(model.alpha_),
            "held_out": held_out,
            "passes": int(stats["evaluations"]),
            "settings": f"{type(model).__name__} tol={tol:g}, "
            f"{folds or 'leave-one-out'} folds, solver "
            f"{getattr(model, 'solver_', 'closed form')}",
            **info,
        }
    finally:
        client.close()
