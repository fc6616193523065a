"""The regression families and estimators: block math against numpy and
finite differences, estimators against scikit-learn's objectives, and the
same fit on every layout of a real cluster."""

import warnings

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
import sklearn.linear_model as sk
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import d2_tweedie_score

import dmltk
from dmltk import _loss
from dmltk._loss import _kernels

FAMILIES = {
    "squared": _loss.regression_family(0.0),
    "normal-log": _loss.regression_family(0.0, "log"),
    "poisson": _loss.POISSON,
    "tweedie-1.5": _loss.regression_family(1.5),
    "gamma": _loss.GAMMA,
    "tweedie-3": _loss.regression_family(3.0),
}


def half_loss(family, z, y):
    """scikit-learn's half losses (sklearn._loss), written out."""
    p = family.power
    if family.link == "identity":
        return 0.5 * (z - y) ** 2
    if p == 1:
        return np.exp(z) - y * z
    if p == 2:
        return z + y * np.exp(-z)
    return np.exp((2 - p) * z) / (2 - p) - y * np.exp((1 - p) * z) / (1 - p)


def block_problem(family, sparse, dtype, weighted, n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.6)
    X = X.astype(dtype)
    z = 0.3 * X.astype(float) @ rng.standard_normal(d)
    y = rng.gamma(2.0, np.exp(z) / 2.0) if family.power > 0 else z + rng.normal(size=n)
    targets = np.column_stack([y, rng.random(n) * 2]) if weighted else y
    coef = 0.2 * rng.standard_normal(d + 1)
    return (sp.csr_matrix(X) if sparse else X), targets, coef


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize(
    "sparse, dtype, weighted",
    [(False, np.float64, False), (True, np.float32, True), (False, np.float32, True)],
)
def test_family_blocks_match_numpy_and_finite_differences(
    name, sparse, dtype, weighted
):
    family = FAMILIES[name]
    X, targets, coef = block_problem(family, sparse, dtype, weighted)
    dense = X.toarray() if sparse else X
    dense = dense.astype(np.float64)
    y, s = (
        (targets[:, 0], targets[:, 1]) if weighted else (targets, np.ones(len(targets)))
    )

    def reference(c):
        z = dense @ c[:-1] + c[-1]
        return float(s @ half_loss(family, z, y))

    packed = family.loss_gradient_block(X, targets, coef, True)
    assert packed[0] == pytest.approx(reference(coef), rel=1e-12)
    step = 1e-6
    numeric = [
        (reference(coef + step * e) - reference(coef - step * e)) / (2 * step)
        for e in np.eye(coef.size)
    ]
    scale = np.abs(numeric).max()
    np.testing.assert_allclose(packed[1:], numeric, rtol=1e-6, atol=1e-7 * scale)

    direction = np.random.default_rng(1).standard_normal(coef.size)
    product = family.hessian_product_block(
        X, targets, np.stack([coef, direction]), True
    )
    gradient = lambda c: family.loss_gradient_block(X, targets, c, True)[1:]  # noqa: E731
    numeric_hv = (
        gradient(coef + step * direction) - gradient(coef - step * direction)
    ) / (2 * step)
    scale = np.abs(numeric_hv).max()
    np.testing.assert_allclose(product[1:], numeric_hv, rtol=1e-5, atol=1e-6 * scale)

    # The column layouts' path: summed margins, then residual, then X.T r.
    weights, intercept = _loss.split_coef(coef, X.shape[1], True)
    scalars, residual = family.loss_residual(
        _loss.margins_block(X, weights), targets, intercept
    )
    np.testing.assert_allclose(
        np.concatenate(
            [[scalars[0]], _loss.gradient_block(X, (scalars, residual)), scalars[1:]]
        ),
        packed,
        rtol=1e-12,
    )
    stacked, intercepts = _loss.stacked_weights(coef, direction, X.shape[1], True)
    h_scalars, t = family.hessian_residual(
        _loss.margins_block(X, stacked), targets, intercepts
    )
    np.testing.assert_allclose(
        np.concatenate([_loss.transpose_product(X, t), h_scalars[1:]]),
        product[1:],
        rtol=1e-12,
    )


def test_kernel_codes_agree_with_the_kernels():
    assert (_loss.SQUARED_ERROR.code, _loss.POISSON.code, _loss.GAMMA.code) == (
        _kernels.SQUARED_ERROR,
        _kernels.POISSON,
        _kernels.GAMMA,
    )
    assert _loss.regression_family(1.5).code == _kernels.TWEEDIE


