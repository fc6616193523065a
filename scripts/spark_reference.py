"""Reference coefficients from Spark MLlib's LogisticRegression, for dmltk's tests.

Fits ``pyspark.ml.classification.LogisticRegression`` in ``local[2]`` on small
data sets bundled with scikit-learn (nothing is downloaded) and stores, per
case, every Spark parameter, ``coefficientMatrix``, ``interceptVector``, the
number of iterations and the final objective, in
``tests/data/spark_reference.json``. The tests fit dmltk under the translation
of the README and compare with these values:

- ``C = 1 / (regParam * S)``, S the number of rows or the sum of the weights;
- ``l1_ratio = elasticNetParam``, ``standardize = standardization``,
  ``fit_intercept = fitIntercept``.

The cases (``GRIDS``), each for elasticNetParam 0, 0.5 and 1:

- ``breast_cancer``: 569 x 30, binary, raw features whose scales differ by
  about 1e4 (what standardization is for): standardization=True, regParam
  0.01 and 0.1 (without standardization Spark does not reach the optimum
  here: see ``GRIDS``);
- ``iris``: 150 x 4, three classes (``family="multinomial"``):
  standardization True and False, regParam 0.01 and 0.1;
- ``breast_cancer`` with sample weights ``1 + (i % 3)`` (row i, from 0), given
  to Spark through ``weightCol``: standardization=True, regParam 0.01;
- without an intercept, standardization=True, regParam 0.01: breast_cancer
  and iris.

Spark runs with ``maxIter=10000`` and ``tol=1e-12`` so that the values are the
optimum rather than a stopping point; Breeze's L-BFGS / OWL-QN may still stop
earlier (it also stops when the gradient's largest entry is <= 1e-8), so each
case records ``n_iterations`` and ``objective`` (Spark's last
``objectiveHistory`` entry: mean weighted log-loss plus the penalty).
``features_std`` holds Spark's ``Summarizer`` std per data set (the unbiased
weighted std that standardization divides by).

Rerun (needs pyspark and Java; about a minute)::

    python scripts/spark_reference.py [--output tests/data/spark_reference.json]

Check the stored values independently of Spark and of dmltk (scipy's L-BFGS-B
on the translated objective, L1 by splitting ``w = w+ - w-`` with bounds)::

    python scripts/spark_reference.py --check
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / (
    "tests/data/spark_reference.json"
)
MAX_ITER = 10000
TOL = 1e-12
REG_PARAMS = (0.01, 0.1)
ELASTIC_NET_PARAMS = (0.0, 0.5, 1.0)
FAMILY = {"breast_cancer": "binomial", "iris": "multinomial"}
# (data set, weights rule, standardization values, regParams, fitIntercept):
# each gets every elasticNetParam. breast_cancer without standardization is
# left out: its raw columns make Spark's internal problem (scaled columns,
# L2 strength regParam / std_j^2, 1e9 apart) so ill-conditioned that
# Breeze's L-BFGS runs to maxIter=10000 (six minutes) and still stops 2e-5
# (relative) above the optimum's objective: a stopping point, not a reference.
GRIDS = (
    ("breast_cancer", "none", (True,), REG_PARAMS, True),
    ("iris", "none", (True, False), REG_PARAMS, True),
    ("breast_cancer", "1 + (i % 3)", (True,), (0.01,), True),
    ("breast_cancer", "none", (True,), (0.01,), False),
    ("iris", "none", (True,), (0.01,), False),
)
DATA_SETTINGS = (
    ("breast_cancer", "none"),
    ("iris", "none"),
    ("breast_cancer", "1 + (i % 3)"),
)


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw features and integer labels of a data set bundled with scikit-learn.

    Parameters
    ----------
    name : {"breast_cancer", "iris"}
        The data set.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The features, unscaled.
    y : ndarray of shape (n_samples,)
        The labels, 0 to n_classes - 1.
    """
    loaders = {"breast_cancer": load_breast_cancer, "iris": load_iris}
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; expected one of {list(loaders)}")
    X, y = loaders[name](return_X_y=True)
    return X.astype(np.float64), y.astype(np.int64)


