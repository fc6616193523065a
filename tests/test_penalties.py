"""L1 and elastic-net penalties, the Newton and OWL-QN solvers, standardisation.

Every fit is compared with scikit-learn on the same objective: saga for L1
and elastic net (its only solver for them), lbfgs otherwise. Objectives are
computed here, in float64 numpy, from each model's coefficients.
"""

import functools
import warnings
from contextlib import nullcontext

import dask
import dask.array as da
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import dmltk
from dmltk import LogisticRegression
from dmltk._testing import sklearn_objective

LOADERS = {"breast_cancer": load_breast_cancer, "iris": load_iris, "wine": load_wine}


def objective(X, y, model, C, l1_ratio, weights=None):
    """scikit-learn's objective for any number of classes:
    C * sum_i s_i loss_i + (1 - r)/2 |W|^2 + r |W|_1, intercepts unpenalised."""
    codes = np.searchsorted(model.classes_, y)
    return sklearn_objective(
        X,
        codes,
        model.coef_,
        model.intercept_,
        C,
        l1_ratio=l1_ratio,
        sample_weight=weights,
    )


@functools.cache
def standardised(name):
    X, y = LOADERS[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module", params=list(LOADERS))
def dataset(request):
    return request.param


@pytest.fixture
def engine(request, dataset):
    """Where a data set's fits run: iris (multinomial) on the real cluster's
    worker processes, the others on Dask's threads (the same graphs and
    kernels, without a TCP round trip for each of their thousands of
    evaluations at these tolerances)."""
    if dataset == "iris":
        with request.getfixturevalue("_session_client").as_current():
            yield "distributed"
    else:
        with dask.config.set(scheduler="threads"):
            yield "threads"


def saga(X, y, C, l1_ratio, sample_weight=None):
    # saga is slow to reach a tight optimum; these problems are small enough
    # for tol=1e-12 and it converges on every one of them (checked: no
    # ConvergenceWarning, which is turned into an error here).
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return SkLogisticRegression(
            C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=100_000
        ).fit(X, y, sample_weight=sample_weight)


@functools.cache
def saga_reference(name, C, l1_ratio):
    """One saga fit per data set and penalty, shared by the layouts."""
    return saga(*standardised(name), C, l1_ratio)


def as_inputs(X, y, layout):
    if layout == "numpy":
        return X, y
    n_blocks = (2, 2) if layout == "blocks" else 2
    return dmltk.partition(X, y, by=layout, n_blocks=n_blocks)


@pytest.mark.parametrize("layout", ["numpy", "rows", "columns"])
@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
def test_l1_and_elastic_net_match_saga(engine, dataset, layout, l1_ratio):
    X, y = standardised(dataset)
    C = 0.2
    ours = LogisticRegression(
        C=C, l1_ratio=l1_ratio, solver="owlqn", tol=1e-9, max_iter=5000
    ).fit(*as_inputs(X, y, layout))
    theirs = saga_reference(dataset, C, l1_ratio)
    ours_value = objective(X, y, ours, C, l1_ratio)
    theirs_value = objective(X, y, theirs, C, l1_ratio)
    # The task asks for 1e-6; both are far tighter here. Ours is never worse
    # than saga's by more than rounding.
    assert ours_value == pytest.approx(theirs_value, rel=1e-8)
    assert ours_value <= theirs_value * (1 + 1e-12)
    # Exact zeros, where saga has them; saga's non-zeros are ours too.
    zeros = ours.coef_ == 0.0
    assert zeros.any() and not zeros.all()
    np.testing.assert_array_equal(zeros, np.abs(theirs.coef_) < 1e-7)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-5)