@pytest.mark.parametrize(
    "power, link, match",
    [(0.5, "auto", r"power=0.5 is not allowed"), (1.5, "identity", r"power=0 only")],
)
def test_invalid_power_or_link_is_refused(power, link, match):
    with pytest.raises(ValueError, match=match):
        dmltk.TweedieRegressor(power=power, link=link).fit([[0.0], [1.0]], [1.0, 2.0])


# ------------------------------------------------- against scikit-learn
@pytest.fixture(scope="module")
def diabetes():
    return load_diabetes(return_X_y=True)


def squared_objective(X, y, w, b, l2, l1, s=None):
    s = np.ones(len(y)) if s is None else s
    r = X @ w + b - y
    return 0.5 * (s @ (r * r)) / s.sum() + 0.5 * l2 * (w @ w) + l1 * np.abs(w).sum()


def glm_objective(family, X, y, w, b, alpha, s=None):
    s = np.ones(len(y)) if s is None else s
    return (s @ half_loss(family, X @ w + b, y)) / s.sum() + 0.5 * alpha * (w @ w)


TIGHT = {"tol": 1e-10}
SKLEARN_TIGHT = {"tol": 1e-12, "max_iter": 100_000}
# (ours, scikit-learn's, (l2, l1) of the mean half squared error)
SQUARED_CASES = {
    "linear": (dmltk.LinearRegression(**TIGHT), sk.LinearRegression(), (0, 0)),
    "ridge": (
        dmltk.Ridge(alpha=0.5, **TIGHT),
        sk.Ridge(alpha=0.5, solver="cholesky"),
        ("n", 0.5),
    ),
    "lasso": (
        dmltk.Lasso(alpha=0.1, **TIGHT),
        sk.Lasso(alpha=0.1, **SKLEARN_TIGHT),
        (0, 0.1),
    ),
    "elasticnet": (
        dmltk.ElasticNet(alpha=0.01, l1_ratio=0.3, **TIGHT),
        sk.ElasticNet(alpha=0.01, l1_ratio=0.3, **SKLEARN_TIGHT),
        (0.007, 0.003),
    ),
    "lasso-positive": (
        dmltk.Lasso(alpha=0.1, positive=True, **TIGHT),
        sk.Lasso(alpha=0.1, positive=True, **SKLEARN_TIGHT),
        (0, 0.1),
    ),
    "linear-positive": (
        dmltk.LinearRegression(positive=True, **TIGHT),
        sk.LinearRegression(positive=True),
        (0, 0),
    ),
}


@pytest.mark.parametrize("case", list(SQUARED_CASES))
def test_squared_error_estimators_reach_sklearns_objective(diabetes, case):
    """On the threaded scheduler: the same objective as scikit-learn's to
    1e-8 relative (both at tight tolerances; the optimum is unique, and an
    objective 1e-8 above it is what tol=1e-10 on the gradient allows at
    this conditioning)."""
    ours, theirs, (l2, l1) = SQUARED_CASES[case]
    X, y = diabetes
    if l2 == "n":  # Ridge: alpha / n on the mean, alpha on the sum
        l2, l1 = l1 / len(y), 0.0
    with dask.config.set(scheduler="threads"):
        ours.fit(X, y)
    theirs.fit(X, y)
    mine = squared_objective(X, y, ours.coef_, ours.intercept_, l2, l1)
    reference = squared_objective(X, y, theirs.coef_, theirs.intercept_, l2, l1)
    assert mine <= reference * (1 + 1e-8)
    assert mine == pytest.approx(reference, rel=1e-8)
    if "positive" in case:
        assert ours.coef_.min() >= 0 and (ours.coef_ == 0).any()


GLM_CASES = {
    "poisson": (dmltk.PoissonRegressor, sk.PoissonRegressor, {}),
    "gamma": (dmltk.GammaRegressor, sk.GammaRegressor, {}),
    "tweedie-1.5": (dmltk.TweedieRegressor, sk.TweedieRegressor, {"power": 1.5}),
    "tweedie-3": (dmltk.TweedieRegressor, sk.TweedieRegressor, {"power": 3.0}),
    "normal-log": (
        dmltk.TweedieRegressor,
        sk.TweedieRegressor,
        {"power": 0.0, "link": "log"},
    ),
}


