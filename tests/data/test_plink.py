import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from bed_reader import open_bed, to_bed

from sklearn_contig.data import read_plink, validate, write_plink


def _genotypes(n=12, p=30, missing=0.1, seed=0):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, size=(n, p)).astype(np.float32)
    g[rng.random((n, p)) < missing] = np.nan
    return g


def _bed_reader_fileset(tmp_path, g):
    n, p = g.shape
    props = {
        "fid": [f"f{i}" for i in range(n)],
        "iid": [f"id{i}" for i in range(n)],
        "sid": [f"rs{1000 + j}" for j in range(p)],
        "chromosome": [str(1 + j // 10) for j in range(p)],
        "bp_position": [100 * (j + 1) for j in range(p)],
        "allele_1": ["A"] * p,
        "allele_2": ["G"] * p,
    }
    to_bed(tmp_path / "raw.bed", g, properties=props)
    return tmp_path / "raw.bed", props


@pytest.mark.parametrize("every", [1, 3, 100])
def test_read_plink_thinning_matches_bed_reader(tmp_path, every):
    g = _genotypes()
    bed, props = _bed_reader_fileset(tmp_path, g)
    snp = read_plink(bed, every=every, impute=False)
    assert snp.dims == ("sample", "snp_id")
    assert snp.name == "snp" and snp.attrs["kind"] == "genetic"
    np.testing.assert_array_equal(snp.values, g[:, ::every])
    assert snp["snp_id"].values.tolist() == props["sid"][::every]
    assert snp["sample"].values.tolist() == props["iid"]
    assert snp["individual"].values.tolist() == props["iid"]
    assert snp["chromosome"].values.tolist() == props["chromosome"][::every]
    assert snp["bp_position"].values.tolist() == props["bp_position"][::every]
    assert set(snp["allele_1"].values) == {"A"} and set(snp["allele_2"].values) == {"G"}


def test_read_plink_prefix_snps_and_mode_imputation(tmp_path):
    g = np.array([[0, 1, np.nan], [0, 2, 2], [np.nan, 2, 2], [1, np.nan, 0]], np.float32)
    _bed_reader_fileset(tmp_path, g)
    snp = read_plink(tmp_path / "raw", snps=["rs1002", "rs1000"])
    # file order is kept; the mode fills the holes (ties go to the smaller dosage)
    assert snp["snp_id"].values.tolist() == ["rs1000", "rs1002"]
    np.testing.assert_array_equal(snp.values[:, 0], [0, 0, 0, 1])
    np.testing.assert_array_equal(snp.values[:, 1], [2, 2, 2, 0])
    assert snp.dtype == np.float32
    assert read_plink(tmp_path / "raw", dtype=np.float64).dtype == np.float64


def test_read_plink_all_missing_individual_stays_missing(tmp_path):
    g = _genotypes(n=4, p=5, missing=0.0)
    g[2] = np.nan
    _bed_reader_fileset(tmp_path, g)
    snp = read_plink(tmp_path / "raw")
    assert np.isnan(snp.values[2]).all()
    assert not np.isnan(np.delete(snp.values, 2, axis=0)).any()


def test_read_plink_errors(tmp_path):
    _bed_reader_fileset(tmp_path, _genotypes(n=3, p=4))
    with pytest.raises(ValueError, match="snps has 1 ids not in"):
        read_plink(tmp_path / "raw", snps=["rs1000", "rs_nope"])
    with pytest.raises(ValueError, match="every must be a positive integer"):
        read_plink(tmp_path / "raw", every=0)
    with pytest.raises(FileNotFoundError, match="nothere.bed"):
        read_plink(tmp_path / "nothere")


def test_read_plink_names_the_missing_part_and_refuses_other_formats(tmp_path):
    _bed_reader_fileset(tmp_path, _genotypes(n=3, p=4))
    (tmp_path / "raw.fam").unlink()
    with pytest.raises(FileNotFoundError, match=r"path .*raw': PLINK fileset .* incomplete: missing .*raw\.fam$"):
        read_plink(tmp_path / "raw")
    msg = r"path must be a PLINK 1 \(\.bed/\.bim/\.fam\) fileset or its prefix"
    with pytest.raises(ValueError, match=msg + r", got the PLINK 2 .* file .*x\.pgen"):
        read_plink(tmp_path / "x.pgen")
    (tmp_path / "y.bgen").write_bytes(b"")
    with pytest.raises(ValueError, match=msg + r", got .*y', the prefix of a BGEN"):
        read_plink(tmp_path / "y")


def test_write_read_round_trip_numpy(tmp_path):
    g = _genotypes(n=7, p=9)
    prefix = write_plink(
        tmp_path / "out" / "toy",
        g,
        iid=[f"i{k}" for k in range(7)],
        sid=[f"rs{k}" for k in range(9)],
        chromosome=[1] * 9,
        bp_position=np.arange(9) * 10 + 5,
        allele_1=["C"] * 9,
        allele_2=["T"] * 9,
    )
    back = read_plink(prefix, impute=False)
    np.testing.assert_array_equal(back.values, g)
    assert back["snp_id"].values.tolist() == [f"rs{k}" for k in range(9)]
    assert back["chromosome"].values.tolist() == ["1"] * 9
    assert back["bp_position"].values.tolist() == list(np.arange(9) * 10 + 5)
    assert back["allele_1"].values.tolist() == ["C"] * 9


def test_write_read_round_trip_dataarray_is_identical(tmp_path):
    g = _genotypes(n=6, p=8)
    _bed_reader_fileset(tmp_path, g)
    snp = read_plink(tmp_path / "raw", impute=False)
    again = read_plink(write_plink(tmp_path / "copy.bed", snp), impute=False)
    xr.testing.assert_identical(again, snp)
    # counting convention: the same allele is counted by bed-reader's default
    with open_bed(tmp_path / "copy.bed") as bed:
        np.testing.assert_array_equal(bed.read(), g)


def test_write_plink_dataset_variable_like_the_generator(tmp_path):
    # the synthetic generator passes ds["snp"] with chromosome/bp_position on snp_id
    # and two images of one individual
    g = _genotypes(n=3, p=4, missing=0.0)
    ds = xr.Dataset(
        {"snp": (("sample", "snp_id"), g[[0, 0, 1, 2]], {"kind": "genetic"})},
        coords={
            "sample": ["s0a", "s0b", "s1", "s2"],
            "individual": ("sample", ["p0", "p0", "p1", "p2"]),
            "snp_id": ["rs1", "rs2", "rs3", "rs4"],
            "chromosome": ("snp_id", np.array([1, 1, 2, 2])),
            "bp_position": ("snp_id", np.array([10, 20, 10, 20])),
        },
    )
    before = ds.copy(deep=True)
    prefix = write_plink(tmp_path / "gen", ds["snp"])
    xr.testing.assert_identical(ds, before)
    back = read_plink(prefix)
    np.testing.assert_array_equal(back.values, g)
    assert back["individual"].values.tolist() == ["p0", "p1", "p2"]
    assert back["chromosome"].values.tolist() == ["1", "1", "2", "2"]
    fam = pd.read_csv(prefix + ".fam", sep=r"\s+", header=None)
    assert fam[0].tolist() == fam[1].tolist() == ["p0", "p1", "p2"]


def test_write_plink_rejects_bad_dosages_and_conflicting_rows(tmp_path):
    with pytest.raises(ValueError, match="genotypes must hold dosages 0, 1, 2 or NaN"):
        write_plink(tmp_path / "bad", np.array([[0, 3], [1, 0.5]]))
    da = xr.DataArray(
        [[0.0, 1.0], [2.0, 1.0]],
        dims=("sample", "snp_id"),
        coords={"individual": ("sample", ["p", "p"])},
    )
    with pytest.raises(ValueError, match="different values for the same individual"):
        write_plink(tmp_path / "bad", da)
    with pytest.raises(ValueError, match="genotypes must be 2-D"):
        write_plink(tmp_path / "bad", np.zeros(3))


def test_read_plink_output_passes_validate(tmp_path):
    _bed_reader_fileset(tmp_path, _genotypes())
    snp = read_plink(tmp_path / "raw", impute=False)
    ds = snp.to_dataset()
    assert validate(ds, require_image=False) == ["snp"]


@pytest.mark.plink
@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not on PATH")
def test_plink2_reads_written_files(tmp_path):
    g = _genotypes(n=20, p=6, missing=0.0)
    g[:, 0] = 0.0
    g[:10, 0] = 1.0  # allele_1 frequency 0.25 on the first SNP
    prefix = write_plink(
        tmp_path / "toy", g, sid=[f"rs{k}" for k in range(6)], chromosome=[1] * 6,
        bp_position=np.arange(1, 7) * 100, allele_1=["A"] * 6, allele_2=["G"] * 6,
    )
    subprocess.run(
        ["plink2", "--bfile", prefix, "--freq", "--out", str(tmp_path / "freq"),
         "--threads", "1", "--memory", "1024"],
        check=True, capture_output=True,
    )
    freq = pd.read_csv(tmp_path / "freq.afreq", sep="\t")
    assert freq["ID"].tolist() == [f"rs{k}" for k in range(6)]
    # plink2 reports allele_1 as ALT: its frequency is the mean dosage / 2
    assert (freq["ALT"] == "A").all()
    np.testing.assert_allclose(freq["ALT_FREQS"], g.mean(0) / 2, atol=1e-6)


def test_write_plink_refuses_plink_missing_id(tmp_path):
    with pytest.raises(ValueError, match="iid contains the id '0'"):
        write_plink(tmp_path / "bad", np.zeros((2, 2)), iid=["0", "1"])