def test_sparse_l1_on_distributed_csr_blocks_matches_saga(client):
    rng = np.random.default_rng(7)
    X = sp.random(2_000, 40, density=0.1, format="csr", random_state=rng)
    y = (X @ rng.standard_normal(40) + 0.3 * rng.logistic(size=2_000) > 0).astype(int)
    C = 0.05
    ours = LogisticRegression(C=C, l1_ratio=1.0, solver="auto", tol=1e-9).fit(
        da.from_array(X, chunks=(500, 40), asarray=False), y
    )
    assert ours.solver_ == "owlqn"
    theirs = saga(X, y, C, 1.0)
    assert objective(X, y, ours, C, 1.0) == pytest.approx(
        objective(X, y, theirs, C, 1.0), rel=1e-8
    )
    assert 0 < np.count_nonzero(ours.coef_ == 0.0) < 40
    np.testing.assert_array_equal(ours.coef_ == 0.0, np.abs(theirs.coef_) < 1e-7)


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_newton_on_sparse_blocks_matches_sklearn(client, layout):
    rng = np.random.default_rng(11)
    X = sp.random(3_000, 60, density=0.05, format="csr", random_state=rng)
    y = (X @ rng.standard_normal(60) + 0.5 * rng.logistic(size=3_000) > 0).astype(int)
    chunks = (750, 60) if layout == "rows" else (3_000, 20)
    ours = LogisticRegression(C=10.0, solver="newton", tol=1e-10).fit(
        da.from_array(X, chunks=chunks, asarray=False), y
    )
    assert ours.fit_stats_["layout"] == layout
    theirs = SkLogisticRegression(C=10.0, tol=1e-10, max_iter=10_000).fit(X, y)
    assert objective(X, y, ours, 10.0, 0.0) == pytest.approx(
        objective(X, y, theirs, 10.0, 0.0), rel=1e-10
    )
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-6)


# Every dataset in numpy and rows; the column layouts on iris and wine only:
# breast_cancer there (a two-phase pass per conjugate-gradient step at
# tol=1e-10) took 65 s of the suite's 15 minutes and adds no code path.
@pytest.mark.parametrize(
    ("dataset", "layout"),
    [
        (name, layout)
        for name in LOADERS
        for layout in ("numpy", "rows", "columns", "blocks")
        if name != "breast_cancer" or layout in ("numpy", "rows")
    ],
)
def test_newton_matches_lbfgs_and_sklearn(engine, dataset, layout):
    X, y = standardised(dataset)
    inputs = as_inputs(X, y, layout)
    rng = np.random.default_rng(8)
    weights = rng.uniform(0.5, 2.0, len(y))
    ours = LogisticRegression(C=2.0, solver="newton", tol=1e-10).fit(
        *inputs, sample_weight=weights
    )
    theirs = SkLogisticRegression(C=2.0, tol=1e-10, max_iter=10_000).fit(
        X, y, sample_weight=weights
    )
    assert objective(X, y, ours, 2.0, 0.0, weights) == pytest.approx(
        objective(X, y, theirs, 2.0, 0.0, weights), rel=1e-10
    )
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-6)
    assert ours.fit_stats_["hessian_products"] > 0
    # Newton's quadratic convergence: few iterations (scipy counts rejected
    # trust-region steps too).
    assert ours.n_iter_[0] < 30


def test_newton_beats_lbfgs_on_an_ill_conditioned_problem():
    # Raw breast_cancer without an intercept (so no centring helps): columns
    # differ in scale by 1e4, L-BFGS needs about 1,700 passes over the data;
    # Newton's iteration count does not depend on the scaling. (Threaded
    # scheduler: the L-BFGS side would take minutes at a cluster round trip
    # per pass.)
    X, y = load_breast_cancer(return_X_y=True)
    params = {"fit_intercept": False, "tol": 1e-5}
    newton = LogisticRegression(solver="newton", max_iter=200, **params).fit(X, y)
    passes = newton.fit_stats_["evaluations"] + newton.fit_stats_["hessian_products"]
    assert passes < 300
    # L-BFGS given five times Newton's passes is still short of the optimum.
    with pytest.warns(ConvergenceWarning):
        lbfgs = LogisticRegression(solver="lbfgs", max_iter=5 * passes, **params).fit(
            X, y
        )
    assert objective(X, y, newton, 1.0, 0.0) < objective(X, y, lbfgs, 1.0, 0.0)


@pytest.mark.parametrize("solver", ["lbfgs", "newton", "owlqn"])
def test_every_solver_warns_when_max_iter_is_hit(breast_cancer, solver):
    X, y = breast_cancer
    with pytest.warns(ConvergenceWarning, match=f"{solver} failed to converge"):
        LogisticRegression(solver=solver, max_iter=1, tol=1e-12).fit(X, y)


