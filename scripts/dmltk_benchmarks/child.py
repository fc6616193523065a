"""Runs in their own process: ``python -m dmltk_benchmarks.child SPECS RESULTS``.

``SPECS`` (JSON) is a list of runs (usually one), each naming the system,
the task (``fit``, ``read`` or ``workflow``: a function of the system's
adapter module) and its keyword arguments; the adapters' results are
written to ``RESULTS`` as a JSON list. A process per system isolates its
imports and memory, and lets the parent measure the peak memory of its
whole process tree.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

from .problems import Problem

# system -> adapter module; every adapter has the same functions.
ADAPTERS = {
    "dmltk": "bench_dmltk",
    "sklearn": "bench_sklearn",
    "dask-ml": "bench_dask_ml",
    "spark": "bench_spark",
}


def run(spec: dict) -> dict:
    """Call ``ADAPTERS[spec["system"]].<spec["task"]>(**spec["kwargs"])``."""
    module = importlib.import_module(f"{__package__}.{ADAPTERS[spec['system']]}")
    kwargs = dict(spec["kwargs"])
    if "problem" in kwargs:
        kwargs["problem"] = Problem.from_json(kwargs["problem"])
    if "path" in kwargs:
        kwargs["path"] = Path(kwargs["path"])
    return getattr(module, spec["task"])(**kwargs)


def main(argv: list[str] | None = None) -> None:
    """Read the specs (a list), run them in turn, write the list of results."""
    spec_path, result_path = argv or sys.argv[1:]
    results = [run(spec) for spec in json.loads(Path(spec_path).read_text())]
    Path(result_path).write_text(json.dumps(results))


if __name__ == "__main__":
    main()