@pytest.mark.parametrize("case", list(GLM_CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_glm_regressors_reach_sklearns_objective(diabetes, case, weighted):
    ours_class, theirs_class, options = GLM_CASES[case]
    X, y = diabetes
    if ours_class is dmltk.PoissonRegressor:
        y = np.round(y / 50.0)  # counts
    s = (
        np.random.default_rng(0).integers(0, 4, len(y)).astype(float)
        if weighted
        else None
    )
    ours = ours_class(alpha=0.01, max_iter=1000, **options, **TIGHT)
    theirs = theirs_class(alpha=0.01, **options, **SKLEARN_TIGHT)
    with dask.config.set(scheduler="threads"):
        ours.fit(X, y, sample_weight=s)
    theirs.fit(X, y, sample_weight=s)
    family = ours._family()
    mine = glm_objective(family, X, y, ours.coef_, ours.intercept_, 0.01, s)
    reference = glm_objective(family, X, y, theirs.coef_, theirs.intercept_, 0.01, s)
    assert mine == pytest.approx(reference, rel=1e-8)
    # score is D^2 of the family's deviance, as scikit-learn's.
    score = ours.score(X, y, sample_weight=s)
    expected = d2_tweedie_score(y, ours.predict(X), sample_weight=s, power=family.power)
    assert score == pytest.approx(expected, rel=1e-12)
    assert score == pytest.approx(theirs.score(X, y, sample_weight=s), abs=1e-5)


def test_standardize_penalises_standardised_coefficients(diabetes):
    """standardize=True is scikit-learn's fit on X divided by its (unbiased)
    column standard deviations, with coef_ divided back."""
    X, y = diabetes
    std = X.std(axis=0, ddof=1)
    theirs = sk.PoissonRegressor(alpha=0.05, **SKLEARN_TIGHT).fit(
        X / std, np.round(y / 50)
    )
    with dask.config.set(scheduler="threads"):
        ours = dmltk.PoissonRegressor(alpha=0.05, standardize=True, **TIGHT)
        ours.fit(X, np.round(y / 50))
    np.testing.assert_allclose(ours.coef_, theirs.coef_ / std, rtol=1e-6, atol=1e-8)
    assert ours.intercept_ == pytest.approx(theirs.intercept_, rel=1e-7)


def test_l1_ratio_gives_glm_regressors_sparse_coefficients(diabetes):
    X, y = diabetes
    with dask.config.set(scheduler="threads"):
        model = dmltk.GammaRegressor(alpha=0.003, l1_ratio=1.0, tol=1e-8).fit(X, y)
        with pytest.raises(ValueError, match=r"solver='newton' handles smooth"):
            dmltk.GammaRegressor(l1_ratio=0.5, solver="newton").fit(X, y)
    assert model.solver_ == "owlqn" and 0 < (model.coef_ == 0).sum() < X.shape[1]


# -------------------------------------------------------- on the cluster
def layouts(X):
    n, d = X.shape
    return {
        "rows": X.rechunk((n // 4 + 1, d)),
        "columns": X.rechunk((n, d // 2 + 1)),
        "blocks": X.rechunk((n // 2 + 1, d // 2 + 1)),
    }


def poisson_problem(n=900, d=6, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.poisson(np.exp(0.3 * X @ rng.standard_normal(d) + 0.5)).astype(float)
    return X, y, rng.integers(0, 3, n).astype(float)


@pytest.mark.parametrize("layout", ["rows", "columns", "blocks"])
def test_every_layout_gives_the_in_memory_fit(client, layout):
    """Poisson with sample weights, float32 CSR blocks on the rows layout
    and dense float64 elsewhere, elastic net and Newton on some: the same
    objective as the fit of the same data in memory."""
    X, y, s = poisson_problem()
    options = {"alpha": 0.02, "tol": 1e-10, "max_iter": 500}
    if layout == "rows":
        X = X.astype(np.float32)
        Xd = da.from_array(X, chunks=(250, 6)).map_blocks(sp.csr_matrix)
        options["l1_ratio"] = 0.5
    else:
        Xd = layouts(da.from_array(X))[layout]
        options["solver"] = "newton" if layout == "columns" else "lbfgs"
    model = dmltk.PoissonRegressor(**options)
    yd = da.from_array(y, chunks=Xd.chunks[0])
    model.fit(Xd, yd, sample_weight=s)
    with dask.config.set(scheduler="threads"):
        reference = dmltk.PoissonRegressor(**options).fit(X, y, sample_weight=s)
    assert model.fit_stats_["layout"] == layout
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-6, atol=1e-7)
    predicted = model.predict(Xd)
    assert isinstance(predicted, da.Array)
    np.testing.assert_allclose(predicted.compute(), reference.predict(X), rtol=1e-6)
    if layout == "blocks":  # D² of the Poisson deviance, reduced on the workers
        assert model.score(Xd, yd, sample_weight=s) == pytest.approx(
            reference.score(X, y, sample_weight=s), rel=1e-6
        )


def test_warm_start_resumes_from_the_previous_fit(diabetes):
    X, y = diabetes
    with dask.config.set(scheduler="threads"):
        model = dmltk.Ridge(alpha=0.1, tol=1e-8, solver="lbfgs", warm_start=True)
        model.fit(X, y)
        first = model.coef_.copy()
        model.fit(X, y)
    assert model.n_iter_ <= 1
    np.testing.assert_allclose(model.coef_, first, rtol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
def test_normal_equations_solve_ridge_in_one_pass(client, diabetes, sparse):
    """solver="auto" on the rows layout: one pass sums the normal equations
    (float32 CSR blocks too), and the solve is scikit-learn's Cholesky ridge
    to 1e-10 relative; with standardize, its fit on X / std."""
    X, y = diabetes
    s = np.random.default_rng(2).integers(1, 4, len(y)).astype(float)
    Xd = da.from_array(X.astype(np.float32) if sparse else X, chunks=(100, 10))
    if sparse:
        Xd = Xd.map_blocks(sp.csr_matrix)
        X = X.astype(np.float32).astype(np.float64)
    yd = da.from_array(y, chunks=100)
    model = dmltk.Ridge(alpha=0.5).fit(Xd, yd, sample_weight=s)
    assert model.solver_ == "normal" and model.fit_stats_["evaluations"] == 1
    theirs = sk.Ridge(alpha=0.5, solver="cholesky").fit(X, y, sample_weight=s)
    mine = squared_objective(X, y, model.coef_, model.intercept_, 0.5 / s.sum(), 0, s)
    reference = squared_objective(
        X, y, theirs.coef_, theirs.intercept_, 0.5 / s.sum(), 0, s
    )
    assert mine == pytest.approx(reference, rel=1e-10)
    std = X.std(axis=0, ddof=1)
    scaled = dmltk.Ridge(alpha=0.5, standardize=True).fit(Xd, yd)
    theirs = sk.Ridge(alpha=0.5, solver="cholesky").fit(X / std, y)
    np.testing.assert_allclose(scaled.coef_, theirs.coef_ / std, rtol=1e-8)
    # Collinear columns: scikit-learn's least-norm solution.
    twice = np.column_stack([X, X[:, 0]])
    ours = dmltk.LinearRegression().fit(da.from_array(twice, chunks=(100, 11)), yd)
    np.testing.assert_allclose(
        ours.coef_, sk.LinearRegression().fit(twice, y).coef_, rtol=1e-7, atol=1e-6
    )
    # Column blocks hold no whole rows: "auto" iterates there (two
    # iterations show which solver ran).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        columns = dmltk.LinearRegression(max_iter=2).fit(
            Xd.rechunk((442, 5)), yd.rechunk(442)
        )
    assert columns.solver_ == "lbfgs"
    with pytest.raises(ValueError, match=r"solver='normal' solves the squared error"):
        dmltk.ElasticNet(solver="normal").fit(X, y)


def test_regressors_refuse_targets_outside_their_family(client):
    X, y, _ = poisson_problem(n=200)
    Xd, yd = da.from_array(X, chunks=(50, 6)), da.from_array(y, chunks=50)
    with pytest.raises(ValueError, match=r"negative.*Poisson.*smallest is -1"):
        dmltk.PoissonRegressor().fit(Xd, yd - 1.0)
    with pytest.raises(ValueError, match=r"y > 0, the smallest is 0"):
        dmltk.GammaRegressor().fit(X, y * 0)
    with pytest.raises(
        ValueError, match=r"y contains NaN or infinity, in row block\(s\) \[2\]"
    ):
        dmltk.Ridge().fit(Xd, da.where(da.arange(200, chunks=50) == 120, np.nan, yd))
    with pytest.raises(ValueError, match=r"y must be numeric"):
        dmltk.Ridge().fit(Xd, yd.astype(str))
    with pytest.raises(ValueError, match=r"X has 200 rows, y has 150"):
        dmltk.Lasso().fit(Xd, yd[:150])


@pytest.mark.parametrize(
    "model",
    [
        dmltk.LinearRegression(),
        dmltk.Ridge(alpha=2.0),
        dmltk.Lasso(alpha=0.01),
        dmltk.ElasticNet(alpha=0.01, l1_ratio=0.2),
        dmltk.PoissonRegressor(alpha=0.1),
        dmltk.GammaRegressor(l1_ratio=0.5),
        dmltk.TweedieRegressor(power=1.5, link="log"),
    ],
    ids=lambda model: type(model).__name__,
)
def test_model_files_hold_every_regressor(diabetes, tmp_path, model):
    X, y = diabetes
    with dask.config.set(scheduler="threads"):
        model.fit(X, y)
    dmltk.save(model, tmp_path / "model.dmltk")
    loaded = dmltk.load(tmp_path / "model.dmltk")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert isinstance(loaded.intercept_, float) and loaded.n_iter_ == model.n_iter_
