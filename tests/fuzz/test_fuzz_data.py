"""Properties of the data layer over random cohorts, tables and genotypes.

Every call either succeeds or raises a ValueError/TypeError naming the faulty
variable; faults every entry point must refuse are refused; the caller's objects
are unchanged afterwards, on the error path too.
"""

import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from sklearn_contig.data import align, from_arrays, read_burden, read_pgs, read_plink, validate, write_plink

from .strategies import (
    DATASET_FAULTS,
    SAMPLE_WORDS,
    assert_unchanged,
    check_refusal,
    cohorts,
    dataset_of,
    fuzz_settings,
    snapshot,
)


def _call(fn, inputs, blame, faults, must_fail):
    """Run ``fn(**inputs)``: a clear refusal or a result; inputs unchanged either way."""
    before = snapshot(inputs)
    result = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = fn(**inputs)
        except Exception as exc:  # noqa: BLE001 - the property is about which exceptions
            check_refusal(exc, blame, faults)
        else:
            assert not must_fail, f"faults {faults} were accepted"
    assert_unchanged(before, inputs)
    return result


# ---------------------------------------------------------------- from_arrays
@fuzz_settings(150)
@given(cohorts())
def test_from_arrays(cohort):
    inputs = {"image": cohort.image, **cohort.kwargs()}
    ds = _call(from_arrays, inputs, cohort.blame, cohort.faults, cohort.must_fail)
    if ds is None:
        return
    assert validate(ds) == list(cohort.modalities)
    assert ds.sizes["sample"] == cohort.n
    # a copy: writing into the cohort never reaches the caller's arrays
    assert not np.shares_memory(ds["image"].values, np.asarray(cohort.image))
    for name, values in cohort.modalities.items():
        expected = np.asarray(values, dtype=np.float32)
        np.testing.assert_array_equal(ds[name].values, expected)
        assert not np.shares_memory(ds[name].values, np.asarray(values))


# ------------------------------------------------------------------- validate
@fuzz_settings(100)
@given(cohorts(faults=DATASET_FAULTS), st.booleans())
def test_validate(cohort, require_genetics):
    ds = dataset_of(cohort)
    blame = set(cohort.blame)
    must_fail = cohort.must_fail
    if require_genetics and not cohort.modalities:
        blame |= {"genetic"}
        must_fail = True
    inputs = {"ds": ds, "require_genetics": require_genetics}
    _call(validate, inputs, blame, cohort.faults, must_fail)


# ---------------------------------------------------------------------- align
@st.composite
def align_cases(draw):
    """An image Dataset (or none) and genetic DataArrays with their own ids."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(2, 8))
    people = np.array([f"p{i // 2}" for i in range(n)]) if draw(st.booleans()) else np.array(
        [f"p{i}" for i in range(n)]
    )
    image = None
    if draw(st.booleans()):
        image = from_arrays(rng.integers(0, 256, (n, 1, 4, 4), dtype=np.uint8), individual_ids=people)
    unique = list(pd.unique(people))
    faults, blame, must_fail = [], set(), False
    modalities = {}
    for name in draw(st.lists(st.sampled_from(("snp", "pgs", "burden")), unique=True, min_size=0 if image else 1,
                              max_size=3)):
        ids = [p for p in unique if draw(st.booleans())] or unique[:1]
        ids += [f"extra{k}" for k in range(draw(st.integers(0, 2)))]
        width = draw(st.integers(1, 3))
        if name == "snp":
            values = rng.integers(0, 3, (len(ids), width)).astype(np.float64)
        else:
            values = rng.normal(size=(len(ids), width))
        dim = draw(st.sampled_from(("sample", "individual")))
        fault = draw(st.sampled_from((None, None, None, "duplicate", "missing_id", "no_overlap", "strings",
                                      "one_dim", "no_row_dim", "not_dataarray")))
        if fault == "no_overlap" and image is None:
            fault = None  # without images the modalities are outer-joined
        if fault == "duplicate":
            ids.append(ids[0])
            values = np.vstack([values, values[:1]])
        elif fault == "missing_id":
            ids = np.array(ids, dtype=object)
            ids[0] = draw(st.sampled_from((None, np.nan)))
        elif fault == "no_overlap":
            ids = [f"other{k}" for k in range(len(ids))]
        elif fault == "strings":
            values = values.astype(str)
        arr = xr.DataArray(values, dims=(dim, f"{name}_id"), coords={dim: np.asarray(ids)})
        if fault == "one_dim":
            arr = arr.isel({f"{name}_id": 0})
        elif fault == "no_row_dim":
            arr = arr.rename({dim: "person"})
        elif fault == "not_dataarray":
            arr = values
        if fault is not None:
            faults.append(f"{name}:{fault}")
            blame.add(name)
            must_fail = True
        modalities[name] = arr
    people = set()
    for arr in modalities.values():
        if isinstance(arr, xr.DataArray) and arr.ndim:
            people |= {str(i) for i in np.asarray(arr[arr.dims[0]].values)}
    if image is None and len(people) < 2:
        faults.append("one_individual")
        blame |= SAMPLE_WORDS
        must_fail = True
    return image, modalities, faults, blame, must_fail


@fuzz_settings(60)
@given(align_cases())
def test_align(case):
    image, modalities, faults, blame, must_fail = case
    inputs = {"image": image, **modalities}
    ds = _call(align, inputs, blame, faults, must_fail)
    if ds is None:
        return
    people = np.asarray(ds["individual"].values).astype(str)
    for name, arr in modalities.items():
        row_dim = arr.dims[0]
        table = pd.DataFrame(arr.values, index=np.asarray(arr[row_dim].values).astype(str))
        expected = table.reindex(people).to_numpy(dtype=np.float32)
        np.testing.assert_array_equal(ds[name].values, expected)


# ------------------------------------------------------------ score tables
@st.composite
def score_tables(draw):
    """A wide table of scores with an id column, and its faults."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 6))
    id_col = draw(st.sampled_from(("IID", "eid", "person")))
    ids = draw(st.sampled_from(("str", "int")))
    table = {id_col: [f"id{i}" for i in range(n)] if ids == "str" else list(range(1, n + 1))}
    faults, blame, must_fail = [], set(), False
    for j in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(("float", "float_nan", "int", "Int64", "all_none", "strings")))
        col = f"PGS00000{j}"
        if kind == "float":
            table[col] = rng.normal(size=n)
        elif kind == "float_nan":
            table[col] = np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n))
        elif kind == "int":
            table[col] = rng.integers(0, 5, n)
        elif kind == "Int64":
            table[col] = pd.array([None if r < 0.3 else int(v) for r, v in zip(rng.random(n), rng.integers(0, 5, n))],
                                  dtype="Int64")
        elif kind == "all_none":
            table[col] = pd.Series([None] * n, dtype=object)
        else:
            table[col] = [f"v{i}" for i in range(n)]
            if n:
                faults.append(f"{col}:strings")
                blame.add(col)
                must_fail = True
    frame = pd.DataFrame(table)
    if len(frame.columns) == 1:
        faults.append("no_feature_column")
        blame |= {"table", "column"}
        must_fail = True
    id_column = id_col if id_col == "person" else None
    fault = draw(st.sampled_from((None, None, "duplicate_id", "missing_id", "no_id_column")))
    if fault == "duplicate_id" and n >= 2:
        frame.loc[n - 1, id_col] = frame.loc[0, id_col]
    elif fault == "missing_id" and n >= 1:
        frame[id_col] = frame[id_col].astype(object)
        frame.loc[0, id_col] = draw(st.sampled_from((None, np.nan)))
    elif fault == "no_id_column":
        id_column = "IID_typo"
    else:
        fault = None
    if fault is not None:
        faults.append(fault)
        blame |= {id_col, "id_column", "table"}
        must_fail = True
    return frame, id_column, faults, blame, must_fail


