"""Block math alone, against plain numpy and finite differences."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dmltk import _blocks, _loss

from . import reference_loss


def reference_loss_gradient(X, y, coef, fit_intercept):
    """The same quantities written the plain, two-pass way."""
    d = X.shape[1]
    z = X @ coef[:d] + (coef[d] if fit_intercept else 0.0)
    loss = np.sum(np.logaddexp(0.0, z) - y * z)
    residual = 1.0 / (1.0 + np.exp(-z)) - y
    grad = [X.T @ residual]
    if fit_intercept:
        grad.append([residual.sum()])
    return np.concatenate([[loss], *grad])


def problem(n=200, d=7, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.4).astype(float)
    coef = rng.standard_normal(d + 1)
    return X, y, coef


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_two_pass_numpy(fit_intercept):
    X, y, coef = problem()
    coef = coef if fit_intercept else coef[:-1]
    got = _loss.loss_gradient_block(X, y, coef, fit_intercept)
    np.testing.assert_allclose(
        got, reference_loss_gradient(X, y, coef, fit_intercept), rtol=1e-12
    )


def _finite(dtype):
    # Values a float32 block can hold exactly, so that the reference sees the
    # same numbers in float64.
    return st.floats(-5, 5, width=32)


@st.composite
def kernel_problems(draw):
    """A random block (dense or CSR, float32 or float64), targets (weighted
    or not) and coefficients (binomial, K = 1, or multinomial, K = 3 or 4)."""
    n, d = draw(st.integers(1, 40)), draw(st.integers(1, 6))
    k = draw(st.sampled_from([1, 3, 4]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    fit_intercept, weighted, sparse = (
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.booleans()),
    )
    X = draw(arrays(dtype, (n, d), elements=_finite(dtype)))
    if sparse:
        X[draw(arrays(np.bool_, (n, d)))] = 0.0
    labels = draw(arrays(np.int64, n, elements=st.integers(0, max(k, 2) - 1)))
    targets = labels.astype(np.float64)
    if weighted:
        weights = draw(arrays(np.float64, n, elements=st.floats(0, 3)))
        targets = np.column_stack([targets, weights])
    size = (d + int(fit_intercept)) * k
    coef = draw(arrays(np.float64, size, elements=st.floats(-2, 2)))
    direction = draw(arrays(np.float64, size, elements=st.floats(-2, 2)))
    block = sp.csr_matrix(X) if sparse else X
    return block, targets, coef, direction, fit_intercept


def _sum_bound(X, targets) -> float:
    """Bound on the rounding difference between two float64 summation orders
    of the packed results: about n eps times the sum of the magnitudes of the
    terms (|x| times the weight, residuals at most 1); 1e-12 of it leaves
    room for every entry while failing on any wrong term."""
    dense = X.toarray() if sp.issparse(X) else X
    weights = targets[:, 1] if targets.ndim == 2 else np.ones(dense.shape[0])
    magnitude = (np.abs(dense.astype(np.float64)).sum(axis=1) + 10.0) @ (weights + 1)
    return 1e-12 * magnitude


def _as_float64(X):
    return X.astype(np.float64)


@settings(max_examples=60, deadline=None)
@given(problem=kernel_problems())
def test_compiled_kernels_match_the_numpy_reference(problem):
    """Loss and gradient, Hessian products and the column layouts' pieces of
    the compiled kernels against the plain numpy implementation, on float64
    copies of the same values."""
    X, targets, coef, direction, fit_intercept = problem
    X64 = _as_float64(X)
    atol = _sum_bound(X, targets)
    got = _loss.loss_gradient_block(X, targets, coef, fit_intercept)
    expected = reference_loss.loss_gradient_block(X64, targets, coef, fit_intercept)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=atol)
    both = np.stack([coef, direction])
    got = _loss.hessian_product_block(X, targets, both, fit_intercept)
    expected = reference_loss.hessian_product_block(X64, targets, both, fit_intercept)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=atol)
    weights, intercept = _loss.split_coef(coef, X.shape[1], fit_intercept)
    margins = _loss.margins_block(X, weights)
    np.testing.assert_allclose(
        margins, reference_loss.margins_block(X64, weights), rtol=1e-12, atol=atol
    )
    got = _loss.loss_residual(margins, targets, intercept)
    expected = reference_loss.loss_residual(margins, targets, intercept)
    for part, reference_part in zip(got, expected, strict=True):
        np.testing.assert_allclose(part, reference_part, rtol=1e-12, atol=atol)
    np.testing.assert_allclose(
        _loss.gradient_block(X, got),
        reference_loss.gradient_block(X64, expected),
        rtol=1e-12,
        atol=atol,
    )


def test_kernels_keep_float32_blocks_and_sum_in_float64():
    """A float32 block is read as it is (no float64 copy) and its products
    are float64: equal to the float64 computation on the same values."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((500, 9)).astype(np.float32)
    y = (rng.random(500) < 0.5).astype(np.float64)
    coef = rng.standard_normal(10)
    got = _loss.loss_gradient_block(X, y, coef, True)
    assert got.dtype == np.float64
    expected = reference_loss.loss_gradient_block(X.astype(np.float64), y, coef, True)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_sparse_block_equals_dense_block():
    X, y, coef = problem()
    X[np.abs(X) < 1.0] = 0.0
    dense = _loss.loss_gradient_block(X, y, coef, True)
    sparse = _loss.loss_gradient_block(sp.csr_matrix(X), y, coef, True)
    np.testing.assert_allclose(sparse, dense, rtol=1e-12)


