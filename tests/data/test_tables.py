import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from sklearn_contig.data import read_burden, read_pgs, validate


def _sscore(path, ids, columns):
    table = pd.DataFrame({"#FID": ids, "IID": ids, "ALLELE_CT": 20,
                          "NAMED_ALLELE_DOSAGE_SUM": 7.0, **columns})
    table.to_csv(path, sep="\t", index=False)
    return path


def test_wide_csv_and_tsv(tmp_path):
    table = pd.DataFrame({"IID": [101, 102, 103], "PGS000001": [0.1, 0.2, np.nan],
                          "PGS000002": [1, 2, 3]})
    table.to_csv(tmp_path / "pgs.csv", index=False)
    table.to_csv(tmp_path / "pgs.tsv", sep="\t", index=False)
    for name in ("pgs.csv", "pgs.tsv"):
        pgs = read_pgs(tmp_path / name)
        assert pgs.dims == ("sample", "pgs_id")
        assert pgs.name == "pgs" and pgs.attrs["kind"] == "genetic"
        assert pgs["pgs_id"].values.tolist() == ["PGS000001", "PGS000002"]
        assert pgs["individual"].values.tolist() == ["101", "102", "103"]
        np.testing.assert_allclose(pgs.values, table.iloc[:, 1:].to_numpy(), rtol=1e-6)
        assert pgs.dtype == np.float32
        validate(pgs.to_dataset(), require_image=False)


def test_explicit_id_column_and_fid_ignored(tmp_path):
    table = pd.DataFrame({"FID": ["f1", "f2"], "person": ["a", "b"], "PGS9": [0.5, 0.7]})
    pgs = read_pgs(table, id_column="person")
    assert pgs["pgs_id"].values.tolist() == ["PGS9"]
    assert pgs["sample"].values.tolist() == ["a", "b"]
    indexed = pd.DataFrame({"PGS9": [0.5, 0.7]}, index=pd.Index(["a", "b"], name="IID"))
    assert read_pgs(indexed)["sample"].values.tolist() == ["a", "b"]


def test_sscore_files_named_after_stem_and_outer_joined(tmp_path):
    a = _sscore(tmp_path / "PGS000001.sscore", ["i1", "i2", "i3"],
                {"SCORE1_AVG": [0.1, 0.2, 0.3], "SCORE1_SUM": [2.0, 4.0, 6.0]})
    b = _sscore(tmp_path / "PGS000002.sscore", ["i2", "i4"], {"SCORE1_AVG": [1.0, 2.0]})
    pgs = read_pgs([a, b])
    assert pgs["pgs_id"].values.tolist() == ["PGS000001", "PGS000002"]
    assert pgs["sample"].values.tolist() == ["i1", "i2", "i3", "i4"]
    expected = [[0.1, np.nan], [0.2, 1.0], [0.3, np.nan], [np.nan, 2.0]]
    np.testing.assert_allclose(pgs.values, expected, rtol=1e-6)
    sums = read_pgs(a, score="sum")
    np.testing.assert_allclose(sums.values.ravel(), [2.0, 4.0, 6.0])


def test_sscore_with_several_columns_named_after_columns(tmp_path):
    path = _sscore(tmp_path / "many.sscore", ["i1", "i2"],
                   {"SCORE1_AVG": [0.1, 0.2], "SCORE2_AVG": [0.3, 0.4]})
    assert read_pgs(path)["pgs_id"].values.tolist() == ["SCORE1", "SCORE2"]


def test_burden(tmp_path):
    table = pd.DataFrame({"eid": ["x", "y", "z"], "BRCA2": [0, 1, 0], "PCSK9": [0.5, 0, 2]})
    table.to_csv(tmp_path / "burden.csv", index=False)
    burden = read_burden(tmp_path / "burden.csv")
    assert burden.dims == ("sample", "gene") and burden.name == "burden"
    assert burden["gene"].values.tolist() == ["BRCA2", "PCSK9"]
    np.testing.assert_allclose(burden.values, table[["BRCA2", "PCSK9"]].to_numpy())


