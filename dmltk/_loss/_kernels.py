"""Compiled block kernels: one read of a block per evaluation.

Each kernel walks the rows of ONE block (dense C-contiguous, or CSR given as
its ``data``, ``indices`` and ``indptr``) and does all the work of a row while
the row is in the fastest cache: its margins, the loss and residual of the
row, and the row's share of ``X.T @ residual``. numpy needs two passes for the
same result (``X @ w``, then ``X.T @ r``) and temporaries for every
transcendental function; the best it could do was to walk row slices sized
for one processor's cache, which ran at two reads per evaluation on another.
The dense kernels of many models at once (``dense_batch_*``) walk tiles of
:data:`_BATCH_TILE` rows instead when the models have many weights (above
:data:`_ROW_BY_ROW_WEIGHTS`): the two products of a tile are then wide
enough for BLAS, and the tile is still read from memory once. Binomial
models go by steps of :data:`_BATCH_STEP_ROWS` rows, whose losses
vectorise (:func:`_dense_batch_binomial`).

Why numba: it installs from wheels (no compiler on the user's machine, which a
Cython or C extension would need for ``pip install .`` from source), compiles
the same source for float32 and float64 blocks and for every index type of
CSR blocks, and keeps its machine code in an on-disk cache (``cache=True``),
so the compile cost is paid once per machine, not per worker or per fit.
:func:`warm_up` loads (or, the first time, compiles) every common
specialisation; :func:`dmltk.connect` runs it on every worker.

Conventions shared by every kernel:

- Dense kernels take the weights transposed, ``WT`` of shape
  (K, n_features), and add into a transposed ``GT`` (K, n_features): each
  class's weights and gradient are then contiguous, so the dot products and
  updates of a row vectorise (measured: a multinomial pass 4x faster than
  with (n_features, K), where nothing vectorised). CSR kernels take
  ``W`` of shape (n_features, K) and add into ``out`` of that shape: a
  stored value needs one row of W. ``b`` has shape (K,): K = 1 is the
  binomial loss (sigmoid), K >= 3 the multinomial one (softmax). The
  regression kernels (``*_glm_*``) have one margin column: ``w`` and the
  gradient of shape (n_features,), a float intercept, and the family's code
  and Tweedie power as their last two arguments.
- ``labels`` are float64 class indices (0.0 / 1.0 for the binomial loss);
  ``sample_weight`` is float64 of the same length, or empty when unweighted.
- Blocks may be float32 or float64; every product and sum is float64.
- Results are added into their output buffer (float64) so that one buffer
  accumulates over many blocks; the kernel returns the scalar sums.

This module imports numpy and numba only.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# "reassoc" lets LLVM vectorise the dot products (a sum in another order:
# rounding differences of order 1e-16 relative, the same on every run);
# "contract" allows fused multiply-adds. Nothing that changes NaN, inf or
# signed-zero handling.
_OPTIONS = {"cache": True, "nogil": True, "fastmath": {"reassoc", "contract"}}

# The per-row helpers: compiled functions of their own, which LLVM inlines
# into each kernel, with the kernels' arithmetic flags. Not numba's
# ``inline="always"``: that inlines before reference counting is pruned, and
# every call that passed an array then paid a reference count (measured: a
# batch of 5 models on 1,000,000 rows took 0.23 s against 0.15 s).
_helper = njit(fastmath=_OPTIONS["fastmath"])


# Functions that LLVM vectorises when their loop does: no check for a
# division by zero (numpy's error model; no division here can meet one) and
# no call to the C library's exp and log, which numba cannot vectorise
# without Intel's SVML (not a dependency of numba, nor installed here).
_vector_helper = njit(fastmath=_OPTIONS["fastmath"], error_model="numpy")


# ------------------------------------------------- vectorisable exp and log
@intrinsic
def _float64_from_bits(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (a free bitcast
    that vectorises; numba has no scalar ``view``)."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# Cephes' exp (Moshier): exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)) on
# |r| <= ln(2) / 2, after x = n ln(2) + r with ln(2) split in two.
_LOG2_E = 1.4426950408889634073599
_LN2_HIGH, _LN2_LOW = 6.93145751953125e-1, 1.42860682030941723212e-6
_EXP_P = (1.26177193074810590878e-4, 3.02994407707441961300e-2,
          9.99999999999999999910e-1)  # fmt: skip
_EXP_Q = (3.00198505138664455042e-6, 2.52448340349684104192e-3,
          2.27265548208155028766e-1, 2.00000000000000000009e0)  # fmt: skip


@_vector_helper
def _exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` without a branch or a call, so that a loop of
    them vectorises: Cephes' algorithm, within 2 ulp of numpy's exp
    (measured on 4,000,000 points of [-746, 0], subnormal results
    included); 0 below -745.2 and for -inf. 3.5x faster than the C
    library's exp in a loop numba vectorises (measured)."""
    x = max(x, -745.2)
    n = math.floor(_LOG2_E * x + 0.5)
    r = (x - n * _LN2_HIGH) - n * _LN2_LOW
    rr = r * r
    p = r * ((_EXP_P[0] * rr + _EXP_P[1]) * rr + _EXP_P[2])
    q = ((_EXP_Q[0] * rr + _EXP_Q[1]) * rr + _EXP_Q[2]) * rr + _EXP_Q[3]
    e = 1.0 + 2.0 * (p / (q - p))
    # 2^n as two normal powers of two, so that subnormal results round once.
    half = n >> 1
    return (
        e
        * _float64_from_bits((half + 1023) << 52)
        * _float64_from_bits((n - half + 1023) << 52)
    )


# Cephes' log (Moshier) on [sqrt(1/2), sqrt(2)]: log(1 + f) = f - f^2 / 2 +
# f^3 P(f) / Q(f), with ln(2) split in two.
_LOG_P = (1.01875663804580931796e-4, 4.97494994976747001425e-1,
          4.70579119878881725854e0, 1.44989225341610930846e1,
          1.79368678507819816313e1, 7.70838733755885391666e0)  # fmt: skip
_LOG_Q = (1.12873587189167450590e1, 4.52279145837532221105e1,
          8.29875266912776603211e1, 7.11544750618563894466e1,
          2.31251620126765340583e1)  # fmt: skip
_SQRT2_MINUS_1 = 0.41421356237309504880
_LN2_C1, _LN2_C2 = 6.93359375e-1, -2.121944400546905827679e-4


@_vector_helper
def _log1p_unit_vectorisable(e):
    """``log1p(e)`` for ``0 <= e <= 1`` without a branch or a call (Cephes'
    log of ``1 + e``, or of ``(1 + e) / 2`` plus ln(2) above sqrt(2) - 1;
    ``e`` itself, or ``(e - 1) / 2``, is the argument less 1, exactly):
    within 1 ulp of ``math.log1p`` (measured on 4,000,000 values of
    ``exp(-|z|)``)."""
    upper = e > _SQRT2_MINUS_1
    f = 0.5 * (e - 1.0) if upper else e
    ln2_share = 1.0 if upper else 0.0
    ff = f * f
    p = _LOG_P[0]
    for c in _LOG_P[1:]:
        p = p * f + c
    q = f + _LOG_Q[0]
    for c in _LOG_Q[1:]:
        q = q * f + c
    y = f * (ff * p / q) + ln2_share * _LN2_C2 - 0.5 * ff
    return f + y + ln2_share * _LN2_C1


