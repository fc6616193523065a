"""Reference coefficients from Spark MLlib's regressors, for dmltk's tests.

Fits ``pyspark.ml.regression.LinearRegression`` and
``GeneralizedLinearRegression`` in ``local[2]`` and stores, per case, every
Spark parameter, the coefficients, the intercept, the iterations and Spark's
own record of the fit (LinearRegression's last ``objectiveHistory`` entry,
GeneralizedLinearRegression's deviance) in
``tests/data/spark_regression_reference.json``; ``tests/test_spark_reference.py``
fits dmltk under the translation below and compares.

Data:

- ``sample_linear_regression_data``: Spark's own
  ``data/mllib/sample_linear_regression_data.txt`` (501 x 10, libsvm),
  copied unchanged into ``tests/data/`` from pyspark 4.3.0's wheel
  (``pyspark/data/mllib/``; sha256 in ``SAMPLE_SHA256``). The file has no
  header of its own: it is part of Apache Spark, under the Apache License,
  Version 2.0, as pyspark's ``LICENSE`` (which lists only some images of
  ``data/mllib`` under another licence) says.
- ``poisson``, ``gamma``, ``tweedie-1.5``: 1000 x 5 synthetic data
  (:func:`synthetic_glm_data`, numpy's frozen ``RandomState`` stream; the
  reference file keeps sums of X and y so that a changed stream is seen).

The translation (derived from Spark's source, checked by ``--check`` and by
the tests; ``sigma`` the unbiased weighted std of the columns, as dmltk's
``standardize`` and Spark's ``Summarizer`` compute it, ``delta`` that of the
label, ``c = 1 - sum s^2 / S^2``, 1 - 1/n without weights):

- ``LinearRegression(solver="l-bfgs")`` minimises, in original units,
  ``sum s r^2 / (2 S) + lambda (1 - a) / (2 delta) ||D w||^2 + lambda a
  ||D w||_1`` (``D = diag(sigma)`` with standardization, the identity
  without): Spark scales the label by ``delta`` inside, and its
  ``effectiveRegParam = regParam / delta`` stays behind on the L2 part. That
  is dmltk's ``ElasticNet`` with ``l2 = lambda (1 - a) / delta`` and
  ``l1 = lambda a``. ``objectiveHistory`` is that objective divided by
  ``delta^2``. Without an intercept ``delta`` is still the centred std.
- ``solver="normal"``, which ``"auto"`` (Spark's default) picks for up to
  4096 features: the same with the population stds (``WeightedLeastSquares``):
  ``l2 = lambda (1 - a) sqrt(c) / delta``, ``l1 = lambda a sqrt(c)`` with
  standardization, ``l2 = lambda (1 - a) / (sqrt(c) delta)``, ``l1 = lambda
  a`` without. ``GeneralizedLinearRegression(family="gaussian")`` (identity
  link) is this solver with standardization and ``a = 0``.
- ``GeneralizedLinearRegression`` by IRLS solves, each step, a weighted
  least-squares problem normalised by the sum of the IRLS weights
  ``omega_i = s_i / (g'(mu_i)^2 V(mu_i))`` with ``regParam / 2 ||w||^2``
  (no standardization). At its fixed point the gradient is that of the mean
  half deviance plus ``alpha / 2 ||w||^2`` with ``alpha = regParam *
  sum omega_i / S``, omega taken at the solution. For the log link
  ``omega_i = s_i mu_i^(2 - p)``: Gamma (p = 2) gives ``alpha = regParam``;
  Poisson with an intercept ``alpha = regParam * mean(y)`` (its score
  equation makes ``sum s mu = sum s y``); otherwise (Tweedie 1 < p < 2,
  Poisson without an intercept) ``alpha`` depends on the solution, and a
  fixed-point iteration on alpha finds it (:func:`glr_alpha`,
  :func:`glr_alpha_closed_form`).

The cases (``LINEAR_CASES``, ``GLR_CASES``): LinearRegression with solver
l-bfgs for elasticNetParam 0, 0.5 and 1, standardization on and off,
regParam 0.1 and 0.3; the same without an intercept, with sample weights
``1 + (i % 3)`` and with regParam 0; solver normal for every elasticNetParam
and standardization; GeneralizedLinearRegression Poisson, Gamma and Tweedie
1.5 with the log link for regParam 0, 0.01 and 0.1, Poisson also without an
intercept and with weights, and the Gaussian family on the sample file.

LinearRegression runs with ``maxIter=10000, tol=1e-12``, the IRLS with
``maxIter=100, tol=1e-12`` (it stops when no coefficient moves by more).

Rerun (needs pyspark and Java; about a minute)::

    python scripts/spark_reference_regression.py [--output PATH]

Check the stored values independently of Spark and of dmltk (exact solves of
the translated objectives: coordinate descent then a linear solve on the
support for the least squares, Newton for the GLMs)::

    python scripts/spark_reference_regression.py --check
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from sklearn.datasets import load_svmlight_file
from spark_reference import (
    reference_main,
    sample_weights,
    spark_features_std,
    spark_frame,
    spark_reference_session,
    weighted_std,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
DEFAULT_OUTPUT = DATA / "spark_regression_reference.json"
SAMPLE_FILE = DATA / "sample_linear_regression_data.txt"
SAMPLE_SHA256 = "a5e887887ac241ae83e347671350100b45a32030b1c53174931f5af07c93db62"
SAMPLE = "sample_linear_regression_data"
# Tweedie power of each synthetic data set.
GLM_POWERS = {"poisson": 1.0, "gamma": 2.0, "tweedie-1.5": 1.5}
LINEAR_SETTINGS = {"maxIter": 10000, "tol": 1e-12}
GLR_SETTINGS = {"maxIter": 100, "tol": 1e-12}


# --- Data ---------------------------------------------------------------------


def load_sample_file() -> tuple[np.ndarray, np.ndarray]:
    """Spark's ``sample_linear_regression_data.txt``: 501 x 10, dense.

    Raises
    ------
    RuntimeError
        When the copy in ``tests/data`` is not the file pyspark ships.
    """
    digest = hashlib.sha256(SAMPLE_FILE.read_bytes()).hexdigest()
    if digest != SAMPLE_SHA256:
        raise RuntimeError(
            f"{SAMPLE_FILE} has sha256 {digest}, not pyspark 4.3.0's "
            f"{SAMPLE_SHA256}: copy it again from pyspark/data/mllib/."
        )
    X, y = load_svmlight_file(str(SAMPLE_FILE), n_features=10)
    return X.toarray(), np.asarray(y, dtype=np.float64)


def synthetic_glm_data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """1000 x 5 rows with a log-linear mean and targets of a Tweedie family.

    ``X`` (the same for every family): standard normal columns scaled by
    1, 0.5, 2, 1 and 0.1 (``RandomState(0)``); the mean is ``exp(0.5 + X
    (0.3, -0.4, 0.1, 0, 1.5))`` (the last coefficient is large on a small
    column, so that an unstandardised L2 penalty shrinks it visibly); the
    targets (``RandomState(1)``) are Poisson counts, Gamma with shape 2, or
    compound Poisson-Gamma with power 1.5 and dispersion 1 (9% zeros).

    Parameters
    ----------
    name : {"poisson", "gamma", "tweedie-1.5"}

    Returns
    -------
    X : ndarray of shape (1000, 5)
    y : ndarray of shape (1000,)
    """
    if name not in GLM_POWERS:
        raise ValueError(f"unknown data set {name!r}; expected one of {GLM_POWERS}")
    X = np.random.RandomState(0).normal(size=(1000, 5))
    X *= np.array([1.0, 0.5, 2.0, 1.0, 0.1])
    mean = np.exp(0.5 + X @ np.array([0.3, -0.4, 0.1, 0.0, 1.5]))
    draws = np.random.RandomState(1)
    if name == "poisson":
        return X, draws.poisson(mean).astype(np.float64)
    if name == "gamma":
        return X, draws.gamma(2.0, mean / 2.0)
    power = GLM_POWERS[name]
    counts = draws.poisson(mean ** (2 - power) / (2 - power))
    # A sum of `count` Gamma jumps; shape 0 draws exactly 0.
    shape = counts * (2 - power) / (power - 1)
    return X, draws.gamma(shape, (power - 1) * mean ** (power - 1))


def load_case_data(case: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X``, ``y`` and the sample weights (ones without) of a case."""
    if case["dataset"] == SAMPLE:
        X, y = load_sample_file()
    else:
        X, y = synthetic_glm_data(case["dataset"])
    return X, y, sample_weights(case["weights"], len(y))