def test_table_without_id_column(tmp_path):
    pd.DataFrame({"who": [1, 2], "PGS1": [0.1, 0.2]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match="no id column found"):
        read_pgs(tmp_path / "t.csv")
    with pytest.raises(ValueError, match="id_column 'person' is not a column"):
        read_burden(tmp_path / "t.csv", id_column="person")


def test_non_numeric_column_is_named():
    table = pd.DataFrame({"IID": ["a", "b"], "PGS1": [0.1, 0.2], "note": ["hi", "yo"]})
    with pytest.raises(TypeError, match="column 'note' must be numeric"):
        read_pgs(table)


def test_duplicate_ids_and_repeated_scores(tmp_path):
    with pytest.raises(ValueError, match="duplicate ids"):
        read_pgs(pd.DataFrame({"IID": ["a", "a"], "PGS1": [0.1, 0.2]}))
    t = pd.DataFrame({"IID": ["a", "b"], "PGS1": [0.1, 0.2]})
    with pytest.raises(ValueError, match="feature names repeat"):
        read_pgs([t, t])
    with pytest.raises(ValueError, match="no plink2 score column"):
        read_pgs(_sscore(tmp_path / "x.sscore", ["a"], {}))


def test_input_table_not_modified():
    table = pd.DataFrame({"IID": [3, 4], "PGS1": [0.1, np.nan]})
    before = table.copy()
    read_pgs(table)
    pd.testing.assert_frame_equal(table, before)


@pytest.mark.plink
@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not on PATH")
def test_real_plink2_sscore(tmp_path):
    from sklearn_contig.data import write_plink

    g = np.random.default_rng(0).integers(0, 3, (10, 4))
    prefix = write_plink(tmp_path / "cohort", g, sid=["rs1", "rs2", "rs3", "rs4"],
                         allele_1=["A"] * 4, allele_2=["G"] * 4)
    (tmp_path / "weights.txt").write_text("rs1\tA\t0.5\nrs3\tA\t-1\n")
    subprocess.run(
        ["plink2", "--bfile", prefix, "--score", str(tmp_path / "weights.txt"), "1", "2", "3",
         "no-mean-imputation", "--out", str(tmp_path / "PGS000123"),
         "--threads", "1", "--memory", "1024"],
        check=True, capture_output=True,
    )
    pgs = read_pgs(tmp_path / "PGS000123.sscore")  # SCORE1_AVG = sum / ALLELE_CT
    assert pgs["pgs_id"].values.tolist() == ["PGS000123"]
    assert pgs["individual"].values.tolist() == [f"iid{i}" for i in range(10)]
    np.testing.assert_allclose(pgs.values.ravel(), (0.5 * g[:, 0] - g[:, 2]) / 4, atol=1e-5)


def test_id_index_candidates_order_and_missing_ids():
    from sklearn_contig.data._tables import ID_COLUMNS, SAMPLE_ID_COLUMNS, id_index

    table = pd.DataFrame({"sample": ["a_L", "a_R"], "IID": ["a", "a"]})
    assert id_index(table).name == "IID"
    assert id_index(table, candidates=SAMPLE_ID_COLUMNS).tolist() == ["a_L", "a_R"]
    assert sorted(SAMPLE_ID_COLUMNS) == sorted(ID_COLUMNS)
    indexed = pd.DataFrame({"x": [1.0, 2.0]}, index=pd.Index([5, 6], name="eid"))
    assert id_index(indexed).tolist() == ["5", "6"]
    with pytest.raises(ValueError, match=r"t.csv: id column 'IID' has missing ids \(None or NaN\) in rows \[1\]"):
        id_index(pd.DataFrame({"IID": ["a", np.nan]}), where="t.csv")


@pytest.mark.parametrize("name", ["p.tsv", "p.csv", "p.txt"])
def test_zero_padded_ids_are_kept_as_written(tmp_path, name):
    # PLINK .fam files keep "001"; a table must too, or align() matches nobody
    sep = "," if name.endswith(".csv") else "\t"
    (tmp_path / name).write_text(f"FID{sep}IID{sep}PGS1\n001{sep}001{sep}0.5\n002{sep}0002{sep}0.7\n")
    assert read_pgs(tmp_path / name)["individual"].values.tolist() == ["001", "0002"]
    (tmp_path / "q.tsv").write_text("person\tPGS1\n007\t0.5\n008\t0.7\n")
    assert read_pgs(tmp_path / "q.tsv", id_column="person")["individual"].values.tolist() == ["007", "008"]
