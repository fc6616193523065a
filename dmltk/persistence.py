"""Model files: save a fitted estimator, load it back without running code.

A dmltk model file is a zip archive (any name; ``.dmltk`` by convention)
holding:

``model.json``
    UTF-8 JSON object::

        {
          "format": "dmltk-model",
          "format_version": 1,
          "dmltk_version": "0.1.0",
          "estimator": "dmltk.LogisticRegression",
          "params": {"C": 1.0, "fit_intercept": true, "max_iter": 100, ...},
          "attributes": {
            "coef_": {"kind": "array", "file": "coef_.npy",
                      "dtype": "<f8", "shape": [1, 30]},
            "classes_": {"kind": "array", "file": "classes_.npy",
                         "dtype": "<U3", "shape": [2], "object": true},
            "n_features_in_": {"kind": "int", "value": 30},
            "fit_stats_": {"kind": "json", "value": {"layout": "rows", ...}},
            ...
          }
        }

    ``params`` is ``get_params(deep=False)``. Each fitted attribute (a name
    ending in ``_``) is one of: ``"array"`` (a numpy array of booleans,
    integers, floats, complex numbers or strings, in its own ``.npy`` member;
    an object array of strings, such as ``feature_names_in_`` or string
    ``classes_``, is stored as fixed-width unicode with ``"object": true``
    and comes back as an object array); ``"numpy"`` (a numpy scalar, as a
    0-d ``.npy``); ``"bool"``, ``"int"``, ``"float"``, ``"str"``, ``"none"``
    (a Python scalar, in ``value``); ``"json"`` (dicts, lists or tuples of
    those). Parameters are written the same way as ``"json"`` values.
    Floats that JSON cannot write (``inf``, ``nan``) are written as
    ``{"__dmltk__": "float", "value": "inf"}``; tuples as
    ``{"__dmltk__": "tuple", "items": [...]}``; dicts whose keys are not all
    strings (such as ``class_weight={0: 1.0, 1: 3.0}``) as
    ``{"__dmltk__": "dict", "items": [[key, value], ...]}``. Numbers round-trip exactly:
    ``.npy`` keeps the dtype and the bits, and JSON floats are written with
    Python's shortest exact repr.
``<name>.npy``
    One per array attribute, in numpy's ``.npy`` format, read with
    ``allow_pickle=False``.

Loading parses JSON and ``.npy`` data only: nothing in the file is executed,
and no pickle is ever read (a pickle, a ``.npy`` of objects or any file that
is not as above raises :class:`ValueError`). Only estimator classes of an
allow-list can be named (``dmltk.LogisticRegression``,
``dmltk.LogisticRegressionCV``, and the regressors and regressor searches of
:mod:`dmltk.linear_model`); their
parameters are validated and their fitted attributes checked for consistent
shapes. Readers refuse files of a newer ``format_version``; a new version is
needed only for changes an older reader would misread (new estimator
classes and new attributes are not such changes).

Writes are atomic: the archive is written to a temporary file in the
destination's directory, synced, then renamed over the destination, so a
failure leaves the destination as it was and no temporary file behind.

pickle and joblib keep working on estimators, as scikit-learn users expect;
use them only for files you trust, since loading them runs code.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import uuid
import zipfile
import zlib
from collections.abc import Callable

import numpy as np

from . import linear_model
from .linear_model import LogisticRegression

FORMAT_NAME = "dmltk-model"
FORMAT_VERSION = 1
HEADER_MEMBER = "model.json"

# Array dtypes a model file may hold: booleans, integers, floats, complex,
# bytes and unicode strings. Object, structured and datetime data are not.
_ARRAY_KINDS = "biufcSU"
_SCALAR_KINDS = ("bool", "int", "float", "str", "none")
_TAG = "__dmltk__"
_NON_FINITE = ("nan", "inf", "-inf")
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*_")


def _is_fitted(model, required: tuple, where: str) -> bool:
    """Whether ``model`` holds fitted attributes: none of ``required`` (saved
    before fit), or all of them (else ValueError naming the missing)."""
    present = [name for name in required if hasattr(model, name)]
    missing = sorted(set(required) - set(present))
    if present and missing:
        raise ValueError(f"{where}: fitted attribute(s) {missing} are missing.")
    return bool(present)


def _report(model, n_features, problems: list, where: str) -> None:
    """Add the check of ``feature_names_in_`` to ``problems``; raise
    ValueError listing them all, if any."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None and (names.ndim != 1 or len(names) != n_features):
        problems.append(f"feature_names_in_ of shape {names.shape}")
    if problems:
        raise ValueError(
            f"{where}: the fitted attributes do not fit together: "
            f"{'; '.join(problems)}."
        )


