"""compute_pgs against a NumPy dot product of dosages and weights."""

import gzip
import logging
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from sklearn_contig.data import compute_pgs, read_scoring_file, write_plink

pytestmark = [
    pytest.mark.plink,
    pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not on PATH"),
]

N, P = 60, 16
A1 = np.array(list("AAAACCCCGGGGATAC"))
A2 = np.array(list("GGGGTTTTAAAATAGA"))  # variant 12 is A/T: strand-ambiguous


def _plink2(*args):
    subprocess.run(["plink2", *map(str, args), "--threads", "1", "--memory", "1024"],
                   check=True, capture_output=True)  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pgs")
    rng = np.random.default_rng(0)
    g = rng.binomial(2, rng.uniform(0.1, 0.6, P), size=(N, P)).astype(np.float32)
    chrom = np.repeat(["1", "2"], [8, P - 8])
    bp = np.arange(1, P + 1) * 1000
    sid = np.array([f"rs{100 + j}" for j in range(P)])
    prefix = write_plink(tmp / "all", g, iid=[f"p{i}" for i in range(N)], sid=sid,
                         chromosome=chrom, bp_position=bp, allele_1=A1, allele_2=A2)  # fmt: skip
    for c in ("1", "2"):
        _plink2("--bfile", prefix, "--chr", c, "--make-pgen", "--out", tmp / f"chr{c}")
    _plink2("--bfile", prefix, "--export", "bgen-1.2", "--out", tmp / "all")
    # the scoring file: effect allele A1, A2 (flipped), a wrong allele, an unknown id
    rows = []
    weights = np.round(rng.normal(size=P), 4)
    effect = np.where(np.arange(P) % 3 == 0, A2, A1)
    for j in range(P):
        rows.append((sid[j], chrom[j], bp[j], effect[j],
                     A1[j] if effect[j] == A2[j] else A2[j], weights[j]))  # fmt: skip
    rows.append(("rs999", "3", 5, "A", "G", 1.0))  # not genotyped
    table = pd.DataFrame(rows, columns=["rsID", "chr_name", "chr_position", "effect_allele",
                                        "other_allele", "effect_weight"])  # fmt: skip
    table.loc[len(table)] = ("rs998", "1", bp[1], "C", "T", 5.0)  # alleles mismatch
    gz = tmp / "PGS000777.txt.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("###PGS CATALOG SCORING FILE\n#pgs_id=PGS000777\n#genome_build=GRCh37\n")
        table.to_csv(fh, sep="\t", index=False)
    # expected: dosage of the effect allele times its weight, over the P genotyped rows
    dosage = np.where(effect == A1, g, 2.0 - g)
    return {
        "tmp": tmp, "prefix": prefix, "g": g, "table": table, "gz": gz,
        "sum": dosage @ weights, "m": P, "n_rows": len(table),
    }  # fmt: skip


def test_scoring_file_header_and_columns(cohort):
    name, table = read_scoring_file(cohort["gz"])
    assert name == "PGS000777" and len(table) == cohort["n_rows"]
    assert list(table.columns) == ["rsID", "chr_name", "chr_position", "effect_allele",
                                   "other_allele", "effect_weight"]  # fmt: skip


@pytest.mark.parametrize("genotypes", ["all.bed", "all.bgen", ["chr1.pgen", "chr2.pgen"]])
def test_compute_pgs_equals_numpy_dot_product(cohort, genotypes, caplog):
    paths = [cohort["tmp"] / g for g in np.atleast_1d(genotypes)]
    with caplog.at_level(logging.INFO, logger="sklearn_contig.data._pgs"):
        total = compute_pgs(cohort["gz"], paths, score="sum", threads=1)
    assert total.dims == ("sample", "pgs_id") and total["pgs_id"].values.tolist() == ["PGS000777"]
    assert total["sample"].values.tolist() == [f"p{i}" for i in range(N)]
    np.testing.assert_allclose(total.values[:, 0], cohort["sum"], rtol=1e-5, atol=1e-5)
    assert total.attrs["matched"] == {"PGS000777": pytest.approx(P / cohort["n_rows"])}
    assert f"{P} of {cohort['n_rows']} variants matched" in caplog.text
    avg = compute_pgs(cohort["gz"], paths, threads=1)
    np.testing.assert_allclose(avg.values[:, 0], cohort["sum"] / (2 * P), rtol=1e-5, atol=1e-6)


