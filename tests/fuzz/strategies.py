"""Hypothesis strategies of cohorts, labels and embeddings, clean or with faults, and the
checks every property of this folder shares.

A drawn case carries, besides its inputs, the faults applied to it, the names an
error message may give for them (``blame``) and whether every entry point must
refuse it (``must_fail``; a fault such as a constant modality is refused by the
estimators but is a valid cohort for :func:`~sklearn_contig.data.from_arrays`).
Bulk values come from a numpy generator seeded by a drawn integer; shapes,
dtypes, layouts and faults are drawn by hypothesis, so they shrink.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from skorch.callbacks import Callback


def fuzz_settings(max_examples: int):
    """Settings of every property: repeatable examples, no example database written
    into the checkout, no per-example deadline (the first fit warms torch up)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


MODALITY_NAMES = ("snp", "pgs", "burden", "metab")
#: Names a modality cannot take: the cohort's dimensions and coordinates.
RESERVED_NAMES = ("sample", "individual", "channel", "y", "x", "feature")
#: Words an error about too few samples may use.
SAMPLE_WORDS = {"sample", "samples", "n_samples", "X", "ds"}
IMAGE_WORDS = {"image", "X"}

#: Exceptions never acceptable, even where they subclass ValueError (numpy's
#: AxisError is an IndexError, LinAlgError a ValueError from deep inside LAPACK).
FORBIDDEN = (IndexError, KeyError, RuntimeError, ArithmeticError, AttributeError, np.linalg.LinAlgError)


# ---------------------------------------------------------------- the checks
def check_refusal(exc: BaseException, blame, faults) -> None:
    """``exc`` is a ValueError/TypeError whose message names one of ``blame``."""
    if not isinstance(exc, (ValueError, TypeError)) or isinstance(exc, FORBIDDEN):
        raise AssertionError(f"faults {faults}: {type(exc).__name__} is not a clear refusal: {exc}") from exc
    message = str(exc)
    pattern = r"(?<![\w])(?:" + "|".join(re.escape(b) for b in sorted(blame)) + r")(?![\w])"
    if not blame or not re.search(pattern, message):
        raise AssertionError(
            f"faults {faults}: the message names none of {sorted(blame)}: {type(exc).__name__}: {message}"
        ) from exc


def snapshot(value):
    """A deep copy of the caller's objects, to compare with after the call."""
    return copy.deepcopy(value)


def assert_unchanged(before, after, path="inputs") -> None:
    """``after`` equals the snapshot ``before``: values, dtypes, shapes, NaN positions, attrs."""
    if isinstance(before, dict):
        assert isinstance(after, dict) and list(before) == list(after), f"{path}: keys changed"
        for k in before:
            assert_unchanged(before[k], after[k], f"{path}[{k!r}]")
    elif isinstance(before, (list, tuple)):
        assert type(before) is type(after) and len(before) == len(after), f"{path}: changed"
        for i, (b, a) in enumerate(zip(before, after)):
            assert_unchanged(b, a, f"{path}[{i}]")
    elif isinstance(before, np.ndarray):
        assert isinstance(after, np.ndarray), f"{path}: type changed"
        assert (before.dtype, before.shape) == (after.dtype, after.shape), f"{path}: dtype or shape changed"
        if before.dtype.kind != "O":
            np.testing.assert_array_equal(after, before, err_msg=f"{path} was modified")
        else:
            same = [
                (b is a) or (b == a) or (pd.isna(b) and pd.isna(a)) if not isinstance(b, np.ndarray) else True
                for b, a in zip(before.ravel().tolist(), after.ravel().tolist())
            ]
            assert all(same), f"{path} was modified"
    elif isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(after, before, obj=path)
        assert before.attrs == after.attrs, f"{path}: attrs changed"
    elif isinstance(before, pd.Series):
        pd.testing.assert_series_equal(after, before, obj=path)
    elif isinstance(before, xr.DataArray):
        assert isinstance(after, xr.DataArray) and before.name == after.name, f"{path}: changed"
        assert_unchanged(before.to_dataset(name="values"), after.to_dataset(name="values"), path)
    elif isinstance(before, xr.Dataset):
        # variable by variable: xarray's assert_identical finds pd.NA != pd.NA
        assert isinstance(after, xr.Dataset) and before.attrs == after.attrs, f"{path}: attrs changed"
        assert list(before.variables) == list(after.variables), f"{path}: variables changed"
        for name, var in before.variables.items():
            other = after.variables[name]
            assert (var.dims, var.attrs) == (other.dims, other.attrs), f"{path}[{name!r}]: dims or attrs changed"
            assert_unchanged(np.asarray(var.values), np.asarray(other.values), f"{path}[{name!r}]")
    else:
        same = before == after or (pd.isna(before) and pd.isna(after))
        assert same, f"{path} changed: {before!r} -> {after!r}"


