"""Synthetic data of the benchmark problems, the same bits wherever generated.

Block ``i`` of a problem is drawn from ``default_rng([seed, i])`` (first the
block's label noise, then its features), the generating parameters from
``default_rng([seed])``: a Dask worker, a child process and the parent all
rebuild the same block. A regression problem's targets come from a stream
of their own, ``default_rng([seed, i, 1])``, drawn from the family around the
block's true means. Imported by every Dask worker (the block functions are
pickled by reference), so its top-level imports stay light.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax

# Column scales spread over 10**[-0.1, 0.1] and means of up to half a scale
# make the Hessian a little ill-conditioned, so that L-BFGS needs about as
# many iterations as on the reference problem (scikit-learn lbfgs at
# tol=1e-6: 18 there, 20 on this one at 2,000,000 x 100; wider ranges
# quickly need hundreds); a margin of standard deviation 2 gives a Bayes
# accuracy of about 0.80.
LOG10_SCALE_RANGE = (-0.1, 0.1)
MEAN_RANGE = (-0.5, 0.5)
MARGIN_STD = 2.0
TRUE_INTERCEPT = 0.3
MULTINOMIAL_INTERCEPT_STD = 0.3
# --zero-mean: each column gains this share of its left neighbour.
NEIGHBOUR_CORRELATION = 0.3
# Regression problems: a linear predictor of standard deviation 0.5 (log-link
# means within a factor of about 3 of their median: Hessian weights that vary
# little, as on the classification problems), normal noise of standard
# deviation 0.5 for the squared error (R^2 about 0.5), Gamma targets of shape
# 2 (dispersion 0.5), Tweedie ones of dispersion 1.
REGRESSION_MARGIN_STD = 0.5
NORMAL_NOISE_STD = 0.5
GAMMA_SHAPE = 2.0
TWEEDIE_DISPERSION = 1.0


def dense_parameters(d: int, seed: int, *, classes: int = 2, zeros: float = 0.0,
                     margin_std: float = MARGIN_STD):  # fmt: skip
    """Column scales and means, true weights ``(d, K')`` and intercepts ``(K',)``.

    ``K' = 1`` for two classes (class 1's margin) or a regression's linear
    predictor, else ``classes``. Weights are drawn in standardised units, so
    that each margin has standard deviation ``margin_std``. ``zeros`` > 0
    (binary only) makes that share of the true weights exactly zero and the
    columns centred: the L1 problem.
    """
    rng = np.random.default_rng([seed])
    scales = 10.0 ** rng.uniform(*LOG10_SCALE_RANGE, d)
    outputs = 1 if classes == 2 else classes
    if zeros:
        means = np.zeros(d)
        zero_count = round(zeros * d)
        standard = rng.standard_normal((d, 1))
        standard *= margin_std / np.sqrt(max(d - zero_count, 1))
        standard[rng.permutation(d)[:zero_count]] = 0.0
        intercept = np.full(1, TRUE_INTERCEPT)
    else:
        means = rng.uniform(*MEAN_RANGE, d) * scales
        standard = rng.standard_normal((d, outputs)) * margin_std / np.sqrt(d)
        if outputs == 1:
            intercept = np.full(1, TRUE_INTERCEPT)
        else:
            intercept = rng.standard_normal(outputs) * MULTINOMIAL_INTERCEPT_STD
    weights = standard / scales[:, None]
    return {
        "scales": scales,
        "means": means,
        "weights": weights,
        "intercept": intercept - means @ weights,
    }


def centred(params: dict) -> dict:
    """``params`` with zero column means (for ``--zero-mean``)."""
    weights = params["weights"]
    shift = params["means"] @ weights
    return {**params, "means": np.zeros_like(params["means"]),
            "intercept": params["intercept"] + shift}  # fmt: skip


def fill_features(out: np.ndarray, rng, params: dict, correlate: bool) -> None:
    """Features into ``out`` (float64): scaled, shifted, optionally correlated."""
    rng.standard_normal(out=out)
    out *= params["scales"]
    out += params["means"]
    if correlate:
        # The right side is evaluated first: each column gains 0.3 of its
        # original left neighbour, not a running sum.
        out[:, 1:] += NEIGHBOUR_CORRELATION * out[:, :-1]


def labels(X: np.ndarray, noise: np.ndarray, params: dict) -> np.ndarray:
    """Labels (float64 class codes) drawn from the true model with ``noise``.

    One output: 1 where the uniform is below the logistic probability. K
    outputs: the class whose cumulative softmax interval holds the uniform.
    """
    margins = X @ params["weights"] + params["intercept"]
    if margins.shape[1] == 1:
        return (noise < expit(margins[:, 0])).astype(np.float64)
    cumulative = np.cumsum(softmax(margins, axis=1), axis=1)
    return np.sum(noise[:, None] > cumulative[:, :-1], axis=1).astype(np.float64)


def regression_targets(X: np.ndarray, rng, params: dict, power: float) -> np.ndarray:
    """Targets (float64) drawn with ``rng`` from the Tweedie family of
    ``power`` around the true means: the linear predictor ``z`` for power 0
    (plus normal noise), else ``exp(z)`` (log link).

    Power 1: Poisson counts; 2: Gamma of shape ``GAMMA_SHAPE``; in (1, 2):
    compound Poisson-Gamma of dispersion ``TWEEDIE_DISPERSION`` (a Poisson
    number of Gamma summands, exactly zero when there are none).
    """
    z = X @ params["weights"][:, 0] + params["intercept"][0]
    if power == 0:
        return z + NORMAL_NOISE_STD * rng.standard_normal(z.size)
    mu = np.exp(z)
    if power == 1:
        return rng.poisson(mu).astype(np.float64)
    if power == 2:
        return rng.gamma(GAMMA_SHAPE, mu / GAMMA_SHAPE)
    if not 1 < power < 2:
        raise ValueError(f"No generator for the Tweedie power; got power={power}.")
    phi = TWEEDIE_DISPERSION
    rate = mu ** (2 - power) / (phi * (2 - power))
    shape = (2 - power) / (power - 1)
    scale = phi * (power - 1) * mu ** (power - 1)
    counts = rng.poisson(rate)
    return rng.gamma(shape * counts, scale)  # shape 0: exactly 0


def _noise(spec: dict, index: int, rows: int):
    """The block's generator, after drawing its ``rows`` label uniforms."""
    rng = np.random.default_rng([spec["seed"], index])
    return rng, rng.random(rows)


