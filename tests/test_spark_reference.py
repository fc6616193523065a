"""dmltk against coefficients Spark MLlib fitted (tests/data/spark_reference.json).

The reference values were produced by ``scripts/spark_reference.py`` (pyspark
4.3, local[2]) on scikit-learn's breast_cancer (raw, unscaled) and iris. Each
case is fitted here under the README's translation of Spark's parameters:
``C = 1 / (regParam * S)``, ``l1_ratio = elasticNetParam``,
``standardize = standardization``, ``fit_intercept = fitIntercept``.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris

from dmltk import LogisticRegression

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "spark_reference.json").read_text()
)
WEIGHT_RULES = {
    "none": lambda n: np.ones(n),
    "1 + (i % 3)": lambda n: 1.0 + np.arange(n) % 3,
}


def case_id(case):
    p = case["params"]
    return (
        f"{case['dataset']}-w={case['weights']}-reg={p['regParam']}-"
        f"en={p['elasticNetParam']}-std={p['standardization']}-b={p['fitIntercept']}"
    )


def spark_objective(X, y, weights, coef, intercept, params, std):
    """Spark's objective: mean weighted log-loss + regParam * ((1 - a)/2
    |beta|^2 + a |beta|_1), beta the coefficients of standardised columns
    when standardization is on, else the coefficients themselves."""
    z = X @ coef.T + intercept
    if z.shape[1] == 1:
        z = np.column_stack([np.zeros(len(z)), z[:, 0]])
    top = z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
    loss = float(weights @ (lse - z[np.arange(len(y)), y])) / weights.sum()
    beta = coef * std if params["standardization"] else coef
    alpha = params["elasticNetParam"]
    penalty = 0.5 * (1 - alpha) * np.sum(beta * beta) + alpha * np.abs(beta).sum()
    return loss + params["regParam"] * penalty


@pytest.mark.parametrize("case", REFERENCE["cases"], ids=case_id)
def test_translated_parameters_reproduce_spark(case):
    loader = {"breast_cancer": load_breast_cancer, "iris": load_iris}[case["dataset"]]
    X, y = loader(return_X_y=True)
    weights = WEIGHT_RULES[case["weights"]](len(y))
    params = case["params"]
    model = LogisticRegression(
        C=1.0 / (params["regParam"] * weights.sum()),
        l1_ratio=params["elasticNetParam"],
        standardize=params["standardization"],
        fit_intercept=params["fitIntercept"],
        solver="auto",
        tol=1e-10,
        max_iter=20_000,
    ).fit(X, y, sample_weight=None if case["weights"] == "none" else weights)
    spark_coef = np.array(case["coefficientMatrix"])
    spark_intercept = np.array(case["interceptVector"])
    std = np.array(REFERENCE["features_std"][f"{case['dataset']}|{case['weights']}"])
    ours = spark_objective(X, y, weights, model.coef_, model.intercept_, params, std)
    theirs = spark_objective(X, y, weights, spark_coef, spark_intercept, params, std)
    # Spark's own record of its objective is the same function.
    assert theirs == pytest.approx(case["objective"], rel=1e-9)
    # The same optimum, to 1e-9 relative. scripts/spark_reference.py --check
    # finds Spark's objective at most 6.5e-11 above the exact optimum. The
    # hardest cases (L1 without an intercept: uncentred columns, 1,100 to
    # 1,700 Spark iterations) are flat near the optimum; there dmltk stops
    # up to 7e-10 above Spark, when an iteration gains under 64 eps.
    assert ours <= theirs * (1 + 1e-9)
    # Coefficients, compared where the penalty sees them (standardised units
    # when standardization is on): within 1e-3 of the largest one (Spark's
    # own distance to the exact optimum reaches 2.8e-5 of it).
    scale = std if params["standardization"] else np.ones_like(std)
    ours_beta, theirs_beta = model.coef_ * scale, spark_coef * scale
    np.testing.assert_allclose(
        ours_beta, theirs_beta, atol=1e-3 * np.abs(theirs_beta).max()
    )
    if params["elasticNetParam"] > 0:
        np.testing.assert_array_equal(model.coef_ == 0, spark_coef == 0)
    # Multinomial intercepts are defined up to a common shift; Spark centres
    # them after training (dmltk's stay centred): compare centred.
    centre = (lambda b: b - b.mean()) if len(spark_intercept) > 1 else (lambda b: b)
    np.testing.assert_allclose(
        centre(model.intercept_),
        centre(spark_intercept),
        atol=1e-3 * max(1, np.abs(spark_intercept).max()),
    )