def sample_weights(rule: str, n_samples: int) -> np.ndarray:
    """The sample weights that a case's weights rule names.

    Parameters
    ----------
    rule : {"none", "1 + (i % 3)"}
        ``"none"``: every weight 1 (Spark gets no ``weightCol``);
        ``"1 + (i % 3)"``: 1, 2, 3, 1, 2, 3, ... by row index.
    n_samples : int
        The number of rows.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    if rule == "none":
        return np.ones(n_samples)
    if rule == "1 + (i % 3)":
        return 1.0 + np.arange(n_samples) % 3
    raise ValueError(f"unknown weights rule {rule!r}; expected 'none' or '1 + (i % 3)'")


def reference_cases() -> list[dict]:
    """The Spark parameter settings to record, one dict per case.

    Returns
    -------
    list of dict
        Keys ``dataset``, ``weights`` and ``params`` (Spark's parameter names).
    """
    cases = []
    for dataset, weights, standardizations, reg_params, fit_intercept in GRIDS:
        settings = itertools.product(standardizations, ELASTIC_NET_PARAMS, reg_params)
        for standardization, elastic_net, reg_param in settings:
            params = {
                "family": FAMILY[dataset],
                "regParam": reg_param,
                "elasticNetParam": elastic_net,
                "standardization": standardization,
                "fitIntercept": fit_intercept,
                "maxIter": MAX_ITER,
                "tol": TOL,
            }
            cases.append({"dataset": dataset, "weights": weights, "params": params})
    return cases


def spark_reference_session():
    """The benchmarks' one Spark session helper (local[2], quiet, no UI)."""
    from dmltk_benchmarks.cluster import spark_session

    return spark_session("dmltk-spark-reference")


def spark_frame(spark, X: np.ndarray, y: np.ndarray, weights: np.ndarray):
    """A cached ``(label, weight, features)`` DataFrame of numpy arrays."""
    from pyspark.ml.linalg import Vectors

    rows = [
        (float(label), float(weight), Vectors.dense(row.tolist()))
        for label, weight, row in zip(y, weights, X, strict=True)
    ]
    frame = spark.createDataFrame(rows, ["label", "weight", "features"]).cache()
    frame.count()
    return frame


def _spark_frame(spark, dataset: str, weights: str):
    """A cached ``(label, weight, features)`` DataFrame of a data set."""
    X, y = load_dataset(dataset)
    return spark_frame(spark, X, y, sample_weights(weights, len(y)))


def spark_features_std(frame, weighted: bool) -> list[float]:
    """Spark's ``Summarizer`` std of the features, the one standardization uses."""
    from pyspark.ml.stat import Summarizer

    weight = frame["weight"] if weighted else None
    summary = frame.select(
        Summarizer.metrics("std").summary(frame["features"], weight).alias("s")
    )
    return summary.first()["s"]["std"].toArray().tolist()


def fit_spark(frame, case: dict) -> dict:
    """Fit Spark's LogisticRegression for one case and record its result.

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        Columns ``label``, ``weight`` and ``features``.
    case : dict
        One entry of :func:`reference_cases`.

    Returns
    -------
    dict
        The case with ``coefficientMatrix`` (list of rows), ``interceptVector``,
        ``n_iterations`` (``summary.totalIterations``),
        ``objective_history_length`` and ``objective``.
    """
    from pyspark.ml.classification import LogisticRegression

    params = dict(case["params"])
    if case["weights"] != "none":
        params["weightCol"] = "weight"
    model = LogisticRegression(**params).fit(frame)
    history = model.summary.objectiveHistory
    return {
        **case,
        "params": params,
        "coefficientMatrix": model.coefficientMatrix.toArray().tolist(),
        "interceptVector": model.interceptVector.toArray().tolist(),
        "n_iterations": int(model.summary.totalIterations),
        "objective_history_length": len(history),
        "objective": float(history[-1]),
    }


def generate_reference() -> dict:
    """Run Spark on every case.

    Returns
    -------
    dict
        ``versions``, ``features_std`` (per data set and weights rule) and
        ``cases`` (the results of :func:`fit_spark`).
    """
    import pyspark

    spark = spark_reference_session()
    try:
        versions = {
            "pyspark": pyspark.__version__,
            "spark": spark.version,
            "java": spark.sparkContext._jvm.System.getProperty("java.version"),
        }
        features_std, results = {}, []
        cases = reference_cases()
        for dataset, weights in DATA_SETTINGS:
            frame = _spark_frame(spark, dataset, weights)
            features_std[f"{dataset}|{weights}"] = spark_features_std(
                frame, weighted=weights != "none"
            )
            for case in cases:
                if (case["dataset"], case["weights"]) == (dataset, weights):
                    results.append(fit_spark(frame, case))
                    print(_describe(results[-1]), flush=True)
            frame.unpersist()
    finally:
        spark.stop()
    return {"versions": versions, "features_std": features_std, "cases": results}


def _describe(result: dict) -> str:
    params = result["params"]
    coefficients = np.asarray(result["coefficientMatrix"])
    return (
        f"{result['dataset']:<13} w={result['weights']:<11} "
        f"std={params['standardization']!s:<5} "
        f"int={params['fitIntercept']!s:<5} reg={params['regParam']:<5} "
        f"enet={params['elasticNetParam']:<4} iter={result['n_iterations']:>5} "
        f"zeros={int((coefficients == 0).sum())}/{coefficients.size} "
        f"objective={result['objective']:.12g}"
    )


def _compact_number_lists(text: str) -> str:
    # json.dumps(indent=...) puts every number on its own line; a list of
    # numbers on one line keeps the file short and readable.
    pattern = re.compile(r"\[\s*([-+0-9.eE]+(?:,\s*[-+0-9.eE]+)*)\s*\]")
    return pattern.sub(
        lambda m: "[" + ", ".join(n.strip() for n in m.group(1).split(",")) + "]", text
    )


def write_json_atomically(payload: dict, path: Path) -> None:
    """Write ``payload`` as JSON to ``path`` through a temporary file and os.replace.

    Parameters
    ----------
    payload : dict
        JSON-serialisable content.
    path : Path
        The destination; its directory is created if missing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _compact_number_lists(json.dumps(payload, indent=1)) + "\n"
    if json.loads(text) != payload:
        raise RuntimeError("the compacted JSON does not read back as the payload")
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        # mkstemp creates the file readable by its owner only.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# --- Independent check: scipy on the translated objective --------------------


def weighted_std(X: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The unbiased weighted std of each column, as dmltk's README defines it.

    ``sqrt((sum s x^2 - S mean^2) / (S - sum s^2 / S))``, ``S = sum s``.
    """
    total = weights.sum()
    mean = weights @ X / total
    variance = (weights @ X**2 - total * mean**2) / (total - weights @ weights / total)
    return np.sqrt(np.maximum(variance, 0.0))


@dataclass
class TranslatedProblem:
    """dmltk's objective for a Spark case, divided by ``C S``, in scaled columns.

    The variables are ``U = sigma * w`` (d, K) for the columns
    ``Z = (X - mean) / sigma`` (centred only with an intercept, which absorbs
    the centring) and the intercepts ``b`` (K,). The objective is
    ``sum_i s_i logloss_i / S + sum l2/2 U^2 + sum l1 |U|``.
    """

    Z: np.ndarray
    Y: np.ndarray  # (n, K): one-hot, or the 0/1 label when binomial (K = 1)
    weights: np.ndarray
    l2: np.ndarray  # (d, 1): per-row L2 strength
    l1: np.ndarray  # (d, 1): per-row L1 strength
    sigma: np.ndarray
    mean: np.ndarray
    fit_intercept: bool

    @property
    def shape(self) -> tuple[int, int]:
        return self.Z.shape[1], self.Y.shape[1]

    def probabilities(self, U, b):
        """Class probabilities (n, K) and the loss per row."""
        margins = self.Z @ U + b
        if U.shape[1] == 1:  # binomial: the margin is class 1's log-odds
            log_norm = np.logaddexp(0.0, margins)
        else:
            top = margins.max(axis=1, keepdims=True)
            log_norm = top + np.log(np.exp(margins - top).sum(axis=1, keepdims=True))
        row_loss = log_norm[:, 0] - (margins * self.Y).sum(axis=1)
        return np.exp(margins - log_norm), row_loss

    def value_and_gradient(self, U, b):
        """The objective's smooth part and its gradient in U and b."""
        P, row_loss = self.probabilities(U, b)
        total = self.weights.sum()
        residual = (P - self.Y) * self.weights[:, None] / total
        value = self.weights @ row_loss / total + 0.5 * (self.l2 * U**2).sum()
        return value, self.Z.T @ residual + self.l2 * U, residual.sum(axis=0)

    def hessian(self, U, b):
        """The smooth part's Hessian in ``(U.ravel(), b)`` order (dense; small d)."""
        P, _ = self.probabilities(U, b)
        if U.shape[1] == 1:
            curvature = (P * (1 - P))[:, :, None]
        else:
            curvature = np.einsum("ik,km->ikm", P, np.eye(P.shape[1]))
            curvature -= np.einsum("ik,im->ikm", P, P)
        A = np.hstack([self.Z, np.ones((len(self.Z), 1))])
        scaled = self.weights / self.weights.sum()
        H = np.einsum("i,ij,il,ikm->jklm", scaled, A, A, curvature)
        d, K = self.shape
        H = H.reshape((d + 1) * K, (d + 1) * K)
        H[: d * K, : d * K] += np.diag(np.repeat(self.l2[:, 0], K))
        return H


def translate(case: dict) -> TranslatedProblem:
    """dmltk's objective for a Spark case, under the README's translation.

    ``C = 1 / (regParam S)``, ``l1_ratio = elasticNetParam``; the penalty
    ``(1 - l1_ratio)/2 ||beta||^2 + l1_ratio ||beta||_1`` is on ``beta = sigma
    w`` with standardization, on ``w`` without (sigma: :func:`weighted_std`).
    Divided by ``C S`` and written in ``U = sigma w``, the L2 strength of row
    j is ``(1 - l1_ratio)/(C S) * scale_j^2`` and the L1 strength
    ``l1_ratio/(C S) * scale_j``, ``scale_j = 1`` with standardization and
    ``1 / sigma_j`` without.
    """
    params = case["params"]
    X, y = load_dataset(case["dataset"])
    weights = sample_weights(case["weights"], len(y))
    total = weights.sum()
    C = 1.0 / (params["regParam"] * total)
    l1_ratio = params["elasticNetParam"]
    sigma = weighted_std(X, weights)
    scale = np.ones_like(sigma) if params["standardization"] else 1.0 / sigma
    fit_intercept = params["fitIntercept"]
    mean = weights @ X / total if fit_intercept else np.zeros(X.shape[1])
    n_sets = 1 if params["family"] == "binomial" else int(y.max()) + 1
    labels = np.arange(n_sets) if n_sets > 1 else np.array([1])
    return TranslatedProblem(
        Z=(X - mean) / sigma,
        Y=(y[:, None] == labels).astype(float),
        weights=weights,
        l2=((1 - l1_ratio) / (C * total) * scale**2)[:, None],
        l1=(l1_ratio / (C * total) * scale)[:, None],
        sigma=sigma,
        mean=mean,
        fit_intercept=fit_intercept,
    )


def _minimise_split(problem: TranslatedProblem):
    """L-BFGS-B on ``U = U+ - U-``, ``U+, U- >= 0``: exact zeros at the bounds."""
    from scipy.optimize import minimize

    d, K = problem.shape
    n_split = 2 * d * K
    l1 = np.broadcast_to(problem.l1, (d, K))

    def unpack(theta):
        U = theta[: d * K].reshape(d, K) - theta[d * K : n_split].reshape(d, K)
        return U, theta[n_split:] if problem.fit_intercept else np.zeros(K)

    def objective(theta):
        U, b = unpack(theta)
        value, grad_U, grad_b = problem.value_and_gradient(U, b)
        value += (l1 * theta[: d * K].reshape(d, K)).sum()
        value += (l1 * theta[d * K : n_split].reshape(d, K)).sum()
        parts = [(grad_U + l1).ravel(), (l1 - grad_U).ravel()]
        return value, np.concatenate(parts + [grad_b] * problem.fit_intercept)

    size = n_split + K * problem.fit_intercept
    result = minimize(
        objective,
        np.zeros(size),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0, None)] * n_split + [(None, None)] * (size - n_split),
        options={"maxiter": 100000, "maxfun": 200000, "ftol": 0, "gtol": 1e-14},
    )
    return unpack(result.x)