@pytest.mark.parametrize(("solver", "l1_ratio"), [("newton", 0.0), ("owlqn", 0.7)])
def test_warm_start_refit_converges_at_once(breast_cancer, solver, l1_ratio):
    X, y = breast_cancer
    model = LogisticRegression(
        C=0.3, solver=solver, l1_ratio=l1_ratio, warm_start=True, tol=1e-6
    ).fit(X, y)
    coef = model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_[0] <= 2
    np.testing.assert_allclose(model.coef_, coef, atol=1e-6)


def test_auto_picks_owlqn_only_for_an_l1_part(breast_cancer):
    X, y = breast_cancer
    assert LogisticRegression(solver="auto").fit(X, y).solver_ == "lbfgs"
    assert LogisticRegression(solver="auto", l1_ratio=0.1).fit(X, y).solver_ == "owlqn"
    # No penalty at all: nothing non-smooth, whatever l1_ratio says.
    model = LogisticRegression(solver="lbfgs", C=np.inf, l1_ratio=1.0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert model.fit(X, y).solver_ == "lbfgs"


# ----------------------------------------------------------- bad input
@pytest.mark.parametrize("solver", ["lbfgs", "newton"])
def test_smooth_solver_refuses_an_l1_penalty(breast_cancer, solver):
    X, y = breast_cancer
    with pytest.raises(ValueError, match=r"solver='owlqn'.*or set l1_ratio=0"):
        LogisticRegression(solver=solver, l1_ratio=0.5).fit(X, y)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"solver": "saga"}, "^(?=.*'owlqn')(?=.*'newton').*'solver' parameter"),
        ({"l1_ratio": 1.5}, r"'l1_ratio' parameter .* in the range \[0.0, 1.0\]"),
        ({"l1_ratio": -0.1}, "'l1_ratio' parameter"),
        ({"standardize": "yes"}, "'standardize' parameter"),
    ],
)
def test_bad_parameters_say_what_is_allowed(breast_cancer, params, message):
    X, y = breast_cancer
    with pytest.raises(ValueError, match=message):
        LogisticRegression(**params).fit(X, y)


# ------------------------------------------------------ standardisation
def weighted_std(X, weights):
    return np.array(
        [np.sqrt(np.cov(X[:, j], aweights=weights)) for j in range(X.shape[1])]
    )


@functools.cache
def scaled_reference(C, l1_ratio):
    """scikit-learn on raw breast_cancer divided by its weighted std."""
    X, y, weights, std = raw_with_constant_column()
    scaled = X[:, :-1] / std[:-1]
    if l1_ratio:
        return saga(scaled, y, C, l1_ratio, sample_weight=weights)
    return SkLogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(
        scaled, y, sample_weight=weights
    )


@functools.cache
def raw_with_constant_column():
    # Raw breast_cancer (scales 1e-3 to 1e3) with a constant column added.
    X, y = load_breast_cancer(return_X_y=True)
    X = np.column_stack([X, np.full(len(y), 7.0)])
    weights = 1.0 + np.arange(len(y)) % 3
    return X, y, weights, weighted_std(X, weights)


# Every solver on numpy input (on threads) and on column blocks (the
# moments and the fit on worker processes); the rows layout on the cluster
# once (numpy input is the same graph).
STANDARDIZE_CASES = [
    (solver, l1_ratio, layout)
    for solver, l1_ratio in [("lbfgs", 0.0), ("newton", 0.0), ("owlqn", 0.5)]
    for layout in ("numpy", "columns")
] + [("owlqn", 0.5, "rows")]