# --- Cases ----------------------------------------------------------------------


def _linear(reg, enet, std, solver="l-bfgs", intercept=True, weights="none"):
    params = {
        "regParam": reg,
        "elasticNetParam": enet,
        "standardization": std,
        "fitIntercept": intercept,
        "solver": solver,
        **LINEAR_SETTINGS,
    }
    return {
        "model": "LinearRegression",
        "dataset": SAMPLE,
        "weights": weights,
        "params": params,
    }


def _glr(dataset, reg, intercept=True, weights="none"):
    family = {
        "poisson": {"family": "poisson", "link": "log"},
        "gamma": {"family": "gamma", "link": "log"},
        # Tweedie's default link is the power 1 - variancePower: ask for log.
        "tweedie-1.5": {"family": "tweedie", "variancePower": 1.5, "linkPower": 0.0},
        SAMPLE: {"family": "gaussian", "link": "identity"},
    }[dataset]
    params = {**family, "regParam": reg, "fitIntercept": intercept, **GLR_SETTINGS}
    return {
        "model": "GeneralizedLinearRegression",
        "dataset": dataset,
        "weights": weights,
        "params": params,
    }


ENETS = (0.0, 0.5, 1.0)
LINEAR_CASES = (
    [
        _linear(reg, enet, std)
        for std in (True, False)
        for enet in ENETS
        for reg in (0.1, 0.3)
    ]
    + [_linear(0.3, enet, True, intercept=False) for enet in ENETS]
    + [_linear(0.0, 0.0, True)]
    + [
        _linear(0.3, 0.5, True, solver=solver, weights="1 + (i % 3)")
        for solver in ("l-bfgs", "normal")
    ]
    + [
        _linear(0.3, enet, std, solver="normal")
        for std in (True, False)
        for enet in ENETS
    ]
)
GLR_CASES = (
    [_glr(dataset, reg) for dataset in GLM_POWERS for reg in (0.0, 0.01, 0.1)]
    + [_glr("poisson", 0.01, intercept=False)]
    + [_glr("poisson", 0.01, weights="1 + (i % 3)")]
    + [_glr(SAMPLE, 0.3)]
)