def _newton_polish(problem: TranslatedProblem, U, b, steps: int = 20):
    """Newton on the nonzero coefficients, signs fixed, from L-BFGS-B's point.

    L-BFGS-B stalls near 1e-7 on the ill-conditioned cases (no
    standardization: L2 strengths differ by 1e9 between rows); with the zero
    set right, the remaining problem is smooth and Newton reaches machine
    precision. ``lstsq`` because the multinomial intercepts have one free
    direction (adding a constant to all of them).
    """
    d, K = problem.shape
    support = np.concatenate([(U != 0).ravel(), np.full(K, problem.fit_intercept)])
    sign = np.sign(U)

    def total_value(U, b):
        return problem.value_and_gradient(U, b)[0] + (problem.l1 * np.abs(U)).sum()

    for _ in range(steps):
        _, grad_U, grad_b = problem.value_and_gradient(U, b)
        gradient = np.concatenate([(grad_U + problem.l1 * sign).ravel(), grad_b])
        H = problem.hessian(U, b)[np.ix_(support, support)]
        step = np.zeros(len(support))
        step[support] = np.linalg.lstsq(H, -gradient[support], rcond=None)[0]
        new_U = U + step[: d * K].reshape(d, K)
        new_b = b + step[d * K :]
        # Near the optimum the decrease is below the value's rounding:
        # allow that much increase, stop on a sign change or a real one.
        allowed = total_value(U, b) + 1e-15 * abs(total_value(U, b))
        if np.any(np.sign(new_U) != sign) or total_value(new_U, new_b) > allowed:
            break
        U, b = new_U, new_b
    return U, b


