"""dmltk: distributed machine learning on Dask that feels like scikit-learn."""

from . import metrics
from .cluster import connect
from .io import read_libsvm, read_table
from .linear_model import LogisticRegression
from .model_selection import train_test_split
from .partition import partition, placement
from .persistence import load, save

__version__ = "0.1.0"

__all__ = [
    "LogisticRegression",
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
