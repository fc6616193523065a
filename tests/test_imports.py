"""What importing dmltk imports: workers unpickle task functions from the
block modules, which imports the package first; neither may pull in the
client-side stack (scikit-learn, pandas, click, dask.dataframe, ...).

Each check runs in a fresh interpreter: this one has imported everything.
"""

import json
import subprocess
import sys
import textwrap

import pytest

import dmltk
from dmltk.cluster import WORKER_MODULES, PreloadModules

CLIENT_SIDE = ("sklearn", "pandas", "click", "pyarrow", "dask.dataframe", "tqdm")


def fresh_python(code: str):
    """Run ``code`` in a new interpreter; return what it prints as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def dmltk_worker_modules():
    """The dmltk modules whose functions run in tasks: those connect()
    preloads, and those of the tasks of train_test_split and datasets."""
    preloaded = [name for name in WORKER_MODULES if name.startswith("dmltk.")]
    return [*preloaded, "dmltk.model_selection", "dmltk.datasets"]


def test_worker_modules_import_no_client_side_library():
    loaded = fresh_python(
        f"""
        import importlib, json, sys
        for name in {dmltk_worker_modules()!r}:
            importlib.import_module(name)
        print(json.dumps([m for m in {CLIENT_SIDE!r} if m in sys.modules]))
        """
    )
    assert loaded == []


def test_the_preload_plugin_imports_nothing_that_distributed_does_not():
    # Workers unpickle the plugin from dmltk.cluster. distributed itself
    # imports click, so the check is on what comes on top of distributed.
    added = fresh_python(
        f"""
        import json, sys
        import distributed
        before = set(sys.modules)
        import dmltk.cluster
        print(json.dumps(
            [m for m in {CLIENT_SIDE!r} if m in sys.modules and m not in before]
        ))
        """
    )
    assert added == []


def test_import_dmltk_is_lazy_and_the_public_names_resolve():
    report = fresh_python(
        f"""
        import json, sys
        import dmltk
        loaded = [m for m in {CLIENT_SIDE!r} if m in sys.modules]
        names = {{
            name: type(getattr(dmltk, name)).__name__ for name in dmltk.__all__
        }}
        print(json.dumps([loaded, names, dmltk.__version__]))
        """
    )
    loaded, names, version = report
    assert loaded == []
    assert version == dmltk.__version__
    estimators = (
        "ElasticNet", "ElasticNetCV", "GammaRegressor", "GammaRegressorCV", "Lasso",
        "LassoCV", "LinearRegression", "LogisticRegression", "LogisticRegressionCV",
        "PoissonRegressor", "PoissonRegressorCV", "Ridge", "RidgeCV",
        "TweedieRegressor", "TweedieRegressorCV",
    )  # fmt: skip
    assert names == {
        **dict.fromkeys(estimators, "type"),
        "__version__": "str",
        "connect": "function",
        "load": "function",
        "metrics": "module",
        "partition": "function",
        "placement": "function",
        "read_libsvm": "function",
        "read_table": "function",
        "save": "function",
        "train_test_split": "function",
    }


def test_star_import_dir_and_unknown_names():
    namespace = {}
    exec("from dmltk import *", namespace)
    assert set(dmltk.__all__) <= set(namespace)
    assert namespace["LogisticRegression"] is dmltk.linear_model.LogisticRegression
    assert set(dmltk.__all__) <= set(dir(dmltk))
    assert namespace["PoissonRegressor"] is dmltk.linear_model.PoissonRegressor
    with pytest.raises(AttributeError, match="no attribute 'SGDRegressor'"):
        dmltk.SGDRegressor  # noqa: B018


def test_importing_the_partition_module_keeps_the_partition_function():
    # The import system binds a submodule to its package's attribute of the
    # same name; dmltk.partition is the function, as before the lazy import.
    report = fresh_python(
        """
        import json
        import dmltk.partition
        from dmltk.partition import placement
        print(json.dumps([callable(dmltk.partition), dmltk.placement is placement]))
        """
    )
    assert report == [True, True]


def test_plugin_imports_the_modules_and_calls_their_warm_up(tmp_path, monkeypatch):
    (tmp_path / "dmltk_test_warm.py").write_text(
        "calls = []\n\ndef warm_up():\n    calls.append('warm')\n"
    )
    (tmp_path / "dmltk_test_cold.py").write_text("warm_up = None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("dmltk_test_warm", "dmltk_test_cold"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    plugin = PreloadModules(("dmltk_test_warm", "dmltk_test_cold"))
    plugin.setup(worker=None)
    assert sys.modules["dmltk_test_warm"].calls == ["warm"]
    assert "dmltk_test_cold" in sys.modules


def _client_side_modules_loaded() -> list:
    # click left out: distributed imports it.
    watched = (*CLIENT_SIDE, "dmltk.linear_model")
    return [m for m in watched if m in sys.modules and m != "click"]


def test_searches_run_no_client_side_import_on_the_workers():
    """The tasks of a search (the batch's targets, the fold roles, every
    pass) call functions of the light block modules only: a worker never
    imports the estimators or scikit-learn to run them (it once did, for
    the fold roles: 0.7 s per worker, a fifth of a search)."""
    import dask.array as da
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 6))
    y = (X[:, 0] + rng.standard_normal(3000) > 0).astype(float)
    Xd, yd = da.from_array(X, chunks=(500, 6)), da.from_array(y, chunks=500)
    with dmltk.connect(
        n_workers=2, threads_per_worker=1, dashboard_address=":0"
    ) as client:
        assert list(client.run(_client_side_modules_loaded).values()) == [[], []]
        dmltk.LogisticRegressionCV(Cs=3, cv=3).fit(Xd, yd)
        dmltk.ElasticNetCV(alphas=3, cv=3).fit(
            da.from_array(X, chunks=(3000, 3)), da.from_array(y, chunks=3000)
        )
        loaded = client.run(_client_side_modules_loaded)
    assert list(loaded.values()) == [[], []]


def test_fits_on_dask_input_load_no_compiled_kernel_on_the_client():
    """A fit and a search on dask input run their kernels on the workers
    only: the client never loads them (numba's first dispatch in a process
    costs about 0.3 s, once a fifth of a search's overhead: its first
    evaluation, computed from class sums, went through a kernel)."""
    loaded = fresh_python(
        """
        import json, sys
        import dask.array as da
        import numpy as np
        import dmltk

        rng = np.random.default_rng(0)
        X = rng.standard_normal((3000, 6))
        y = (X[:, 0] + rng.standard_normal(3000) > 0).astype(float)
        three = np.digitize(X[:, 1], [-0.5, 0.5])
        Xd = da.from_array(X, chunks=(500, 6))
        with dmltk.connect(n_workers=2, threads_per_worker=1, dashboard_address=":0"):
            dmltk.LogisticRegression().fit(Xd, da.from_array(y, chunks=500))
            for labels in (y, three):
                dmltk.LogisticRegressionCV(Cs=3, cv=3).fit(
                    Xd, da.from_array(labels, chunks=500)
                )
            print(json.dumps("dmltk._loss._kernels" in sys.modules))
        """
    )
    assert loaded is False