def test_gradient_matches_finite_differences():
    X, y, coef = problem(n=50, d=4)
    C, n = 0.7, X.shape[0]

    def objective(w):
        packed = _loss.loss_gradient_block(X, y, w, True)
        return _loss.penalized_objective(
            packed, w, weight_sum=n, penalty=_loss.Penalty.from_C(C, n), n_weights=4
        )

    _, gradient = objective(coef)
    step = 1e-6
    numeric = [
        (objective(coef + step * e)[0] - objective(coef - step * e)[0]) / (2 * step)
        for e in np.eye(coef.size)
    ]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-9)


def test_penalty_spares_the_intercept_and_vanishes_for_infinite_C():
    coef = np.array([3.0, 4.0, 10.0])
    packed = np.zeros(4)
    value, gradient = _loss.penalized_objective(
        packed, coef, weight_sum=5, penalty=_loss.Penalty.from_C(2.0, 5), n_weights=2
    )
    assert value == pytest.approx(0.5 * 25 / (2.0 * 5))
    np.testing.assert_allclose(gradient, [3 / 10, 4 / 10, 0.0])
    value, gradient = _loss.penalized_objective(
        packed, coef, weight_sum=5, penalty=_loss.Penalty.from_C(np.inf, 5), n_weights=2
    )
    assert value == 0.0
    np.testing.assert_array_equal(gradient, 0.0)


def test_extreme_margins_stay_finite():
    X = np.array([[1000.0], [-1000.0]])
    y = np.array([0.0, 1.0])
    packed = _loss.loss_gradient_block(X, y, np.array([1.0]), False)
    assert np.all(np.isfinite(packed))
    assert packed[0] == pytest.approx(2000.0)


def test_vectorisable_exp_and_log1p_are_within_two_ulp():
    """The batch kernel's own exp and log1p (no C library call, so that a
    loop of them vectorises) against numpy's: within 2 ulp for exp over
    [-746, 0], subnormal results and the underflow to 0 included, and 1 ulp
    for log1p over [0, 1]."""
    from numba import njit

    from dmltk._loss import _kernels

    @njit(error_model="numpy")
    def both(x, exp_out, log1p_out):
        for i in range(x.shape[0]):
            exp_out[i] = _kernels._exp_nonpositive(x[i])
            log1p_out[i] = _kernels._log1p_unit_vectorisable(exp_out[i])

    rng = np.random.default_rng(0)
    edges = [0.0, -0.0, -1e-320, -1e-17, -0.34657359, -708.4, -744.4, -745.1,
             -745.2, -800.0, -np.inf]  # fmt: skip
    x = np.concatenate(
        [-np.linspace(0.0, 746.0, 200_001), -rng.exponential(5.0, 200_000), edges]
    )
    exp_out, log1p_out = np.empty_like(x), np.empty_like(x)
    both(x, exp_out, log1p_out)
    expected = np.exp(x)
    ulps = np.abs(exp_out - expected) / np.spacing(np.maximum(expected, 5e-324))
    assert ulps.max() <= 2.0
    assert exp_out[-3:].tolist() == [0.0, 0.0, 0.0]
    expected = np.log1p(exp_out)
    ulps = np.abs(log1p_out - expected) / np.spacing(np.maximum(expected, 5e-324))
    assert ulps.max() <= 1.0