def _kkt_violation(problem: TranslatedProblem, U, b) -> float:
    """The largest violation of the optimality conditions (subgradient)."""
    _, grad_U, grad_b = problem.value_and_gradient(U, b)
    violation = np.where(
        U != 0,
        np.abs(grad_U + problem.l1 * np.sign(U)),
        np.maximum(np.abs(grad_U) - problem.l1, 0.0),
    )
    intercept_violation = np.abs(grad_b).max() if problem.fit_intercept else 0.0
    return float(max(violation.max(), intercept_violation))


def solve_translated(case: dict) -> dict:
    """Minimise dmltk's objective for a Spark case with scipy, not with dmltk.

    Parameters
    ----------
    case : dict
        A case of the reference file (``dataset``, ``weights``, ``params``).

    Returns
    -------
    dict
        ``coef`` (K, d) in original units, ``intercept`` (K,) (centred when
        multinomial, as Spark reports it), ``objective`` (divided by ``C S``:
        Spark's scale), ``kkt`` (largest violation of the optimality
        conditions) and ``sigma``.
    """
    problem = translate(case)
    U, b = _newton_polish(problem, *_minimise_split(problem))
    coef = (U / problem.sigma[:, None]).T
    intercept = b - problem.mean @ (U / problem.sigma[:, None])
    if len(intercept) > 1 and problem.fit_intercept:
        intercept = intercept - intercept.mean()
    value = problem.value_and_gradient(U, b)[0] + (problem.l1 * np.abs(U)).sum()
    return {
        "coef": coef,
        "intercept": intercept,
        "objective": float(value),
        "kkt": _kkt_violation(problem, U, b),
        "sigma": problem.sigma,
    }