def test_average_is_plink2s_own(cohort, tmp_path):
    """On one genotype file the average is plink2's SCORE1_AVG."""
    avg = compute_pgs(cohort["gz"], cohort["prefix"] + ".bed", threads=1)
    sub = cohort["table"].iloc[:P]
    sub[["rsID", "effect_allele", "effect_weight"]].to_csv(tmp_path / "s.txt", sep="\t", index=False)
    _plink2("--bfile", cohort["prefix"], "--score", tmp_path / "s.txt", "1", "2", "3", "header",
            "--out", tmp_path / "ref")  # fmt: skip
    ref = pd.read_csv(tmp_path / "ref.sscore", sep="\t")
    np.testing.assert_allclose(avg.values[:, 0], ref["SCORE1_AVG"], rtol=1e-5)


def test_matching_by_position_and_two_scores(cohort, tmp_path):
    table = cohort["table"].drop(columns="rsID")
    table["chr_name"] = "chr" + table["chr_name"]  # the prefix is ignored
    plain = tmp_path / "by_position.txt"
    table.to_csv(plain, sep="\t", index=False)
    pgs = compute_pgs([cohort["gz"], plain], cohort["tmp"] / "all.bed", score="sum", threads=1)
    assert pgs["pgs_id"].values.tolist() == ["PGS000777", "by_position"]
    np.testing.assert_allclose(pgs.values[:, 1], pgs.values[:, 0], rtol=1e-6)
    # the position of rs998 is rs101's: its C/T alleles do not match the A/G variant
    assert pgs.attrs["matched"]["by_position"] == pytest.approx(P / cohort["n_rows"])


def test_bad_inputs(cohort, tmp_path):
    with pytest.raises(ValueError, match="score must be 'avg' or 'sum'"):
        compute_pgs(cohort["gz"], cohort["prefix"], score="median")
    with pytest.raises(ValueError, match="scoring_files is empty"):
        compute_pgs([], cohort["prefix"])
    with pytest.raises(ValueError, match="genotypes is empty"):
        compute_pgs(cohort["gz"], [])
    with pytest.raises(ValueError, match="bgen_ref must be one of"):
        compute_pgs(cohort["gz"], cohort["prefix"], bgen_ref="x")
    bad = tmp_path / "bad.txt"
    bad.write_text("rsID\teffect_allele\nrs100\tA\n")
    with pytest.raises(ValueError, match=r"scoring_files: .*bad\.txt.* no column \['effect_weight'\]"):
        compute_pgs(bad, cohort["prefix"])
    nokey = tmp_path / "nokey.txt"
    nokey.write_text("effect_allele\teffect_weight\nA\t1\n")
    with pytest.raises(ValueError, match="needs an 'rsID' column or 'chr_name'"):
        compute_pgs(nokey, cohort["prefix"])
    none = tmp_path / "none.txt"
    none.write_text("rsID\teffect_allele\teffect_weight\nrs5\tA\t1\n")
    with pytest.raises(ValueError, match="no variant of none"):
        compute_pgs(none, cohort["prefix"])
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        compute_pgs(tmp_path / "missing.txt", cohort["prefix"])


def test_genotype_files_with_other_individuals_are_refused(cohort, tmp_path):
    # chromosome 2 without person p0: p0's score would silently sum chromosome 1 only
    (tmp_path / "drop.txt").write_text("p0 p0\n")
    _plink2("--pfile", cohort["tmp"] / "chr2", "--remove", tmp_path / "drop.txt", "--make-pgen", "--out",
            tmp_path / "fewer")
    with pytest.raises(ValueError, match=r"genotypes: .*fewer\.pgen.* holds other individuals.*\['p0'\]"):
        compute_pgs(cohort["gz"], [cohort["tmp"] / "chr1", tmp_path / "fewer"])
