"""Labels, the model's split and GWAS covariates: nothing is dropped or recoded unannounced."""

import json
import shutil
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sklearn_contig.cli import _stages
from sklearn_contig.cli._cohort import add_labels, read_table
from sklearn_contig.cli._model import read_split
from sklearn_contig.cli._stages import _categories_as_indicators, _warn_outside_split


def _cohort(individuals):
    ids = [str(i) for i in individuals]
    return xr.Dataset({"image": (("sample", "channel", "y", "x"), np.zeros((len(ids), 1, 2, 2)))},
                      coords={"sample": [f"s{i}" for i in ids], "individual": ("sample", ids)})


def _labels(tmp_path, text):
    (tmp_path / "labels.csv").write_text(text)
    return read_table(tmp_path / "labels.csv", "labels")


# ---------------------------------------------------------------- labels


def test_dropped_samples_are_counted_with_their_reason(tmp_path):
    table = _labels(tmp_path, "individual,grade\n1,0\n2,1\n3,\n4,NA\n5,2\n")
    with pytest.warns(UserWarning, match=r"labels: 3 of 6 samples of the cohort are dropped: 1 have no row "
                                         r"in the labels file \(matched by individual\), 2 have a missing "
                                         r"label \(empty cell or NA\) in \['grade'\]"):
        ds = add_labels(_cohort(range(1, 7)), table, "grade")
    assert ds["individual"].values.tolist() == ["1", "2", "5"]
    assert ds["grade"].values.tolist() == [0, 1, 2]