@fuzz_settings(60)
@given(score_tables(), st.sampled_from((read_pgs, read_burden)))
def test_read_score_tables(case, reader):
    frame, id_column, faults, blame, must_fail = case
    inputs = {"id_column": id_column}
    inputs[("paths_or_table" if reader is read_pgs else "path")] = frame
    scores = _call(reader, inputs, blame, faults, must_fail)
    if scores is None:
        return
    id_name = id_column or next(c for c in frame.columns if c in ("IID", "eid"))
    features = [c for c in frame.columns if c != id_name]
    assert scores["individual"].values.tolist() == frame[id_name].astype(str).tolist()
    expected = frame[features].astype("float64").to_numpy(dtype=np.float32, na_value=np.nan)
    np.testing.assert_array_equal(scores.values, expected)


# ------------------------------------------------------------------ genotypes
@st.composite
def genotype_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, p = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    values = rng.integers(0, 3, (n, p)).astype(draw(st.sampled_from(("float64", "float32", "int8"))))
    if values.dtype.kind == "f":
        values[rng.random((n, p)) < 0.2] = np.nan
    iid = np.array([f"id{i}" for i in range(n)], dtype=object)
    faults, blame, must_fail = [], set(), False
    fault = draw(st.sampled_from((None, None, "not_dosage", "strings", "one_dim", "duplicate_iid_differs",
                                  "duplicate_iid_same", "iid_zero", "iid_wrong_length", "missing_iid")))
    if fault == "not_dosage":
        values = values.astype(np.float64)
        values[0, 0] = draw(st.sampled_from((0.5, 3.0, -1.0, np.inf)))
        blame.add("genotypes")
    elif fault == "strings":
        values = values.astype(str)
        blame.add("genotypes")
    elif fault == "one_dim":
        values = values[:, 0]
        blame.add("genotypes")
    elif fault in ("duplicate_iid_differs", "duplicate_iid_same") and n >= 2:
        iid[1] = iid[0]
        values = values.astype(np.float64)
        values[1] = values[0]
        if fault == "duplicate_iid_differs":
            values[1, 0] = 2.0 if values[0, 0] != 2.0 else 0.0
            blame |= {"genotypes", "iid"}
    elif fault == "iid_zero":
        iid[0] = "0"
        blame.add("iid")
    elif fault == "iid_wrong_length":
        iid = np.append(iid, "extra")
        blame.add("iid")
    elif fault == "missing_iid":
        iid[0] = draw(st.sampled_from((None, np.nan)))
        blame.add("iid")
    else:
        fault = None
    if fault is not None:
        faults.append(fault)
        must_fail = bool(blame)
    return values, iid, faults, blame, must_fail


@fuzz_settings(40)
@given(genotype_cases())
def test_write_then_read_plink(case):
    values, iid, faults, blame, must_fail = case
    with tempfile.TemporaryDirectory() as tmp:
        inputs = {"path": os.path.join(tmp, "g"), "genotypes": values, "iid": iid}
        prefix = _call(write_plink, inputs, blame, faults, must_fail)
        if prefix is None:
            return
        snp = read_plink(prefix, impute=False)
    keep = ~pd.Index(iid.astype(str)).duplicated()
    expected = np.asarray(values, dtype=np.float32)[keep]
    np.testing.assert_array_equal(snp.values, expected)
    assert snp["individual"].values.tolist() == iid.astype(str)[keep].tolist()


pytestmark = pytest.mark.filterwarnings("ignore")
