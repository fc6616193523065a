"""Linear models fitted on distributed data, with scikit-learn's names,
parameters and objectives: :class:`LogisticRegression` for classes (with
:class:`LogisticRegressionCV`, which chooses its ``C`` by cross-validation,
and :func:`regularization_path`), and for regression
:class:`LinearRegression`, :class:`Ridge`, :class:`Lasso`,
:class:`ElasticNet` (with :class:`RidgeCV`, :class:`LassoCV` and
:class:`ElasticNetCV`, which choose their ``alpha`` by cross-validation),
:class:`PoissonRegressor`, :class:`GammaRegressor` and
:class:`TweedieRegressor` (with :class:`PoissonRegressorCV`,
:class:`GammaRegressorCV` and :class:`TweedieRegressorCV`).

Every model is a loss family of :mod:`dmltk._loss` with a penalty, minimised
by a solver of :mod:`dmltk.solvers` whose every evaluation is one pass of the
distributed engine (:mod:`dmltk._distributed`) over the blocks of X.
"""

from ._base import choose_solver
from ._logistic import LogisticRegression
from ._logistic_cv import LogisticRegressionCV
from ._path import RegularizationPath, regularization_path
from ._regression import (
    ElasticNet,
    GammaRegressor,
    Lasso,
    LinearRegression,
    PoissonRegressor,
    Ridge,
    TweedieRegressor,
)
from ._regression_cv import (
    ElasticNetCV,
    GammaRegressorCV,
    LassoCV,
    PoissonRegressorCV,
    RidgeCV,
    TweedieRegressorCV,
)

__all__ = [
    "ElasticNet",
    "ElasticNetCV",
    "GammaRegressor",
    "GammaRegressorCV",
    "Lasso",
    "LassoCV",
    "LinearRegression",
    "LogisticRegression",
    "LogisticRegressionCV",
    "PoissonRegressor",
    "PoissonRegressorCV",
    "RegularizationPath",
    "Ridge",
    "RidgeCV",
    "TweedieRegressor",
    "TweedieRegressorCV",
    "choose_solver",
    "regularization_path",
]