# --- The translation ----------------------------------------------------------


def linear_penalty(case: dict, y: np.ndarray, weights: np.ndarray):
    """dmltk's penalty for a least-squares Spark case (module docstring).

    Parameters
    ----------
    case : dict
        A LinearRegression case, or a Gaussian GeneralizedLinearRegression
        one (the normal solver with standardization and no L1).
    y, weights : ndarray of shape (n_samples,)

    Returns
    -------
    l2, l1 : float
        The strengths in dmltk's objective ``sum s r^2 / (2 S) + l2/2
        ||D w||^2 + l1 ||D w||_1``.
    standardize : bool
        Whether ``D`` is the columns' std (dmltk's ``standardize``).
    """
    params = case["params"]
    reg = params["regParam"]
    enet = params.get("elasticNetParam", 0.0)
    standardize = params.get("standardization", True)
    normal = params.get("solver", "normal") == "normal"
    delta = float(weighted_std(y[:, None], weights)[0])
    total = weights.sum()
    # Population over unbiased std: WeightedLeastSquares's stds (normal).
    root_c = np.sqrt(1.0 - weights @ weights / total**2) if normal else 1.0
    if standardize:
        return reg * (1 - enet) * root_c / delta, reg * enet * root_c, True
    return reg * (1 - enet) / (root_c * delta), reg * enet, False


def elastic_net_parameters(l2: float, l1: float) -> dict:
    """``ElasticNet``'s ``alpha`` and ``l1_ratio`` for strengths ``(l2, l1)``."""
    alpha = l2 + l1
    return {"alpha": alpha, "l1_ratio": l1 / alpha if alpha > 0 else 0.0}