@_vector_helper
def _binomial_vectorisable(z, label):
    """:func:`_binomial` from :func:`_exp_nonpositive` and
    :func:`_log1p_unit_vectorisable`: the same loss and probability (to an
    ulp or two), in a loop that vectorises."""
    e = _exp_nonpositive(-abs(z))
    loss = max(z, 0.0) - label * z + _log1p_unit_vectorisable(e)
    p = (1.0 if z >= 0.0 else e) / (1.0 + e)
    return loss, p


# ---------------------------------------------------------------- per row
@_helper
def _log1p_unit(e, one_plus_e):
    """``log1p(e)`` for ``0 <= e <= 1`` from ``log(1 + e)`` with Goldberg's
    correction ``e / ((1 + e) - 1)`` for the rounding of ``1 + e``: within
    4e-16 (relative) of ``math.log1p`` on every ``exp(-|z|)``, and 1.5x
    faster with the sigmoid beside it (measured), as ``log`` is cheaper than
    ``log1p`` in the C library numba calls."""
    rounded = one_plus_e - 1.0
    if rounded == 0.0:
        return e
    return math.log(one_plus_e) * (e / rounded)


@_helper
def _binomial(z, label):
    """Loss ``log(1 + exp(z)) - y z`` and probability ``expit(z)`` of one
    margin: one exp and one log, finite for any finite z."""
    e = math.exp(-abs(z))
    one_plus_e = 1.0 + e
    loss = max(z, 0.0) - label * z + _log1p_unit(e, one_plus_e)
    p = (1.0 if z >= 0.0 else e) / one_plus_e
    return loss, p


@_helper
def _softmax_in_place(z):
    """Replace margins ``z`` by their softmax; return ``logsumexp(z)``."""
    top = z[0]
    for k in range(1, z.shape[0]):
        top = max(top, z[k])
    total = 0.0
    for k in range(z.shape[0]):
        z[k] = math.exp(z[k] - top)
        total += z[k]
    for k in range(z.shape[0]):
        z[k] /= total
    return top + math.log(total)


@_helper
def _multinomial_residual(z, label, weight):
    """Turn margins ``z`` into the residual ``s (softmax(z) - onehot(y))`` in
    place; return the weighted loss ``s (logsumexp(z) - z_y)``."""
    c = int(label)
    picked = z[c]
    loss = _softmax_in_place(z) - picked
    z[c] -= 1.0
    for k in range(z.shape[0]):
        z[k] *= weight
    return weight * loss


@_helper
def _multinomial_curvature(z, u, weight):
    """``s (p * u - p (p . u))`` in ``u``, with ``p = softmax(z)`` (``z`` is
    overwritten): the softmax Jacobian applied to the direction's margins."""
    _softmax_in_place(z)
    pu = 0.0
    for k in range(z.shape[0]):
        pu += z[k] * u[k]
    for k in range(z.shape[0]):
        u[k] = weight * z[k] * (u[k] - pu)


@_helper
def _weight(sample_weight, i):
    return sample_weight[i] if sample_weight.shape[0] > 0 else 1.0


# ------------------------------------------------------ row products
@_helper
def _dense_dot(X, i, w, start):
    total = start
    for j in range(X.shape[1]):
        total += X[i, j] * w[j]
    return total


@_helper
def _dense_axpy(X, i, scale, out):
    for j in range(X.shape[1]):
        out[j] += scale * X[i, j]


@_helper
def _dense_margins(X, i, WT, b, z):
    for k in range(z.shape[0]):
        z[k] = _dense_dot(X, i, WT[k], b[k])


@_helper
def _dense_outer(X, i, r, GT):
    for k in range(r.shape[0]):
        _dense_axpy(X, i, r[k], GT[k])


@_helper
def _sparse_dot(data, indices, lo, hi, w, start):
    total = start
    for p in range(lo, hi):
        total += data[p] * w[indices[p]]
    return total


@_helper
def _sparse_axpy(data, indices, lo, hi, scale, out):
    for p in range(lo, hi):
        out[indices[p]] += scale * data[p]


@_helper
def _sparse_margins(data, indices, lo, hi, W, b, z):
    z[:] = b
    for p in range(lo, hi):
        x = data[p]
        j = indices[p]
        for k in range(z.shape[0]):
            z[k] += x * W[j, k]


@_helper
def _sparse_outer(data, indices, lo, hi, r, out):
    for p in range(lo, hi):
        x = data[p]
        j = indices[p]
        for k in range(r.shape[0]):
            out[j, k] += x * r[k]


# ------------------------------------------------- loss and gradient
@njit(**_OPTIONS)
def dense_loss_gradient(X, labels, sample_weight, WT, b, GT, residual_sum):
    """Add ``(X.T @ r).T`` to ``GT`` and ``sum r`` to ``residual_sum`` (K,);
    return the weighted loss sum. ``r = s (p - y)`` per row."""
    n = X.shape[0]
    K = WT.shape[0]
    loss = 0.0
    if K == 1:
        w = WT[0]
        g = GT[0]
        for i in range(n):
            s = _weight(sample_weight, i)
            row_loss, p = _binomial(_dense_dot(X, i, w, b[0]), labels[i])
            r = s * (p - labels[i])
            loss += s * row_loss
            residual_sum[0] += r
            _dense_axpy(X, i, r, g)
        return loss
    z = np.empty(K)
    for i in range(n):
        _dense_margins(X, i, WT, b, z)
        loss += _multinomial_residual(z, labels[i], _weight(sample_weight, i))
        residual_sum += z
        _dense_outer(X, i, z, GT)
    return loss


@njit(**_OPTIONS)
def sparse_loss_gradient(
    data, indices, indptr, labels, sample_weight, W, b, out, residual_sum
):
    """:func:`dense_loss_gradient` for a CSR block."""
    n = indptr.shape[0] - 1
    d, K = W.shape
    loss = 0.0
    if K == 1:
        w = W.reshape(d)
        g = out.reshape(d)
        for i in range(n):
            lo, hi = indptr[i], indptr[i + 1]
            s = _weight(sample_weight, i)
            z = _sparse_dot(data, indices, lo, hi, w, b[0])
            row_loss, p = _binomial(z, labels[i])
            r = s * (p - labels[i])
            loss += s * row_loss
            residual_sum[0] += r
            _sparse_axpy(data, indices, lo, hi, r, g)
        return loss
    z = np.empty(K)
    for i in range(n):
        lo, hi = indptr[i], indptr[i + 1]
        _sparse_margins(data, indices, lo, hi, W, b, z)
        loss += _multinomial_residual(z, labels[i], _weight(sample_weight, i))
        residual_sum += z
        _sparse_outer(data, indices, lo, hi, z, out)
    return loss


