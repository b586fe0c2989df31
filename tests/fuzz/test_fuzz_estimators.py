"""Properties of every estimator's ``fit`` over random cohorts and labels.

``fit`` either trains (one epoch of a tiny network) or raises a ValueError or
TypeError naming the faulty variable before training begins (a skorch callback
records ``on_train_begin``; no ``net_`` is left behind); the caller's arrays,
DataFrames and Datasets are unchanged afterwards, on the error path too.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
from sklearn_contig.pretraining import (
    BarlowTwinsPretrainer,
    BYOLPretrainer,
    ContIGPretrainer,
    NNCLRPretrainer,
    SimCLRPretrainer,
    SimSiamPretrainer,
)

from .strategies import (
    ARRAY_FAULTS,
    DATASET_FAULTS,
    IMAGE_WORDS,
    SAMPLE_WORDS,
    TrainingProbe,
    assert_unchanged,
    check_refusal,
    cohorts,
    dataset_of,
    fuzz_settings,
    snapshot,
)

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore")]

TINY = dict(max_epochs=1, batch_size=4, device="cpu", verbose=0, random_state=0)
#: Faults of a Dataset that matter to an estimator that uses only its images.
IMAGE_DATASET_FAULTS = (
    "tiny",
    "image_nonfinite",
    "image_strings",
    "image_empty_dim",
    "duplicate_sample_ids",
    "missing_sample_id",
    "missing_individual_id",
    "one_individual",
)


def _fit(estimator, inputs, blame, faults, must_fail):
    """``estimator.fit(**inputs)``: a clear refusal before training, or a fit; inputs unchanged."""
    probe = TrainingProbe()
    estimator.set_params(callbacks=[("probe", probe)])
    before = snapshot(inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            estimator.fit(**inputs)
        except Exception as exc:  # noqa: BLE001 - the property is about which exceptions
            event("refused")
            check_refusal(exc, blame, faults)
            assert not probe.began, f"faults {faults}: refused after training began: {exc}"
            assert not hasattr(estimator, "net_"), f"faults {faults}: a net_ was left after the error"
        else:
            event("trained")
            assert not must_fail, f"faults {faults} were accepted"
            assert probe.began
    assert_unchanged(before, inputs)


def _encoder(cohort):
    """mlp for flat features, resnet18 for images (the cohort's layout before any fault)."""
    return "mlp" if cohort.layout == "flat" else "resnet18"


# -------------------------------------------------------------------- ContIG
def _contig_refusals(cohort, aggregation="outer"):
    """What ContIG refuses in a cohort from_arrays accepts: (blame, must_fail)."""
    blame, must_fail = set(), False
    if not cohort.modalities:
        return {"genetic"}, True
    values = {m: np.asarray(v, dtype=np.float64) for m, v in cohort.modalities.items()}
    present = {m: ~np.isnan(v).all(axis=1) for m, v in values.items()}
    stacked = np.stack(list(present.values()))
    usable = stacked.all(axis=0) if aggregation == "inner" else stacked.any(axis=0)
    people = np.arange(cohort.n) if cohort.individual_ids is None else np.asarray(cohort.individual_ids)
    if len(pd.unique(people[usable])) < 2:
        blame.add("individual")
        must_fail = True
    for m, v in values.items():
        finite = v[usable & present[m]]
        finite = finite[~np.isnan(finite)]
        if finite.size and np.all(finite == finite[0]):
            blame.add(m)
            must_fail = True
    return blame, must_fail


@fuzz_settings(40)
@given(cohorts(layouts=("flat",), faults=DATASET_FAULTS, labels=False), st.sampled_from(("outer", "inner")))
def test_contig_fit(cohort, aggregation):
    ds = dataset_of(cohort)
    blame, must_fail = cohort.blame, cohort.must_fail
    if not must_fail:
        blame, must_fail = _contig_refusals(cohort, aggregation)
    model = ContIGPretrainer("mlp", aggregation=aggregation, hidden_dim=8, projection_dim=4, **TINY)
    _fit(model, {"X": ds}, blame, cohort.faults, must_fail)


@fuzz_settings(4)
@given(cohorts(layouts=("image",), sizes=(16,), faults=("image_empty_dim", "image_nonfinite"), labels=False,
               min_modalities=1, max_faults=1))
def test_contig_fit_resnet(cohort):
    ds = dataset_of(cohort)
    blame, must_fail = cohort.blame, cohort.must_fail
    if not must_fail:
        blame, must_fail = _contig_refusals(cohort)
    model = ContIGPretrainer("resnet18", hidden_dim=8, projection_dim=4, **TINY)
    _fit(model, {"X": ds}, blame, cohort.faults, must_fail)


# ---------------------------------------------------------- image-only baselines
BASELINES = {
    SimCLRPretrainer: dict(hidden_dim=8, projection_dim=4),
    BYOLPretrainer: dict(hidden_dim=8, projection_dim=4, predictor_hidden_dim=8),
    BarlowTwinsPretrainer: dict(hidden_dim=8, projection_dim=4),
    SimSiamPretrainer: dict(hidden_dim=8, projection_dim=4, predictor_hidden_dim=8),
    NNCLRPretrainer: dict(hidden_dim=8, projection_dim=4, predictor_hidden_dim=8),
}


@pytest.mark.parametrize("cls", list(BASELINES), ids=lambda c: c.__name__)
@fuzz_settings(10)
@given(cohort=cohorts(layouts=("flat",), faults=ARRAY_FAULTS + IMAGE_DATASET_FAULTS, labels=False),
       as_dataset=st.booleans())
def test_baseline_fit(cls, cohort, as_dataset):
    if as_dataset and "image_ndim" not in cohort.faults:
        X = dataset_of(cohort)
    else:
        X = cohort.image
        if set(cohort.faults) - set(ARRAY_FAULTS):  # id faults do not reach an array
            return
    _fit(cls("mlp", **BASELINES[cls], **TINY), {"X": X}, cohort.blame, cohort.faults, cohort.must_fail)


# ------------------------------------------------------------------ downstream
def _downstream_X(draw, cohort):
    """X for a downstream fit: the image array, or the cohort Dataset (id faults count only there)."""
    as_dataset = draw(st.booleans()) and "image_ndim" not in cohort.faults
    if as_dataset:
        return dataset_of(cohort), cohort.blame, cohort.must_fail, cohort.faults
    kept = [f for f in cohort.faults if f in ARRAY_FAULTS]
    blame = set().union(*(IMAGE_WORDS if f != "tiny" else SAMPLE_WORDS for f in kept))
    return np.asarray(cohort.image), blame, bool(kept), kept


#: Label faults of every supervised task, applied by :func:`_with_label_fault`.
SHARED_LABEL_FAULTS = ("three_dims", "none")


def _with_label_fault(cohort, X, y, fault, blame, must_fail, faults):
    """The drawn case, with ``fault`` (if any) applied and recorded as a label fault."""
    if fault == "three_dims":
        y = np.zeros((cohort.n, 2, 2))
    elif fault == "none":
        y = None
    if fault is not None:
        faults, blame, must_fail = faults + [f"y_{fault}"], blame | {"y"}, True
    return cohort, X, y, blame, must_fail, faults


@st.composite
def classification_cases(draw):
    cohort = draw(cohorts(faults=ARRAY_FAULTS + IMAGE_DATASET_FAULTS, sizes=(8,), layouts=("flat",), labels=False))
    X, blame, must_fail, faults = _downstream_X(draw, cohort)
    n = cohort.n
    rng = np.random.default_rng(n)
    k = draw(st.integers(2, 3))
    y = (np.arange(n) % k)[rng.permutation(n)]
    form = draw(st.sampled_from(("int", "str", "object", "float", "column", "series", "bool", "multilabel")))
    if form == "str":
        y = np.array(["a", "b", "c"])[y]
    elif form == "object":
        y = np.array(["a", "b", "c"], dtype=object)[y]
    elif form == "float":
        y = y.astype(np.float64)
    elif form == "column":
        y = y[:, None]
    elif form == "series":
        y = pd.Series(y, index=[f"r{i}" for i in range(n)])
    elif form == "bool":
        y = y % 2 == 0
    elif form == "multilabel":
        y = np.stack([np.arange(n) % 2, (np.arange(n) // 2) % 2 if n > 2 else 1 - np.arange(n) % 2], axis=1)
    classes = pd.unique(np.asarray(y).ravel()) if form != "multilabel" else [0, 1]
    if len(classes) < 2 and not must_fail:
        faults, blame, must_fail = faults + ["y_one_class"], blame | {"y"}, True
    fault = draw(st.sampled_from((None, None, "nan", "wrong_length", "one_class", "mixed_types", "three_dims",
                                  "continuous", "none")))
    y = np.asarray(y) if fault not in (None, "none") else y
    if fault == "nan" and n:
        y = y.astype(object) if y.dtype.kind in "OUb" else y.astype(np.float64)
        y.flat[0] = None if y.dtype == object else np.nan
    elif fault == "wrong_length":
        y = np.concatenate([y, y[:1] if n else np.zeros((1,) + y.shape[1:], y.dtype)])
    elif fault == "one_class":
        y = np.zeros_like(y)
    elif fault == "mixed_types" and n >= 2:
        y = np.array([1] + ["a"] * (n - 1), dtype=object)
    elif fault == "continuous" and n >= 2:
        y = np.linspace(0.1, 0.9, n)
    elif fault not in SHARED_LABEL_FAULTS:
        fault = None
    return _with_label_fault(cohort, X, y, fault, blame, must_fail, faults)


@fuzz_settings(40)
@given(classification_cases())
def test_classifier_fit(case):
    cohort, X, y, blame, must_fail, faults = case
    model = ContIGClassifier(image_encoder=_encoder(cohort), **TINY)
    _fit(model, {"X": X, "y": y}, blame, faults, must_fail)


@st.composite
def regression_cases(draw):
    cohort = draw(cohorts(faults=ARRAY_FAULTS + IMAGE_DATASET_FAULTS, layouts=("flat",), labels=False))
    X, blame, must_fail, faults = _downstream_X(draw, cohort)
    n = cohort.n
    y = np.random.default_rng(n).normal(size=(n, draw(st.integers(1, 3)))) * 10 + 50
    form = draw(st.sampled_from(("1d", "2d", "int", "series", "frame", "float32")))
    if form == "1d":
        y = y[:, 0]
    elif form == "int":
        y = y.astype(np.int64)
    elif form == "series":
        y = pd.Series(y[:, 0])
    elif form == "frame":
        y = pd.DataFrame(y, columns=[f"t{j}" for j in range(y.shape[1])])
    elif form == "float32":
        y = y.astype(np.float32)
    fault = draw(st.sampled_from((None, None, "nan", "inf", "wrong_length", "strings", "three_dims", "no_column",
                                  "none")))
    if fault in ("nan", "inf") and n:
        y = np.asarray(y, dtype=np.float64).copy()
        y.flat[0] = np.nan if fault == "nan" else np.inf
    elif fault == "wrong_length":
        y = np.asarray(y)[:-1] if n else np.zeros(1)
    elif fault == "strings" and n:
        y = np.asarray(y).astype(str)
        y.flat[0] = "abc"
    elif fault == "no_column":
        y = np.zeros((n, 0))
    elif fault not in SHARED_LABEL_FAULTS:
        fault = None
    return _with_label_fault(cohort, X, y, fault, blame, must_fail, faults)


@fuzz_settings(30)
@given(regression_cases())
def test_regressor_fit(case):
    cohort, X, y, blame, must_fail, faults = case
    model = ContIGRegressor(image_encoder=_encoder(cohort), **TINY)
    _fit(model, {"X": X, "y": y}, blame, faults, must_fail)


@st.composite
def segmentation_cases(draw):
    cohort = draw(cohorts(faults=("tiny", "image_nonfinite", "image_empty_dim"), layouts=("image",), sizes=(16,),
                          labels=False, max_faults=1, max_n=6))
    X, blame, must_fail, faults = _downstream_X(draw, cohort)
    n = cohort.n
    rng = np.random.default_rng(n)
    k = draw(st.sampled_from((None, 1, 2)))
    masks = rng.integers(0, 2, (n, 16, 16) if k is None else (n, k, 16, 16))
    masks = masks.astype(draw(st.sampled_from(("uint8", "bool", "float32", "int64"))))
    fault = draw(st.sampled_from((None, None, "not_binary", "nan", "wrong_size", "no_mask", "wrong_length",
                                  "flat")))
    if fault == "not_binary" and n:
        masks = masks.astype(np.float64)
        masks.flat[0] = draw(st.sampled_from((0.5, 2.0, -1.0)))
    elif fault == "nan" and n:
        masks = masks.astype(np.float64)
        masks.flat[0] = np.nan
    elif fault == "wrong_size":
        masks = masks[..., :8, :8]
    elif fault == "no_mask":
        masks = np.zeros((n, 0, 16, 16), np.uint8)
    elif fault == "wrong_length":
        masks = np.concatenate([masks, np.zeros((1,) + masks.shape[1:], masks.dtype)])
    elif fault == "flat":
        masks = masks.reshape(n, 16 * 16 * (k or 1))
    else:
        fault = None
    if fault is not None:
        faults, blame, must_fail = faults + [f"y_{fault}"], blame | {"y", "masks"}, True
    return cohort, X, masks, blame, must_fail, faults


@fuzz_settings(5)
@given(segmentation_cases())
def test_segmenter_fit(case):
    cohort, X, masks, blame, must_fail, faults = case
    model = ContIGSegmenter(image_encoder="resnet18", **TINY)
    _fit(model, {"X": X, "y": masks}, blame, faults, must_fail)


# ------------------------------------------------------------------------ GWAS
@st.composite
def gwas_cases(draw):
    """Per-sample embeddings, the individuals they belong to, covariates; some faults."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_people, d = draw(st.integers(2, 8)), draw(st.integers(1, 6))
    people = np.array([f"id{i}" for i in range(n_people)], dtype=object)
    if draw(st.booleans()):
        people = np.arange(1, n_people + 1).astype(object)
    rows = np.repeat(np.arange(n_people), draw(st.sampled_from((1, 2))))
    ids, X = people[rows], rng.normal(size=(len(rows), d))
    n_components = draw(st.integers(1, 3))
    covariates = None
    if draw(st.booleans()):
        covariates = pd.DataFrame({"age": rng.normal(50, 10, n_people),
                                   "sex": np.array(["f", "m"])[np.arange(n_people) % 2]}, index=people)
    faults, blame = [], set()
    for fault in draw(st.lists(st.sampled_from(("nan", "strings", "no_feature", "three_dims", "constant",
                                                "missing_id", "ids_wrong_length", "one_individual", "cov_nan",
                                                "cov_absent", "cov_duplicate", "cov_inf", "cov_no_column")),
                               unique=True, max_size=2)):
        if fault in ("nan", "strings", "no_feature", "three_dims", "constant"):
            if X.dtype.kind != "f" or X.ndim != 2 or X.shape[1] == 0:
                continue
            if fault == "nan":
                X = X.copy()
                X[0, 0] = np.nan
            elif fault == "strings":
                X = X.astype(str)
                X[0, 0] = "abc"
            elif fault == "no_feature":
                X = X[:, :0]
            elif fault == "three_dims":
                X = X[:, :, None]
            else:
                X = np.ones_like(X)
            blame |= {"X", "embedding"}
        elif fault == "missing_id":
            ids = ids.copy()
            ids[0] = draw(st.sampled_from((None, np.nan)))
            blame |= {"individual"}
        elif fault == "ids_wrong_length":
            ids = ids[:-1]
            blame |= {"individual"}
        elif fault == "one_individual":
            ids = np.array([people[0]] * len(ids), dtype=object)
            blame |= {"individual", "individuals", "n_samples"}
        elif covariates is None:
            continue
        elif fault == "cov_nan":
            covariates = covariates.assign(age=covariates["age"].where(np.arange(len(covariates)) > 0))
            blame |= {"covariates"}
        elif fault == "cov_absent":
            covariates = covariates.iloc[1:]
            blame |= {"covariates"}
        elif fault == "cov_duplicate":
            covariates = pd.concat([covariates, covariates.iloc[:1]])
            blame |= {"covariates"}
        elif fault == "cov_inf":
            covariates = covariates.assign(age=covariates["age"].where(np.arange(len(covariates)) > 0, np.inf))
            blame |= {"covariates"}
        elif fault == "cov_no_column":
            covariates = covariates[[]]
            blame |= {"covariates"}
        faults.append(fault)
    must_fail = bool(faults)
    if not must_fail and n_components > min(n_people, d):
        faults, blame, must_fail = ["n_components_too_large"], {"n_components"}, True
    container = draw(st.sampled_from(("array", "individuals", "frame", "dataarray")))
    return X, ids, covariates, n_components, container, faults, blame, must_fail


@fuzz_settings(80)
@given(gwas_cases())
def test_gwas_fit_transform(case):
    import xarray as xr

    from sklearn_contig.gwas import GWASTransformer

    X, ids, covariates, n_components, container, faults, blame, must_fail = case
    model = GWASTransformer(n_components=n_components, covariates=covariates)
    inputs = {"X": X, "individual": ids}
    if container == "individuals":
        model.set_params(individuals=ids)
        inputs = {"X": X}
    elif container == "frame" and X.ndim == 2 and len(ids) == len(X):
        index = pd.MultiIndex.from_arrays([np.arange(len(X)), ids], names=["sample", "individual"])
        inputs = {"X": pd.DataFrame(X, index=index)}
    elif container == "dataarray" and X.ndim == 2 and len(ids) == len(X):
        inputs = {"X": xr.DataArray(X, dims=("sample", "embedding"), coords={"individual": ("sample", ids)})}
    before = snapshot({"inputs": inputs, "covariates": covariates})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pheno = model.fit_transform(**inputs)
        except Exception as exc:  # noqa: BLE001 - the property is about which exceptions
            check_refusal(exc, blame, faults)
        else:
            assert not must_fail, f"faults {faults} were accepted"
            assert pheno.shape == (len(pd.unique(ids)), n_components)
            assert np.isfinite(pheno.to_numpy()).all()
    assert_unchanged(before, {"inputs": inputs, "covariates": covariates})
