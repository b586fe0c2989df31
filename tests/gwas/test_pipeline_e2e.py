"""End to end, for real: synthetic biobank -> PLINK files -> ContIG -> GWAS -> regions.

ContIG is pretrained on the training individuals of the ``msprime_biobank``
fixture (600 people, two eyes each, 32 px, resnet18, one epoch) and the GWAS runs
on the 240 held-out individuals: ``plink2 --glm`` on the embedding PCs, ``plink1.9
--clump`` and the plots. On its own training people a ContIG encoder's
embeddings can carry genotype it was trained to match, planted SNPs included, so
a GWAS there could find loci that are not in the images. Genotypes come from the
coalescent simulator (msprime: LD, three populations), so clumping and genetic
PCs see real structure.

The control phenotypes do not depend on the embeddings: one built from a planted
locus (its dosage times an effect plus noise) must be found at p < 5e-8, and
twenty pure-noise phenotypes, pooled, must give lambda_GC in [0.9, 1.1].
"""

import shutil

import numpy as np
import pandas as pd
import pytest

from sklearn_contig.data import Samples
from sklearn_contig.gwas import (
    GWASTransformer,
    count_independent_regions,
    genetic_pcs,
    genomic_inflation,
    linear_association,
    manhattan_plot,
    min_p_across,
    qq_plot,
    run_gwas,
)
from sklearn_contig.pretraining import ContIGPretrainer

pytestmark = [
    pytest.mark.skipif(
        shutil.which("plink2") is None,
        reason="plink2 not installed (make test installs it via apt)",
    ),
    pytest.mark.skipif(
        shutil.which("plink1.9") is None,
        reason="plink1.9 not installed (make test installs it via apt)",
    ),
]

N_COMPONENTS = 4
N_NULL = 20
RESULT_COLUMNS = ["SNP", "CHR", "BP", "A1", "phenotype", "BETA", "SE", "T_STAT", "P", "N"]
#: Planted loci (of 21) that the held-out GWAS on the ContIG embeddings must find at
#: Bonferroni p < 0.05 / 300 (min-p over the 4 PCs of the embeddings, no covariates).
#: Measured with this fixture's settings on cohorts 0 / 1 / 2 (2-core CPU, 2026-12-02):
#: ContIG after one epoch 6 / 6 / 6, the same encoder untrained (``max_epochs=0``)
#: not run / 6 / 6 (an earlier version of the generator gave 9 / 5 / 9 against
#: 9 / 5 / 10). The test runs on cohort 0 (6 found, also 6 with the 5 genetic
#: PCs regressed out); the bound leaves a margin of 2 loci. At this size one epoch of
#: ContIG does not beat the untrained encoder (the easy traits, which a random CNN
#: already sees, carry the hits), so no ContIG-versus-random bound is asserted.
MIN_FOUND = 4


def _pretrainer(max_epochs):
    return ContIGPretrainer(
        "resnet18", modalities=["snp"], batch_size=64, max_epochs=max_epochs, lr=3e-4,
        hidden_dim=128, projection_dim=64, weight_decay=1e-4, validation_fraction=0.15,
        device="cpu", random_state=0, verbose=0,
    ).set_output(transform="pandas")  # fmt: skip


def _people(ds):
    return list(pd.unique(ds["individual"].values))


@pytest.fixture(scope="module")
def held_out_run(msprime_biobank):
    """ContIG fitted on the training people; phenotypes of the held-out people."""
    b = msprime_biobank
    gpcs = genetic_pcs(b.bfile, n_pcs=5, threads=1)
    model = _pretrainer(max_epochs=1).fit(Samples(b.train))
    # the pretrainer's DataFrame is indexed by (sample, individual): GWASTransformer
    # aggregates the two eyes of each person without being told who is who
    emb = model.transform(Samples(b.test))
    gwas = GWASTransformer(N_COMPONENTS, covariates=gpcs, random_state=0)
    pheno = gwas.fit_transform(emb)
    return model, emb, gwas, pheno, gpcs


def test_phenotypes_of_held_out_individuals(msprime_biobank, held_out_run):
    b = msprime_biobank
    model, emb, gwas, pheno, gpcs = held_out_run
    held_out = _people(b.test)
    assert set(held_out).isdisjoint(_people(b.train))
    assert isinstance(pheno, pd.DataFrame)
    assert pheno.shape == (len(held_out), N_COMPONENTS)
    assert list(pheno.columns) == [f"PC{i + 1}" for i in range(N_COMPONENTS)]
    assert pheno.index.name == "individual"
    assert list(pheno.index) == held_out
    assert (pheno.dtypes == np.float64).all() and np.isfinite(pheno.to_numpy()).all()
    # inverse-normal transformed: mean ~0, sd ~1 per component
    assert np.allclose(pheno.mean(), 0, atol=1e-6)
    assert np.allclose(pheno.std(ddof=0), 1, atol=0.05)
    # the genetic PCs were the covariates regressed out of the components
    assert gwas.covariate_names_ == list(gpcs.columns)
    assert gwas.n_features_in_ == model.embedding_dim_ == 512
    assert emb.index.names == ["sample", "individual"]
    assert list(emb.index.get_level_values("sample")) == list(b.test["sample"].values)
    assert list(emb.index.get_level_values("individual")) == list(b.test["individual"].values)


