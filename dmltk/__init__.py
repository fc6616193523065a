"""dmltk: distributed machine learning on Dask that feels like scikit-learn.

The public names are imported on first use (PEP 562), not here: a worker
that unpickles a task function such as ``dmltk._loss.margins_block`` imports
this package first, and must not pay for scikit-learn, pandas, click or
dask.dataframe, which only the client side needs.
"""

import importlib as _importlib
import sys as _sys
import types as _types

__version__ = "0.1.0"

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
    "Ridge",
    "RidgeCV",
    "TweedieRegressor",
    "TweedieRegressorCV",
    "__version__",
    "connect",
    "load",
    "metrics",
    "partition",
    "placement",
    "read_libsvm",
    "read_table",
    "save",
    "train_test_split",
]

# Public name -> (submodule, attribute of it); attribute None: the submodule.
_LAZY = {
    "ElasticNet": ("linear_model", "ElasticNet"),
    "ElasticNetCV": ("linear_model", "ElasticNetCV"),
    "GammaRegressor": ("linear_model", "GammaRegressor"),
    "GammaRegressorCV": ("linear_model", "GammaRegressorCV"),
    "Lasso": ("linear_model", "Lasso"),
    "LassoCV": ("linear_model", "LassoCV"),
    "LinearRegression": ("linear_model", "LinearRegression"),
    "LogisticRegression": ("linear_model", "LogisticRegression"),
    "LogisticRegressionCV": ("linear_model", "LogisticRegressionCV"),
    "PoissonRegressor": ("linear_model", "PoissonRegressor"),
    "PoissonRegressorCV": ("linear_model", "PoissonRegressorCV"),
    "Ridge": ("linear_model", "Ridge"),
    "RidgeCV": ("linear_model", "RidgeCV"),
    "TweedieRegressor": ("linear_model", "TweedieRegressor"),
    "TweedieRegressorCV": ("linear_model", "TweedieRegressorCV"),
    "connect": ("cluster", "connect"),
    "load": ("persistence", "load"),
    "metrics": ("metrics", None),
    "partition": ("partition", "partition"),
    "placement": ("partition", "placement"),
    "read_libsvm": ("io", "read_libsvm"),
    "read_table": ("io", "read_table"),
    "save": ("persistence", "save"),
    "train_test_split": ("model_selection", "train_test_split"),
}


def __getattr__(name: str):
    """Import the submodule that defines public ``name`` and return it."""
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = _importlib.import_module(f"{__name__}.{module_name}")
    if attribute is not None:
        value = getattr(value, attribute)
    # Kept as a plain global: later look-ups do not come back here.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(_types.ModuleType):
    """This package's module type: ``dmltk.partition`` stays the function
    when the submodule of the same name is imported.

    The import system binds each submodule it imports to an attribute of the
    package, so importing ``dmltk.partition`` (the estimator and the CLI do)
    would otherwise replace the public function with the module.
    """

    def __setattr__(self, name: str, value) -> None:
        if name in _LAZY and _LAZY[name][1] is not None:
            if isinstance(value, _types.ModuleType):
                return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
