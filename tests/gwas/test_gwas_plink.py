"""PLINK writers and runners on a simulated cohort with a planted locus."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_contig.gwas import (
    GWASTransformer,
    count_independent_regions,
    genetic_pcs,
    genomic_inflation,
    linear_association,
    min_p_across,
    run_gwas,
    write_covariates,
    write_phenotypes,
)

needs_plink2 = pytest.mark.skipif(
    shutil.which("plink2") is None, reason="plink2 not installed (make test installs it via apt)"
)
needs_plink19 = pytest.mark.skipif(
    shutil.which("plink1.9") is None,
    reason="plink1.9 not installed (make test installs it via apt)",
)

COLUMNS = ["SNP", "CHR", "BP", "A1", "phenotype", "BETA", "SE", "T_STAT", "P", "N"]


# -- writers --------------------------------------------------------------------
def test_write_phenotypes_and_covariates(tmp_path):
    pheno = pd.DataFrame({"PC1": [0.25, np.nan, -1.0], "PC2": [1.0, 2.0, 3.0]},
                         index=[10, 11, 12])  # fmt: skip
    path = write_phenotypes(pheno, tmp_path / "p.txt", fid="fam")
    back = pd.read_csv(path, sep="\t", dtype={"FID": str, "IID": str})
    assert list(back.columns) == ["FID", "IID", "PC1", "PC2"]
    assert list(back["IID"]) == ["10", "11", "12"] and set(back["FID"]) == {"fam"}
    assert "NA" in path.read_text() and back["PC1"].isna().sum() == 1
    cov = pd.DataFrame({"sex": [True, False], "site": ["A", "B"]}, index=["a", "b"])
    text = write_covariates(cov, tmp_path / "c.txt").read_text().splitlines()
    assert text == ["FID\tIID\tsex\tsite", "a\ta\t1\tA", "b\tb\t0\tB"]
    with pytest.raises(ValueError, match="whitespace"):
        write_phenotypes(pheno.rename(columns={"PC1": "PC 1"}), tmp_path / "x.txt")


# -- association -------------------------------------------------------------------
@needs_plink2
def test_run_gwas_finds_planted_locus(gwas_result, cohort):
    res = gwas_result
    assert list(res.columns) == COLUMNS
    assert len(res) == 11 * 2000 and res.attrs["missing_in_fam"] == []
    planted = res[res["phenotype"] == "planted"].set_index("SNP")
    p = planted.loc[cohort.planted, "P"]
    print(f"planted locus {cohort.planted}: p = {p:.3g}")
    assert p < 5e-8
    assert planted["P"].idxmin() == cohort.planted
    assert (res["N"] == 800).all()
    # no false hits outside the planted block
    hits = res[res["P"] < 5e-8]
    assert set(hits["SNP"]) <= set(cohort.planted_block)
    assert set(hits["phenotype"]) == {"planted"}


@needs_plink2
def test_null_phenotypes_are_calibrated(gwas_result):
    null = gwas_result[gwas_result["phenotype"].str.startswith("null")]
    lam = genomic_inflation(null)
    print(f"lambda_GC over 10 null phenotypes: {lam:.3f}")
    assert 0.9 <= lam <= 1.1


@needs_plink2
def test_min_p_across(gwas_result, cohort):
    comb = min_p_across(gwas_result)
    assert list(comb.columns) == ["SNP", "CHR", "BP", "P"] and len(comb) == 2000
    assert comb.attrs["n_phenotypes"] == 11
    want = gwas_result.groupby("SNP")["P"].min().clip(upper=1 / 11) * 11
    got = comb.set_index("SNP")["P"]
    np.testing.assert_allclose(got.loc[want.index], want, rtol=1e-12)
    assert comb.set_index("SNP").loc[cohort.planted, "P"] < 5e-8 * 11


@needs_plink2
@needs_plink19
def test_count_independent_regions_contains_planted(gwas_result, cohort):
    n, clumps = count_independent_regions(gwas_result, cohort.prefix)
    assert n >= 1 and len(clumps) == n
    members = [{row.SNP, *row.SP2} for row in clumps.itertuples()]
    assert any(cohort.planted in m for m in members)
    assert set(clumps["SNP"]) <= set(cohort.planted_block)
    assert clumps["P"].max() < 5e-8


@needs_plink19
def test_count_independent_regions_without_hits(cohort):
    res = pd.DataFrame({"SNP": ["rs1", "rs2"], "P": [0.5, 0.01]})
    n, clumps = count_independent_regions(res, cohort.prefix)
    assert n == 0 and clumps.empty and "SP2" in clumps


@needs_plink2
def test_linear_association_agrees_with_plink2(gwas_result, cohort):
    ours = linear_association(cohort.pheno, cohort.prefix, cohort.covariates)
    assert list(ours.columns) == COLUMNS
    m = gwas_result.merge(ours, on=["SNP", "phenotype"], suffixes=("", "_np"))
    assert len(m) == len(gwas_result)
    assert (m["CHR"] == m["CHR_np"]).all() and (m["BP"] == m["BP_np"]).all()
    sign = np.where(m["A1"] == m["A1_np"], 1.0, -1.0)  # plink2 may test the other allele
    np.testing.assert_allclose(m["BETA"], sign * m["BETA_np"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m["SE"], m["SE_np"], rtol=1e-4)
    np.testing.assert_allclose(np.log10(m["P"]), np.log10(m["P_np"]), rtol=1e-4, atol=1e-5)
    assert (m["N"] == m["N_np"]).all()


@needs_plink2
def test_genetic_pcs(cohort):
    pcs = genetic_pcs(cohort.prefix, n_pcs=3, threads=1)
    assert pcs.shape == (800, 3) and list(pcs.columns) == ["gPC1", "gPC2", "gPC3"]
    assert list(pcs.index) == list(cohort.geno.index)
    assert np.abs(np.corrcoef(pcs.to_numpy().T) - np.eye(3)).max() < 1e-3


@needs_plink2
def test_embeddings_to_gwas_end_to_end(cohort):
    """Two images per person whose embeddings carry the planted genotype."""
    rng = np.random.default_rng(3)
    g = cohort.geno[cohort.planted].to_numpy()
    g = (g - g.mean()) / g.std()
    n, d = len(g), 24
    person = rng.normal(size=(n, d))
    person[:, :4] += 0.6 * g[:, None]
    emb = np.repeat(person, 2, axis=0) + 0.5 * rng.normal(size=(2 * n, d))
    ids = np.repeat(cohort.geno.index.to_numpy(), 2)
    pheno = GWASTransformer(n_components=10, covariates=cohort.covariates).fit_transform(
        emb, individual=ids
    )
    res = run_gwas(pheno, cohort.prefix, threads=1)
    comb = min_p_across(res).set_index("SNP")
    assert comb["P"].idxmin() == cohort.planted and comb.loc[cohort.planted, "P"] < 5e-8


# -- bad input ---------------------------------------------------------------------
@needs_plink2
def test_individuals_missing_from_fam_are_reported(cohort):
    pheno = cohort.pheno[["null1"]].copy()
    extra = pd.DataFrame({"null1": [0.1, 0.2, 0.3]}, index=["ghost1", "ghost2", "ghost3"])
    with pytest.warns(UserWarning, match=r"3 of 803 individuals .* not in .*ghost1"):
        res = run_gwas(pd.concat([pheno, extra]), cohort.prefix, threads=1)
    assert res.attrs["missing_in_fam"] == ["ghost1", "ghost2", "ghost3"]
    assert (res["N"] == 800).all()


@needs_plink2
def test_minus_nine_is_a_value_not_missing(cohort, tmp_path):
    """-9.0 in a continuous phenotype or covariate is kept, as linear_association does."""
    iid = cohort.geno.index[:60]
    pheno = cohort.pheno.loc[iid, ["null1", "null2"]].copy()
    pheno.iloc[[0, 7, 21], 0] = -9.0
    pheno.iloc[3, 1] = np.nan  # NaN stays missing
    cov = cohort.covariates.loc[iid].astype(float)
    cov.iloc[[2, 40], 1] = -9.0
    res = run_gwas(pheno, cohort.prefix, cov, threads=1, out_dir=tmp_path)
    ours = linear_association(pheno, cohort.prefix, cov)
    for name, n in (("null1", 60), ("null2", 59)):
        assert (res.loc[res["phenotype"] == name, "N"] == n).all()
        assert (ours.loc[ours["phenotype"] == name, "N"] == n).all()
    rows = (tmp_path / "pheno.txt").read_text().splitlines()
    assert rows[4].split("\t")[3] == "NA" and rows[1].split("\t")[2] == "-9"


def test_no_overlap_with_fam(cohort):
    pheno = pd.DataFrame({"PC1": [0.1, 0.2]}, index=["x", "y"])
    with pytest.raises(ValueError, match="none of the 2 phenotype individuals"):
        run_gwas(pheno, cohort.prefix)


@needs_plink2
def test_covariates_may_share_phenotype_names(cohort, tmp_path):
    """A ``PC1`` phenotype with a ``PC1`` covariate: covariates go to PLINK prefixed."""
    pheno = cohort.pheno[["planted", "null1"]].rename(columns={"null1": "PC1"})
    cov = cohort.covariates.rename(columns={"age": "PC1"})
    res = run_gwas(pheno, cohort.prefix, cov, threads=1, out_dir=tmp_path)
    plain = run_gwas(pheno, cohort.prefix, cohort.covariates, threads=1)
    np.testing.assert_allclose(res["P"], plain["P"], rtol=1e-6)
    assert set(res["phenotype"]) == {"planted", "PC1"}
    header = (tmp_path / "covar.txt").read_text().splitlines()[0].split("\t")
    assert header == ["FID", "IID", "covar_sex", "covar_PC1"]
    # the planted phenotype depends on age: leaving the covariate out changes P
    bare = run_gwas(pheno[["planted"]], cohort.prefix, threads=1)
    assert not np.allclose(bare["P"], plain.loc[plain["phenotype"] == "planted", "P"])
    with pytest.raises(ValueError, match=r"phenotype names \['covar_sex'\] are the names"):
        run_gwas(pheno.rename(columns={"PC1": "covar_sex"}), cohort.prefix, cohort.covariates)


def test_nonexistent_bed_path(tmp_path, cohort):
    missing = tmp_path / "nowhere" / "cohort"
    with pytest.raises(FileNotFoundError, match=str(missing) + ".bed"):
        run_gwas(cohort.pheno, missing, plink2="definitely-not-plink")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        count_independent_regions(pd.DataFrame({"SNP": ["a"], "P": [0.1]}), missing)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        genetic_pcs(str(missing) + ".bed")


def test_plink_binary_missing(cohort):
    msg = r"'definitely-not-plink' not found.*apt-get install plink2"
    with pytest.raises(RuntimeError, match=msg):
        run_gwas(cohort.pheno, cohort.prefix, plink2="definitely-not-plink")
    with pytest.raises(RuntimeError, match=msg):
        count_independent_regions(
            pd.DataFrame({"SNP": ["rs1"], "P": [0.1]}), cohort.prefix,
            plink="definitely-not-plink",
        )  # fmt: skip
    with pytest.raises(RuntimeError, match=msg):
        genetic_pcs(cohort.prefix, plink2="definitely-not-plink")


@needs_plink2
def test_plink_failure_shows_log_tail(cohort, tmp_path):
    with pytest.raises(RuntimeError, match=r"(?s)plink2 --glm failed.*gwas\.log.*Error: Invalid --maf"):
        run_gwas(cohort.pheno[["null1"]], cohort.prefix, out_dir=tmp_path,
                 extra_args=("--maf", "not-a-number"))  # fmt: skip


@needs_plink2
def test_fam_family_ids_and_kept_files(tmp_path, cohort):
    """FIDs come from the .fam (here FID != IID); covariate gaps are reported."""
    from bed_reader import to_bed

    geno = cohort.geno.iloc[:100, :50]
    iid = geno.index.to_numpy()
    to_bed(tmp_path / "fam.bed", np.ascontiguousarray(geno.to_numpy()),
           properties={"fid": [f"F{i}" for i in range(100)], "iid": iid,
                       "sid": geno.columns.to_numpy()})  # fmt: skip
    pheno = cohort.pheno.loc[iid, ["null1"]]
    cov = cohort.covariates.loc[iid[5:]]
    with pytest.warns(UserWarning, match="5 individuals with phenotypes have no covariates"):
        res = run_gwas(pheno, tmp_path / "fam", cov, keep_files=True, threads=1)
    assert (res["N"] == 95).all()
    kept = res.attrs["out_dir"]
    text = (Path(kept) / "pheno.txt").read_text().splitlines()
    assert text[1].startswith(f"F0\t{iid[0]}\t")
    shutil.rmtree(kept)


# -- other genotype formats ------------------------------------------------------------
@pytest.fixture(scope="module")
def converted(cohort, tmp_path_factory):
    """The cohort as .pgen and as .bgen (+ .sample), written by plink2."""
    if shutil.which("plink2") is None:
        pytest.skip("plink2 not installed (make test installs it via apt)")
    import subprocess

    tmp = tmp_path_factory.mktemp("formats")
    for fmt in (["--make-pgen"], ["--export", "bgen-1.2"]):
        subprocess.run(
            ["plink2", "--bfile", str(cohort.prefix), *fmt, "--out", str(tmp / "cohort"),
             "--threads", "1", "--memory", "1024"],
            check=True, capture_output=True,
        )  # fmt: skip
    return tmp / "cohort"


@pytest.mark.plink
@needs_plink2
def test_run_gwas_same_on_bed_pgen_and_bgen(gwas_result, cohort, converted):
    pgen = run_gwas(cohort.pheno, str(converted) + ".pgen", cohort.covariates, threads=1)
    bgen = run_gwas(cohort.pheno, str(converted) + ".bgen", cohort.covariates, threads=1)
    for res in (pgen, bgen):
        assert list(res.columns) == COLUMNS and len(res) == len(gwas_result)
        pd.testing.assert_frame_equal(
            res[["SNP", "CHR", "BP", "A1", "phenotype", "N"]],
            gwas_result[["SNP", "CHR", "BP", "A1", "phenotype", "N"]],
        )
    np.testing.assert_array_equal(pgen["P"], gwas_result["P"])
    np.testing.assert_array_equal(pgen["BETA"], gwas_result["BETA"])
    # BGEN holds the hard calls as probabilities: the same regression up to rounding
    np.testing.assert_allclose(bgen["P"], gwas_result["P"], rtol=1e-4)
    np.testing.assert_allclose(bgen["BETA"], gwas_result["BETA"], rtol=1e-4, atol=1e-8)


@pytest.mark.plink
@needs_plink2
def test_genetic_pcs_on_pgen_equal_bed(cohort, converted):
    bed = genetic_pcs(cohort.prefix, n_pcs=2, threads=1)
    pgen = genetic_pcs(str(converted) + ".pgen", n_pcs=2, threads=1)
    pd.testing.assert_frame_equal(pgen, bed)


@pytest.mark.plink
@needs_plink2
@needs_plink19
def test_count_independent_regions_converts_pgen_and_bgen(gwas_result, cohort, converted,
                                                          tmp_path):  # fmt: skip
    n, clumps = count_independent_regions(gwas_result, cohort.prefix)
    for path in (str(converted) + ".pgen", str(converted) + ".bgen"):
        m, other = count_independent_regions(gwas_result, path, out_dir=tmp_path / "c")
        assert m == n
        pd.testing.assert_frame_equal(other, clumps)
    kept = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert "clump.clumped" in kept and not [k for k in kept if k.startswith("ld.")]


def test_bgen_ref_is_checked(cohort):
    with pytest.raises(ValueError, match="bgen_ref must be one of"):
        run_gwas(cohort.pheno, cohort.prefix, bgen_ref="middle")


# -- a killed PLINK leaves nothing behind ---------------------------------------------
FAKE_PLINK = """#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = "--out" ]; then out="$2"; fi
  shift