@pytest.mark.parametrize(("solver", "l1_ratio", "layout"), STANDARDIZE_CASES)
def test_standardize_equals_a_fit_on_scaled_columns(client, layout, solver, l1_ratio):
    X, y, weights, std = raw_with_constant_column()
    assert std[-1] == 0.0
    scaled = X[:, :-1] / std[:-1]
    C = 0.05
    model = LogisticRegression(
        C=C, l1_ratio=l1_ratio, standardize=True, solver=solver, tol=1e-9, max_iter=5000
    )
    # numpy input on Dask's threads: the rows layout is the same graph on
    # the worker processes.
    local = dask.config.set(scheduler="threads") if layout == "numpy" else nullcontext()
    with local:
        ours = model.fit(*as_inputs(X, y, layout), sample_weight=weights)
    reference = scaled_reference(C, l1_ratio)
    # Reported in original units: coef * std is the scaled fit's coefficient.
    assert ours.coef_[0, -1] == 0.0
    in_scaled_units = SkLogisticRegression()
    in_scaled_units.classes_ = ours.classes_
    in_scaled_units.coef_ = ours.coef_[:, :-1] * std[:-1]
    in_scaled_units.intercept_ = ours.intercept_
    ours_value = objective(scaled, y, in_scaled_units, C, l1_ratio, weights)
    reference_value = objective(scaled, y, reference, C, l1_ratio, weights)
    assert ours_value == pytest.approx(reference_value, rel=1e-9)
    assert ours_value <= reference_value * (1 + 1e-11)
    # The objective is flat near the optimum (C=0.05 on raw data): both
    # solvers stop where coefficients still differ by ~1e-6.
    np.testing.assert_allclose(in_scaled_units.coef_, reference.coef_, atol=1e-4)
    np.testing.assert_array_equal(
        in_scaled_units.coef_ == 0.0, np.abs(reference.coef_) < 1e-7
    )
    # The same predictions on the raw data as the scaled model on scaled data.
    np.testing.assert_allclose(
        ours.predict_proba(X)[:, 1], reference.predict_proba(scaled)[:, 1], atol=1e-5
    )


def test_standardize_is_the_default_off_and_changes_the_fit(breast_cancer):
    X, y = load_breast_cancer(return_X_y=True)
    plain = LogisticRegression(C=0.01, solver="newton").fit(X, y)
    assert LogisticRegression().standardize is False
    scaled = LogisticRegression(C=0.01, solver="newton", standardize=True).fit(X, y)
    # A different penalty (on scaled coefficients): a different optimum.
    assert np.abs(plain.coef_ - scaled.coef_).max() > 1e-3


def test_solver_coordinates_map_gradients_by_the_transpose():
    from dmltk.linear_model._base import _SolverCoordinates

    rng = np.random.default_rng(9)
    coordinates = _SolverCoordinates(n_features=4, n_outputs=3, fit_intercept=True)
    coordinates.standardise(rng.normal(size=4) * 10, np.array([0.5, 2.0, 0.0, 3.0]))
    beta, gradient = rng.normal(size=15), rng.normal(size=15)
    # <M beta, g> == <beta, M^T g>: pull_back is the adjoint of to_coef.
    assert coordinates.to_coef(beta) @ gradient == pytest.approx(
        beta @ coordinates.pull_back(gradient)
    )
    # Round trip, except the coefficients of the constant column (index 2).
    kept = np.ones(15, bool)
    kept[6:9] = False
    back = coordinates.from_coef(coordinates.to_coef(beta))
    np.testing.assert_allclose(back[kept], beta[kept], rtol=1e-12)
    assert not back[6:9].any()


@pytest.mark.parametrize(
    ("layout", "sparse", "solver"),
    [("numpy", False, "newton"), ("rows", True, "lbfgs"), ("columns", False, "newton")],
)
def test_standardize_handles_values_near_1e300(client, layout, sparse, solver):
    """Columns whose squares overflow float64 are standardised through
    scaled moments: the fit is that of the data at ordinary scale, with the
    coefficients divided by the scale (never all zeros, as when the standard
    deviations overflowed to infinity)."""
    X, y, weights, _ = raw_with_constant_column()
    X = X[:, :6]
    reference = LogisticRegression(standardize=True, tol=1e-10).fit(
        X, y, sample_weight=weights
    )
    huge = X * 1e300
    X_in = sp.csr_matrix(huge) if sparse else huge
    ours = LogisticRegression(standardize=True, solver=solver, tol=1e-10).fit(
        *as_inputs(X_in, y, layout), sample_weight=weights
    )
    np.testing.assert_allclose(ours.coef_ * 1e300, reference.coef_, rtol=1e-5)
    np.testing.assert_allclose(ours.intercept_, reference.intercept_, rtol=1e-5)


def test_newton_names_an_overflowing_hessian(client):
    X, y = load_breast_cancer(return_X_y=True)
    X_dask, y_dask = dmltk.partition(X[:, :5] * 1e300, y, by="rows", n_blocks=2)
    with pytest.raises(ValueError, match=r"Hessian product .* overflowed.*standardize"):
        LogisticRegression(solver="newton").fit(X_dask, y_dask)