def _check_linear_classifier(model, where: str) -> None:
    """Shapes of a fitted linear classifier agree with each other."""
    if not _is_fitted(model, ("classes_", "coef_", "intercept_", "n_features_in_"),
                      where):  # fmt: skip
        return  # saved before fit
    coef, intercept, classes = model.coef_, model.intercept_, model.classes_
    n_features = model.n_features_in_
    problems = []
    if not isinstance(n_features, int) or n_features < 1:
        problems.append(f"n_features_in_={n_features!r} is not a positive int")
    elif coef.ndim != 2 or coef.shape[1] != n_features or coef.dtype.kind != "f":
        problems.append(f"coef_ of shape {coef.shape} and dtype {coef.dtype}")
    elif intercept.shape != (coef.shape[0],) or intercept.dtype.kind != "f":
        problems.append(f"intercept_ of shape {intercept.shape} for coef_ {coef.shape}")
    expected_classes = 2 if coef.ndim == 2 and coef.shape[0] == 1 else len(coef)
    if classes.ndim != 1 or len(np.unique(classes)) != expected_classes:
        problems.append(f"classes_ {classes.tolist()!r} for coef_ {coef.shape}")
    _report(model, n_features, problems, where)


def _check_linear_regressor(model, where: str) -> None:
    """Shapes of a fitted linear regressor agree with each other."""
    if not _is_fitted(model, ("coef_", "intercept_", "n_features_in_"), where):
        return  # saved before fit
    coef, intercept, n_features = model.coef_, model.intercept_, model.n_features_in_
    problems = []
    if not isinstance(n_features, int) or n_features < 1:
        problems.append(f"n_features_in_={n_features!r} is not a positive int")
    elif (
        not isinstance(coef, np.ndarray)
        or coef.shape != (n_features,)
        or coef.dtype.kind != "f"
    ):
        problems.append(f"coef_ of shape {np.shape(coef)} for {n_features} features")
    if not isinstance(intercept, float):
        problems.append(f"intercept_={intercept!r} is not a float")
    _report(model, n_features, problems, where)


_REGRESSORS = (
    "ElasticNet",
    "GammaRegressor",
    "Lasso",
    "LinearRegression",
    "PoissonRegressor",
    "Ridge",
    "TweedieRegressor",
)

# The cross-validated searches: their fitted attributes (paths, scores,
# the chosen parameters) are arrays and scalars like any other.
_REGRESSOR_SEARCHES = (
    "ElasticNetCV",
    "GammaRegressorCV",
    "LassoCV",
    "PoissonRegressorCV",
    "RidgeCV",
    "TweedieRegressorCV",
)

# The classes a model file may name, with the check of their fitted state.
# Loading never imports anything a file names: it looks names up here.
ALLOWED_ESTIMATORS: dict[str, tuple[type, Callable]] = {
    "dmltk.LogisticRegression": (LogisticRegression, _check_linear_classifier),
    "dmltk.LogisticRegressionCV": (
        linear_model.LogisticRegressionCV,
        _check_linear_classifier,
    ),
    **{
        f"dmltk.{name}": (getattr(linear_model, name), _check_linear_regressor)
        for name in _REGRESSORS + _REGRESSOR_SEARCHES
    },
}