done
printf '#CHROM\\tPOS\\tID\\tA1\\tTEST\\tOBS_CT\\tBETA\\tSE\\tT_STAT\\tP\\n1\\t5\\trs0\\tA\\tADD\\t8\\t1\\t1\\t1\\t0.5\\n' > "$out.null1.glm.linear"
echo "Error: out of memory (simulated)" > "$out.log"
kill -9 $$
"""


def _fake_plink(tmp_path):
    exe = tmp_path / "bin" / "plink2"
    exe.parent.mkdir()
    exe.write_text(FAKE_PLINK)
    exe.chmod(0o755)
    return exe


def test_killed_plink_leaves_no_partial_results(cohort, tmp_path):
    exe = _fake_plink(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match=r"(?s)plink2 --glm failed \(exit code -9\).*simulated"):
        run_gwas(cohort.pheno[["null1"]], cohort.prefix, out_dir=out, plink2=str(exe))
    assert list(out.rglob("*")) == []
    with pytest.raises(RuntimeError, match="plink2 --pca failed"):
        genetic_pcs(cohort.prefix, plink2=str(exe))
    with pytest.raises(RuntimeError, match="plink1.9 --clump failed"):
        count_independent_regions(pd.DataFrame({"SNP": ["rs1"], "P": [1e-9]}), cohort.prefix,
                                  plink=str(exe), out_dir=out)  # fmt: skip
    assert list(out.rglob("*")) == []