def test_a_binomial_batch_keeps_extreme_margins_finite():
    """Margins of +-1000 and +-2000 in the batch kernel's vectorised
    losses: the loss of a row on the wrong side is its margin's size, of
    one on the right side 0; the residuals are exactly -1, 0 or 1."""
    X = np.array([[1000.0], [-1000.0], [1000.0]])
    targets = _loss.stack_targets(
        [0.0, 1.0, 1.0], np.ones(3), np.ones(3), np.zeros((3, 0))
    )
    batch = _loss.ModelBatch(1, (-1, -1))
    packed = batch.loss_gradient_block(X, targets, np.array([1.0, 2.0]), False)
    np.testing.assert_array_equal(packed, [2000.0, 4000.0, 2000.0, 2000.0])


@settings(max_examples=60, deadline=None)
@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(2, 40), st.integers(1, 5)),
        elements=st.floats(-5, 5),
    ),
    cut=st.integers(1, 39),
    data=st.data(),
)
def test_partial_results_of_split_blocks_sum_to_the_whole(X, cut, data):
    """The monoid property the tree reduction relies on."""
    n, d = X.shape
    cut = min(cut, n - 1)
    y = np.asarray(
        data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n))
    )
    coef = np.asarray(
        data.draw(
            st.lists(st.floats(-2, 2), min_size=d + 1, max_size=d + 1),
        )
    )
    whole = _loss.loss_gradient_block(X, y, coef, True)
    parts = _loss.loss_gradient_block(X[:cut], y[:cut], coef, True) + (
        _loss.loss_gradient_block(X[cut:], y[cut:], coef, True)
    )
    np.testing.assert_allclose(parts, whole, rtol=1e-9, atol=1e-9)
    # What a task does over the blocks of one worker: one buffer, added into.
    accumulated = _loss.loss_gradient_block(
        X[cut:],
        y[cut:],
        coef,
        True,
        out=_loss.loss_gradient_block(X[:cut], y[:cut], coef, True),
    )
    # Another summation order: equal to rounding.
    np.testing.assert_allclose(accumulated, parts, rtol=1e-12, atol=1e-12)


def test_aligned_block_copies_misaligned_memory_once():
    raw = np.zeros(8 * 30 + 3, dtype=np.uint8)
    misaligned = raw[3:].view(np.float64).reshape(10, 3)
    misaligned[...] = np.arange(30.0).reshape(10, 3)
    assert misaligned.ctypes.data % 8 != 0
    aligned = _blocks.aligned_block(misaligned)
    assert aligned.ctypes.data % 64 == 0
    assert aligned.flags.c_contiguous
    np.testing.assert_array_equal(aligned, misaligned)
    assert _blocks.aligned_block(aligned) is aligned


def test_aligned_block_converts_dtype_and_order():
    block = np.asfortranarray(np.arange(12, dtype=np.int32).reshape(4, 3))
    aligned = _blocks.aligned_block(block)
    assert aligned.dtype == np.float64 and aligned.flags.c_contiguous
    np.testing.assert_array_equal(aligned, block)
    csr = _blocks.aligned_block(sp.csr_matrix(block))
    assert sp.issparse(csr) and csr.dtype == np.float64


def test_block_summaries_report_nonfinite_values_and_labels():
    X = np.array([[1.0, np.nan], [np.inf, 2.0], [0.0, 1.0]])
    assert _blocks.count_nonfinite(X) == 2
    assert _blocks.count_nonfinite(sp.csr_matrix(X)) == 2
    summary = _blocks.summarize_labels(np.array(["b", "a", "b"], dtype=object))
    assert list(summary["labels"]) == ["a", "b"]
    assert list(summary["counts"]) == [1, 2]
    summary = _blocks.summarize_labels(np.array([0.5, np.nan]))
    assert summary["nonfinite"] == 1 and summary["fractional"]


def test_column_split_pieces_add_up_to_the_fused_block():
    """Margins by column block, loss and residual, gradient slices: the
    two-phase evaluation of the column layouts gives the fused result."""
    X, y, coef = problem(n=120, d=7)
    fused = _loss.loss_gradient_block(X, y, coef, True)
    bounds = [0, 3, 5, 7]
    z = sum(
        _loss.margins_block(X[:, a:b], coef[a:b]) for a, b in itertools.pairwise(bounds)
    )
    packed = _loss.loss_residual(z, y, coef[-1])
    gradient = np.concatenate(
        [
            _loss.gradient_block(sp.csr_matrix(X[:, a:b]), packed)
            for a, b in itertools.pairwise(bounds)
        ]
    )
    loss, residual_sum = _loss.residual_scalars(packed)
    np.testing.assert_allclose(
        np.concatenate([[loss], gradient, [residual_sum]]), fused, rtol=1e-12
    )