# ------------------------------------------------------------------- save
def save(model, path: str | os.PathLike) -> None:
    """Write an estimator to a model file, atomically.

    Parameters
    ----------
    model : dmltk.LogisticRegression, dmltk.LogisticRegressionCV, or a \
regressor or regressor search of dmltk.linear_model
        Fitted or not.
    path : str or path-like
        Destination, replaced if it exists. The temporary file is created
        next to it.

    Raises
    ------
    TypeError
        ``model`` is not of a class that model files can hold.
    ValueError
        A parameter or fitted attribute that the format cannot hold without
        pickle (named in the message), such as a ``LogisticRegressionCV``
        fitted with ``use_legacy_attributes=True`` (dicts of arrays) or a
        search whose ``cv`` is a splitter object. ``path`` is then left as
        it was.

    See Also
    --------
    load : read it back.

    Examples
    --------
    >>> import numpy as np, dmltk
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> model = dmltk.LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> dmltk.save(model, "model.dmltk")  # doctest: +SKIP
    >>> dmltk.load("model.dmltk").predict(X)  # doctest: +SKIP
    array([0, 0, 1, 1])
    """
    name = _registered_name(model)
    if getattr(model, "use_legacy_attributes", False) is True and hasattr(
        model, "coefs_paths_"
    ):
        raise ValueError(
            "This LogisticRegressionCV was fitted with use_legacy_attributes=True: "
            "its coefs_paths_ and scores_ are dicts of arrays, which a dmltk model "
            "file does not hold. Fit it with use_legacy_attributes=False "
            "(scikit-learn 1.10's arrays) to save it, or use pickle or joblib."
        )
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(
        directory, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp"
    )
    # O_EXCL: never write through someone else's file; mode 0o666 lets the
    # umask decide the permissions, as for any file the user creates.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
                _write_model(archive, model, name)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def _registered_name(model) -> str:
    for name, (cls, _) in ALLOWED_ESTIMATORS.items():
        if type(model) is cls:
            return name
    raise TypeError(
        f"dmltk model files hold {sorted(ALLOWED_ESTIMATORS)}, got "
        f"{type(model).__module__}.{type(model).__qualname__}. Use pickle or "
        "joblib for other estimators (and load only files you trust)."
    )


def _sync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be
    opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _write_model(archive: zipfile.ZipFile, model, name: str) -> None:
    """Write every array member, then the header that describes them."""
    from . import __version__

    params = {
        key: _encode_json(value, f"parameter {key}")
        for key, value in model.get_params(deep=False).items()
    }
    attributes = {}
    for attribute in sorted(vars(model)):
        if attribute.endswith("_") and not attribute.startswith("_"):
            if not _ATTRIBUTE_NAME.fullmatch(attribute):
                raise ValueError(
                    f"Fitted attribute {attribute!r} has a name that a dmltk model "
                    "file cannot hold (letters, digits and underscores only)."
                )
            attributes[attribute] = _write_attribute(
                archive, attribute, getattr(model, attribute)
            )
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "dmltk_version": __version__,
        "estimator": name,
        "params": params,
        "attributes": attributes,
    }
    archive.writestr(HEADER_MEMBER, json.dumps(header, indent=1, allow_nan=False))


