"""Model files: exact round trips, atomic writes, and refusal of anything
that is not a dmltk model file, without running code from it."""

import io
import json
import os
import pickle
import zipfile

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

import dmltk
from dmltk import LogisticRegression, persistence


def fitted_attributes(model):
    return {k: v for k, v in vars(model).items() if k.endswith("_")}


def assert_identical_models(loaded, model, X):
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    expected = fitted_attributes(model)
    got = fitted_attributes(loaded)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert type(got[name]) is type(value), name
        if isinstance(value, np.ndarray):
            assert got[name].dtype == value.dtype, name
            np.testing.assert_array_equal(got[name], value, strict=True)
        else:
            assert got[name] == value, name
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X), strict=True)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(
        loaded.decision_function(X), model.decision_function(X)
    )


CASES = {
    "int labels": ({}, lambda y: y),
    "string labels": ({}, lambda y: np.where(y == 1, "malignant", "benign")),
    "bool labels": ({}, lambda y: y == 1),
    "float labels": ({}, lambda y: np.where(y == 1, 1.0, -1.0)),
    "no intercept": ({"fit_intercept": False}, lambda y: y),
    "no penalty": ({"C": np.inf, "max_iter": 20, "tol": 1e-3}, lambda y: y),
    "class weights": (
        {"class_weight": {0: 1.0, 1: 3.0}, "warm_start": True},
        lambda y: y,
    ),
    "balanced": ({"class_weight": "balanced"}, lambda y: np.where(y == 1, "b", "a")),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_round_trip_is_exact(tmp_path, breast_cancer, case):
    X, y = breast_cancer
    params, labels = CASES[case]
    model = LogisticRegression(**params).fit(X, labels(y))
    path = tmp_path / "model.dmltk"
    dmltk.save(model, path)
    assert_identical_models(dmltk.load(path), model, X)
    assert os.listdir(tmp_path) == ["model.dmltk"]


def test_round_trip_keeps_feature_names(tmp_path, breast_cancer):
    X, y = breast_cancer
    frame = pd.DataFrame(X, columns=[f"feature {i}" for i in range(X.shape[1])])
    model = LogisticRegression().fit(frame, y)
    dmltk.save(model, str(tmp_path / "model.dmltk"))
    loaded = dmltk.load(str(tmp_path / "model.dmltk"))
    assert loaded.feature_names_in_.dtype == object
    assert_identical_models(loaded, model, frame)
    with pytest.raises(ValueError, match="feature names"):
        loaded.predict(frame.rename(columns={"feature 0": "other"}))


def test_unfitted_model_keeps_its_parameters(tmp_path):
    model = LogisticRegression(C=0.25, fit_intercept=False, tol=1e-7, max_iter=7)
    dmltk.save(model, tmp_path / "model.dmltk")
    loaded = dmltk.load(tmp_path / "model.dmltk")
    assert loaded.get_params() == model.get_params()
    assert fitted_attributes(loaded) == {}


def test_scalars_and_small_containers_round_trip_exactly(tmp_path, breast_cancer):
    # Later estimators may add such fitted attributes; the format keeps them.
    X, y = breast_cancer
    model = LogisticRegression().fit(X, y)
    model.extra_scalars_ = {
        "third": 1 / 3,
        "inf": float("inf"),
        "flag": True,
        "none": None,
        "pair": (1, "b"),
        "list": [2**62, -0.0],
        "by_label": {0: 1.0, np.int64(1): 3.0, "two": 2.5},  # as class_weight
    }
    model.numpy_scalar_ = np.float32(0.1)
    model.multinomial_coef_ = np.arange(12.0).reshape(3, 4)
    path = tmp_path / "model.dmltk"
    dmltk.save(model, path)
    loaded = dmltk.load(path)
    assert loaded.extra_scalars_ == model.extra_scalars_
    assert type(loaded.extra_scalars_["pair"]) is tuple
    assert np.copysign(1, loaded.extra_scalars_["list"][1]) == -1
    assert type(loaded.numpy_scalar_) is np.float32
    assert loaded.numpy_scalar_ == np.float32(0.1)
    assert_identical_models(loaded, model, X)


@pytest.mark.parametrize("dumps", ["pickle", "joblib"])
def test_pickle_and_joblib_keep_working(tmp_path, breast_cancer, dumps):
    X, y = breast_cancer
    model = LogisticRegression().fit(X, np.where(y == 1, "yes", "no"))
    if dumps == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib")
    assert_identical_models(loaded, model, X)


# -------------------------------------------------------------- atomicity
class ExplodingFloat(float):
    """A float whose conversion, during a save, lists the directory (to show
    that the write is under way) and then fails."""

    def __new__(cls, directory, error):
        value = super().__new__(cls, 1.0)
        value.directory, value.error, value.seen = directory, error, None
        return value

    def __float__(self):
        self.seen = sorted(os.listdir(self.directory))
        raise self.error


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failure_mid_write_leaves_no_file(tmp_path, breast_cancer, error):
    X, y = breast_cancer
    model = LogisticRegression().fit(X, y)
    # Written last (attributes go in name order, the header after them).
    model.zz_last_ = {"value": ExplodingFloat(tmp_path, error)}
    with pytest.raises(type(error)):
        dmltk.save(model, tmp_path / "new.dmltk")
    seen = model.zz_last_["value"].seen
    assert len(seen) == 1 and seen[0].startswith(".new.dmltk.")  # the temp file
    assert os.listdir(tmp_path) == []


def test_a_failed_save_leaves_an_older_file_untouched(tmp_path, breast_cancer):
    X, y = breast_cancer
    path = tmp_path / "model.dmltk"
    old = LogisticRegression(C=0.5).fit(X, y)
    dmltk.save(old, path)
    old_bytes = path.read_bytes()
    new = LogisticRegression(C=2.0).fit(X, y)
    new.zz_unsavable_ = np.array([object(), 1], dtype=object)
    with pytest.raises(ValueError, match=r"zz_unsavable_ is an object array holding"):
        dmltk.save(new, path)
    assert os.listdir(tmp_path) == ["model.dmltk"]
    assert path.read_bytes() == old_bytes
    assert dmltk.load(path).C == 0.5
    new.zz_unsavable_ = lambda: None
    with pytest.raises(ValueError, match=r"zz_unsavable_ is a function"):
        dmltk.save(new, path)
    assert os.listdir(tmp_path) == ["model.dmltk"]
    assert path.read_bytes() == old_bytes


def test_save_replaces_an_existing_file(tmp_path, breast_cancer):
    X, y = breast_cancer
    path = tmp_path / "model.dmltk"
    path.write_bytes(b"an older file")
    dmltk.save(LogisticRegression(C=3.0).fit(X, y), path)
    assert dmltk.load(path).C == 3.0
    assert os.listdir(tmp_path) == ["model.dmltk"]


def test_save_refuses_other_estimators(tmp_path, breast_cancer):
    X, y = breast_cancer

    class Derived(LogisticRegression):
        pass

    for model in (SklearnLogisticRegression().fit(X, y), Derived()):
        with pytest.raises(TypeError, match=r"dmltk model files hold"):
            dmltk.save(model, tmp_path / "model.dmltk")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------- refusal
class CreatesMarker:
    """Unpickling this creates the file ``path``: proof that code ran."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture
def marker(tmp_path):
    """A marker file path, and a check that the payload really is live."""
    path = tmp_path / "code-ran"
    probe = tmp_path / "probe"
    pickle.loads(pickle.dumps(CreatesMarker(probe))).close()
    assert probe.exists()
    probe.unlink()
    yield path
    assert not path.exists(), "loading ran code from the file"


def test_a_pickle_is_refused_without_being_run(tmp_path, marker):
    path = tmp_path / "model.dmltk"
    path.write_bytes(pickle.dumps(CreatesMarker(marker)))
    with pytest.raises(
        ValueError, match=r"not a dmltk model file: it looks like a pickle"
    ):
        dmltk.load(path)


def test_a_joblib_file_is_refused_without_being_run(tmp_path, marker):
    path = tmp_path / "model.joblib"
    joblib.dump({"model": CreatesMarker(marker)}, path)
    with pytest.raises(ValueError, match=r"not a dmltk model file"):
        dmltk.load(path)


def write_zip(path, members: dict):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_a_zip_holding_a_pickle_is_refused(tmp_path, marker):
    path = tmp_path / "model.dmltk"
    write_zip(path, {"model.pkl": pickle.dumps(CreatesMarker(marker))})
    with pytest.raises(ValueError, match=r"a zip archive without model.json"):
        dmltk.load(path)


def valid_members(tmp_path, breast_cancer) -> dict:
    X, y = breast_cancer
    source = tmp_path / "source.dmltk"
    dmltk.save(LogisticRegression().fit(X, y), source)
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    source.unlink()
    return members


def edited(members: dict, edit) -> dict:
    header = json.loads(members["model.json"])
    edit(header)
    return {**members, "model.json": json.dumps(header)}


def test_an_npy_that_needs_pickle_is_refused(tmp_path, breast_cancer, marker):
    members = valid_members(tmp_path, breast_cancer)
    payload = io.BytesIO()
    np.save(payload, np.array([CreatesMarker(marker)], dtype=object), allow_pickle=True)
    members["classes_.npy"] = payload.getvalue()
    path = tmp_path / "model.dmltk"
    write_zip(path, members)
    with pytest.raises(
        ValueError,
        match=r"classes_.npy is not a valid .npy array: it holds Python objects",
    ):
        dmltk.load(path)


def set_key(key, value):
    def edit(header):
        header[key] = value

    return edit


def set_attribute(name, **spec):
    def edit(header):
        header["attributes"][name].update(spec)

    return edit


def set_param(name, value):
    def edit(header):
        header["params"][name] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            set_key("format_version", 2),
            r"format version 2 .*reads versions up to 1\. Upgrade dmltk",
        ),
        (set_key("format_version", "1"), r"format_version '1' is not valid"),
        (
            set_key("format", "skops"),
            r"not a dmltk model file: model.json has format 'skops'",
        ),
        (
            set_key("estimator", "os.system"),
            r"names the estimator 'os.system', which is not one dmltk loads",
        ),
        (
            set_key("estimator", "sklearn.linear_model.LogisticRegression"),
            r"not one dmltk loads \(\['dmltk.ElasticNet', 'dmltk.ElasticNetCV', ",
        ),
        (set_param("C", -1.0), r"invalid parameters: The 'C' parameter .* Got -1.0"),
        (
            set_param("solver", "liblinear"),
            r"invalid parameters: The 'solver' parameter",
        ),
        (
            set_param("callback", "print"),
            r"invalid parameters: Invalid parameter 'callback'",
        ),
        (
            set_param("C", {"__dmltk__": "eval", "value": "1"}),
            r"parameter C: .* not a valid value",
        ),
        (set_attribute("coef_", file="missing.npy"), r"no member 'missing.npy'"),
        (
            set_attribute("coef_", file="intercept_.npy"),
            r"coef_.*holds <f8 \[1\], but model.json says '<f8' \[1, 30\]",
        ),
        (
            set_attribute("n_iter_", dtype="<i8"),
            r"n_iter_.*holds <i4 \[1\], but model.json says '<i8'",
        ),
        (
            set_attribute("n_features_in_", value=29),
            r"attributes do not fit together: coef_ of shape \(1, 30\)",
        ),
        (set_attribute("n_features_in_", value="30"), r"'30' is not of kind 'int'"),
        (set_attribute("n_features_in_", kind="pickle"), r"unknown kind 'pickle'"),
        (
            set_key("attributes", {"fit": {"kind": "int", "value": 1}}),
            r"'fit' is not a fitted attribute name",
        ),
        (
            set_key("attributes", {"__class__": {"kind": "int", "value": 1}}),
            r"'__class__' is not a fitted",
        ),
    ],
)
def test_bad_headers_are_refused(tmp_path, breast_cancer, edit, message):
    path = tmp_path / "model.dmltk"
    write_zip(path, edited(valid_members(tmp_path, breast_cancer), edit))
    with pytest.raises(ValueError, match=message):
        dmltk.load(path)


def test_attributes_missing_together_are_refused(tmp_path, breast_cancer):
    def drop_coef(header):
        del header["attributes"]["coef_"]

    path = tmp_path / "model.dmltk"
    write_zip(path, edited(valid_members(tmp_path, breast_cancer), drop_coef))
    with pytest.raises(
        ValueError, match=r"fitted attribute\(s\) \['coef_'\] are missing"
    ):
        dmltk.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"not a dmltk model file: the file is empty"),
        # Seeded: every pytest-xdist worker must collect the same parameters.
        (np.random.default_rng(0).bytes(256), r"not a dmltk model file"),
        (b"\x93NUMPY\x01\x00", r"it is a single .npy array"),
        (b"PK\x03\x04 truncated", r"not a dmltk model file"),
    ],
)
def test_files_that_are_not_model_files_are_refused(tmp_path, content, message):
    path = tmp_path / "model.dmltk"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        dmltk.load(path)


def test_broken_json_and_npy_are_refused(tmp_path, breast_cancer):
    members = valid_members(tmp_path, breast_cancer)
    path = tmp_path / "model.dmltk"
    write_zip(path, {**members, "model.json": b"{not json"})
    with pytest.raises(ValueError, match=r"model.json is not valid JSON"):
        dmltk.load(path)
    write_zip(path, {**members, "coef_.npy": members["coef_.npy"][:-8]})
    with pytest.raises(
        ValueError, match=r"coef_.npy is not a valid .npy array: 232 bytes"
    ):
        dmltk.load(path)
    write_zip(path, {**members, "coef_.npy": b"not an npy file"})
    with pytest.raises(ValueError, match=r"coef_.npy is not a valid .npy array"):
        dmltk.load(path)


def test_the_module_documents_the_format():
    doc = persistence.__doc__
    for word in ('"format": "dmltk-model"', "format_version", "allow_pickle=False"):
        assert word in doc


def test_every_damaged_byte_is_refused_or_harmless(tmp_path, breast_cancer):
    """Flip each byte of a model file (two ways): the file either loads as
    the same model (a byte zipfile does not read, such as a timestamp) or
    raises ValueError naming the file; never zipfile's, zlib's or another
    exception (CRCs catch damaged data)."""
    X, y = breast_cancer
    model = LogisticRegression(max_iter=30).fit(X[:, :4], y)
    path = tmp_path / "model.dmltk"
    dmltk.save(model, path)
    original = path.read_bytes()
    damaged = tmp_path / "damaged.dmltk"
    outcomes = {"refused": 0, "same model": 0}
    for position in range(len(original)):
        for flip in (0x01, 0xFF):
            data = bytearray(original)
            data[position] ^= flip
            damaged.write_bytes(bytes(data))
            try:
                loaded = dmltk.load(damaged)
            except ValueError as error:
                assert str(damaged) in str(error), (position, error)
                outcomes["refused"] += 1
                continue
            assert_identical_models(loaded, model, X[:50, :4])
            outcomes["same model"] += 1
    assert outcomes["refused"] > len(original)  # most bytes matter


# ---------------------------------------------------------------- searches
def _searches():
    """Every search a model file holds, with the data it is fitted on."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    positive = np.exp((y - y.mean()) / y.std())  # for the log-link families
    return {
        "LogisticRegressionCV": (dmltk.LogisticRegressionCV(Cs=3, cv=3), None),
        "RidgeCV leave-one-out": (dmltk.RidgeCV(), (X, y)),
        "RidgeCV folds": (dmltk.RidgeCV(alphas=[0.1, 1.0], cv=3), (X, y)),
        "LassoCV": (dmltk.LassoCV(alphas=5, cv=3), (X, y)),
        "ElasticNetCV": (dmltk.ElasticNetCV(l1_ratio=[0.5, 1.0], cv=3), (X, y)),
        "PoissonRegressorCV": (dmltk.PoissonRegressorCV(alphas=3, cv=3), (X, positive)),
        "GammaRegressorCV": (dmltk.GammaRegressorCV(alphas=3, cv=3), (X, positive)),
        "TweedieRegressorCV": (
            dmltk.TweedieRegressorCV(alphas=3, cv=3, power=1.5),
            (X, positive),
        ),
    }


@pytest.mark.parametrize("name", list(_searches()))
def test_searches_round_trip_exactly(tmp_path, breast_cancer, name):
    """A fitted search comes back with the same parameters, every fitted
    attribute (paths, scores, the chosen parameters, fit_stats_) equal in
    type, dtype and bits, and the same predictions."""
    model, data = _searches()[name]
    X, y = breast_cancer if data is None else data
    model.fit(X, y)
    dmltk.save(model, tmp_path / "search.dmltk")
    loaded = dmltk.load(tmp_path / "search.dmltk")
    if data is None:
        assert_identical_models(loaded, model, X)
        return
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    expected, got = fitted_attributes(model), fitted_attributes(loaded)
    assert got.keys() == expected.keys()
    for attribute, value in expected.items():
        assert type(got[attribute]) is type(value), attribute
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(got[attribute], value, strict=True)
        else:
            assert got[attribute] == value, attribute
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X), strict=True)


def test_a_search_with_legacy_attributes_is_refused_with_the_way_out(
    tmp_path, breast_cancer
):
    X, y = breast_cancer
    model = dmltk.LogisticRegressionCV(Cs=2, cv=3, use_legacy_attributes=True)
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"use_legacy_attributes=False"):
        dmltk.save(model, tmp_path / "search.dmltk")
    assert os.listdir(tmp_path) == []