# ------------------------------------------------------- Hessian products
def hessian_problem(k, fit_intercept, weighted, seed=3):
    rng = np.random.default_rng(seed)
    n, d = 60, 5
    X = rng.standard_normal((n, d))
    labels = rng.integers(0, 2 if k == 1 else k, n).astype(float)
    targets = (
        np.column_stack([labels, rng.uniform(0.1, 2.0, n)]) if weighted else labels
    )
    size = (d + int(fit_intercept)) * k
    return X, targets, rng.standard_normal(size), rng.standard_normal(size)


@pytest.mark.parametrize(
    ("k", "fit_intercept", "weighted"),
    list(itertools.product([1, 3], [True, False], [True, False])),
)
def test_hessian_product_is_the_derivative_of_the_gradient(k, fit_intercept, weighted):
    X, targets, coef, direction = hessian_problem(k, fit_intercept, weighted)
    product = _loss.hessian_product_block(
        X, targets, np.stack([coef, direction]), fit_intercept
    )
    assert product[0] == 0.0

    def gradient(c):
        return _loss.loss_gradient_block(X, targets, c, fit_intercept)[1:]

    # Central differences: error O(step^2 * third derivative) ~ 1e-10 here.
    step = 1e-5
    numeric = (
        gradient(coef + step * direction) - gradient(coef - step * direction)
    ) / (2 * step)
    np.testing.assert_allclose(product[1:], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("k", [1, 3])
def test_hessian_product_by_columns_equals_by_rows(k):
    X, targets, coef, direction = hessian_problem(k, True, True)
    X[np.abs(X) < 0.8] = 0.0
    whole = _loss.hessian_product_block(X, targets, np.stack([coef, direction]), True)
    sparse = _loss.hessian_product_block(
        sp.csr_matrix(X), targets, np.stack([coef, direction]), True
    )
    np.testing.assert_allclose(sparse, whole, rtol=1e-12, atol=1e-14)
    # The column-split path: margins of two column blocks, one residual,
    # gradient slices per column block.
    both, intercepts = _loss.stacked_weights(coef, direction, X.shape[1], True)
    margins = _loss.margins_block(X[:, :2], both[:2]) + _loss.margins_block(
        X[:, 2:], both[2:]
    )
    scalars, t = _loss.hessian_residual(margins, targets, intercepts)
    by_columns = np.concatenate(
        [
            [scalars[0]],
            _loss.gradient_block(X[:, :2], (scalars, t)),
            _loss.gradient_block(X[:, 2:], (scalars, t)),
            scalars[1:],
        ]
    )
    np.testing.assert_allclose(by_columns, whole, rtol=1e-12, atol=1e-14)


def test_penalized_hessian_product_adds_the_l2_share_to_weights_only():
    X, targets, coef, direction = hessian_problem(3, True, False)
    packed = _loss.hessian_product_block(X, targets, np.stack([coef, direction]), True)
    options = {"weight_sum": 60.0, "n_weights": 15}
    plain = _loss.penalized_hessian_product(
        packed, direction, **options, penalty=_loss.Penalty.from_C(np.inf, 60.0)
    )
    penalised = _loss.penalized_hessian_product(
        packed, direction, **options, penalty=_loss.Penalty.from_C(0.5, 60.0, 0.25)
    )
    l2 = 0.75 / (0.5 * 60.0)
    np.testing.assert_allclose(penalised[:15] - plain[:15], l2 * direction[:15])
    np.testing.assert_array_equal(penalised[15:], plain[15:])


def test_penalty_from_C_splits_the_penalty():
    penalty = _loss.Penalty.from_C(2.0, 10.0, 0.3)
    assert (penalty.l2, penalty.l1) == pytest.approx((0.7 / 20, 0.3 / 20))
    assert _loss.Penalty.from_C(np.inf, 10.0, 0.3) == _loss.Penalty(0.0, 0.0)


# ------------------------------------------------ standard deviations
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_block_moments_give_the_unbiased_weighted_std(sparse, weighted):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 4)) * [1.0, 1e-3, 5.0, 0.0]
    X[:, 1] += 1e8  # a large mean: the naive formula loses every digit here
    X[rng.random(300) < 0.5, 2] = 0.0
    weights = rng.uniform(0.5, 3.0, 300) if weighted else np.ones(300)
    targets = np.column_stack([np.zeros(300), weights]) if weighted else np.zeros(300)
    blocks = [X[:120], X[120:]]
    target_blocks = [targets[:120], targets[120:]]
    if sparse:
        blocks = [sp.csr_matrix(block) for block in blocks]
    sums = sum(
        _blocks.column_sums(b, t) for b, t in zip(blocks, target_blocks, strict=True)
    )
    means = sums[2:] / sums[0]
    squares = sum(
        _blocks.centred_squares(b, t, means)
        for b, t in zip(blocks, target_blocks, strict=True)
    )
    std = _blocks.standard_deviations(sums[0], sums[1], squares)
    # numpy's weighted covariance with reliability weights (aweights) is the
    # same unbiased estimator.
    expected = [
        np.sqrt(np.cov(X[:, j], aweights=weights)) if weighted else X[:, j].std(ddof=1)
        for j in range(4)
    ]
    np.testing.assert_allclose(std, expected, rtol=1e-9)
    assert std[3] == 0.0


