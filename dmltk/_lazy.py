"""scipy for the modules whose functions run on workers, imported on first use.

Importing scipy.sparse or scipy.special costs 0.3-0.5 s (their shared array
API layer imports numpy.f2py and numpy.testing), more than the rest of a
worker module. ``sparse.issparse`` answers without importing scipy.sparse:
an object can only be a scipy sparse matrix once that package is imported,
which unpickling one does. The scipy.special functions import it on their
first call (about a microsecond afterwards); :data:`dmltk.cluster.WORKER_MODULES`
lists it so that :func:`dmltk.connect` imports it on workers before a fit.
"""

from __future__ import annotations

import importlib
import sys


class _Sparse:
    """Stands for ``scipy.sparse``: ``sparse.csr_matrix`` etc. import it."""

    @staticmethod
    def issparse(x) -> bool:
        """Whether ``x`` is a scipy sparse array or matrix (scipy's answer)."""
        module = sys.modules.get("scipy.sparse")
        return module is not None and module.issparse(x)

    def __getattr__(self, name: str):
        return getattr(importlib.import_module("scipy.sparse"), name)


sparse = _Sparse()


def expit(*args, **kwargs):
    """:func:`scipy.special.expit`."""
    from scipy.special import expit as function

    return function(*args, **kwargs)


def log_expit(*args, **kwargs):
    """:func:`scipy.special.log_expit`."""
    from scipy.special import log_expit as function

    return function(*args, **kwargs)


def logsumexp(*args, **kwargs):
    """:func:`scipy.special.logsumexp`."""
    from scipy.special import logsumexp as function

    return function(*args, **kwargs)