# ---------------------------------------------- many models at once
@_helper
def _training_weight(targets, i, fold):
    """Row ``i``'s training weight in a model trained on ``fold`` (a batch's
    targets): 0 where the fold does not train on it; fold -1: every row."""
    if fold >= 0 and targets[i, 3 + fold] != 1.0:
        return 0.0
    return targets[i, 1]


@_helper
def _held_out(targets, i, fold):
    """Whether ``fold`` holds row ``i`` out (its role 2.0 in a batch's
    targets); fold -1 (every row trains) holds none out."""
    return fold >= 0 and targets[i, 3 + fold] == 2.0


@_helper
def _loss_slope(z, label, family, power):
    """One margin's loss and its derivative in the margin: the binomial loss
    (``family`` -1) or a regression family's (K = 1)."""
    if family >= 0:
        return _glm_loss_gradient(family, power, z, label)
    row_loss, p = _binomial(z, label)
    return row_loss, p - label


@_helper
def _batch_residual(z, targets, i, folds, n_margins, losses, family, power):
    """Turn the margins ``z`` of M models (M * K, one row) into their
    residuals in place, each weighted by the row's training weight in the
    model's fold (0 outside it; fold -1: every row); add the weighted losses
    to ``losses`` (M,). ``targets`` rows are ``[label, training weight,
    scoring weight, role in fold 0, ...]`` (role 1.0: trains).

    ``family`` is -1 for the logistic losses (K = 1 binomial, K >= 3
    multinomial), else a regression family's code (K = 1, ``power`` its
    Tweedie power; see :func:`_glm_loss_gradient`)."""
    label = targets[i, 0]
    for m in range(folds.shape[0]):
        weight = _training_weight(targets, i, folds[m])
        if n_margins == 1:
            if weight == 0.0:
                z[m] = 0.0
                continue
            row_loss, slope = _loss_slope(z[m], label, family, power)
            losses[m] += weight * row_loss
            z[m] = weight * slope
        else:
            part = z[m * n_margins : (m + 1) * n_margins]
            if weight == 0.0:
                part[:] = 0.0
            else:
                losses[m] += _multinomial_residual(part, label, weight)


@_helper
def _batch_column_residuals(z, intercept, targets, start, fold, family, power):
    """One model's margins ``z`` on a tile of rows (K = 1; rows ``start``
    on of the block), plus its intercept, turned into its weighted residuals
    in place as :func:`_batch_residual` does; returns the model's loss and
    residual sums on the tile."""
    loss = 0.0
    total = 0.0
    for r in range(z.shape[0]):
        weight = _training_weight(targets, start + r, fold)
        if weight == 0.0:
            z[r] = 0.0
            continue
        label = targets[start + r, 0]
        row_loss, slope = _loss_slope(z[r] + intercept, label, family, power)
        loss += weight * row_loss
        z[r] = weight * slope
        total += weight * slope
    return loss, total


#: Rows of a dense block per matrix product of the batch kernels: a tile of
#: X (64 x d) and its M K margins stay in the processor's fastest caches
#: between the two products.
_BATCH_TILE = 64

#: Up to this many weights (M K margin columns times n_features), the dense
#: batch kernel works row by row (compiled dot products and updates) rather
#: than by BLAS products on tiles, whose calls cost more than they save on
#: so few columns. Measured on one thread, 1,000,000 rows, with a prototype
#: of the two loops: at 100 features, 1.41x faster for 1 column, 1.17x for
#: 5, 1.07x for 6, even at 7 and 8; at 20 features 1.14x for 5 and faster
#: up to 8; at 200, 1.08x for 3, even at 4; at 300, 1.15x for 2, even at 3;
#: at 1,000, BLAS faster from 3. The kernel as written, at 100 features:
#: 0.069 s against 0.089 s for 1 model, 0.155 s against 0.166 s for 5.
_ROW_BY_ROW_WEIGHTS = 600


def _float64_rows(X, start, stop, buffer):
    """Rows ``start:stop`` of a dense block as float64: a view of a float64
    block, a copy into ``buffer`` (``(_BATCH_TILE, d)``) of a float32 one
    (BLAS multiplies arrays of one type, and float32 products would lose
    the float64 sums every kernel keeps). Compiled: the overload below."""
    return np.asarray(X[start:stop], dtype=np.float64)


@overload(_float64_rows)
def _float64_rows_typed(X, start, stop, buffer):
    # One implementation per block dtype, chosen when numba compiles.
    if X.dtype == types.float64:
        return lambda X, start, stop, buffer: X[start:stop]

    def copied(X, start, stop, buffer):
        rows = buffer[: stop - start]
        rows[:] = X[start:stop]
        return rows

    return copied


#: Rows of a step of :func:`_dense_batch_binomial`: the rows of a step
#: stay in the first-level cache from their margins to their updates, and
#: their losses vectorise (measured on 1,000,000 x 100, 5 models, one
#: thread: 8 and 16 rows equally fast, 4 rows 1.3x slower).
_BATCH_STEP_ROWS = 8

#: Up to this many weights (M models times n_features), the binomial batch
#: of a dense block goes by steps of rows (:func:`_dense_batch_binomial`)
#: rather than by BLAS products on tiles. Measured on one thread, the steps
#: against the tiles: 1.34x-1.50x faster at 20 features for 10 to 60
#: models; at 100 features 1.3x for 1 model, 1.22x for 20, even at 30 and
#: 50; at 300 features 1.06x for 2, 0.98x for 4, 0.90x for 8; at 1,000
#: features 0.97x for 1, 0.82x for 2.
_BINOMIAL_STEP_WEIGHTS = 1200


@_helper
def _step_margins(X, targets, folds, WT, b, start, rows, held_out, margins, weights,
                  labels):  # fmt: skip
    """One step of the binomial batch kernels: the labels of rows ``start``
    to ``start + rows``, each model's weight on them (its fold's training
    weight; with ``held_out``, the scoring weight on the rows its fold holds
    out), and its margins where that weight is not 0. Elsewhere no product:
    a margin of 0 keeps the loss (times a weight of 0) finite."""
    for r in range(rows):
        i = start + r
        labels[r] = targets[i, 0]
        for m in range(WT.shape[0]):
            if held_out:
                weight = targets[i, 2] if _held_out(targets, i, folds[m]) else 0.0
            else:
                weight = _training_weight(targets, i, folds[m])
            weights[m, r] = weight
            margins[m, r] = _dense_dot(X, i, WT[m], b[m]) if weight != 0.0 else 0.0