def glr_alpha(case: dict, X, weights, coef, intercept) -> float:
    """dmltk's ``alpha`` for a GLR case at given coefficients: ``regParam *
    sum omega / S``, the fixed-point condition of Spark's IRLS, with the
    IRLS weights of the log link ``omega_i = s_i mu_i^(2 - p)``."""
    power = GLM_POWERS[case["dataset"]]
    omega = weights * np.exp(X @ coef + intercept) ** (2.0 - power)
    return case["params"]["regParam"] * omega.sum() / weights.sum()


def glr_alpha_closed_form(case: dict, y, weights) -> float | None:
    """dmltk's ``alpha`` for a GLR case when it does not depend on the
    solution: ``regParam`` for Gamma, ``regParam * mean(y)`` for Poisson
    with an intercept; None otherwise (iterate :func:`glr_alpha`)."""
    power = GLM_POWERS[case["dataset"]]
    reg = case["params"]["regParam"]
    if power == 2 or reg == 0:
        return reg
    if power == 1 and case["params"]["fitIntercept"]:
        return reg * (weights @ y) / weights.sum()
    return None


# --- Spark ----------------------------------------------------------------------


def _spark_label_std(spark, y: np.ndarray, weights: np.ndarray) -> float:
    frame = spark_frame(spark, y[:, None], y, weights)
    (std,) = spark_features_std(frame, weighted=True)
    frame.unpersist()
    return std


def _check_spark_reads_the_same_file(spark, X, y) -> None:
    """Spark's libsvm source parses the sample file to the same doubles."""
    rows = (
        spark.read.format("libsvm")
        .option("numFeatures", 10)
        .load(str(SAMPLE_FILE))
        .collect()
    )
    labels = np.array([row["label"] for row in rows])
    features = np.array([row["features"].toArray() for row in rows])
    if not (np.array_equal(labels, y) and np.array_equal(features, X)):
        raise RuntimeError("Spark's libsvm reader and scikit-learn's disagree")


def fit_spark(frame, case: dict) -> dict:
    """Fit one case in Spark and record its result.

    Returns
    -------
    dict
        The case with ``coefficients``, ``intercept``, ``n_iterations`` and,
        for LinearRegression, ``objective`` (the last ``objectiveHistory``
        entry) and ``objective_history_length``; for
        GeneralizedLinearRegression, ``deviance``.
    """
    from pyspark.ml.regression import (
        GeneralizedLinearRegression,
        LinearRegression,
    )

    params = dict(case["params"])
    if case["weights"] != "none":
        params["weightCol"] = "weight"
    if case["model"] == "LinearRegression":
        model = LinearRegression(**params).fit(frame)
        history = model.summary.objectiveHistory
        record = {
            "n_iterations": int(model.summary.totalIterations),
            "objective_history_length": len(history),
            "objective": float(history[-1]),
        }
    else:
        model = GeneralizedLinearRegression(**params).fit(frame)
        record = {
            "n_iterations": int(model.summary.numIterations),
            "deviance": float(model.summary.deviance),
        }
    return {
        **case,
        "params": params,
        "coefficients": model.coefficients.toArray().tolist(),
        "intercept": float(model.intercept),
        **record,
    }


def _data_key(case: dict) -> str:
    return f"{case['dataset']}|{case['weights']}"


def generate_reference() -> dict:
    """Run Spark on every case.

    Returns
    -------
    dict
        ``versions``; ``data`` per data set and weights rule (Spark's
        ``Summarizer`` std of the features and of the label, and the sums of
        X and y); ``cases`` (the results of :func:`fit_spark`).
    """
    import pyspark

    cases = LINEAR_CASES + GLR_CASES
    spark = spark_reference_session()
    try:
        versions = {
            "pyspark": pyspark.__version__,
            "spark": spark.version,
            "java": spark.sparkContext._jvm.System.getProperty("java.version"),
        }
        _check_spark_reads_the_same_file(spark, *load_sample_file())
        data, results = {}, []
        for key in dict.fromkeys(_data_key(case) for case in cases):
            members = [case for case in cases if _data_key(case) == key]
            X, y, weights = load_case_data(members[0])
            frame = spark_frame(spark, X, y, weights)
            data[key] = {
                "features_std": spark_features_std(frame, weighted=True),
                "label_std": _spark_label_std(spark, y, weights),
                "X_sum": float(X.sum()),
                "y_sum": float(y.sum()),
            }
            for case in members:
                results.append(fit_spark(frame, case))
                print(_describe(results[-1]), flush=True)
            frame.unpersist()
    finally:
        spark.stop()
    return {"versions": versions, "data": data, "cases": results}