class TrainingProbe(Callback):
    """skorch callback that records whether training began (``on_train_begin``)."""

    def __init__(self):
        self.began = False

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.began = True


# ------------------------------------------------------------------- cohorts
@dataclass
class Cohort:
    """Inputs of :func:`~sklearn_contig.data.from_arrays`, with the faults applied."""

    image: object
    modalities: dict
    sample_ids: object = None
    individual_ids: object = None
    labels: dict = field(default_factory=dict)
    feature_names: dict = field(default_factory=dict)
    layout: str = "flat"  # "flat" (sample, feature) or "image" (sample, channel, y, x), before any fault
    faults: list = field(default_factory=list)
    blame: set = field(default_factory=set)
    must_fail: bool = False
    broken: set = field(default_factory=set)  # modalities a fault was applied to

    def fault(self, name, blame, must_fail=True, modality=None):
        self.faults.append(name)
        self.blame |= set(blame)
        self.must_fail |= must_fail
        if modality is not None:
            self.broken.add(modality)

    def kwargs(self) -> dict:
        out = dict(self.modalities)
        out["sample_ids"] = self.sample_ids
        out["individual_ids"] = self.individual_ids
        if self.labels:
            out["labels"] = self.labels
        if self.feature_names:
            out["feature_names"] = self.feature_names
        return out

    @property
    def n(self) -> int:
        return len(self.image) if self.image is not None else len(next(iter(self.modalities.values())))


#: Faults of the data, each refused by from_arrays (must_fail) unless noted.
DATA_FAULTS = (
    "tiny",
    "image_nonfinite",
    "image_strings",
    "image_empty_dim",
    "image_ndim",
    "modality_inf",
    "modality_all_missing",
    "modality_zero_width",
    "modality_wrong_rows",
    "modality_strings",
    "modality_3d",
    "modality_scalar",
    "snp_not_dosage",
    "modality_constant",  # valid data; the estimators refuse it
    "duplicate_sample_ids",
    "missing_sample_id",
    "missing_individual_id",
    "sample_ids_wrong_length",
    "individual_ids_wrong_length",
    "one_individual",  # valid data; ContIG refuses it
    "label_wrong_length",
    "label_scalar",
    "reserved_modality_name",
    "unknown_feature_names",
)

#: Faults that from_arrays(validate_result=False) lets through to a Dataset: what
#: an estimator may meet in a Dataset built by hand.
DATASET_FAULTS = (
    "tiny",
    "image_nonfinite",
    "image_strings",
    "image_empty_dim",
    "modality_inf",
    "modality_all_missing",
    "modality_zero_width",
    "snp_not_dosage",
    "modality_constant",
    "duplicate_sample_ids",
    "missing_sample_id",
    "missing_individual_id",
    "one_individual",
)

#: Faults of an image array given to an estimator as X.
ARRAY_FAULTS = ("tiny", "image_nonfinite", "image_strings", "image_empty_dim", "image_ndim")


def _image(rng, n, layout, dtype, size, channels, width):
    if layout == "flat":
        shape = (n, width)
    else:
        shape = (n, channels, size, size)
    if dtype == "uint8":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    return rng.random(shape).astype(dtype)


def _modality(rng, name, n, width, missing, partial, constant_column, scale):
    if name == "snp":
        values = rng.integers(0, 3, (n, width)).astype(np.float64)
    else:
        values = rng.normal(size=(n, width)) * scale + scale
    if constant_column and width > 1:
        values[:, 0] = values[0, 0]
    rows = rng.random(n) < missing
    if n and rows.all():
        rows[0] = False
    values[rows] = np.nan
    if partial:
        holes = (rng.random((n, width)) < 0.2) & ~rows[:, None]
        holes[:, 0] = False  # a present row keeps one value
        values[holes] = np.nan
    return values


