"""Compiled block kernels: one read of a block per evaluation.

Each kernel walks the rows of ONE block (dense C-contiguous, or CSR given as
its ``data``, ``indices`` and ``indptr``) and does all the work of a row while
the row is in the fastest cache: its margins, the loss and residual of the
row, and the row's share of ``X.T @ residual``. numpy needs two passes for the
same result (``X @ w``, then ``X.T @ r``) and temporaries for every
transcendental function; the best it could do was to walk row slices sized
for one processor's cache, which ran at two reads per evaluation on another.

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
  binomial loss (sigmoid), K >= 3 the multinomial one (softmax).
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
from numba import njit

# "reassoc" lets LLVM vectorise the dot products (a sum in another order:
# rounding differences of order 1e-16 relative, the same on every run);
# "contract" allows fused multiply-adds. Nothing that changes NaN, inf or
# signed-zero handling.
_OPTIONS = {"cache": True, "nogil": True, "fastmath": {"reassoc", "contract"}}


# ---------------------------------------------------------------- per row
@njit(inline="always")
def _binomial(z, label):
    """Loss ``log(1 + exp(z)) - y z`` and probability ``expit(z)`` of one
    margin: one exp and one log1p, finite for any finite z."""
    e = math.exp(-abs(z))
    loss = max(z, 0.0) - label * z + math.log1p(e)
    p = 1.0 / (1.0 + e) if z >= 0.0 else e / (1.0 + e)
    return loss, p


@njit(inline="always")
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


@njit(inline="always")
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


@njit(inline="always")
def _multinomial_curvature(z, u, weight):
    """``s (p * u - p (p . u))`` in ``u``, with ``p = softmax(z)`` (``z`` is
    overwritten): the softmax Jacobian applied to the direction's margins."""
    _softmax_in_place(z)
    pu = 0.0
    for k in range(z.shape[0]):
        pu += z[k] * u[k]
    for k in range(z.shape[0]):
        u[k] = weight * z[k] * (u[k] - pu)


@njit(inline="always")
def _weight(sample_weight, i):
    return sample_weight[i] if sample_weight.shape[0] > 0 else 1.0


# ------------------------------------------------------ row products
@njit(inline="always")
def _dense_dot(X, i, w, start):
    total = start
    for j in range(X.shape[1]):
        total += X[i, j] * w[j]
    return total


@njit(inline="always")
def _dense_axpy(X, i, scale, out):
    for j in range(X.shape[1]):
        out[j] += scale * X[i, j]


@njit(inline="always")
def _dense_margins(X, i, WT, b, z):
    for k in range(z.shape[0]):
        z[k] = _dense_dot(X, i, WT[k], b[k])


@njit(inline="always")
def _dense_outer(X, i, r, GT):
    for k in range(r.shape[0]):
        _dense_axpy(X, i, r[k], GT[k])


@njit(inline="always")
def _sparse_dot(data, indices, lo, hi, w, start):
    total = start
    for p in range(lo, hi):
        total += data[p] * w[indices[p]]
    return total


@njit(inline="always")
def _sparse_axpy(data, indices, lo, hi, scale, out):
    for p in range(lo, hi):
        out[indices[p]] += scale * data[p]


@njit(inline="always")
def _sparse_margins(data, indices, lo, hi, W, b, z):
    z[:] = b
    for p in range(lo, hi):
        x = data[p]
        j = indices[p]
        for k in range(z.shape[0]):
            z[k] += x * W[j, k]


@njit(inline="always")
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


def warm_up() -> None:
    """Load every common specialisation from numba's on-disk cache (compiling
    it the first time on this machine): float32 and float64, dense and CSR
    (int32 indices, scipy's choice below 2**31 stored values), binomial and
    multinomial.

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
