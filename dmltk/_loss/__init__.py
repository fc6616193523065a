"""Block math: the loss families, their gradients and Hessian products on
ONE block.

The families are objects with the same four block functions
(``loss_gradient_block``, ``hessian_product_block``, ``loss_residual``,
``hessian_residual``), which the distributed engine runs without knowing
which family it holds: :class:`Binomial` and :class:`Multinomial` (the
module-level functions below, on the logistic kernels) and
:class:`RegressionFamily` (squared error, Poisson, Gamma and Tweedie, on the
regression kernels). A :class:`Penalty` is a small value, and
:func:`penalized_objective` adds it to the summed block results.

This package knows numpy, scipy and its compiled kernels
(:mod:`dmltk._loss._kernels`, numba) only, never dask: ``_block`` (the
layouts every family shares), ``_logistic``, ``_regression``, ``_penalty``
and ``_kernels``. Every function takes one block ``X``
(a dense C-contiguous ``numpy.ndarray`` or a ``scipy.sparse`` CSR matrix, of
float32 or float64) with its labels, and returns float64 numpy results, so it
can be tested alone against the numpy reference (tests/reference_loss.py) and
finite differences.

The coefficient vector ``coef`` has ``n_features`` entries, followed by the
intercept when ``fit_intercept`` is true (scikit-learn's layout: intercept
last).

Labels come as ``targets``: either the 0/1 labels, shape (n_rows,), or, for
weighted fits, a two-column array ``[label, sample weight]`` of shape
(n_rows, 2), so that one block of targets travels with one block of rows.

The logistic objective (what :class:`dmltk.LogisticRegression` minimises,
scikit-learn's)::

    C * sum_i s_i logloss(y_i, x_i . w + b) + 1/2 ||w||^2

with ``logloss(y, z) = log(1 + exp(z)) - y z`` for ``y`` in {0, 1} and
sample weights ``s_i`` (1 when not given). The solver sees it divided by
``C * sum_i s_i`` so that the tolerance means what it means for scikit-learn's
lbfgs::

    f(w, b) = sum_i s_i logloss(y_i, x_i . w + b) / S + ||w||^2 / (2 C S)
"""

from ._batch import (
    ROLE_OFFSET,
    TEST,
    TRAIN,
    ModelBatch,
    fold_class_sums,
    fold_target_sums,
    split_models,
    stack_models,
    stack_targets,
    start_evaluation,
)
from ._block import (
    _as_matrix,
    _compiled,
    gradient_block,
    gram_block,
    margins_block,
    n_outputs,
    residual_scalars,
    split_coef,
    split_targets,
    stacked_weights,
    transpose_product,
)
from ._logistic import (
    Binomial,
    Multinomial,
    hessian_product_block,
    hessian_residual,
    loss_gradient_block,
    loss_residual,
)
from ._penalty import (
    Penalty,
    elastic_net_dual_gap,
    penalized_hessian_product,
    penalized_objective,
)
from ._regression import (
    GAMMA,
    POISSON,
    SQUARED_ERROR,
    RegressionFamily,
    regression_family,
)
from ._ridge import fold_gram_block, ridge_loo_block

__all__ = [
    "GAMMA",
    "POISSON",
    "ROLE_OFFSET",
    "SQUARED_ERROR",
    "TEST",
    "TRAIN",
    "Binomial",
    "ModelBatch",
    "Multinomial",
    "Penalty",
    "RegressionFamily",
    "_as_matrix",
    "_compiled",
    "elastic_net_dual_gap",
    "fold_class_sums",
    "fold_gram_block",
    "fold_target_sums",
    "gradient_block",
    "gram_block",
    "hessian_product_block",
    "hessian_residual",
    "loss_gradient_block",
    "loss_residual",
    "margins_block",
    "n_outputs",
    "penalized_hessian_product",
    "penalized_objective",
    "regression_family",
    "residual_scalars",
    "ridge_loo_block",
    "split_coef",
    "split_models",
    "split_targets",
    "stack_models",
    "stack_targets",
    "stacked_weights",
    "start_evaluation",
    "transpose_product",
]