def dense_features(spec: dict, index: int, rows: int) -> np.ndarray:
    """X of block ``index`` of a dense problem, in ``spec["dtype"]``.

    ``spec`` holds ``seed``, ``params``, ``correlate`` and ``dtype``.
    """
    rng, _ = _noise(spec, index, rows)
    X = np.empty((rows, spec["params"]["scales"].size))
    fill_features(X, rng, spec["params"], spec["correlate"])
    return X.astype(spec["dtype"], copy=False)


def dense_targets(spec: dict, index: int, X: np.ndarray) -> np.ndarray:
    """y of block ``index``, drawn from its features as stored (after any
    cast to float32), so that every system sees one consistent problem:
    class codes, or regression targets when ``spec["power"]`` is set."""
    X = X.astype(np.float64, copy=False)
    if spec.get("power") is not None:
        rng = np.random.default_rng([spec["seed"], index, 1])
        return regression_targets(X, rng, spec["params"], spec["power"])
    _, noise = _noise(spec, index, X.shape[0])
    return labels(X, noise, spec["params"])


def sparse_features(spec: dict, index: int, rows: int):
    """X (CSR) of block ``index`` of a wide sparse problem: ``spec["nnz"]``
    standard normal values a row, at random columns of ``spec["d"]``."""
    import scipy.sparse as sp

    d, nnz = spec["d"], spec["nnz"]
    rng, _ = _noise(spec, index, rows)
    columns = rng.integers(0, d, size=(rows, nnz))
    values = rng.standard_normal((rows, nnz)).astype(spec["dtype"])
    indptr = np.arange(0, rows * nnz + 1, nnz)
    X = sp.csr_matrix((values.ravel(), columns.ravel(), indptr), (rows, d))
    X.sum_duplicates()
    return X


def sparse_targets(spec: dict, index: int, X) -> np.ndarray:
    """y of a sparse block: logistic model, weights of std ``2 / sqrt(nnz)``."""
    _, noise = _noise(spec, index, X.shape[0])
    weights = np.random.default_rng([spec["seed"]]).standard_normal(spec["d"])
    margins = X @ (weights * 2.0 / np.sqrt(spec["nnz"])) + TRUE_INTERCEPT
    return (noise < expit(margins)).astype(np.float64)


# kind -> (features(spec, index, rows), targets(spec, index, X))
GENERATORS = {
    "dense": (dense_features, dense_targets),
    "sparse": (sparse_features, sparse_targets),
}


def block_features(kind: str, spec: dict, index: int, rows: int):
    """X of block ``index`` (run on a worker, or in memory)."""
    return GENERATORS[kind][0](spec, index, rows)


def block_targets(kind: str, spec: dict, index: int, X):
    """y of block ``index`` from its X, where X is: no block moves."""
    return GENERATORS[kind][1](spec, index, X)