def test_every_sample_labelled_warns_nothing(tmp_path):
    table = _labels(tmp_path, "individual,a,b\n1,0,1\n2,1,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = add_labels(_cohort([1, 2]), table, ["a", "b"])
    assert ds["labels"].dims == ("sample", "label")


def test_ids_with_whitespace_match_the_cohort(tmp_path):
    table = _labels(tmp_path, "individual,grade\n4 ,1\n 5,0\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = add_labels(_cohort([4, 5]), table, "grade")
    assert ds["grade"].values.tolist() == [1, 0]


def test_minus_nine_is_kept_as_a_value_with_a_warning(tmp_path):
    table = _labels(tmp_path, "individual,grade\n1,-9\n2,1\n3,-9\n")
    with pytest.warns(UserWarning, match=r"labels: label column 'grade' holds -9 in 2 rows; -9 is kept as a "
                                         r"label value, not read as missing .*leave the cell empty or "
                                         r"write NA"):
        ds = add_labels(_cohort([1, 2, 3]), table, "grade")
    assert ds["grade"].values.tolist() == [-9, 1, -9]


def test_text_minus_nine_does_not_warn(tmp_path):
    table = _labels(tmp_path, "individual,grade\n1,-9\n2,b\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        add_labels(_cohort([1, 2]), table, "grade")


def test_fewer_than_two_labelled_samples_names_the_file(tmp_path):
    table = _labels(tmp_path, "individual,grade\n1,0\n2,\n")
    with pytest.warns(UserWarning, match="dropped"), \
            pytest.raises(ValueError, match=r"labels 'x.csv': fewer than 2 samples of the cohort have a "
                                            r"label in \['grade'\]"):
        add_labels(_cohort([1, 2]), table, "grade", where="labels 'x.csv'")


# ---------------------------------------------------------------- split


def test_split_ids_are_read_as_written(tmp_path):
    (tmp_path / "split.csv").write_text("individual,split\nNA,train\n001,held_out\nnan,train\n")
    split = read_split(tmp_path)
    assert split.index.tolist() == ["NA", "001", "nan"]
    assert split.tolist() == ["train", "held_out", "train"]


def test_individuals_outside_the_split_warn(tmp_path):
    split = pd.Series(["train", "held_out"], index=["1", "2"])
    with pytest.warns(UserWarning, match=r"2 of 4 individuals of the cohort are not in the model's split "
                                         r"'.*split.csv' and are excluded from embed, e.g. \['3', '4'\]"):
        _warn_outside_split(_cohort([1, 2, 3, 4]), split, tmp_path, "embed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_outside_split(_cohort([1, 2]), split, tmp_path, "embed")


class _Embedder:
    def set_output(self, transform=None):
        return self

    def transform(self, ds):
        index = pd.MultiIndex.from_arrays([ds["sample"].values, ds["individual"].values],
                                          names=["sample", "individual"])
        return pd.DataFrame({"e0": np.zeros(ds.sizes["sample"])}, index=index)


def test_embed_keeps_an_individual_called_na_and_warns_for_the_rest(tmp_path, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "split.csv").write_text("individual,split\nNA,held_out\n7,held_out\n8,train\n")
    monkeypatch.setattr(_stages, "load_model", lambda folder: _Embedder())
    monkeypatch.setattr(_stages, "_cohort", lambda cohort: _cohort(["NA", 7, 8, 9]))
    with pytest.warns(UserWarning, match="1 of 4 individuals of the cohort are not in the model's split"):
        _stages.embed(model, tmp_path / "e.csv", cohort={}, split="held_out")
    emb = pd.read_csv(tmp_path / "e.csv", dtype=str, keep_default_na=False)
    assert emb["individual"].tolist() == ["NA", "7"]


# ---------------------------------------------------------------- covariates


def test_text_covariates_become_indicators_and_keep_missing_values():
    cov = pd.DataFrame({"age": [60.0, 61.0, 62.0, 63.0], "sex": ["F", "M", None, "M"],
                        "site": ["Leeds north", "York", "Leeds north", "York"],
                        "smoker": [True, False, True, False]}, index=list("abcd"))
    out = _categories_as_indicators(cov, "covariates 'c.csv'")
    assert out.columns.tolist() == ["age", "sex_M", "site_York", "smoker"]
    assert out["sex_M"].tolist()[:2] == [0.0, 1.0] and np.isnan(out["sex_M"].iloc[2])
    assert out["smoker"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert all(pd.api.types.is_float_dtype(t) for t in out.dtypes)


def test_id_like_text_covariate_raises():
    cov = pd.DataFrame({"age": [1.0, 2.0, 3.0], "individual": ["p1", "p2", "p3"]}, index=list("abc"))
    with pytest.raises(ValueError, match=r"covariates 'c.csv': text column 'individual' has a different "
                                         r"value in each of its 3 rows; an id or free-text column"):
        _categories_as_indicators(cov, "covariates 'c.csv'")


@pytest.mark.plink
@pytest.mark.skipif(shutil.which("plink2") is None or shutil.which("plink1.9") is None,
                    reason="plink2/plink1.9 not installed (make test installs them via apt)")
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_gwas_takes_categorical_covariates_and_not_the_family_id(tmp_path, suffix):
    subprocess.run(["plink2", "--dummy", "60", "30", "--make-bed", "--out", str(tmp_path / "g")],
                   check=True, capture_output=True)
    ids = pd.read_csv(tmp_path / "g.fam", sep=r"\s+", header=None)[1].astype(str).to_numpy()
    rng = np.random.default_rng(0)
    index = pd.MultiIndex.from_arrays([ids, ids], names=["sample", "individual"])
    pd.DataFrame(rng.normal(size=(60, 4)), index=index, columns=list("abcd")).to_parquet(
        tmp_path / "e.parquet")
    cov = pd.DataFrame({"FID": np.arange(60), "IID": ids, "age": rng.normal(60, 5, 60),
                        "sex": rng.choice(["F", "M"], 60)})
    path = tmp_path / f"cov{suffix}"
    cov.to_parquet(path) if suffix == ".parquet" else cov.to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # plink's --dummy phenotype is case/control
        summary = _stages.gwas(tmp_path / "e.parquet", tmp_path / "g.bed", tmp_path / "out",
                               covariates=path, n_components=2, threads=1)
    assert summary["covariates"] == ["age", "sex_M"]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["n_individuals"] == 60