def _write_attribute(archive: zipfile.ZipFile, name: str, value) -> dict:
    if isinstance(value, np.ndarray):
        array, spec = _storable_array(value, name)
        spec = {"kind": "array", "file": f"{name}.npy", **spec}
    elif isinstance(value, np.generic):
        array, spec = _storable_array(np.asarray(value), name)
        spec = {"kind": "numpy", "file": f"{name}.npy", **spec}
    elif value is None or isinstance(value, bool | int | float | str):
        return {"kind": _scalar_kind(value), "value": _encode_json(value, name)}
    elif isinstance(value, dict | list | tuple):
        return {"kind": "json", "value": _encode_json(value, f"attribute {name}")}
    else:
        raise ValueError(
            f"Fitted attribute {name} is a {type(value).__name__}, which a dmltk "
            "model file cannot hold (arrays, numbers, strings, and dicts or "
            "lists of those only)."
        )
    with archive.open(spec["file"], "w") as member:
        np.lib.format.write_array(member, array, allow_pickle=False)
    return spec


def _scalar_kind(value) -> str:
    if value is None:
        return "none"
    return type(value).__name__ if type(value) in (bool, int, float, str) else "json"


def _storable_array(array: np.ndarray, name: str) -> tuple[np.ndarray, dict]:
    """The array as written (strings for object arrays of str) and its spec."""
    array = np.asarray(array)  # drops subclasses such as np.matrix
    spec = {}
    if array.dtype == object:
        if not all(isinstance(item, str) for item in array.flat):
            kinds = sorted({type(item).__name__ for item in array.flat})
            raise ValueError(
                f"Fitted attribute {name} is an object array holding {kinds}: a "
                "dmltk model file holds object arrays of strings only."
            )
        strings = array.astype(str)
        if not np.array_equal(strings.astype(object), array):
            raise ValueError(
                f"Fitted attribute {name} holds strings that do not survive a "
                "fixed-width unicode array (trailing NUL characters)."
            )
        array, spec["object"] = strings, True
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
        raise ValueError(
            f"Fitted attribute {name} has dtype {array.dtype}, which a dmltk "
            "model file cannot hold (booleans, numbers and strings only)."
        )
    return array, {"dtype": array.dtype.str, "shape": list(array.shape), **spec}


def _encode_key(key, where: str):
    if isinstance(key, list | dict) or not isinstance(
        key, bool | int | float | str | np.generic
    ):
        raise ValueError(f"{where}: the dict key {key!r:.40} cannot be stored.")
    return _encode_json(key, where)


