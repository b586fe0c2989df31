"""The command line's label, trait and covariate tables: formats and id column."""

import numpy as np
import pandas as pd
import pytest

from sklearn_contig.cli._cohort import read_table


def test_sample_column_wins_over_the_individual_id(tmp_path):
    pd.DataFrame({"individual": [7, 7], "sample": ["7_L", "7_R"], "grade": [0, 2]}).to_csv(
        tmp_path / "labels.csv", index=False)
    table = read_table(tmp_path / "labels.csv", "labels")
    assert table.index.name == "sample" and table.index.tolist() == ["7_L", "7_R"]
    assert table.columns.tolist() == ["individual", "grade"]


@pytest.mark.parametrize("suffix, sep", [(".tsv", "\t"), (".cov", "\t"), (".csv", ",")])
def test_text_formats_and_individual_ids_as_strings(tmp_path, suffix, sep):
    pd.DataFrame({"#FID": [1, 2], "IID": [101, 102], "PC1": [0.5, -0.5]}).to_csv(
        tmp_path / f"c{suffix}", sep=sep, index=False)
    table = read_table(tmp_path / f"c{suffix}", "covariates")
    assert table.index.name == "IID" and table.index.tolist() == ["101", "102"]
    assert table.columns.tolist() == ["PC1"]


@pytest.mark.parametrize("fid", ["FID", "#FID", "fid"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_family_id_column_is_dropped_in_every_format(tmp_path, fid, suffix):
    table = pd.DataFrame({fid: [1, 2], "IID": ["a", "b"], "age": [60.0, 61.0]})
    path = tmp_path / f"c{suffix}"
    table.to_parquet(path) if suffix == ".parquet" else table.to_csv(path, index=False)
    assert read_table(path, "covariates").columns.tolist() == ["age"]


def test_ids_are_stripped_of_surrounding_whitespace(tmp_path):
    (tmp_path / "labels.csv").write_text("individual,grade\n4 ,1\n 5,0\n\t6\t,2\n")
    assert read_table(tmp_path / "labels.csv", "labels").index.tolist() == ["4", "5", "6"]


def test_blank_id_raises(tmp_path):
    (tmp_path / "labels.csv").write_text("individual,grade\n4,1\n  ,0\n")
    with pytest.raises(ValueError, match=r"labels .*labels.csv'.*: id column 'individual' has blank ids "
                                         r"in rows \[1\]"):
        read_table(tmp_path / "labels.csv", "labels")


def test_individual_id_column_is_recognised(tmp_path):
    pd.DataFrame({"individual_id": ["a", "b"], "height": [1.0, 2.0]}).to_csv(
        tmp_path / "traits.csv", index=False)
    assert read_table(tmp_path / "traits.csv", "traits").index.tolist() == ["a", "b"]


def test_missing_id_raises_instead_of_becoming_nan(tmp_path):
    pd.DataFrame({"sample": ["s1", None, "s3"], "grade": [0, 1, 2]}).to_csv(
        tmp_path / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"labels .*labels.csv'.*: id column 'sample' has missing ids "
                                         r"\(None or NaN\) in rows \[1\]"):
        read_table(tmp_path / "labels.csv", "labels")


def test_no_id_column_names_the_table_and_the_candidates(tmp_path):
    pd.DataFrame({"who": ["a"], "grade": [1]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"labels .*: no id column found; expected a column named "
                                         r"one of \['sample', 'IID'"):
        read_table(tmp_path / "labels.csv", "labels")


def test_parquet_named_index_is_the_id_as_strings(tmp_path):
    table = pd.DataFrame({"individual": ["x", "y"], "grade": [1, 0]},
                         index=pd.Index([11, 12], name="sample"))
    table.to_parquet(tmp_path / "labels.parquet")
    out = read_table(tmp_path / "labels.parquet", "labels")
    assert out.index.name == "sample" and out.index.tolist() == ["11", "12"]
    assert out.columns.tolist() == ["individual", "grade"]


def test_parquet_id_column_and_multiindex(tmp_path):
    pd.DataFrame({"IID": ["a", "b"], "t": [1.0, 2.0]}).to_parquet(tmp_path / "t.parquet")
    assert read_table(tmp_path / "t.parquet").index.tolist() == ["a", "b"]
    index = pd.MultiIndex.from_arrays([["s1", "s2"], ["i1", "i1"]], names=["sample", "individual"])
    pd.DataFrame({"e0": np.zeros(2)}, index=index).to_parquet(tmp_path / "e.parquet")
    assert read_table(tmp_path / "e.parquet").index.equals(index)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="traits .*nope.csv' does not exist"):
        read_table(tmp_path / "nope.csv", "traits")


def test_zero_padded_ids_are_kept_as_written(tmp_path):
    (tmp_path / "labels.csv").write_text("individual,y\n001,1\n010,0\n")
    assert read_table(tmp_path / "labels.csv").index.tolist() == ["001", "010"]
