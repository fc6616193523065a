"""The registry of benchmark problems: data, family, penalty, layout, dtype.

Classification problems (``binary``, ``multinomial``, ``l1``,
``wide-sparse``) carry scikit-learn's ``C`` and ``l1_ratio``; regression
problems (``squared-error``, ``poisson``, ``gamma``, ``tweedie``) a Tweedie
``power`` and ``alpha``, the L2 strength of the normalised objective
(:mod:`dmltk_benchmarks.objectives`), which every adapter translates into
its system's own parameters.

A :class:`Problem` is plain data (it travels to child processes as JSON);
:func:`get_problem` builds a registered one at any size. Adding a problem is
one entry in ``PROBLEMS``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import data


@dataclass(frozen=True)
class Problem:
    """One benchmark problem.

    Attributes
    ----------
    name : str
        Registry key.
    n, d, blocks, seed : int
        Rows, columns, row blocks, base seed (block ``i`` is drawn from
        ``default_rng([seed, i])``, so the data depends on ``blocks`` too).
    kind : {"dense", "sparse"}
        Generator (see :mod:`dmltk_benchmarks.data`).
    classes : int
        2 (binomial) or more (multinomial); unused by regression problems.
    C, l1_ratio : float
        scikit-learn's penalty parameters of a classification problem.
    zeros : float
        Share of exactly zero true weights (the L1 problem), dense only.
    layout : {"rows", "columns", "blocks"}
        How dmltk partitions X before fitting.
    dtype : {"float64", "float32"}
        dtype of X as every system receives it.
    zero_mean : bool
        Centred columns, each plus 0.3 of its left neighbour.
    nnz : int
        Non-zeros a row (sparse only).
    power : float or None
        A regression problem's Tweedie power (0 squared error with the
        identity link; 1 Poisson, 2 Gamma, in between compound
        Poisson-Gamma, each with the log link); None for classification.
    alpha : float
        A regression problem's L2 strength on the normalised objective
        ``mean half deviance + alpha/2 ||w||^2`` (scikit-learn's GLM
        ``alpha``; Ridge's is ``alpha * n``).
    """

    name: str
    n: int
    d: int
    blocks: int = 16
    seed: int = 0
    kind: str = "dense"
    classes: int = 2
    C: float = 1.0
    l1_ratio: float = 0.0
    zeros: float = 0.0
    layout: str = "rows"
    dtype: str = "float64"
    zero_mean: bool = False
    nnz: int = 0
    power: float | None = None
    alpha: float = 0.0

    @property
    def is_regression(self) -> bool:
        """Whether y is real-valued (a Tweedie ``power`` is set)."""
        return self.power is not None

    @property
    def family(self) -> str:
        """``"binomial"``, ``"multinomial"``, ``"squared_error"``,
        ``"poisson"``, ``"gamma"`` or ``"tweedie"``."""
        if self.is_regression:
            names = {0: "squared_error", 1: "poisson", 2: "gamma"}
            return names.get(self.power, "tweedie")
        return "binomial" if self.classes == 2 else "multinomial"

    @property
    def row_chunks(self) -> tuple[int, ...]:
        """Rows of each block, as even as possible."""
        base, extra = divmod(self.n, self.blocks)
        return tuple(base + (i < extra) for i in range(self.blocks))

    @property
    def nbytes(self) -> int:
        """Bytes of X as stored (dense), or of its values and indices (sparse)."""
        item = np.dtype(self.dtype).itemsize
        if self.kind == "sparse":
            return self.n * self.nnz * (item + 4)
        return self.n * self.d * item

    def parameters(self) -> dict:
        """The generating parameters (true weights, column scales and means)."""
        if self.kind == "sparse":
            return {}
        if self.is_regression:
            params = data.dense_parameters(
                self.d, self.seed, margin_std=data.REGRESSION_MARGIN_STD
            )
        else:
            params = data.dense_parameters(
                self.d, self.seed, classes=self.classes, zeros=self.zeros
            )
        return data.centred(params) if self.zero_mean else params

    def spec(self) -> dict:
        """What a block generator needs, computed once and shipped to workers."""
        return {
            "seed": self.seed,
            "params": self.parameters(),
            "correlate": self.zero_mean,
            "dtype": self.dtype,
            "d": self.d,
            "nnz": self.nnz,
            "power": self.power,
        }

    def blocks_in_memory(self):
        """Yield ``(X_i, y_i)`` block by block, as the workers generate them."""
        from threadpoolctl import threadpool_limits

        spec = self.spec()
        # One BLAS thread, like a Dask worker, so that the margins behind the
        # labels are computed the same way in both places.
        with threadpool_limits(limits=1, user_api="blas"):
            for index, rows in enumerate(self.row_chunks):
                X = data.block_features(self.kind, spec, index, rows)
                yield X, data.block_targets(self.kind, spec, index, X)

    def numpy_data(self):
        """X (ndarray, or CSR for sparse problems) and y in memory."""
        if self.kind == "sparse":
            import scipy.sparse as sp

            parts = list(self.blocks_in_memory())
            X = sp.vstack([X for X, _ in parts], format="csr")
            return X, np.concatenate([y for _, y in parts])
        # Filled block by block: never more than X and one block.
        X = np.empty((self.n, self.d), dtype=self.dtype)
        ys, start = [], 0
        for block, y in self.blocks_in_memory():
            X[start : start + block.shape[0]] = block
            ys.append(y)
            start += block.shape[0]
        return X, np.concatenate(ys)

    def to_json(self) -> dict:
        """Fields as a dict, for a child process."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, fields: dict) -> Problem:
        """Inverse of :meth:`to_json`."""
        return cls(**fields)


def _binary(n: int, d: int, **options) -> Problem:
    return Problem("binary", n, d, **options)


def _multinomial(n: int, d: int, classes: int = 10, **options) -> Problem:
    return Problem("multinomial", n, d, classes=classes, **options)


def _l1(n: int, d: int, **options) -> Problem:
    # On an irrelevant column the loss gradient grows like sqrt(n), on a
    # relevant one like n: C = 1/sqrt(n) zeroes the irrelevant half at any n.
    return Problem("l1", n, d, C=1.0 / np.sqrt(n), l1_ratio=1.0, zeros=0.5, **options)


def _wide_sparse(n: int, d: int, nnz: int = 30, **options) -> Problem:
    return Problem("wide-sparse", n, d, kind="sparse", nnz=nnz, **options)


# A small L2 term (at 1,000,000 rows, Ridge's alpha = 100 against a Gram
# diagonal of about 1e6), yet large enough that a penalty translated wrongly
# into a peer's parameters shows as a gap: the optimum for twice this alpha
# is 2e-9 (Poisson) to 1e-8 (squared error) above the reference optimum,
# relative, at any n (measured at 20,000 x 50).
REGRESSION_ALPHA = 1e-4


def _regression(name: str, power: float):
    def factory(n: int, d: int, alpha: float = REGRESSION_ALPHA, **options):
        return Problem(name, n, d, power=power, alpha=alpha, **options)

    return factory


# name -> (factory(n, d, **options), default n, default d)
PROBLEMS: dict[str, tuple[Callable[..., Problem], int, int]] = {
    "binary": (_binary, 2_000_000, 100),
    "multinomial": (_multinomial, 1_000_000, 50),
    "l1": (_l1, 1_000_000, 50),
    "wide-sparse": (_wide_sparse, 100_000, 2_000_000),
    "squared-error": (_regression("squared-error", 0.0), 1_000_000, 50),
    "poisson": (_regression("poisson", 1.0), 1_000_000, 50),
    "gamma": (_regression("gamma", 2.0), 1_000_000, 50),
    "tweedie": (_regression("tweedie", 1.5), 1_000_000, 50),
}


def get_problem(name: str, n: int | None = None, d: int | None = None, **options):
    """A registered problem; ``n`` and ``d`` default to its full size.

    Parameters
    ----------
    name : str
        A key of ``PROBLEMS``.
    n, d : int, optional
        Rows and columns.
    **options
        Any other :class:`Problem` field (``blocks``, ``seed``, ``dtype``,
        ``zero_mean``, ``layout``, ``classes``, ``nnz``; ``alpha`` for a
        regression problem).

    Returns
    -------
    Problem
    """
    if name not in PROBLEMS:
        raise KeyError(f"Unknown problem {name!r}; registered: {sorted(PROBLEMS)}.")
    factory, default_n, default_d = PROBLEMS[name]
    return factory(n or default_n, d or default_d, **options)