@njit(**_OPTIONS, error_model="numpy")
def _dense_batch_binomial(X, targets, folds, WT, b, GT, sums, losses):
    """:func:`dense_batch_loss_gradient` for binomial models (one margin
    column each) with few weights, by steps of :data:`_BATCH_STEP_ROWS`
    rows: every model's margins on the step's rows, then each model's
    losses and residuals along them in a loop LLVM vectorises
    (:func:`_binomial_vectorisable`), then the
    updates of ``GT`` four rows at a time (one load and store of ``GT``
    for four rows).

    Measured on 1,000,000 x 100 with 5 models on one thread, against rows
    one at a time (each margin, then each loss and update, with the C
    library's exp and log): 0.127 s against 0.145 s. Each of the two
    changes alone gains nothing: the updates bound the time until the
    losses cost less, and the reverse. The regression families keep rows
    one at a time: their losses do not vectorise (exp of any sign), and by
    steps they ran 1.1x-1.2x slower.
    """
    width, n_features = WT.shape
    margins = np.empty((width, _BATCH_STEP_ROWS))
    weights = np.empty((width, _BATCH_STEP_ROWS))
    labels = np.empty(_BATCH_STEP_ROWS)
    for start in range(0, X.shape[0], _BATCH_STEP_ROWS):
        rows = min(_BATCH_STEP_ROWS, X.shape[0] - start)
        _step_margins(X, targets, folds, WT, b, start, rows, False,
                      margins, weights, labels)  # fmt: skip
        for m in range(width):
            loss = 0.0
            total = 0.0
            for r in range(rows):
                row_loss, p = _binomial_vectorisable(margins[m, r], labels[r])
                loss += weights[m, r] * row_loss
                margins[m, r] = weights[m, r] * (p - labels[r])
                total += margins[m, r]
            losses[m] += loss
            sums[m] += total
        fours = rows - rows % 4
        for r in range(0, fours, 4):
            i = start + r
            for m in range(width):
                r0, r1 = margins[m, r], margins[m, r + 1]
                r2, r3 = margins[m, r + 2], margins[m, r + 3]
                for j in range(n_features):
                    GT[m, j] += (r0 * X[i, j] + r1 * X[i + 1, j]) + (
                        r2 * X[i + 2, j] + r3 * X[i + 3, j]
                    )
        for r in range(fours, rows):
            for m in range(width):
                _dense_axpy(X, start + r, margins[m, r], GT[m])


@njit(**_OPTIONS)
def dense_batch_loss_gradient(
    X, targets, folds, n_margins, WT, b, GT, sums, losses, family, power
):
    """M models side by side on one dense block, from one read of each tile
    of rows: ``WT`` (M K, d) their weights, ``b`` (M K,) their intercepts;
    adds ``(X.T @ R).T`` to ``GT`` (M K, d), ``sum R`` to ``sums`` and each
    model's loss to ``losses``. See :func:`_batch_residual` for
    ``targets``, ``folds``, ``family`` and ``power``.

    Each tile of :data:`_BATCH_TILE` rows is read twice while it is in
    cache, by two BLAS products (``Z_t.T = W.T @ X_t.T``, then ``G.T +=
    R_t.T @ X_t``) with the residuals of its rows between them, model by
    model. Measured on 1,000,000 x 100 for 5 models on one thread: 0.264 s
    for a row-by-row kernel (M dot products and M updates per row, too thin
    to vectorise well), 0.198 s with products ``X_t @ W`` and ``X_t.T @ R``
    on tiles of 256 rows, 0.173 s as written (tiles of 32 and 128 rows: no
    faster, and slower for 10 models). With at most
    :data:`_ROW_BY_ROW_WEIGHTS` weights, rows are taken one at a time
    instead: M K dot products, the residuals, then M K updates of ``GT``
    (0.155 s for 5 models as above); binomial models with at most
    :data:`_BINOMIAL_STEP_WEIGHTS` weights by steps of a few rows
    (:func:`_dense_batch_binomial`, 0.127 s).
    """
    width, n_features = WT.shape
    if n_margins == 1 and family < 0 and width * n_features <= _BINOMIAL_STEP_WEIGHTS:
        _dense_batch_binomial(X, targets, folds, WT, b, GT, sums, losses)
        return
    # One row's margins, then residuals: a view per row would cost a
    # reference count per row.
    z = np.empty(width)
    if width * n_features <= _ROW_BY_ROW_WEIGHTS:
        for i in range(X.shape[0]):
            # Every margin first: the products then overlap the exponentials
            # (a model's product, loss and update one after the other ran
            # 1.2x slower for 5 models, 1.4x for one, measured).
            _dense_margins(X, i, WT, b, z)
            if n_margins == 1:
                label = targets[i, 0]
                for m in range(width):
                    weight = _training_weight(targets, i, folds[m])
                    if weight != 0.0:  # else the row is outside the model's fold
                        row_loss, slope = _loss_slope(z[m], label, family, power)
                        losses[m] += weight * row_loss
                        sums[m] += weight * slope
                        _dense_axpy(X, i, weight * slope, GT[m])
                continue
            _batch_residual(z, targets, i, folds, n_margins, losses, family, power)
            sums += z
            _dense_outer(X, i, z, GT)
        return
    buffer = np.empty((min(_BATCH_TILE, X.shape[0]), n_features))
    for start in range(0, X.shape[0], _BATCH_TILE):
        stop = min(start + _BATCH_TILE, X.shape[0])
        rows = _float64_rows(X, start, stop, buffer)
        ZT = WT @ rows.T
        if n_margins == 1:
            # Model by model along the tile: one fold and one family per loop.
            for m in range(width):
                loss, total = _batch_column_residuals(
                    ZT[m], b[m], targets, start, folds[m], family, power
                )
                losses[m] += loss
                sums[m] += total
        else:
            for r in range(stop - start):
                for k in range(width):
                    z[k] = ZT[k, r] + b[k]
                _batch_residual(z, targets, start + r, folds, n_margins, losses,
                                family, power)  # fmt: skip
                for k in range(width):
                    ZT[k, r] = z[k]
                    sums[k] += z[k]
        GT += ZT @ rows


@njit(**_OPTIONS, error_model="numpy")
def _dense_batch_held_out_binomial(X, targets, folds, W, b, sums):
    """:func:`dense_batch_held_out` for binomial models, by steps of
    :data:`_BATCH_STEP_ROWS` rows: each row's margins for the models whose
    fold holds it out only (a fifth of them in 5 folds), then every model's
    sums along the step's rows in a loop LLVM vectorises, as
    :func:`_dense_batch_binomial` does (the same sums as
    :func:`margins_batch_held_out`).

    Measured on 1,000,000 x 100 in 5 folds on one thread, against every
    model's margins on tiles of 64 rows by BLAS: 0.13 s against 0.19 s for
    15 models, 0.31 s against 0.41 s for 50.
    """
    width = W.shape[1]
    WT = np.ascontiguousarray(W.T)
    ceiling = -math.log(np.finfo(np.float64).eps)
    margins = np.empty((width, _BATCH_STEP_ROWS))
    weights = np.empty((width, _BATCH_STEP_ROWS))
    labels = np.empty(_BATCH_STEP_ROWS)
    for start in range(0, X.shape[0], _BATCH_STEP_ROWS):
        rows = min(_BATCH_STEP_ROWS, X.shape[0] - start)
        _step_margins(X, targets, folds, WT, b, start, rows, True,
                      margins, weights, labels)  # fmt: skip
        for m in range(width):
            weight_sum = 0.0
            right_sum = 0.0
            loss_sum = 0.0
            for r in range(rows):
                z = margins[m, r]
                loss, _ = _binomial_vectorisable(z, labels[r])
                weight = weights[m, r]
                weight_sum += weight
                right_sum += weight if (z > 0.0) == (labels[r] == 1.0) else 0.0
                loss_sum += weight * min(loss, ceiling)
            sums[m, 0] += weight_sum
            sums[m, 1] += right_sum
            sums[m, 2] += loss_sum


