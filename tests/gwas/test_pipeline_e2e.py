"""End to end, for real: synthetic biobank -> PLINK files -> ContIG -> GWAS -> regions.

``Pipeline(ContIGPretrainer, GWASTransformer)`` fitted on ``Samples(ds)``, then
``plink2 --glm`` on the embedding PCs and on control phenotypes, ``plink1.9
--clump`` and the plots. Tiny on purpose (240 people, two eyes each, 32 px,
resnet18, one epoch of 3 batches); genotypes from the coalescent simulator (msprime: LD,
three populations), so clumping and genetic PCs see real structure.

The control phenotypes do not depend on the embeddings: one built from a planted
locus (its dosage times an effect plus noise) must be found at p < 5e-8, and ten
pure-noise phenotypes, pooled, must give lambda_GC in [0.9, 1.1]. One null
phenotype over ~2,000 SNPs in strong LD (few independent tests) has a lambda_GC
sd of about 0.1 here (single values 0.75-1.15 were seen); pooling twenty
independent nulls brings it to about 0.025.
"""

import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from sklearn_contig.data import Samples, write_plink
from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.gwas import (
    GWASTransformer,
    count_independent_regions,
    genetic_pcs,
    genomic_inflation,
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

N_INDIVIDUALS = 240
N_COMPONENTS = 4
N_NULL = 20
RESULT_COLUMNS = ["SNP", "CHR", "BP", "A1", "phenotype", "BETA", "SE", "T_STAT", "P", "N"]


@pytest.fixture(scope="module")
def biobank(tmp_path_factory):
    pytest.importorskip("msprime")
    ds, truth = make_imaging_genetics(
        N_INDIVIDUALS, image_size=32, eyes=2, n_pgs=40, n_genes=40,
        simulator="msprime", random_state=0,
    )  # fmt: skip
    # ds["snp"] carries chromosome/bp_position coordinates; write_plink takes them.
    bfile = write_plink(tmp_path_factory.mktemp("e2e") / "cohort", ds["snp"])
    return ds, truth, bfile


@pytest.fixture(scope="module")
def pipeline_run(biobank):
    ds, _, bfile = biobank
    gpcs = genetic_pcs(bfile, n_pcs=5, threads=1)
    # the pretrainer's DataFrame is indexed by (sample, individual): GWASTransformer
    # aggregates the two eyes of each person without being told who is who
    pretrainer = ContIGPretrainer(
        "resnet18", modalities=["snp", "pgs"], batch_size=128, max_epochs=1,
        hidden_dim=64, projection_dim=32, weight_decay=1e-4, validation_fraction=0.2,
        device="cpu", random_state=0, verbose=0,
    ).set_output(transform="pandas")  # fmt: skip
    pipe = Pipeline([
        ("contig", pretrainer),
        ("gwas", GWASTransformer(N_COMPONENTS, covariates=gpcs)),
    ])  # fmt: skip
    pheno = pipe.fit_transform(Samples(ds))
    return pipe, pheno, gpcs


def test_pipeline_gives_one_phenotype_row_per_individual(biobank, pipeline_run):
    ds, _, _ = biobank
    pipe, pheno, gpcs = pipeline_run
    assert isinstance(pheno, pd.DataFrame)
    assert pheno.shape == (N_INDIVIDUALS, N_COMPONENTS)
    assert list(pheno.columns) == [f"PC{i + 1}" for i in range(N_COMPONENTS)]
    assert pheno.index.name == "individual"
    assert list(pheno.index) == list(pd.unique(ds["individual"].values))
    assert (pheno.dtypes == np.float64).all() and np.isfinite(pheno.to_numpy()).all()
    # inverse-normal transformed: mean ~0, sd ~1 per component
    assert np.allclose(pheno.mean(), 0, atol=1e-6)
    assert np.allclose(pheno.std(ddof=0), 1, atol=0.05)
    # the genetic PCs were the covariates regressed out of the components
    gwas = pipe.named_steps["gwas"]
    assert gwas.covariate_names_ == list(gpcs.columns)
    assert gwas.n_features_in_ == pipe.named_steps["contig"].embedding_dim_ == 512
    emb = pipe[:-1].transform(Samples(ds)[:4])  # the pretrainer's pandas output
    assert emb.index.names == ["sample", "individual"]
    assert list(emb.index.get_level_values("sample")) == list(ds["sample"].values[:4])
    assert list(emb.index.get_level_values("individual")) == list(ds["individual"].values[:4])


def test_gwas_on_embedding_pcs_is_well_formed(biobank, pipeline_run, tmp_path):
    ds, _, bfile = biobank
    _, pheno, _ = pipeline_run
    n_snps = ds.sizes["snp_id"]
    res = run_gwas(pheno, bfile, threads=1)
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
    assert (res["N"].dropna() == N_INDIVIDUALS).all()
    # real positions in the .bim (not chromosome 0 / position 0)
    bim = res.drop_duplicates("SNP").set_index("SNP")
    assert (bim["BP"].loc[list(map(str, ds["snp_id"].values))].to_numpy()
            == ds["bp_position"].values).all()  # fmt: skip
    assert set(bim["CHR"]) == set(ds["chromosome"].values.tolist())

    combined = min_p_across(res)
    assert len(combined) == n_snps and combined.attrs["n_phenotypes"] == N_COMPONENTS
    n_regions, clumps = count_independent_regions(res, bfile)
    assert isinstance(n_regions, int) and n_regions >= 0 and len(clumps) == n_regions
    lam = genomic_inflation(combined["P"])
    print(f"embedding PCs: {n_regions} regions, lambda_GC(min-p) = {lam:.3f}")

    manhattan_plot(res, tmp_path / "manhattan.png")
    qq_plot(res, tmp_path / "qq.png")
    for name in ("manhattan.png", "qq.png"):
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


@pytest.fixture(scope="module")
def control_run(biobank):
    """GWAS of a planted-locus phenotype and twenty null phenotypes (one plink2 call)."""
    ds, truth, bfile = biobank
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


def test_planted_locus_is_found(biobank, control_run):
    ds, _, bfile = biobank
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