@st.composite
def cohorts(
    draw,
    *,
    layouts=("flat", "image"),
    sizes=(8, 16),
    image_dtypes=("uint8", "float32", "float64", "bool"),
    min_modalities=0,
    max_n=12,
    faults=DATA_FAULTS,
    max_faults=2,
    labels=True,
):
    """A cohort for from_arrays: image, genetic modalities, ids, labels; some faults."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, max_n))
    layout = draw(st.sampled_from(layouts))
    image = _image(
        rng, n, layout,
        dtype=draw(st.sampled_from(image_dtypes)),
        size=draw(st.sampled_from(sizes)),
        channels=draw(st.sampled_from((1, 3))),
        width=draw(st.integers(1, 6)),
    )  # fmt: skip
    names = draw(st.lists(st.sampled_from(MODALITY_NAMES), unique=True, min_size=min_modalities, max_size=3))
    modalities = {}
    for name in names:
        values = _modality(
            rng, name, n,
            width=draw(st.integers(1, 5)),
            missing=draw(st.sampled_from((0.0, 0.0, 0.25, 0.5))),
            partial=draw(st.booleans()),
            constant_column=draw(st.booleans()),
            scale=draw(st.sampled_from((1e-4, 1.0, 30.0))),
        )  # fmt: skip
        container = draw(st.sampled_from(("float64", "float32", "DataFrame")))
        if container == "DataFrame":
            values = pd.DataFrame(values, columns=[f"{name}{j}" for j in range(values.shape[1])])
        else:
            values = values.astype(container)
        modalities[name] = values
    ids = draw(st.sampled_from(("none", "str", "int")))
    sample_ids = None if ids == "none" else (
        np.array([f"s{i}" for i in range(n)]) if ids == "str" else np.arange(100, 100 + n)
    )  # fmt: skip
    grouping = draw(st.sampled_from(("none", "one_each", "pairs")))
    individual_ids = None if grouping == "none" else (
        np.array([f"p{i}" for i in range(n)]) if grouping == "one_each" else np.array([f"p{i // 2}" for i in range(n)])
    )  # fmt: skip
    cohort = Cohort(image, modalities, sample_ids, individual_ids, layout=layout)
    if labels and draw(st.booleans()):
        grade = np.arange(n) % 3
        cohort.labels = {"grade": grade[rng.permutation(n)]}
    for fault in draw(st.lists(st.sampled_from(faults), unique=True, max_size=max_faults)):
        _apply(draw, rng, cohort, fault)
    return cohort


def _some_modality(draw, rng, cohort, name=None):
    """Name of a modality no other fault broke (added when needed), or None."""
    if name is None:
        intact = sorted(set(cohort.modalities) - cohort.broken)
        unused = [m for m in MODALITY_NAMES if m not in cohort.modalities]
        if not intact and not unused:
            return None
        name = draw(st.sampled_from(intact or unused))
    if name in cohort.broken:
        return None
    if name not in cohort.modalities:
        cohort.modalities[name] = _modality(rng, name, cohort.n, 3, 0.0, False, False, 1.0)
    return name


def _as_array(values):
    return values.to_numpy(copy=True) if isinstance(values, pd.DataFrame) else np.array(values, copy=True)


#: Faults that change the same input; one of each group is applied.
EXCLUSIVE = (
    {"duplicate_sample_ids", "missing_sample_id", "sample_ids_wrong_length"},
    {"missing_individual_id", "individual_ids_wrong_length", "one_individual"},
    {"label_wrong_length", "label_scalar"},
    {"image_nonfinite", "image_strings", "image_empty_dim", "image_ndim"},
)


def _apply(draw, rng, c: Cohort, fault: str) -> None:
    if any(fault in group and group & set(c.faults) for group in EXCLUSIVE):
        return
    n = c.n
    if fault == "tiny":
        k = draw(st.sampled_from((0, 1)))
        c.image = c.image[:k]
        c.modalities = {
            m: v.iloc[:k] if isinstance(v, pd.DataFrame) else v[:k] if isinstance(v, np.ndarray) else v
            for m, v in c.modalities.items()
        }
        c.sample_ids = None if c.sample_ids is None else c.sample_ids[:k]
        c.individual_ids = None if c.individual_ids is None else c.individual_ids[:k]
        c.labels = {k_: v[:k] if isinstance(v, np.ndarray) else v for k_, v in c.labels.items()}
        c.fault(fault, SAMPLE_WORDS)
    elif fault == "image_nonfinite":
        img = np.array(c.image, dtype=np.float32)
        flat = img.reshape(-1)
        if flat.size:
            flat[rng.integers(0, flat.size)] = draw(st.sampled_from((np.nan, np.inf, -np.inf)))
            c.image = img
            c.fault(fault, IMAGE_WORDS)
    elif fault == "image_strings":
        c.image = np.asarray(c.image).astype(str)
        c.fault(fault, IMAGE_WORDS)
    elif fault == "image_empty_dim" and np.ndim(c.image) > 1:
        img = np.asarray(c.image)
        axis = draw(st.integers(1, img.ndim - 1))
        c.image = np.take(img, [], axis=axis)
        c.fault(fault, IMAGE_WORDS)
    elif fault == "image_ndim":
        img = np.asarray(c.image)
        c.image = img[:, :, None] if img.ndim == 2 else img[:, 0]
        c.fault(fault, IMAGE_WORDS)
    elif fault == "modality_inf":
        m = _some_modality(draw, rng, c, None if draw(st.booleans()) else "pgs")
        values = _as_array(c.modalities[m]).astype(np.float64) if m else np.empty((0, 0))
        if values.size:
            values[rng.integers(0, n), 0] = np.inf
            c.modalities[m] = values
            c.fault(fault, {m}, modality=m)
    elif fault == "modality_all_missing":
        m = _some_modality(draw, rng, c)
        if m:
            c.modalities[m] = np.full(np.shape(c.modalities[m]), np.nan)
            c.fault(fault, {m}, modality=m)
    elif fault == "modality_zero_width":
        m = _some_modality(draw, rng, c)
        if m:
            c.modalities[m] = np.zeros((n, 0))
            c.fault(fault, {m}, modality=m)
    elif fault == "modality_wrong_rows":
        m = _some_modality(draw, rng, c)
        if m:
            values = _as_array(c.modalities[m])
            c.modalities[m] = values[:-1] if n and draw(st.booleans()) else np.vstack([values, np.ones((1, values.shape[1]))])
            c.fault(fault, {m}, modality=m)
    elif fault == "modality_strings":
        m = _some_modality(draw, rng, c)
        values = _as_array(c.modalities[m]).astype(object) if m else np.empty((0, 0))
        if values.size:
            values[0, 0] = "x"
            c.modalities[m] = values if draw(st.booleans()) else values.astype(str)
            c.fault(fault, {m}, modality=m)
    elif fault == "modality_3d":
        m = _some_modality(draw, rng, c)
        if m:
            c.modalities[m] = _as_array(c.modalities[m])[:, :, None]
            c.fault(fault, {m}, modality=m)
    elif fault == "modality_scalar":
        m = _some_modality(draw, rng, c)
        if m:
            c.modalities[m] = draw(st.sampled_from((1.5, None, "abc")))
            c.fault(fault, {m}, modality=m)
    elif fault == "snp_not_dosage":
        m = _some_modality(draw, rng, c, "snp")
        values = _as_array(c.modalities[m]).astype(np.float64) if m else np.empty((0, 0))
        if values.size:
            values[rng.integers(0, n), 0] = draw(st.sampled_from((0.5, -1.0, 3.0)))
            c.modalities[m] = values
            c.fault(fault, {"snp"}, modality=m)
    elif fault == "modality_constant":
        m = _some_modality(draw, rng, c)
        if m:
            c.modalities[m] = np.full(np.shape(c.modalities[m]), draw(st.sampled_from((0.0, 1.0, 2.0))))
            c.fault(fault, {m}, must_fail=False, modality=m)
    elif fault == "duplicate_sample_ids":
        if n >= 2:
            ids = np.array([f"s{i}" for i in range(n)]) if c.sample_ids is None else np.array(c.sample_ids)
            ids[-1] = ids[0]
            c.sample_ids = ids
            c.fault(fault, {"sample", "sample_ids"})
    elif fault in ("missing_sample_id", "missing_individual_id"):
        if n >= 1:
            attr = "sample_ids" if fault == "missing_sample_id" else "individual_ids"
            current = getattr(c, attr)
            ids = np.array([f"i{k}" for k in range(n)], dtype=object) if current is None else np.array(current, dtype=object)
            ids[rng.integers(0, n)] = draw(st.sampled_from((None, np.nan, pd.NA)))
            setattr(c, attr, ids)
            c.fault(fault, {attr, attr.removesuffix("_ids")})
    elif fault in ("sample_ids_wrong_length", "individual_ids_wrong_length"):
        attr = fault.removesuffix("_wrong_length")
        setattr(c, attr, np.array([f"w{k}" for k in range(n + 1)]))
        c.fault(fault, {attr})
    elif fault == "one_individual":
        c.individual_ids = np.array(["same"] * n)
        c.fault(fault, {"individual"}, must_fail=False)
    elif fault == "label_wrong_length":
        c.labels = {"grade": np.arange(n + 1) % 2}
        c.fault(fault, {"grade", "labels"})
    elif fault == "label_scalar":
        c.labels = {"grade": 3}
        c.fault(fault, {"grade", "labels"})
    elif fault == "reserved_modality_name":
        name = draw(st.sampled_from(RESERVED_NAMES))
        c.modalities[name] = _modality(rng, "pgs", n, 2, 0.0, False, False, 1.0)
        c.fault(fault, {name}, modality=name)
    elif fault == "unknown_feature_names":
        name = draw(st.sampled_from([m for m in MODALITY_NAMES if m not in c.modalities]))
        c.feature_names = {name: ["a", "b"]}
        c.fault(fault, {name, "feature_names"})
    elif fault not in DATA_FAULTS:  # pragma: no cover
        raise AssertionError(fault)


def dataset_of(cohort: Cohort) -> xr.Dataset:
    """The Dataset of ``cohort`` as built by hand (from_arrays without validation)."""
    from sklearn_contig.data import from_arrays

    return from_arrays(cohort.image, validate_result=False, **cohort.kwargs())
