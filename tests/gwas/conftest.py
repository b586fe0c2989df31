"""Shared fixtures for the GWAS tests: a small simulated cohort written as PLINK files."""

import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed

HAS_PLINK2 = shutil.which("plink2") is not None

N_INDIVIDUALS = 800
N_SNPS = 2000
BLOCK = 20
BP_STEP = 5_000  # 20 SNPs per 100 kb block; blocks are independent


def simulate_haplotype_blocks(n_haplotypes, n_snps, rng, block=BLOCK, n_founders=4,
                              mutation=0.02):  # fmt: skip
    """Haplotypes (n_haplotypes, n_snps) 0/1 with LD inside blocks of ``block`` SNPs.

    Each block has a few founder haplotypes; every haplotype copies one founder
    (chosen with block-specific frequencies) and flips each allele with
    probability ``mutation``. SNPs in one block are in strong LD, blocks are
    independent.
    """
    hap = np.empty((n_haplotypes, n_snps), dtype=np.int8)
    for start in range(0, n_snps, block):
        stop = min(start + block, n_snps)
        freq = rng.uniform(0.15, 0.85, size=stop - start)
        founders = (rng.random((n_founders, stop - start)) < freq).astype(np.int8)
        pick = rng.choice(n_founders, size=n_haplotypes, p=rng.dirichlet(np.ones(n_founders)))
        h = founders[pick]
        flip = rng.random(h.shape) < mutation
        hap[:, start:stop] = np.where(flip, 1 - h, h)
    return hap


def simulate_cohort(prefix, n=N_INDIVIDUALS, m=N_SNPS, seed=0):
    """Write ``prefix``.bed/.bim/.fam on 2 chromosomes; return genotypes and ids."""
    rng = np.random.default_rng(seed)
    hap = simulate_haplotype_blocks(2 * n, m, rng)
    geno = (hap[0::2] + hap[1::2]).astype(np.float32)
    iid = np.array([f"ind{i:04d}" for i in range(n)])
    sid = np.array([f"rs{j}" for j in range(m)])
    half = m // 2
    chrom = np.repeat(["1", "2"], [half, m - half])
    bp = np.concatenate([np.arange(1, half + 1), np.arange(1, m - half + 1)]) * BP_STEP
    to_bed(
        f"{prefix}.bed",
        geno,
        properties={
            "fid": iid, "iid": iid, "sid": sid, "chromosome": chrom,
            "bp_position": bp, "allele_1": np.repeat("A", m), "allele_2": np.repeat("G", m),
        },  # fmt: skip
    )
    return pd.DataFrame(geno, index=iid, columns=sid), chrom, bp


@pytest.fixture(scope="session")
def cohort(tmp_path_factory):
    """Simulated PLINK fileset plus a planted-locus phenotype and null phenotypes."""
    prefix = tmp_path_factory.mktemp("plink") / "cohort"
    geno, chrom, bp = simulate_cohort(prefix)
    rng = np.random.default_rng(1)
    # planted locus: the SNP with allele frequency closest to 0.4 in block 25 (chr 1)
    block = geno.iloc[:, 25 * BLOCK : 26 * BLOCK]
    freq = block.mean() / 2
    planted = (freq - 0.4).abs().idxmin()
    g = geno[planted].to_numpy()
    g = (g - g.mean()) / g.std()
    n = len(geno)
    covariates = pd.DataFrame(
        {"sex": rng.integers(0, 2, n), "age": rng.normal(60, 8, n)}, index=geno.index
    )
    effect = 0.3  # explains ~8 % of the variance: chi2 ~ 70 at n = 800
    pheno = pd.DataFrame(
        {"planted": effect * g + rng.normal(size=n) + 0.05 * covariates["age"]},
        index=geno.index,
    )
    for k in range(10):
        pheno[f"null{k + 1}"] = rng.normal(size=n)
    return SimpleNamespace(
        prefix=prefix, geno=geno, chrom=chrom, bp=bp, planted=planted,
        planted_block=list(block.columns), pheno=pheno, covariates=covariates,
    )  # fmt: skip


@pytest.fixture(scope="session")
def gwas_result(cohort):
    """``run_gwas`` on the planted and null phenotypes, with covariates (run once)."""
    if not HAS_PLINK2:
        pytest.skip("plink2 not installed (make test installs it via apt)")
    from sklearn_contig.gwas import run_gwas

    return run_gwas(cohort.pheno, cohort.prefix, cohort.covariates, threads=1)


#: The coalescent biobank of the end-to-end tests: two eyes per person, every
#: trait's genetic variance on its planted SNPs (``genetic_shares={"snp": 1}``,
#: heritability 0.8) so that a GWAS of a few hundred held-out people can find them.
BIOBANK = dict(n_individuals=600, image_size=32, eyes=2, heritability=0.8,
               genetic_shares={"snp": 1.0}, n_snps=300, n_pgs=10, n_genes=10)
BIOBANK_TEST_SIZE = 0.4  # share of the individuals held out of pretraining


@pytest.fixture(scope="session")
def msprime_biobank(tmp_path_factory):
    """Synthetic biobank with msprime genotypes (LD, three populations) as PLINK files.

    Split by individual: ``train`` for pretraining, ``test`` (held out, both eyes of
    a person on one side) for the GWAS. The PLINK files hold everyone; ``run_gwas``
    tests only the individuals that have a phenotype.
    """
    pytest.importorskip("msprime")
    from sklearn_contig.data import split_individuals, write_plink
    from sklearn_contig.datasets import make_imaging_genetics

    ds, truth = make_imaging_genetics(**BIOBANK, simulator="msprime", random_state=0)
    train, test = split_individuals(ds, test_size=BIOBANK_TEST_SIZE, random_state=0)
    bfile = write_plink(tmp_path_factory.mktemp("biobank") / "cohort", ds["snp"])
    return SimpleNamespace(ds=ds, truth=truth, train=train, test=test, bfile=bfile)