@njit(**_OPTIONS)
def dense_batch_held_out(X, targets, folds, n_margins, W, b, sums, family, power):
    """Every model's sums on the rows its fold holds out, from one dense
    block: the margins of each tile of rows (``X_t @ W + b``, one BLAS
    product for all models) passed to :func:`margins_batch_held_out`
    (``family`` -1) or :func:`margins_batch_held_out_regression`.

    It computes every model's margins on every row, which beats copying
    each fold's held-out rows out of the block for up to about 100 margin
    columns (see :data:`dmltk._loss._batch._ALL_ROWS_HELD_OUT_COLUMNS`).
    Binomial models go by steps of rows instead
    (:func:`_dense_batch_held_out_binomial`).
    """
    if family < 0 and n_margins == 1:
        _dense_batch_held_out_binomial(X, targets, folds, W, b, sums)
        return
    buffer = np.empty((min(_BATCH_TILE, X.shape[0]), X.shape[1]))
    for start in range(0, X.shape[0], _BATCH_TILE):
        stop = min(start + _BATCH_TILE, X.shape[0])
        Z = _float64_rows(X, start, stop, buffer) @ W
        for r in range(stop - start):
            for k in range(W.shape[1]):
                Z[r, k] += b[k]
        part = targets[start:stop]
        if family < 0:
            margins_batch_held_out(Z, part, folds, n_margins, sums)
        else:
            margins_batch_held_out_regression(Z, part, folds, family, power, sums)


@njit(**_OPTIONS)
def sparse_batch_loss_gradient(
    data, indices, indptr, targets, folds, n_margins, W, b, out, sums, losses,
    family, power,
):  # fmt: skip
    """:func:`dense_batch_loss_gradient` for a CSR block (``W`` and ``out``
    of shape (d, M K))."""
    z = np.empty(W.shape[1])
    for i in range(indptr.shape[0] - 1):
        lo, hi = indptr[i], indptr[i + 1]
        _sparse_margins(data, indices, lo, hi, W, b, z)
        _batch_residual(z, targets, i, folds, n_margins, losses, family, power)
        sums += z
        _sparse_outer(data, indices, lo, hi, z, out)


@njit(**_OPTIONS)
def dense_fold_class_sums(X, targets, n_folds, out):
    """Add each fold's training-weighted column sums and training weight, by
    class, for one dense block: ``out`` (n_folds + 1, n_classes, n_features
    + 1) gets ``t_i x_i`` in ``[f, y_i, :n_features]`` and ``t_i`` in
    ``[f, y_i, n_features]`` for every fold f that trains on row i (the last
    f: all rows). ``targets`` as :func:`_batch_residual` reads them.

    A fold's column sums are those of all rows less those of the rows it
    does not train on: two updates of a row for folds that partition the
    rows, not one per fold (measured for 5 folds: 14 ms -> 7 ms for
    125,000 x 100, about the time of reading the block)."""
    left_out = np.zeros((n_folds, out.shape[1], X.shape[1]))
    folds = np.empty(n_folds, dtype=np.int64)
    for i in range(X.shape[0]):
        weight, label, count = _fold_class_row(targets, i, n_folds, out, folds)
        _dense_axpy(X, i, weight, out[n_folds, label])
        for k in range(count):
            _dense_axpy(X, i, weight, left_out[folds[k], label])
    _trained_sums(out, left_out, n_folds)


@njit(**_OPTIONS)
def sparse_fold_class_sums(data, indices, indptr, targets, n_folds, out):
    """:func:`dense_fold_class_sums` for a CSR block."""
    left_out = np.zeros((n_folds, out.shape[1], out.shape[2] - 1))
    folds = np.empty(n_folds, dtype=np.int64)
    for i in range(indptr.shape[0] - 1):
        weight, label, count = _fold_class_row(targets, i, n_folds, out, folds)
        lo, hi = indptr[i], indptr[i + 1]
        _sparse_axpy(data, indices, lo, hi, weight, out[n_folds, label])
        for k in range(count):
            _sparse_axpy(data, indices, lo, hi, weight, left_out[folds[k], label])
    _trained_sums(out, left_out, n_folds)


@_helper
def _fold_class_row(targets, i, n_folds, out, folds):
    """Row ``i``'s part of :func:`dense_fold_class_sums` that needs no X:
    add its training weight to its class's weight in all rows and in every
    fold that trains on it; list in ``folds`` the folds that leave it out.

    Returns ``(weight, label, count of folds listed)``. Every row's values
    go to all rows' sums, weight 0 included, so that a NaN or an infinity
    anywhere (0 times it is NaN) shows there; a row of weight 0 goes nowhere
    else."""
    weight = targets[i, 1]
    label = int(targets[i, 0])
    out[n_folds, label, out.shape[2] - 1] += weight
    count = 0
    if weight != 0.0:
        for f in range(n_folds):
            if targets[i, 3 + f] == 1.0:
                out[f, label, out.shape[2] - 1] += weight
            else:
                folds[count] = f
                count += 1
    return weight, label, count


@_helper
def _trained_sums(out, left_out, n_folds):
    """Each fold's column sums: all rows' less those it leaves out."""
    for f in range(n_folds):
        for c in range(out.shape[1]):
            for j in range(left_out.shape[2]):
                out[f, c, j] = out[n_folds, c, j] - left_out[f, c, j]


@njit(**_OPTIONS)
def margins_batch_loss_residual(
    Z, targets, folds, n_margins, sums, losses, family, power
):
    """:func:`dense_batch_loss_gradient`'s residuals from summed margins
    ``Z`` (n, M K, intercepts included), in place: the column layouts."""
    for i in range(Z.shape[0]):
        _batch_residual(Z[i], targets, i, folds, n_margins, losses, family, power)
        sums += Z[i]


@njit(**_OPTIONS)
def margins_batch_held_out(Z, targets, folds, n_margins, sums):
    """For each of M models (margins ``Z`` of shape (n, M K), intercepts
    included), add over the rows its fold holds out (role 2.0) ``[scoring
    weight, weight predicted right, weighted log loss]`` to ``sums`` (M, 3).

    The prediction is scikit-learn's (the positive class for a positive
    margin; the first largest margin); the log loss is
    :func:`sklearn.metrics.log_loss`'s, probabilities clipped at machine
    epsilon (a loss of at most ``-log(eps)``)."""
    ceiling = -math.log(np.finfo(np.float64).eps)
    for i in range(Z.shape[0]):
        label = targets[i, 0]
        weight = targets[i, 2]
        for m in range(folds.shape[0]):
            if not _held_out(targets, i, folds[m]):
                continue
            if n_margins == 1:
                z = Z[i, m]
                right = (z > 0.0) == (label == 1.0)
                signed = -z if label == 1.0 else z
                e = math.exp(-abs(signed))
                loss = max(signed, 0.0) + _log1p_unit(e, 1.0 + e)
            else:
                first = m * n_margins
                best = 0
                top = Z[i, first]
                for k in range(1, n_margins):
                    if Z[i, first + k] > top:
                        top = Z[i, first + k]
                        best = k
                total = 0.0
                for k in range(n_margins):
                    total += math.exp(Z[i, first + k] - top)
                c = int(label)
                right = best == c
                loss = top + math.log(total) - Z[i, first + c]
            sums[m, 0] += weight
            if right:
                sums[m, 1] += weight
            sums[m, 2] += weight * min(loss, ceiling)