def _objective_at(case: dict, coef: np.ndarray, intercept: np.ndarray) -> float:
    """The translated objective divided by C S at given coefficients."""
    problem = translate(case)
    U = coef.T * problem.sigma[:, None]
    b = intercept + problem.mean @ coef.T
    value = problem.value_and_gradient(U, b)[0] + (problem.l1 * np.abs(U)).sum()
    return float(value)


def check_reference(payload: dict) -> float:
    """Compare every stored Spark case with :func:`solve_translated`; print a table.

    Parameters
    ----------
    payload : dict
        The content of the reference file.

    Returns
    -------
    float
        The largest relative coefficient difference over all cases, in
        standardized units: ``max |sigma (w_spark - w_check)| / max |sigma
        w_check|``.
    """
    print(
        "case                                  iter  zeros S/chk  "
        "rel.coef(std units)  rel.coef(elementwise)  intercept  "
        "objective rel.diff  Spark-objective check  KKT"
    )
    worst = 0.0
    for result in payload["cases"]:
        check = solve_translated(result)
        spark_coef = np.asarray(result["coefficientMatrix"])
        spark_intercept = np.asarray(result["interceptVector"])
        sigma = check["sigma"]
        scaled_check = check["coef"] * sigma
        scaled_diff = np.abs((spark_coef - check["coef"]) * sigma).max()
        relative = scaled_diff / np.abs(scaled_check).max()
        nonzero = check["coef"] != 0
        elementwise = (
            np.abs(spark_coef - check["coef"])[nonzero] / np.abs(check["coef"])[nonzero]
        ).max()
        intercept_diff = np.abs(spark_intercept - check["intercept"]).max(initial=0.0)
        objective_diff = (result["objective"] - check["objective"]) / check["objective"]
        # Spark's reported objective against the translated objective
        # evaluated at Spark's own coefficients: tests the objective (and
        # sigma) without depending on where either optimiser stopped.
        at_spark = _objective_at(result, spark_coef, spark_intercept)
        reported_diff = (result["objective"] - at_spark) / at_spark
        worst = max(worst, relative)
        params = result["params"]
        label = (
            f"{result['dataset'][:6]}{'-w' if result['weights'] != 'none' else ''} "
            f"std={params['standardization']:d} int={params['fitIntercept']:d} "
            f"reg={params['regParam']} a={params['elasticNetParam']}"
        )
        print(
            f"{label:<37} {result['n_iterations']:>5}  "
            f"{int((spark_coef == 0).sum()):>3}/{int((~nonzero).sum()):<3}     "
            f"{relative:>10.2e}           {elementwise:>10.2e}          "
            f"{intercept_diff:>8.1e}   {objective_diff:>10.2e}      "
            f"{reported_diff:>10.2e}      {check['kkt']:.0e}",
            flush=True,
        )
    print(f"largest relative coefficient difference (std units): {worst:.2e}")
    return worst


def reference_main(
    description: str, generate, check, default_output: Path, checked_with: str
) -> None:
    """The command line of a reference script: write ``generate()``'s
    payload to ``--output`` atomically, or with ``--check`` run ``check``
    on the existing file (``checked_with`` says how, for ``--help``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--output",
        type=Path,
        default=default_output,
        help="the JSON file to write (or to read with --check)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"check the existing file with {checked_with} instead of running Spark",
    )
    args = parser.parse_args()
    if args.check:
        check(json.loads(args.output.read_text()))
        return
    payload = generate()
    write_json_atomically(payload, args.output)
    print(
        f"wrote {len(payload['cases'])} cases ({payload['versions']}) "
        f"to {args.output} ({args.output.stat().st_size} bytes)"
    )


def main() -> None:
    """Generate the reference file, or check it with ``--check``."""
    reference_main(__doc__.splitlines()[0], generate_reference, check_reference,
                   DEFAULT_OUTPUT, "scipy")  # fmt: skip


if __name__ == "__main__":
    main()
