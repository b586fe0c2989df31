"""Genotype simulation and the genetic scores derived from it (PGS, gene burden).

Two simulators:

- ``"msprime"``: a coalescent simulation (island model of a few populations with
  migration, a few independent chromosomes, recombination), so genotypes carry a
  neutral allele-frequency spectrum with a long rare tail, linkage disequilibrium that
  decays with distance, and ancestry structure;
- ``"independent"``: unlinked SNPs with U-shaped allele frequencies, made
  population-specific by the Balding-Nichols model (structure, no LD). Fast; meant for
  tiny unit tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

#: Minor-allele frequency at or above which a variant counts as "common".
COMMON_MAF = 0.05
#: Minor-allele frequency below which a variant counts as "rare" (burden scores).
RARE_MAF = 0.01


def standardise(x):
    """Column-wise mean 0, sd 1 as float64; a constant column becomes 0.

    >>> standardise([[1.0, 0.1], [3.0, 0.1], [5.0, 0.1]]).tolist()
    [[-1.224744871391589, 0.0], [0.0, 0.0], [1.224744871391589, 0.0]]
    """
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(0)
    constant = (x == x[:1]).all(0)  # its sd may be rounding noise, not 0
    return np.where(constant, 0.0, (x - x.mean(0)) / np.where(constant | (sd == 0), 1.0, sd))


@dataclass
class GenotypeData:
    """Full genotype matrix and variant annotation (internal to the generator).

    Attributes
    ----------
    genotypes : ndarray of shape (n_individuals, n_variants), int8
        Alternate-allele counts 0/1/2.
    chromosome : ndarray of shape (n_variants,), int
    bp_position : ndarray of shape (n_variants,), int
    population : ndarray of shape (n_individuals,), int
        Population label of each individual (-1 when unknown).
    snp_ids : ndarray of shape (n_variants,), str
    """

    genotypes: np.ndarray
    chromosome: np.ndarray
    bp_position: np.ndarray
    population: np.ndarray
    snp_ids: np.ndarray

    @cached_property
    def maf(self) -> np.ndarray:
        """Minor-allele frequency of each variant (NaN-aware; computed once)."""
        g = self.genotypes
        if g.dtype.kind in "iu":  # integer counts hold no NaN
            freq = g.sum(0, dtype=np.int64) / (2.0 * g.shape[0])
        else:
            freq = np.nanmean(g.astype(np.float32), axis=0) / 2.0
        return np.minimum(freq, 1.0 - freq)


def _rs_ids(n, rng):
    """Unique rsID-like names ("rs" + 5-9 digits), in random but reproducible order."""
    ids = 10_000 + rng.choice(99_990_000, size=n, replace=False)
    return np.array([f"rs{i}" for i in ids])


def simulate_msprime(
    n_individuals,
    *,
    n_populations=3,
    n_chromosomes=4,
    chromosome_length=1_000_000,
    population_size=5_000,
    migration_rate=2e-4,
    recombination_rate=1e-8,
    mutation_rate=1.5e-8,
    rng,
) -> GenotypeData:
    """Coalescent genotypes with ancestry structure and LD (needs :mod:`msprime`).

    An island model of ``n_populations`` demes of ``population_size`` diploids with
    symmetric ``migration_rate`` (population-scaled 4Nm = 4 at the defaults, F_ST of a
    few percent); each chromosome is an independent simulation under a uniform
    recombination rate; biallelic mutations (infinite-sites-like binary model).
    """
    import msprime

    demography = msprime.Demography.island_model(
        [population_size] * n_populations, migration_rate=migration_rate
    )
    counts = [n_individuals // n_populations + (i < n_individuals % n_populations)
              for i in range(n_populations)]
    samples = {f"pop_{i}": c for i, c in enumerate(counts) if c > 0}
    population = np.repeat(np.arange(n_populations), counts)
    blocks, chrom, pos = [], [], []
    for c in range(n_chromosomes):
        seed = int(rng.integers(1, 2**31 - 1))
        ts = msprime.sim_ancestry(
            samples=samples,
            demography=demography,
            sequence_length=chromosome_length,
            recombination_rate=recombination_rate,
            random_seed=seed,
        )
        ts = msprime.sim_mutations(
            ts, rate=mutation_rate, model=msprime.BinaryMutationModel(),
            discrete_genome=True, random_seed=seed,
        )
        if ts.num_sites == 0:
            continue
        hap = ts.genotype_matrix().astype(np.int8)  # (sites, 2 * n)
        # msprime lists the two haplotypes of an individual next to each other
        geno = hap[:, 0::2] + hap[:, 1::2]
        blocks.append(geno.T)
        chrom.append(np.full(ts.num_sites, c + 1))
        pos.append(ts.tables.sites.position.astype(np.int64) + 1)
    genotypes = np.ascontiguousarray(np.concatenate(blocks, axis=1))
    # interleave the populations so that id order says nothing about ancestry
    order = rng.permutation(n_individuals)
    genotypes = genotypes[order]
    population = population[order]
    chromosome = np.concatenate(chrom)
    return GenotypeData(
        genotypes=genotypes,
        chromosome=chromosome,
        bp_position=np.concatenate(pos),
        population=population,
        snp_ids=_rs_ids(len(chromosome), rng),
    )


def simulate_independent(
    n_individuals,
    *,
    n_variants=3000,
    n_populations=3,
    n_chromosomes=4,
    fst=0.05,
    rng,
) -> GenotypeData:
    """Unlinked SNPs: U-shaped ancestral frequencies, Balding-Nichols population drift.

    About 40 % of the variants are rare (ancestral MAF below 1 %), so burden scores
    have something to count.
    """
    n_rare = int(0.4 * n_variants)
    p_common = rng.beta(0.8, 0.8, n_variants - n_rare) * 0.9 + 0.05
    p_rare = rng.uniform(0.001, RARE_MAF, n_rare)
    p = np.concatenate([p_common, p_rare])
    rng.shuffle(p)
    a = p * (1 - fst) / fst
    b = (1 - p) * (1 - fst) / fst
    p_pop = rng.beta(a, b, size=(n_populations, n_variants))
    # rare variants keep their (tiny) frequency in every population
    rare = p < RARE_MAF
    p_pop[:, rare] = p[rare]
    population = rng.integers(0, n_populations, n_individuals)
    genotypes = rng.binomial(2, p_pop[population]).astype(np.int8)
    chromosome = np.sort(rng.integers(1, n_chromosomes + 1, n_variants))
    bp = np.empty(n_variants, dtype=np.int64)
    for c in np.unique(chromosome):
        sel = chromosome == c
        bp[sel] = 1 + np.sort(rng.choice(10_000_000, sel.sum(), replace=False))
    return GenotypeData(genotypes, chromosome, bp, population, _rs_ids(n_variants, rng))


def from_dataarray(genotypes, rng) -> tuple[GenotypeData, np.ndarray]:
    """Wrap a user (sample|individual, snp_id) DataArray of 0/1/2 (NaN allowed).

    Returns the genotype data (NaN imputed by the column mode for the score
    computations) and the individual ids.
    """
    import xarray as xr

    if not isinstance(genotypes, xr.DataArray) or genotypes.ndim != 2:
        raise ValueError(
            "genotypes must be a 2-D xarray.DataArray (sample or individual, snp_id), "
            f"got {type(genotypes).__name__}"
        )
    row_dim, col_dim = genotypes.dims
    if row_dim not in ("sample", "individual"):
        raise ValueError(
            f"genotypes must have 'sample' or 'individual' as first dim, got {row_dim!r}"
        )
    values = np.asarray(genotypes.values, dtype=np.float32)
    finite = values[~np.isnan(values)]
    if not np.isin(finite, (0.0, 1.0, 2.0)).all():
        raise ValueError("genotypes must hold dosages 0, 1, 2 or NaN")
    if values.shape[0] < 2 or values.shape[1] < 10:
        raise ValueError(
            f"genotypes must have at least 2 individuals and 10 SNPs, got {values.shape}"
        )
    if "individual" in genotypes.coords and row_dim == "sample":
        iids = np.asarray(genotypes["individual"].values).astype(str)
        if len(set(iids)) != len(iids):
            raise ValueError("genotypes must have one row per individual")
    else:
        iids = np.asarray(genotypes[row_dim].values).astype(str)
    # column-mode imputation of partial missingness
    from ..data import column_fill, impute_partial

    fill = column_fill(values, "mode")
    values = impute_partial(values, fill=fill)
    values = np.where(np.isnan(values), fill, values)
    n_var = values.shape[1]
    coords = genotypes.coords
    chrom = (np.asarray(coords["chromosome"].values).astype(np.int64)
             if "chromosome" in coords else np.ones(n_var, dtype=np.int64))
    bp = (np.asarray(coords["bp_position"].values).astype(np.int64)
          if "bp_position" in coords else np.arange(1, n_var + 1, dtype=np.int64))
    ids = np.asarray(genotypes[col_dim].values).astype(str)
    population = np.full(values.shape[0], -1)
    return GenotypeData(values.astype(np.int8), chrom, bp, population, ids), iids


def thin_common(data: GenotypeData, n_snps, must_include=()) -> np.ndarray:
    """Indices of ~``n_snps`` common variants spread evenly along the genome.

    Common variants (MAF >= 5 %) evenly spaced from the first to the last, plus
    the indices in ``must_include``, sorted by position.
    """
    common = np.flatnonzero(data.maf >= COMMON_MAF)
    if len(common) == 0:
        common = np.argsort(-data.maf)[: max(n_snps, 1)]
    # evenly spaced over all common variants, so the last chromosome is covered too
    picks = np.linspace(0, len(common) - 1, min(n_snps, len(common))).round().astype(int)
    chosen = common[np.unique(picks)]
    chosen = np.union1d(chosen, np.asarray(must_include, dtype=int))
    if len(chosen) > n_snps:
        # drop evenly spaced non-required ones
        extra = np.setdiff1d(chosen, must_include)
        drop = extra[np.linspace(0, len(extra) - 1, len(chosen) - n_snps).astype(int)]
        chosen = np.setdiff1d(chosen, drop)
    return chosen


def polygenic_scores(data: GenotypeData, n_pgs, rng, snps_per_score=(100, 400)):
    """Standardised weighted sums over random sets of common variants.

    Returns
    -------
    scores : ndarray of shape (n_individuals, n_pgs), float64, each column mean 0 sd 1.
    """
    g = data.genotypes
    common = np.flatnonzero(data.maf >= COMMON_MAF)
    if len(common) == 0:
        common = np.arange(g.shape[1])
    n = g.shape[0]
    # accumulate scores through one sparse-ish weight matrix on the common variants
    weights = np.zeros((len(common), n_pgs), dtype=np.float32)
    lo, hi = snps_per_score
    for j in range(n_pgs):
        k = int(min(len(common), rng.integers(lo, hi + 1)))
        idx = rng.choice(len(common), k, replace=False)
        weights[idx, j] = rng.standard_normal(k) * rng.exponential(1.0, k)
    scores = standardise(g[:, common].astype(np.float32) @ weights)
    assert scores.shape == (n, n_pgs)
    return scores


def burden_scores(data: GenotypeData, n_genes):
    """Rare-allele counts per gene, a gene being a contiguous block of variants.

    Rare = MAF below 1 %; when the genotypes hold too few rare variants (genotype
    arrays), the lowest-frequency fifth of the variants is used instead.

    Returns
    -------
    burden : ndarray of shape (n_individuals, n_genes), float64
    gene_variants : list of ndarray, the rare-variant indices counted per gene
    """
    maf = data.maf
    rare = np.flatnonzero((maf < RARE_MAF) & (maf > 0))
    if len(rare) < 3 * n_genes:
        rare = np.sort(np.argsort(maf)[: max(len(maf) // 5, n_genes)])
    # genes: contiguous, non-overlapping genomic blocks of rare variants
    blocks = np.array_split(rare, n_genes)
    g = data.genotypes
    freq = g.mean(0) / 2.0
    burden = np.empty((g.shape[0], n_genes), dtype=np.float64)
    for j, idx in enumerate(blocks):
        sub = g[:, idx].astype(np.int16)
        # count minor alleles: flip variants whose alternate allele is the major one
        flip = freq[idx] > 0.5
        sub[:, flip] = 2 - sub[:, flip]
        burden[:, j] = sub.sum(1)
    return burden, blocks


GENE_PREFIXES = [
    "ABC", "ADAM", "CFH", "COL", "CRB", "FZD", "GNA", "HTRA", "KCN", "LAM", "MYO",
    "NOTCH", "OPA", "PAX", "RHO", "SLC", "TGFB", "TIMP", "VEGF", "WNT",
]


def gene_names(n, rng):
    """Realistic-looking, unique gene symbols such as ``"COL4A1"`` or ``"SLC24"``."""
    names = []
    seen = set()
    while len(names) < n:
        prefix = GENE_PREFIXES[int(rng.integers(len(GENE_PREFIXES)))]
        suffix = str(int(rng.integers(1, 40)))
        if rng.random() < 0.4:
            suffix += "ABCDEFG"[int(rng.integers(7))] + str(int(rng.integers(1, 9)))
        name = prefix + suffix
        if name not in seen:
            seen.add(name)
            names.append(name)
    return np.array(names)
