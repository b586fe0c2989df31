"""read_genotypes on .bed, .pgen and .bgen files written by plink2 from one .bed."""

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sklearn_contig.data import (
    align,
    fill_values,
    from_arrays,
    genotype_files,
    open_zarr,
    read_genotypes,
    read_plink,
    to_zarr,
    validate,
    write_plink,
)
from sklearn_contig.data._genotypes import find_genotype_files

needs_plink2 = [
    pytest.mark.plink,
    pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not on PATH"),
]

N, P = 40, 25


def _genotypes(n=N, p=P, seed=0):
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.6, p)
    g = rng.binomial(2, freq, size=(n, p)).astype(np.float32)
    g[rng.random((n, p)) < 0.08] = np.nan
    g[3] = np.nan  # an individual with no call at all
    return g


def _plink2(*args):
    subprocess.run(
        ["plink2", *map(str, args), "--threads", "1", "--memory", "1024"],
        check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def filesets(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("genotypes")
    g = _genotypes()
    rng = np.random.default_rng(1)
    bases = np.array(list("ACGT"))
    a1 = rng.choice(bases, P)
    a2 = np.array([bases[(np.flatnonzero(bases == a)[0] + 1) % 4] for a in a1])
    bed = write_plink(
        tmp / "cohort", g, iid=[f"id{i}" for i in range(N)], sid=[f"rs{j}" for j in range(P)],
        chromosome=np.repeat([1, 2], [15, P - 15]), bp_position=np.arange(1, P + 1) * 100,
        allele_1=a1, allele_2=a2,
    )  # fmt: skip
    out = {"g": g, "bed": bed, "a1": a1, "a2": a2, "tmp": tmp}
    if shutil.which("plink2") is not None:
        _plink2("--bfile", bed, "--make-pgen", "--out", tmp / "cohort")
        _plink2("--bfile", bed, "--export", "bgen-1.2", "--out", tmp / "cohort")
        _plink2("--bfile", bed, "--export", "bgen-1.2", "ref-first", "--out", tmp / "reffirst")
    return out


def test_bed_reads_like_read_plink_in_float16(filesets):
    snp = read_genotypes(filesets["bed"] + ".bed", impute=False)
    assert snp.dtype == np.float16 and snp.nbytes == 2 * N * P
    assert snp.attrs == {"kind": "genetic", "format": "bed"}
    np.testing.assert_array_equal(snp.values.astype(np.float32), filesets["g"])
    ref = read_plink(filesets["bed"], impute=False)
    xr.testing.assert_identical(snp.drop_attrs(), ref.astype(np.float16).drop_attrs())
    assert snp["allele_1"].values.tolist() == filesets["a1"].tolist()


@pytest.mark.parametrize("impute", [True, False])
@pytest.mark.parametrize("ext", [".pgen", ".pvar", ""])
def test_pgen_reads_back_equal_to_bed(filesets, ext, impute):
    pytest.importorskip("pgenlib")
    if shutil.which("plink2") is None:
        pytest.skip("plink2 is not on PATH")
    prefix = str(filesets["tmp"] / "cohort")
    pgen = read_genotypes(prefix + ext, impute=impute)  # "" -> the prefix prefers .pgen
    bed = read_genotypes(filesets["bed"] + ".bed", impute=impute)
    assert pgen.attrs["format"] == "pgen"
    xr.testing.assert_identical(pgen.drop_attrs(), bed.drop_attrs())


@pytest.mark.parametrize("impute", [True, False])
def test_bgen_reads_back_equal_to_bed_counting_the_first_allele(filesets, impute):
    pytest.importorskip("cbgen")
    if shutil.which("plink2") is None:
        pytest.skip("plink2 is not on PATH")
    bed = read_genotypes(filesets["bed"] + ".bed", impute=impute)
    # plink2's default export lists ALT (= .bed A1) first: the values are the .bed's
    bgen = read_genotypes(filesets["tmp"] / "cohort.bgen", impute=impute)
    assert bgen.attrs["format"] == "bgen"
    xr.testing.assert_identical(bgen.drop_attrs(), bed.drop_attrs())
    # listed REF first, the first allele is the .bed's A2: values are 2 - .bed
    flipped = read_genotypes(filesets["tmp"] / "reffirst.bgen", impute=impute)
    assert flipped["allele_1"].values.tolist() == filesets["a2"].tolist()
    assert flipped["allele_2"].values.tolist() == filesets["a1"].tolist()
    if not impute:  # (mode ties go to the smaller dosage, so imputed values may differ)
        np.testing.assert_array_equal(flipped.values, 2 - bed.values)
    assert flipped["sample"].values.tolist() == [f"id{i}" for i in range(N)]


def _select_like_numpy(g, snps=None, maf=None, every=1):
    cols = np.arange(g.shape[1]) if snps is None else np.array(sorted(snps))
    if maf is not None:
        f = np.nanmean(g[:, cols], 0) / 2
        cols = cols[np.minimum(f, 1 - f) >= maf]
    return cols[::every]


@pytest.mark.parametrize("fmt", ["bed", "pgen", "bgen"])
def test_every_snps_maf_and_mode_imputation(filesets, fmt):
    if fmt != "bed" and shutil.which("plink2") is None:
        pytest.skip("plink2 is not on PATH")
    path = filesets["bed"] + ".bed" if fmt == "bed" else filesets["tmp"] / f"cohort.{fmt}"
    g = filesets["g"]
    wanted = [f"rs{j}" for j in (20, 2, 3, 5, 7, 11, 13, 17, 19, 23)]
    snp = read_genotypes(path, snps=wanted, maf=0.1, every=2, chunk_size=3)
    cols = _select_like_numpy(g, [int(s[2:]) for s in wanted], maf=0.1, every=2)
    assert snp["snp_id"].values.tolist() == [f"rs{j}" for j in cols]
    want = g[:, cols].copy()
    present = ~np.isnan(want).all(1)
    for k in range(want.shape[1]):
        col = want[present, k]
        counts = [(col == v).sum() for v in (0, 1, 2)]
        col[np.isnan(col)] = int(np.argmax(counts))
        want[present, k] = col
    np.testing.assert_array_equal(snp.values.astype(np.float32), want)
    assert np.isnan(snp.values[3]).all()  # no call at all: stays a missing row


def test_maf_filter_matches_plink2(filesets, tmp_path):
    if shutil.which("plink2") is None:
        pytest.skip("plink2 is not on PATH")
    _plink2("--bfile", filesets["bed"], "--maf", "0.2", "--write-snplist", "--out", tmp_path / "m")
    kept = (tmp_path / "m.snplist").read_text().split()
    snp = read_genotypes(filesets["bed"], maf=0.2)
    assert snp["snp_id"].values.tolist() == kept


def test_store_writes_zarr_chunks_and_opens_lazily(filesets, tmp_path):
    eager = read_genotypes(filesets["bed"])
    lazy = read_genotypes(filesets["bed"], store=tmp_path / "g.zarr", chunk_size=10)
    assert lazy.chunks is not None and lazy.chunks[1] == (10, 10, 5)
    assert lazy.dtype == np.float16
    xr.testing.assert_identical(lazy.compute().drop_attrs(), eager.drop_attrs())
    assert open_zarr(tmp_path / "g.zarr")["snp"].attrs["kind"] == "genetic"
    with pytest.raises(ValueError, match="store .* already exists"):
        read_genotypes(filesets["bed"], store=tmp_path / "g.zarr")


def test_float16_genotypes_work_downstream(filesets, tmp_path):
    snp = read_genotypes(filesets["bed"])
    ds = snp.to_dataset()
    assert validate(ds, require_image=False) == ["snp"]
    fill = fill_values(ds, ["snp"])["snp"]
    assert fill.shape == (P,) and set(np.unique(fill)) <= {0.0, 1.0, 2.0}
    images = from_arrays(np.zeros((3, 1, 4, 4), np.uint8), sample_ids=["a", "b", "c"],
                         individual_ids=["id0", "id1", "id3"])  # fmt: skip
    with pytest.warns(UserWarning, match="37 individual"):
        joined = align(images, snp=snp)
    np.testing.assert_array_equal(joined["snp"].values[:2], snp.values[:2].astype(np.float32))
    back = open_zarr(to_zarr(ds, tmp_path / "c.zarr"))
    np.testing.assert_array_equal(back["snp"].values, snp.values)
    assert back["snp"].dtype == np.float16


def test_genotype_files_detection(filesets, tmp_path):
    assert genotype_files(filesets["bed"] + ".bim").format == "bed"
    assert genotype_files(filesets["bed"] + ".fam").prefix == filesets["bed"]
    if shutil.which("plink2") is not None:
        prefix = str(filesets["tmp"] / "cohort")
        assert genotype_files(prefix).format == "pgen"  # .pgen preferred over .bed
        found = genotype_files(prefix + ".bgen")
        assert found.format == "bgen" and found.sample == prefix + ".sample"
        assert found.plink2_args() == ["--bgen", prefix + ".bgen", "ref-last",
                                       "--sample", prefix + ".sample"]  # fmt: skip
    (tmp_path / "half.pgen").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"path .*half\.pgen': PLINK 2 .* incomplete: missing .*half\.pvar"):
        genotype_files(tmp_path / "half.pgen")
    with pytest.raises(FileNotFoundError, match=r"path .*nothing' has no genotype files: looked for .*nothing\.pgen.*nothing\.bgen"):
        genotype_files(tmp_path / "nothing")
    with pytest.raises(TypeError, match="path must be a str"):
        genotype_files(3)


def test_find_genotype_files_names_the_argument_and_the_accepted_formats(filesets, tmp_path):
    bed_only = {"formats": ("bed",), "name": "bfile"}
    found = find_genotype_files(filesets["bed"] + ".fam", **bed_only)
    assert found.format == "bed" and found.prefix == filesets["bed"]
    assert find_genotype_files(found, **bed_only) is found
    for ext in (".pgen", ".psam", ".bgen", ".sample"):
        with pytest.raises(ValueError, match=r"bfile must be a PLINK 1 \(\.bed/\.bim/\.fam\) fileset"):
            find_genotype_files(tmp_path / f"other{ext}", **bed_only)
    for ext in (".pgen", ".pvar", ".psam"):
        (tmp_path / f"two{ext}").write_bytes(b"")
    with pytest.raises(ValueError, match=r"bfile must be a PLINK 1 .*'.*two', the prefix of a PLINK 2"):
        find_genotype_files(tmp_path / "two", **bed_only)
    two = find_genotype_files(tmp_path / "two")
    with pytest.raises(ValueError, match=r"bfile must be a PLINK 1 .* got PLINK 2 .* files .*two\.pgen"):
        find_genotype_files(two, **bed_only)
    with pytest.raises(FileNotFoundError, match=r"bfile .*nothing' has no genotype files: looked for "
                       r".*nothing\.bed, .*nothing\.bim, .*nothing\.fam$"):  # fmt: skip
        find_genotype_files(tmp_path / "nothing", **bed_only)
    (tmp_path / "half.bed").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"bfile .*half\.bed': PLINK fileset .* incomplete: "
                       r"missing .*half\.bim, .*half\.fam$"):  # fmt: skip
        find_genotype_files(tmp_path / "half.bed", **bed_only)
    with pytest.raises(TypeError, match="bfile must be a str or path-like, got int"):
        find_genotype_files(3, **bed_only)
    with pytest.raises(ValueError, match=r"formats must be a non-empty subset of .*'vcf'"):
        find_genotype_files(filesets["bed"], formats=("vcf",))
    (tmp_path / "g.bgen").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"sample .*none\.sample' \(the BGEN sample file of path\)"):
        genotype_files(tmp_path / "g.bgen", sample=tmp_path / "none.sample")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every": 0}, "every must be a positive integer"),
        ({"every": 1.5}, "every must be a positive integer"),
        ({"chunk_size": 0}, "chunk_size must be a positive integer"),
        ({"maf": 0.7}, r"maf must be a number in \[0, 0.5\]"),
        ({"maf": "x"}, r"maf must be a number in \[0, 0.5\]"),
        ({"dtype": np.int8}, "dtype must be a float dtype"),
        ({"snps": "rs1"}, "snps must be a sequence"),
        ({"snps": ["rs1", "nope"]}, r"snps has 1 ids not in .*\['nope'\]"),
        ({"maf": 0.5}, "no variant selected"),
    ],
)
def test_bad_arguments_raise_naming_them(filesets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_genotypes(filesets["bed"], **kwargs)


def test_duplicate_ids_are_refused(tmp_path):
    g = np.zeros((2, 2))
    prefix = write_plink(tmp_path / "dup", g, iid=["a", "b"], sid=["rs1", "rs1"])
    with pytest.raises(ValueError, match="duplicate variant ids"):
        read_genotypes(prefix, snps=["rs1"])
    fam = pd.read_csv(prefix + ".fam", sep=r"\s+", header=None)
    fam[1] = ["a", "a"]
    fam[0] = ["f1", "f2"]
    fam.to_csv(prefix + ".fam", sep=" ", header=False, index=False)
    with pytest.raises(ValueError, match=r"duplicate individual ids \(IID\)"):
        read_genotypes(prefix)


def test_genotypes_under_another_modality_name_are_imputed_and_scaled_as_genotypes(filesets):
    from sklearn_contig.data import genetic_scaling

    snp = read_genotypes(filesets["bed"])
    images = from_arrays(np.zeros((40, 1, 4, 4), np.uint8), sample_ids=[f"s{i}" for i in range(40)],
                         individual_ids=[f"id{i}" for i in range(40)])  # fmt: skip
    ds = align(images, snp=snp, genotypes=snp.copy())
    assert ds["genotypes"].dims[1] == "snp_id"
    np.testing.assert_array_equal(fill_values(ds, ["genotypes"])["genotypes"], fill_values(ds, ["snp"])["snp"])
    for a, b in zip(genetic_scaling(ds, ["genotypes"])["genotypes"], genetic_scaling(ds, ["snp"])["snp"]):
        np.testing.assert_array_equal(a, b)