def case_label(case: dict) -> str:
    """A short one-line name of a case (also the tests' ids)."""
    params = case["params"]
    kind = params.get("solver") or params["family"]
    if "variancePower" in params:
        kind += f"{params['variancePower']}"
    return (
        f"{'LR' if case['model'] == 'LinearRegression' else 'GLR'}-{kind}-"
        f"{case['dataset'][:6]}-w={case['weights'].replace(' ', '')}-"
        f"std={params.get('standardization', '-')}-b={params['fitIntercept']}-"
        f"reg={params['regParam']}-en={params.get('elasticNetParam', '-')}"
    )


def _describe(result: dict) -> str:
    coefficients = np.asarray(result["coefficients"])
    return (
        f"{case_label(result):<58} iter={result['n_iterations']:>3} "
        f"zeros={int((coefficients == 0).sum())}/{coefficients.size}"
    )


# --- Independent check: exact solves of the translated objectives -------------


def _linear_optimum(X, y, weights, l2, l1, scale, fit_intercept):
    """Minimise ``sum s r^2 / (2 S) + l2/2 ||scale w||^2 + l1 ||scale w||_1``.

    Coordinate descent on the quadratic (d is small), then, the zero set
    known, one linear solve on the support: exact to rounding.
    """
    total = weights.sum()
    x_mean = weights @ X / total if fit_intercept else np.zeros(X.shape[1])
    y_mean = weights @ y / total if fit_intercept else 0.0
    Xc, yc = X - x_mean, y - y_mean
    Q = (Xc * weights[:, None]).T @ Xc / total + np.diag(l2 * scale**2)
    g = (Xc * weights[:, None]).T @ yc / total
    w = np.zeros(X.shape[1])
    for _ in range(10000):
        previous = w.copy()
        for j in range(len(w)):
            rest = g[j] - Q[j] @ w + Q[j, j] * w[j]
            w[j] = np.sign(rest) * max(abs(rest) - l1 * scale[j], 0.0) / Q[j, j]
        if np.abs(w - previous).max() <= 1e-15 * max(np.abs(w).max(), 1e-300):
            break
    support = w != 0
    sign = np.sign(w[support])
    w[support] = np.linalg.solve(
        Q[np.ix_(support, support)], g[support] - l1 * scale[support] * sign
    )
    return w, y_mean - x_mean @ w


def linear_objective(X, y, weights, coef, intercept, l2, l1, scale) -> float:
    """``sum s r^2 / (2 S) + l2/2 ||scale w||^2 + l1 ||scale w||_1``."""
    residual = X @ coef + intercept - y
    scaled = scale * coef
    return float(
        0.5 * weights @ residual**2 / weights.sum()
        + 0.5 * l2 * scaled @ scaled
        + l1 * np.abs(scaled).sum()
    )