# ------------------------------------------------- Hessian products
@njit(**_OPTIONS)
def dense_hessian_product(X, labels, sample_weight, WT, b, VT, c, GT, t_sum):
    """Add ``(X.T @ t).T`` to ``GT`` and ``sum t`` to ``t_sum``, with ``t``
    the per-row Hessian of the loss at ``(WT, b)`` times the margins of the
    direction ``(VT, c)``; labels are used only to know the row count."""
    n = X.shape[0]
    K = WT.shape[0]
    if K == 1:
        w = WT[0]
        v = VT[0]
        g = GT[0]
        for i in range(n):
            _, p = _binomial(_dense_dot(X, i, w, b[0]), 0.0)
            t = _weight(sample_weight, i) * p * (1.0 - p)
            t *= _dense_dot(X, i, v, c[0])
            t_sum[0] += t
            _dense_axpy(X, i, t, g)
        return
    z = np.empty(K)
    u = np.empty(K)
    for i in range(n):
        _dense_margins(X, i, WT, b, z)
        _dense_margins(X, i, VT, c, u)
        _multinomial_curvature(z, u, _weight(sample_weight, i))
        t_sum += u
        _dense_outer(X, i, u, GT)


@njit(**_OPTIONS)
def sparse_hessian_product(
    data, indices, indptr, labels, sample_weight, W, b, V, c, out, t_sum
):
    """:func:`dense_hessian_product` for a CSR block."""
    n = indptr.shape[0] - 1
    d, K = W.shape
    if K == 1:
        w = W.reshape(d)
        v = V.reshape(d)
        g = out.reshape(d)
        for i in range(n):
            lo, hi = indptr[i], indptr[i + 1]
            _, p = _binomial(_sparse_dot(data, indices, lo, hi, w, b[0]), 0.0)
            t = _weight(sample_weight, i) * p * (1.0 - p)
            t *= _sparse_dot(data, indices, lo, hi, v, c[0])
            t_sum[0] += t
            _sparse_axpy(data, indices, lo, hi, t, g)
        return
    z = np.empty(K)
    u = np.empty(K)
    for i in range(n):
        lo, hi = indptr[i], indptr[i + 1]
        _sparse_margins(data, indices, lo, hi, W, b, z)
        _sparse_margins(data, indices, lo, hi, V, c, u)
        _multinomial_curvature(z, u, _weight(sample_weight, i))
        t_sum += u
        _sparse_outer(data, indices, lo, hi, u, out)


# ------------------------------------ column layouts and prediction
@njit(**_OPTIONS)
def dense_margins(X, WT, b, out):
    """``out[i] = X[i] @ WT.T + b`` for every row; ``out`` is (n, K)."""
    for i in range(X.shape[0]):
        _dense_margins(X, i, WT, b, out[i])


@njit(**_OPTIONS)
def sparse_margins(data, indices, indptr, W, b, out):
    """:func:`dense_margins` for a CSR block."""
    for i in range(indptr.shape[0] - 1):
        _sparse_margins(data, indices, indptr[i], indptr[i + 1], W, b, out[i])


@njit(**_OPTIONS)
def dense_transpose_product(X, R, GT):
    """Add ``(X.T @ R).T`` to ``GT`` ((K, d) float64); ``R`` is (n, K)."""
    for i in range(X.shape[0]):
        _dense_outer(X, i, R[i], GT)


@njit(**_OPTIONS)
def sparse_transpose_product(data, indices, indptr, R, out):
    """:func:`dense_transpose_product` for a CSR block."""
    for i in range(indptr.shape[0] - 1):
        _sparse_outer(data, indices, indptr[i], indptr[i + 1], R[i], out)


@njit(**_OPTIONS)
def margins_loss_residual(Z, labels, sample_weight, residual_sum):
    """Margins ``Z`` (n, K, intercepts included) replaced by the residual
    ``s (p - y)`` in place; ``sum r`` added to ``residual_sum``; returns the
    weighted loss sum. For the column layouts, whose margins are summed
    across blocks before the loss can be taken."""
    loss = 0.0
    K = Z.shape[1]
    for i in range(Z.shape[0]):
        s = _weight(sample_weight, i)
        if K == 1:
            row_loss, p = _binomial(Z[i, 0], labels[i])
            Z[i, 0] = s * (p - labels[i])
            loss += s * row_loss
        else:
            loss += _multinomial_residual(Z[i], labels[i], s)
        residual_sum += Z[i]
    return loss


@njit(**_OPTIONS)
def margins_curvature(Z, U, sample_weight, t_sum):
    """Direction margins ``U`` (n, K) replaced by the per-row Hessian times
    ``U`` at margins ``Z`` (overwritten); ``sum t`` added to ``t_sum``."""
    K = Z.shape[1]
    for i in range(Z.shape[0]):
        s = _weight(sample_weight, i)
        if K == 1:
            _, p = _binomial(Z[i, 0], 0.0)
            U[i, 0] *= s * p * (1.0 - p)
        else:
            _multinomial_curvature(Z[i], U[i], s)
        t_sum += U[i]


@njit(**_OPTIONS)
def margins_probabilities(Z, out):
    """Class probabilities from margins ``Z`` (n, K, intercepts included):
    ``out`` (n, 2) gets ``1 - expit(z), expit(z)`` for K = 1, (n, K) the
    softmax otherwise. Each from one exp per margin, without overflow."""
    K = Z.shape[1]
    for i in range(Z.shape[0]):
        if K == 1:
            z = Z[i, 0]
            e = math.exp(-abs(z))
            small = e / (1.0 + e)  # the probability of the less likely class
            out[i, 0] = small if z >= 0.0 else 1.0 - small
            out[i, 1] = 1.0 - small if z >= 0.0 else small
        else:
            for k in range(K):
                out[i, k] = Z[i, k]
            _softmax_in_place(out[i])


@njit(**_OPTIONS)
def margins_log_probabilities(Z, out):
    """Logarithms of :func:`margins_probabilities`, computed without
    underflow: ``log_expit(-z), log_expit(z)`` for K = 1, ``z - logsumexp(z)``
    otherwise."""
    K = Z.shape[1]
    for i in range(Z.shape[0]):
        if K == 1:
            z = Z[i, 0]
            softplus = math.log1p(math.exp(-abs(z)))  # log(1 + exp(-|z|))
            out[i, 0] = -max(z, 0.0) - softplus
            out[i, 1] = min(z, 0.0) - softplus
        else:
            top = Z[i, 0]
            for k in range(1, K):
                top = max(top, Z[i, k])
            total = 0.0
            for k in range(K):
                total += math.exp(Z[i, k] - top)
            # (z - top) - log(total), as scipy's log_softmax: subtracting
            # top + log(total) at once would cancel for the largest margin.
            log_total = math.log(total)
            for k in range(K):
                out[i, k] = (Z[i, k] - top) - log_total