def test_multinomial_loss_is_stable_for_huge_margins():
    # Margins of +-800 overflow exp(); the in-place softmax shifts by the
    # row maximum first. Reference: scipy's logsumexp on the same margins.
    from scipy.special import logsumexp, softmax

    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = np.array([0.0, 2.0, 1.0])
    W = np.array([[800.0, -800.0, 0.0], [0.0, 400.0, -400.0]])
    coef = np.concatenate([W.ravel(), np.zeros(3)])
    packed = _loss.loss_gradient_block(X, labels, coef, True)
    z = X @ W
    expected_loss = np.sum(logsumexp(z, axis=1) - z[np.arange(3), labels.astype(int)])
    assert np.isfinite(packed).all()
    assert packed[0] == pytest.approx(expected_loss, rel=1e-12)
    residual = softmax(z, axis=1)
    residual[np.arange(3), labels.astype(int)] -= 1.0
    np.testing.assert_allclose(packed[1:7], (X.T @ residual).ravel(), atol=1e-12)


def _held_out_reference(X, targets, fold, coef, k, family) -> np.ndarray:
    """A model's held-out sums written the plain way, on its fold's
    held-out rows alone (see ``ModelBatch.held_out_sums``)."""
    from scipy.special import logsumexp
    from sklearn.metrics import mean_tweedie_deviance

    if fold < 0:
        return np.zeros(5 if family else 3)
    test = targets[:, _loss.ROLE_OFFSET + fold] == _loss.TEST
    d = X.shape[1]
    z = X[test].astype(np.float64) @ coef[: d * k].reshape(d, k) + coef[d * k :]
    y, s = targets[test, 0], targets[test, 2]
    if family is not None:
        mu = np.exp(z[:, 0])
        deviance = mean_tweedie_deviance(y, mu, sample_weight=s, power=1) * s.sum()
        return np.array([s.sum(), s @ (y - mu) ** 2, s @ y, s @ y**2, deviance])
    if k == 1:
        right = (z[:, 0] > 0) == (y == 1)
        losses = np.logaddexp(0.0, z[:, 0]) - y * z[:, 0]
    else:
        right = z.argmax(axis=1) == y
        losses = logsumexp(z, axis=1) - z[np.arange(y.size), y.astype(int)]
    return np.array([s.sum(), s @ right, s @ losses])