def half_deviance(power: float, y: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The unit half deviance of a Tweedie family (scikit-learn's, exact)."""
    if power == 1:
        positive = np.where(y > 0, y, 1.0)
        return np.where(y > 0, y * np.log(positive / mean), 0.0) - y + mean
    if power == 2:
        return np.log(mean / y) + y / mean - 1
    return (
        np.maximum(y, 0) ** (2 - power) / ((1 - power) * (2 - power))
        - y * mean ** (1 - power) / (1 - power)
        + mean ** (2 - power) / (2 - power)
    )


def glm_objective(power, X, y, weights, coef, intercept, alpha) -> float:
    """Mean half deviance (log link) plus ``alpha/2 ||w||^2``."""
    mean = np.exp(X @ coef + intercept)
    deviance = weights @ half_deviance(power, y, mean) / weights.sum()
    return float(deviance + 0.5 * alpha * coef @ coef)


def _glm_optimum(power, X, y, weights, alpha, fit_intercept):
    """Newton's method (step halved until the objective decreases) on the
    mean half deviance plus ``alpha/2 ||w||^2``."""
    d = X.shape[1]
    A = np.hstack([X, np.ones((len(y), 1))]) if fit_intercept else X
    ridge = np.diag([alpha] * d + [0.0] * fit_intercept)
    total = weights.sum()

    def value(theta):
        deviance = weights @ half_deviance(power, y, np.exp(A @ theta)) / total
        return deviance + 0.5 * theta @ ridge @ theta

    theta = np.zeros(A.shape[1])
    if fit_intercept:
        theta[-1] = np.log(weights @ y / total)
    for _ in range(100):
        eta = A @ theta
        # The half deviance's first and second derivatives in eta.
        first = np.exp((2 - power) * eta) - y * np.exp((1 - power) * eta)
        second = (2 - power) * np.exp((2 - power) * eta)
        second -= (1 - power) * y * np.exp((1 - power) * eta)
        gradient = A.T @ (weights * first) / total + ridge @ theta
        hessian = (A * (weights * second)[:, None]).T @ A / total + ridge
        step = np.linalg.solve(hessian, gradient)
        while value(theta - step) > value(theta) and np.abs(step).max() > 1e-3:
            step /= 2
        theta -= step
        if np.abs(step).max() <= 1e-15 * np.abs(theta).max():
            break
    return theta[:d], float(theta[d]) if fit_intercept else 0.0


def solve_translated(case: dict):
    """The optimum of dmltk's translated objective for a case, without dmltk.

    Returns
    -------
    coef, intercept, objective : the optimum and the objective there.
    objective_function : callable ``(coef, intercept) -> float``.
    """
    X, y, weights = load_case_data(case)
    fit_intercept = case["params"]["fitIntercept"]
    if case["model"] == "LinearRegression" or case["dataset"] == SAMPLE:
        l2, l1, standardize = linear_penalty(case, y, weights)
        scale = weighted_std(X, weights) if standardize else np.ones(X.shape[1])
        coef, intercept = _linear_optimum(X, y, weights, l2, l1, scale, fit_intercept)

        def objective(c, b):
            return linear_objective(X, y, weights, c, b, l2, l1, scale)

        return coef, intercept, objective(coef, intercept), objective
    power = GLM_POWERS[case["dataset"]]
    # The fixed point of alpha = regParam * sum omega / S.
    alpha = case["params"]["regParam"]
    for _ in range(100):
        coef, intercept = _glm_optimum(power, X, y, weights, alpha, fit_intercept)
        new_alpha = glr_alpha(case, X, weights, coef, intercept)
        if abs(new_alpha - alpha) <= 1e-15 * alpha:
            break
        alpha = new_alpha

    def objective(c, b):
        return glm_objective(power, X, y, weights, c, b, alpha)

    return coef, intercept, objective(coef, intercept), objective


def check_reference(payload: dict) -> float:
    """Compare every stored Spark case with :func:`solve_translated`.

    Returns
    -------
    float
        The largest relative coefficient difference, ``max |w_spark -
        w_exact| / max |w_exact|``.
    """
    print(f"{'case':<58}  rel.coef  intercept  objective rel.diff  zeros S/exact")
    worst = 0.0
    for result in payload["cases"]:
        coef, intercept, value, objective = solve_translated(result)
        spark_coef = np.asarray(result["coefficients"])
        relative = np.abs(spark_coef - coef).max() / np.abs(coef).max()
        at_spark = objective(spark_coef, result["intercept"])
        worst = max(worst, relative)
        print(
            f"{case_label(result):<58} {relative:>9.1e}  "
            f"{abs(result['intercept'] - intercept):>9.1e}  "
            f"{(at_spark - value) / value:>10.1e}      "
            f"{int((spark_coef == 0).sum())}/{int((coef == 0).sum())}",
            flush=True,
        )
    print(f"largest relative coefficient difference: {worst:.2e}")
    return worst


def main() -> None:
    """Generate the reference file, or check it with ``--check``."""
    reference_main(__doc__.splitlines()[0], generate_reference, check_reference,
                   DEFAULT_OUTPUT, "exact solves")  # fmt: skip


if __name__ == "__main__":
    main()