def _encode_json(value, where: str):
    """A parameter or small attribute as JSON, exactly (see the module doc)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {_TAG: "float", "value": str(value)}
    if isinstance(value, list):
        return [_encode_json(item, where) for item in value]
    if isinstance(value, tuple):
        return {_TAG: "tuple", "items": [_encode_json(item, where) for item in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        if _TAG in value:
            raise ValueError(f"{where}: the key {_TAG!r} is reserved.")
        return {key: _encode_json(item, where) for key, item in value.items()}
    if isinstance(value, dict):  # keys JSON objects cannot have, such as labels
        items = [
            [_encode_key(k, where), _encode_json(v, where)] for k, v in value.items()
        ]
        return {_TAG: "dict", "items": items}
    raise ValueError(
        f"{where} is a {type(value).__name__} ({value!r:.80}), which a dmltk "
        "model file cannot hold: numbers, strings, booleans, None, and lists, "
        "tuples or string-keyed dicts of those only."
    )


# ------------------------------------------------------------------- load
def load(path: str | os.PathLike):
    """Read an estimator from a model file written by :func:`save`.

    Reads JSON and ``.npy`` data only: nothing in the file is executed.

    Parameters
    ----------
    path : str or path-like
        A dmltk model file.

    Returns
    -------
    estimator
        Of a class of the allow-list (``dmltk.LogisticRegression``,
        ``dmltk.LogisticRegressionCV``, the regressors and their searches),
        with its parameters and fitted attributes.

    Raises
    ------
    ValueError
        The file is not a dmltk model file (random bytes, a pickle, a zip
        without ``model.json``), is damaged (a wrong CRC, a broken
        compressed stream: any byte changed), is of a newer format version,
        names a class outside the allow-list, holds invalid parameters, an
        ``.npy`` that would need pickle, or fitted attributes that do not fit
        together.
    OSError
        The file cannot be read.
    """
    path = os.fspath(path)
    with open(path, "rb") as stream:  # an OSError here: the file cannot be read
        try:
            archive = zipfile.ZipFile(stream)
        except zipfile.BadZipFile:
            raise ValueError(
                f"{path} is not a dmltk model file: {_what_it_looks_like(path)}"
            ) from None
        except _DAMAGE as error:
            raise _damaged(path, error) from None
        try:
            with archive:
                return _read_model(archive, path)
        except _DAMAGE as error:
            raise _damaged(path, error) from None


# What zipfile and zlib raise on an archive with damaged bytes (a wrong
# CRC, a broken compressed stream, offsets that point nowhere, flags that
# claim encryption or an unknown version). Raised only while the archive,
# opened from a readable file, is read.
_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
)


def _damaged(path: str, error: BaseException) -> ValueError:
    return ValueError(
        f"{path} is a damaged model file ({type(error).__name__}: {error}); "
        "save the model again."
    )


def _read_model(archive: zipfile.ZipFile, path: str):
    """The estimator of an open model archive."""
    header = _read_header(archive, path)
    cls, check_fitted = ALLOWED_ESTIMATORS[header["estimator"]]
    model = cls()
    params = {
        key: _decode_json(value, f"{path}: parameter {key}")
        for key, value in header["params"].items()
    }
    try:
        model.set_params(**params)
        model._validate_params()
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: invalid parameters: {error}") from None
    for name, spec in header["attributes"].items():
        _check_attribute_name(name, cls, path)
        setattr(model, name, _read_attribute(archive, name, spec, path))
    check_fitted(model, path)
    return model


def _what_it_looks_like(path: str) -> str:
    with open(path, "rb") as stream:
        head = stream.read(8)
    if not head:
        return "the file is empty."
    if head[:1] == b"\x80":
        return (
            "it looks like a pickle, which dmltk never loads because unpickling "
            "runs code. Load it with pickle or joblib only if you trust it."
        )
    if head.startswith(b"\x93NUMPY"):
        return "it is a single .npy array."
    return f"not a zip archive (it starts with {head!r})."


def _read_header(archive: zipfile.ZipFile, path: str) -> dict:
    try:
        raw = archive.read(HEADER_MEMBER)
    except KeyError:
        raise ValueError(
            f"{path} is not a dmltk model file: a zip archive without "
            f"{HEADER_MEMBER} (members: {archive.namelist()[:5]})."
        ) from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path}: {HEADER_MEMBER} is not valid JSON: {error}"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        found = header.get("format") if isinstance(header, dict) else header
        raise ValueError(
            f"{path} is not a dmltk model file: {HEADER_MEMBER} has format "
            f"{found!r:.60}, expected {FORMAT_NAME!r}."
        )
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{path}: format_version {version!r:.40} is not valid.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in dmltk model format version {version} (by "
            f"dmltk {header.get('dmltk_version')!r:.40}); this dmltk reads versions "
            f"up to {FORMAT_VERSION}. Upgrade dmltk to load it."
        )
    estimator = header.get("estimator")
    if not isinstance(estimator, str) or estimator not in ALLOWED_ESTIMATORS:
        raise ValueError(
            f"{path} names the estimator {estimator!r:.80}, which is not one dmltk "
            f"loads ({sorted(ALLOWED_ESTIMATORS)})."
        )
    for key in ("params", "attributes"):
        if not isinstance(header.get(key), dict):
            raise ValueError(f"{path}: {HEADER_MEMBER} has no {key} object.")
    return header


def _check_attribute_name(name: str, cls: type, path: str) -> None:
    # A name must look like a fitted attribute and must not shadow anything
    # the class defines (methods, properties, dunders).
    if not (isinstance(name, str) and _ATTRIBUTE_NAME.fullmatch(name)) or hasattr(
        cls, name
    ):
        raise ValueError(f"{path}: {name!r:.80} is not a fitted attribute name.")


def _read_attribute(archive: zipfile.ZipFile, name: str, spec, path: str):
    where = f"{path}: attribute {name}"
    kind = spec.get("kind") if isinstance(spec, dict) else None
    if kind in ("array", "numpy"):
        array = _read_array(archive, spec, where)
        return array[()] if kind == "numpy" else array
    if kind in _SCALAR_KINDS or kind == "json":
        value = _decode_json(spec.get("value"), where)
        expected = {"bool": bool, "int": int, "float": float, "str": str}
        if (kind == "none" and value is not None) or (
            kind in expected and type(value) is not expected[kind]
        ):
            raise ValueError(f"{where}: {value!r:.40} is not of kind {kind!r}.")
        return value
    raise ValueError(f"{where}: unknown kind {kind!r:.40}.")


# The .npy versions save writes (3.0 exists only for structured dtypes with
# non-ASCII field names, which model files never hold).
_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _read_array(archive: zipfile.ZipFile, spec: dict, where: str) -> np.ndarray:
    member = spec.get("file")
    if not isinstance(member, str):
        raise ValueError(f"{where}: no .npy member named ({member!r:.40}).")
    try:
        with archive.open(member) as stream:
            # np.load refuses anything that needs pickle (allow_pickle=False);
            # the header is read first so that an object .npy gets a clear
            # message and a lying header no allocation.
            version = np.lib.format.read_magic(stream)
            if version not in _NPY_HEADER_READERS:
                raise ValueError(f".npy format version {version} is not supported")
            shape, _, dtype = _NPY_HEADER_READERS[version](stream)
            if dtype.hasobject:
                raise ValueError(
                    "it holds Python objects, which only pickle could load"
                )
            expected = math.prod(shape) * dtype.itemsize
            size = archive.getinfo(member).file_size - stream.tell()
            if size != expected:
                raise ValueError(f"{size} bytes of data for {expected} declared")
        with archive.open(member) as stream:
            array = np.load(stream, allow_pickle=False)
    except KeyError:
        raise ValueError(
            f"{where}: the archive has no member {member!r:.80}."
        ) from None
    except (ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(
            f"{where}: {member} is not a valid .npy array: {error}."
        ) from None
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
        raise ValueError(f"{where}: dtype {array.dtype} is not allowed.")
    if array.dtype.str != spec.get("dtype") or list(array.shape) != spec.get("shape"):
        raise ValueError(
            f"{where}: {member} holds {array.dtype.str} {list(array.shape)}, but "
            f"{HEADER_MEMBER} says {spec.get('dtype')!r:.20} {spec.get('shape')!r:.40}."
        )
    if spec.get("object"):
        if array.dtype.kind != "U":
            raise ValueError(f"{where}: an object array must be stored as unicode.")
        array = array.astype(object)
    return array


def _decode_json(value, where: str):
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_decode_json(item, where) for item in value]
    if isinstance(value, dict):
        tag = value.get(_TAG)
        if tag is None:
            return {key: _decode_json(item, where) for key, item in value.items()}
        if tag == "float" and value.get("value") in _NON_FINITE:
            return float(value["value"])
        if tag == "tuple" and isinstance(value.get("items"), list):
            return tuple(_decode_json(item, where) for item in value["items"])
        if tag == "dict" and _is_pair_list(value.get("items")):
            decoded = [
                (_decode_json(k, where), _decode_json(v, where))
                for k, v in value["items"]
            ]
            if all(isinstance(k, bool | int | float | str) for k, _ in decoded):
                return dict(decoded)
    raise ValueError(f"{where}: {value!r:.80} is not a valid value.")


def _is_pair_list(items) -> bool:
    return isinstance(items, list) and all(
        isinstance(item, list) and len(item) == 2 for item in items
    )
