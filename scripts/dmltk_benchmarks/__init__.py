"""dmltk's benchmarks: one registry of problems, one adapter per system, one runner.

In the manner of glum's ``glum_benchmarks``:

- :mod:`.problems`: the registry (data generator, family, penalty, layout,
  dtype, ``zero_mean``); :mod:`.data` generates their blocks.
- ``bench_dmltk``, ``bench_sklearn``, ``bench_dask_ml``, ``bench_spark``: one
  adapter per system, each with ``fit(problem, **settings)`` (and ``read`` /
  ``workflow`` where the system has them) returning coefficients,
  iterations and seconds.
- :mod:`.runner`: a child process per system (:mod:`.child`), peak memory of
  its process tree (:mod:`.monitor`), an optional wait for a quiet machine,
  scoring on ``dmltk._testing.sklearn_objective``.
- :mod:`.cluster`: every Dask cluster (``dmltk.connect``) and Spark session.
- :mod:`.timing`: fit timing and the per-evaluation baselines; :mod:`.report`:
  tables; :mod:`.suites`: the command-line benchmarks in ``scripts/``.
"""