# ------------------------------------------ regression families (K = 1)
# Codes of the families of dmltk._loss's GLM families; ``power`` is used by
# TWEEDIE only. Each row's loss is the "half" loss scikit-learn's
# sklearn._loss uses (a constant in y aside), of the linear predictor z.
SQUARED_ERROR, POISSON, GAMMA, TWEEDIE = 0, 1, 2, 3


@_helper
def _glm_loss_gradient(family, power, z, y):
    """Loss of one row and its derivative in the linear predictor ``z``."""
    if family == SQUARED_ERROR:  # identity link: (z - y)^2 / 2
        r = z - y
        return 0.5 * r * r, r
    if family == POISSON:  # log link: exp(z) - y z
        mu = math.exp(z)
        return mu - y * z, mu - y
    if family == GAMMA:  # log link: z + y exp(-z)
        t = y * math.exp(-z)
        return z + t, 1.0 - t
    # Tweedie, log link, power p not 1 or 2:
    # exp((2-p) z) / (2-p) - y exp((1-p) z) / (1-p)
    a = math.exp((2.0 - power) * z)
    c = y * math.exp((1.0 - power) * z)
    return a / (2.0 - power) - c / (1.0 - power), a - c


@_helper
def _glm_curvature(family, power, z, y):
    """Second derivative of one row's loss in ``z``."""
    if family == SQUARED_ERROR:
        return 1.0
    if family == POISSON:
        return math.exp(z)
    if family == GAMMA:
        return y * math.exp(-z)
    return (2.0 - power) * math.exp((2.0 - power) * z) - (1.0 - power) * y * math.exp(
        (1.0 - power) * z
    )


@njit(**_OPTIONS)
def dense_glm_loss_gradient(
    X, labels, sample_weight, w, b, g, residual_sum, family, power
):
    """:func:`dense_loss_gradient` for a regression family (one margin
    column): ``w`` and ``g`` of shape (n_features,), ``residual_sum`` (1,),
    ``b`` a float; ``r = s dloss/dz`` per row."""
    loss = 0.0
    for i in range(X.shape[0]):
        s = _weight(sample_weight, i)
        row_loss, r = _glm_loss_gradient(
            family, power, _dense_dot(X, i, w, b), labels[i]
        )
        r *= s
        loss += s * row_loss
        residual_sum[0] += r
        _dense_axpy(X, i, r, g)
    return loss


@njit(**_OPTIONS)
def sparse_glm_loss_gradient(
    data, indices, indptr, labels, sample_weight, w, b, g, residual_sum, family, power
):
    """:func:`dense_glm_loss_gradient` for a CSR block."""
    loss = 0.0
    for i in range(indptr.shape[0] - 1):
        lo, hi = indptr[i], indptr[i + 1]
        s = _weight(sample_weight, i)
        z = _sparse_dot(data, indices, lo, hi, w, b)
        row_loss, r = _glm_loss_gradient(family, power, z, labels[i])
        r *= s
        loss += s * row_loss
        residual_sum[0] += r
        _sparse_axpy(data, indices, lo, hi, r, g)
    return loss


@njit(**_OPTIONS)
def dense_glm_hessian_product(
    X, labels, sample_weight, w, b, v, c, g, t_sum, family, power
):
    """:func:`dense_hessian_product` for a regression family: adds ``X.T @
    t`` to ``g`` with ``t = s loss''(z) (x . v + c)`` per row."""
    for i in range(X.shape[0]):
        h = _glm_curvature(family, power, _dense_dot(X, i, w, b), labels[i])
        t = _weight(sample_weight, i) * h * _dense_dot(X, i, v, c)
        t_sum[0] += t
        _dense_axpy(X, i, t, g)


@njit(**_OPTIONS)
def sparse_glm_hessian_product(
    data, indices, indptr, labels, sample_weight, w, b, v, c, g, t_sum, family, power
):
    """:func:`dense_glm_hessian_product` for a CSR block."""
    for i in range(indptr.shape[0] - 1):
        lo, hi = indptr[i], indptr[i + 1]
        z = _sparse_dot(data, indices, lo, hi, w, b)
        h = _glm_curvature(family, power, z, labels[i])
        t = _weight(sample_weight, i) * h * _sparse_dot(data, indices, lo, hi, v, c)
        t_sum[0] += t
        _sparse_axpy(data, indices, lo, hi, t, g)


@njit(**_OPTIONS)
def margins_glm_loss_residual(z, labels, sample_weight, residual_sum, family, power):
    """:func:`margins_loss_residual` for a regression family: margins ``z``
    (n,), intercept included, replaced by ``s dloss/dz``."""
    loss = 0.0
    for i in range(z.shape[0]):
        s = _weight(sample_weight, i)
        row_loss, r = _glm_loss_gradient(family, power, z[i], labels[i])
        z[i] = s * r
        loss += s * row_loss
        residual_sum[0] += z[i]
    return loss


@njit(**_OPTIONS)
def margins_glm_curvature(z, u, labels, sample_weight, t_sum, family, power):
    """:func:`margins_curvature` for a regression family: direction margins
    ``u`` (n,) replaced by ``s loss''(z) u``."""
    for i in range(z.shape[0]):
        u[i] *= _weight(sample_weight, i) * _glm_curvature(
            family, power, z[i], labels[i]
        )
        t_sum[0] += u[i]


@_helper
def _glm_unit_deviance(family, power, z, y):
    """The unit deviance of one row: twice its loss minus the loss of a
    perfect prediction (``mu = y``), as scikit-learn's ``mean_*_deviance``
    (``max(y, 0)`` in the Tweedie term, 0 for ``y = 0`` where the log
    link's perfect prediction is a limit)."""
    loss, _ = _glm_loss_gradient(family, power, z, y)
    if family == SQUARED_ERROR:
        return 2.0 * loss
    if family == POISSON:
        perfect = y - y * math.log(y) if y > 0.0 else 0.0
    elif family == GAMMA:
        perfect = math.log(y) + 1.0
    else:
        positive = max(y, 0.0)
        perfect = -(positive ** (2.0 - power)) / ((1.0 - power) * (2.0 - power))
    return 2.0 * (loss - perfect)


@njit(**_OPTIONS)
def margins_batch_held_out_regression(z, targets, folds, family, power, sums):
    """For each of M regression models (linear predictors ``z`` of shape
    (n, M), intercepts included), add over the rows its fold holds out
    (role 2.0), with ``s`` the scoring weight and ``mu`` the predicted mean,
    ``[s, s (y - mu)^2, s y, s y^2, s deviance]`` to ``sums`` (M, 5): enough
    for the mean squared error, R^2 and mean deviance of every model
    (:func:`_glm_unit_deviance`)."""
    for i in range(z.shape[0]):
        y = targets[i, 0]
        s = targets[i, 2]
        for m in range(folds.shape[0]):
            if not _held_out(targets, i, folds[m]):
                continue
            mu = z[i, m] if family == SQUARED_ERROR else math.exp(z[i, m])
            sums[m, 0] += s
            sums[m, 1] += s * (y - mu) * (y - mu)
            sums[m, 2] += s * y
            sums[m, 3] += s * y * y
            sums[m, 4] += s * _glm_unit_deviance(family, power, z[i, m], y)