@pytest.mark.parametrize("n_repeats", [1, 25], ids=["5 models", "125 models"])
@pytest.mark.parametrize("kind", ["binomial", "multinomial", "poisson"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_batch_is_each_model_on_its_own_rows(dtype, kind, n_repeats):
    """A batch on one block of 700 rows and 10 features (dense and CSR):
    each model's loss and gradient are those of the model alone on the rows
    its fold trains on (the single-model kernels), and its held-out sums
    those of its held-out rows written the plain way. On a dense block, 5
    models go by steps of rows (binomial) or row by row, 125 models by
    tiles of 64 rows (eleven); held-out sums by steps (binomial) or from every
    row's margins for up to 100 margin columns, from each fold's rows
    copied out for more (125 models)."""
    rng = np.random.default_rng(5)
    n, d, n_folds = 700, 10, 3
    X = (rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.6)).astype(dtype)
    k = 3 if kind == "multinomial" else 1
    family = _loss.regression_family(1.0) if kind == "poisson" else None
    labels = rng.poisson(1.0, n) if family else rng.integers(0, max(k, 2), n)
    weights, score_weights = rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 2.0, n)
    fold_of_row = rng.integers(0, n_folds, n)
    held_out_here = fold_of_row[:, None] == np.arange(n_folds)
    roles = np.where(held_out_here, _loss.TEST, _loss.TRAIN)
    targets = _loss.stack_targets(labels, weights, score_weights, roles)
    folds = (0, 1, 2, -1, 1) * n_repeats
    coefs = [rng.standard_normal(d * k + k) * 0.3 for _ in folds]
    batch = _loss.ModelBatch(k, folds, family)
    packed = _loss.stack_models(coefs, d, True)
    weights_matrix = packed[: d * k * len(folds)].reshape(d, -1)
    intercepts = packed[d * k * len(folds) :]
    single = family.loss_gradient_block if family else _loss.loss_gradient_block
    for block in (X, sp.csr_matrix(X)):
        results = _loss.split_models(
            batch.loss_gradient_block(block, targets, packed, True), len(folds), d, True
        )
        held_out = batch.held_out_block(
            block, targets, None, weights_matrix, intercepts
        ).reshape(len(folds), -1)
        for m, (coef, fold) in enumerate(zip(coefs, folds, strict=True)):
            train = roles[:, fold] == _loss.TRAIN if fold >= 0 else np.ones(n, bool)
            own = np.column_stack([labels[train], weights[train]]).astype(np.float64)
            expected = single(X[train].astype(np.float64), own, coef, True)
            np.testing.assert_allclose(results[m], expected, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(
                held_out[m],
                _held_out_reference(X, targets, fold, coef, k, family),
                rtol=1e-10,
                atol=1e-10,
            )


@pytest.mark.parametrize("kind", ["binomial", "multinomial"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_paths_first_evaluation_comes_from_the_class_sums(dtype, fit_intercept, kind):
    """At zero weights every margin is an intercept, so each fold's loss and
    gradient there follow from its training-weighted column sums by class
    (one pass for all folds): equal to the batch kernel's evaluation to
    1e-12 (only the order of the sums differs), dense and CSR, with rows of
    weight 0 and rows outside every fold; the last row of the sums holds
    every class's weight and the columns' weighted means."""
    rng = np.random.default_rng(11)
    n, d, n_folds = 500, 5, 3
    X = (rng.standard_normal((n, d)) * (rng.random((n, d)) < 0.6) + 0.5).astype(dtype)
    n_classes = 3 if kind == "multinomial" else 2
    k = 1 if n_classes == 2 else n_classes
    labels = rng.integers(0, n_classes, n)
    weights = rng.uniform(0.5, 2.0, n)
    weights[:20] = 0.0
    roles = rng.choice(
        [_loss.TRAIN, _loss.TEST, 0.0], size=(n, n_folds), p=[0.6, 0.3, 0.1]
    )
    targets = _loss.stack_targets(labels, weights, np.ones(n), roles)
    intercept = rng.standard_normal(k) if fit_intercept else np.zeros(0)
    start = np.concatenate([np.zeros(d * k), intercept])
    for block in (X, sp.csr_matrix(X)):
        sums = _loss.fold_class_sums(block, targets, n_classes, n_folds)
        assert sums.shape == (n_folds + 1, n_classes, d + 1)
        np.testing.assert_allclose(
            sums[-1, :, -1], np.bincount(labels, weights, minlength=n_classes)
        )
        np.testing.assert_allclose(
            sums[-1, :, :-1].sum(axis=0) / sums[-1, :, -1].sum(),
            np.average(X.astype(np.float64), axis=0, weights=weights),
            rtol=1e-12,
        )
        for fold in (0, 1, 2, -1):
            batch = _loss.ModelBatch(k, (fold,))
            expected = batch.loss_gradient_block(block, targets, start, fit_intercept)
            got = _loss.start_evaluation(sums[fold], start, fit_intercept)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="zero weights"):
        _loss.start_evaluation(sums[0], start + 1.0, fit_intercept)
