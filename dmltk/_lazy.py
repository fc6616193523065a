"""scipy.sparse for the modules whose functions run on workers, imported on
first use.

Importing scipy.sparse costs 0.3-0.5 s (its shared array API layer imports
numpy.f2py and numpy.testing), more than the rest of a worker module.
``sparse.issparse`` answers without importing scipy.sparse: an object can
only be a scipy sparse matrix once that package is imported, which
unpickling one does.
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