# ------------------------------------------- on normal equations (d x d)
@njit(**_OPTIONS)
def gram_coordinate_descent(G, b, weight_sum, l1, l2, w, tol, max_iter, positive):
    """Minimise the elastic net ``(w'Gw - 2 b'w) / (2 S) + l1 ||w||_1 +
    l2 / 2 ||w||^2`` (the squared error of centred columns from its normal
    equations ``G = X'WX``, ``b = X'Wy``) by cyclic coordinate descent, from
    ``w`` (updated in place), as scikit-learn's Gram-matrix solver does.

    Stops when every entry of the pseudo-gradient (the smallest subgradient)
    is at most ``tol``, dmltk's test for every solver. A column with no
    variance (``G_jj = 0``) keeps weight 0. ``positive``: weights >= 0.

    Returns
    -------
    (int, bool)
        Sweeps over the coordinates, and whether the test was met.
    """
    d = w.shape[0]
    Gw = G @ w
    for sweep in range(max_iter):
        for j in range(d):
            curvature = G[j, j] / weight_sum + l2
            if curvature <= 0.0:
                new = 0.0
            else:
                rho = (b[j] - Gw[j] + G[j, j] * w[j]) / weight_sum
                if positive:
                    new = max(rho - l1, 0.0) / curvature
                else:
                    new = math.copysign(max(abs(rho) - l1, 0.0), rho) / curvature
            delta = new - w[j]
            if delta != 0.0:
                for k in range(d):
                    Gw[k] += delta * G[k, j]
                w[j] = new
        largest = 0.0
        for j in range(d):
            g = (Gw[j] - b[j]) / weight_sum + l2 * w[j]
            if w[j] > 0.0:
                g += l1
            elif w[j] < 0.0:
                g -= l1
            elif positive:
                g = min(g + l1, 0.0)  # only a negative slope can move w_j up
            else:
                g = max(abs(g) - l1, 0.0)
            largest = max(largest, abs(g))
        if largest <= tol:
            return sweep + 1, True
    return max_iter, False


def warm_up() -> None:
    """Load every common specialisation from numba's on-disk cache (compiling
    it the first time on this machine): float32 and float64, dense and CSR
    (int32 indices, scipy's choice below 2**31 stored values), binomial,
    multinomial and the regression families.

    :func:`dmltk.connect` runs this on every worker, so that a fit never
    waits for a compiler or a cache load.
    """
    labels = np.zeros(2)
    none = np.empty(0)
    for dtype in (np.float64, np.float32):
        X = np.ones((2, 3), dtype=dtype)
        for k in (1, 3):
            W, WT = np.zeros((3, k)), np.zeros((k, 3))
            b = np.zeros(k)
            out, GT = np.zeros((3, k)), np.zeros((k, 3))
            scalars = np.zeros(k)
            Z = np.zeros((2, k))
            dense_loss_gradient(X, labels, none, WT, b, GT, scalars)
            dense_hessian_product(X, labels, none, WT, b, WT, b, GT, scalars)
            dense_margins(X, WT, b, Z)
            dense_transpose_product(X, Z, GT)
            margins_loss_residual(Z, labels, none, scalars)
            margins_curvature(Z, Z.copy(), none, scalars)
            margins_probabilities(Z, np.zeros((2, max(k, 2))))
            margins_log_probabilities(Z, np.zeros((2, max(k, 2))))
            data = X.ravel()
            indices = np.tile(np.arange(3, dtype=np.int32), 2)
            csr = (data, indices, np.array([0, 3, 6], dtype=np.int32))
            sparse_loss_gradient(*csr, labels, none, W, b, out, scalars)
            sparse_hessian_product(*csr, labels, none, W, b, W, b, out, scalars)
            sparse_margins(*csr, W, b, Z)
            sparse_transpose_product(*csr, Z, out)
            batch = np.zeros((2, 4))
            folds = np.zeros(1, dtype=np.int64)
            logistic = (np.int64(-1), 0.0)
            dense_batch_loss_gradient(
                X, batch, folds, k, WT, b, GT, scalars, b[:1], *logistic
            )
            sparse_batch_loss_gradient(
                *csr, batch, folds, k, W, b, out, scalars, b[:1], *logistic
            )
            margins_batch_loss_residual(Z, batch, folds, k, scalars, b[:1], *logistic)
            margins_batch_held_out(Z, batch, folds, k, np.zeros((1, 3)))
            sums = np.zeros((2, 3, 4))
            dense_fold_class_sums(X, batch, 1, sums)
            sparse_fold_class_sums(*csr, batch, 1, sums)
            dense_batch_held_out(X, batch, folds, k, W, b, np.zeros((1, 3)), *logistic)
        w, g, z = np.zeros(3), np.zeros(3), np.zeros(2)
        csr = (X.ravel(), np.tile(np.arange(3, dtype=np.int32), 2),
               np.array([0, 3, 6], dtype=np.int32))  # fmt: skip
        scalars = np.zeros(1)
        family, power = np.int64(TWEEDIE), 1.5
        dense_glm_loss_gradient(X, labels, none, w, 0.0, g, scalars, family, power)
        dense_glm_hessian_product(
            X, labels, none, w, 0.0, w, 0.0, g, scalars, family, power
        )
        sparse_glm_loss_gradient(*csr, labels, none, w, 0.0, g, scalars, family, power)
        sparse_glm_hessian_product(
            *csr, labels, none, w, 0.0, w, 0.0, g, scalars, family, power
        )
        margins_glm_loss_residual(z, labels, none, scalars, family, power)
        margins_glm_curvature(z, z.copy(), labels, none, scalars, family, power)
        batch, folds = np.zeros((2, 4)), np.zeros(1, dtype=np.int64)
        W1, b1, out1 = np.zeros((3, 1)), np.zeros(1), np.zeros((3, 1))
        dense_batch_loss_gradient(
            X, batch, folds, 1, W1.T.copy(), b1, out1.T.copy(), scalars, b1,
            family, power,
        )  # fmt: skip
        sparse_batch_loss_gradient(
            *csr, batch, folds, 1, W1, b1, out1, scalars, b1, family, power
        )
        Z1 = np.zeros((2, 1))
        margins_batch_loss_residual(Z1, batch, folds, 1, scalars, b1, family, power)
        margins_batch_held_out_regression(
            Z1, batch, folds, family, power, np.zeros((1, 5))
        )
        dense_batch_held_out(
            X, batch, folds, 1, W1, b1, np.zeros((1, 5)), family, power
        )
    gram_coordinate_descent(
        np.eye(2), np.ones(2), 2.0, 0.1, 0.1, np.zeros(2), 1e-8, 10, False
    )