def test_gwas_on_embedding_pcs_is_well_formed(msprime_biobank, held_out_run, tmp_path):
    b = msprime_biobank
    _, _, _, pheno, gpcs = held_out_run
    ds = b.ds
    n_snps = ds.sizes["snp_id"]
    res = run_gwas(pheno, b.bfile, covariates=gpcs, threads=1)
    assert list(res.columns) == RESULT_COLUMNS
    assert len(res) == n_snps * N_COMPONENTS
    assert not res.duplicated(["SNP", "phenotype"]).any()
    assert set(res["phenotype"]) == set(pheno.columns)
    assert set(res["SNP"]) == set(map(str, ds["snp_id"].values))
    for col in ("BETA", "SE", "T_STAT", "P"):
        assert res[col].dtype == np.float64
    assert res["CHR"].dtype.kind == "i" and res["BP"].dtype.kind == "i"
    p = res["P"].dropna()
    assert len(p) >= 0.95 * len(res)  # monomorphic SNPs are NA at most
    assert ((p > 0) & (p <= 1)).all()
    # only the held-out people (those with a phenotype) enter the association
    assert (res["N"].dropna() == len(pheno)).all()
    # real positions in the .bim (not chromosome 0 / position 0)
    bim = res.drop_duplicates("SNP").set_index("SNP")
    assert (bim["BP"].loc[list(map(str, ds["snp_id"].values))].to_numpy()
            == ds["bp_position"].values).all()  # fmt: skip
    assert set(bim["CHR"]) == set(ds["chromosome"].values.tolist())

    combined = min_p_across(res)
    assert len(combined) == n_snps and combined.attrs["n_phenotypes"] == N_COMPONENTS
    n_regions, clumps = count_independent_regions(res, b.bfile)
    lam = genomic_inflation(combined["P"])
    print(f"embedding PCs: {n_regions} regions, lambda_GC(min-p) = {lam:.3f}")
    # one region per clump, each led by a genome-wide significant SNP of the
    # combined results; regions exactly when some SNP reaches p < 5e-8
    assert len(clumps) == n_regions
    significant = set(combined.loc[combined["P"] < 5e-8, "SNP"].astype(str))
    assert set(clumps["SNP"].astype(str)) <= significant
    assert (n_regions > 0) == bool(significant)
    members = set(clumps["SNP"].astype(str)).union(*[set(map(str, s)) for s in clumps["SP2"]])
    assert significant <= members  # every significant SNP sits in some region

    manhattan_plot(res, tmp_path / "manhattan.png")
    qq_plot(res, tmp_path / "qq.png")
    for name in ("manhattan.png", "qq.png"):
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def _planted_recovered(pheno, test, truth):
    """Planted loci at Bonferroni p < 0.05 / n_snps (min-p over the PCs) and their p."""
    geno = test["snp"].groupby("individual").first()
    combined = min_p_across(linear_association(pheno, geno)).set_index("SNP")["P"]
    planted = sorted({s for loci in truth.loci.values() for s in loci})
    p = combined.reindex(planted)
    return int((p < 0.05 / len(combined)).sum()), p


def test_contig_embeddings_of_held_out_people_find_planted_loci(msprime_biobank, held_out_run):
    b = msprime_biobank
    _, emb, _, pheno_cov, _ = held_out_run
    pheno = GWASTransformer(N_COMPONENTS, random_state=0).fit_transform(emb)
    n_found, p = _planted_recovered(pheno, b.test, b.truth)
    n_cov, _ = _planted_recovered(pheno_cov, b.test, b.truth)
    print(f"ContIG, held out: {n_found}/{len(p)} planted loci, mean -log10 p "
          f"{np.mean(-np.log10(p)):.2f}; {n_cov} with genetic PCs regressed out")
    assert n_found >= MIN_FOUND


@pytest.fixture(scope="module")
def control_run(msprime_biobank):
    """GWAS of a planted-locus phenotype and twenty null phenotypes (one plink2 call)."""
    ds, truth, bfile = msprime_biobank.ds, msprime_biobank.truth, msprime_biobank.bfile
    snp = ds["snp"].groupby("individual").first()  # one row per person
    rng = np.random.default_rng(1)
    locus = truth.loci["vessel_tortuosity"][0]
    g = snp.sel(snp_id=locus).values.astype(float)
    g = (g - g.mean()) / g.std()
    index = pd.Index(snp["individual"].values.astype(str), name="individual")
    pheno = pd.DataFrame({"planted": 0.5 * g + rng.normal(size=len(g))}, index=index)
    for k in range(N_NULL):
        pheno[f"null{k + 1}"] = rng.normal(size=len(g))
    return locus, run_gwas(pheno, bfile, threads=1)


def test_planted_locus_is_found(msprime_biobank, control_run):
    bfile = msprime_biobank.bfile
    locus, res = control_run
    planted = res[res["phenotype"] == "planted"].set_index("SNP")
    p = planted.loc[locus, "P"]
    print(f"planted locus {locus}: p = {p:.3g}")
    assert p < 5e-8
    n_regions, clumps = count_independent_regions(planted.reset_index(), bfile)
    assert n_regions >= 1
    hit = clumps[clumps["SNP"].eq(locus) | clumps["SP2"].map(lambda s: locus in s)]
    assert len(hit) == 1  # the planted locus sits in exactly one clump


def test_null_phenotypes_are_calibrated(control_run):
    _, res = control_run
    null = res[res["phenotype"].str.startswith("null")]["P"].dropna()
    lam = genomic_inflation(null)
    per = res[res["phenotype"].str.startswith("null")].groupby("phenotype")["P"]
    print(f"lambda_GC pooled over {N_NULL} null phenotypes: {lam:.3f} "
          f"(single: {per.apply(genomic_inflation).round(3).tolist()})")  # fmt: skip
    assert 0.9 <= lam <= 1.1
