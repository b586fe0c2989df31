"""Cohort simulation: genotypes -> genetic scores -> causal features -> latent traits.

The causal features are drawn so that their frequency spectrum matches the
non-causal features of the same modality: causal SNPs take one SNP from each
minor-allele-frequency stratum of the ``snp`` panel, causal genes one gene from each
carrier-frequency stratum. Otherwise an explanation method whose attributions grow
with a feature's frequency (a zero baseline gives non-carriers exactly zero) would
rank causal features first without having learned anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import _genotypes as gen
from ._genotypes import standardise

#: Latent visual traits; the first four are easy for a random CNN, the rest hard.
EASY_TRAITS = ["pigmentation", "disc_size", "cup_to_disc", "macula_size"]
HARD_TRAITS = ["vessel_tortuosity", "vessel_calibre", "microaneurysms"]
TRAITS = EASY_TRAITS + HARD_TRAITS

MODALITIES = ("snp", "pgs", "burden")
#: Share of each trait's genetic variance per modality (SNP loci, PGS, burden genes).
GENETIC_SHARES = {"snp": 0.4, "pgs": 0.4, "burden": 0.2}
#: Number of causal features per trait and modality.
N_CAUSAL = {"snp": 3, "pgs": 3, "burden": 2}

#: Preferred minimum distances (bp) between planted loci on one chromosome, tried in
#: turn: the largest one the genome has room for is used (0 = no constraint).
LOCUS_SPACINGS = (250_000, 200_000, 175_000, 160_000, 125_000, 100_000, 50_000, 0)
#: Causal genes need at least this share of carriers (when enough genes have it).
MIN_CARRIER_FREQUENCY = 0.01


@dataclass
class Cohort:
    """Simulated individuals without images: genetics, latent traits, planted truth.

    Attributes
    ----------
    iids : ndarray of str, shape (n,)
    genotypes : GenotypeData
        Full genotype matrix (rare variants included) and its annotation.
    snp_idx : ndarray of int
        Columns of ``genotypes`` in the ``snp`` modality (the panel).
    pgs, burden : ndarray of shape (n, n_pgs), (n, n_genes)
        Complete polygenic and burden scores (before missingness).
    pgs_ids, genes : ndarray of str
    gene_blocks : list of ndarray
        Rare-variant columns of ``genotypes`` counted by each gene.
    traits, genetic_values : pandas.DataFrame of shape (n, n_traits)
        Latent traits and their genetic part (both standardised), indexed by individual.
    causal, weights, loci : dict
        As in :class:`SyntheticTruth`.
    heritability : float
    """

    iids: np.ndarray
    genotypes: gen.GenotypeData = field(repr=False)
    snp_idx: np.ndarray = field(repr=False)
    pgs: np.ndarray = field(repr=False)
    pgs_ids: np.ndarray = field(repr=False)
    burden: np.ndarray = field(repr=False)
    genes: np.ndarray = field(repr=False)
    gene_blocks: list = field(repr=False)
    traits: pd.DataFrame = field(repr=False)
    genetic_values: pd.DataFrame = field(repr=False)
    causal: dict = field(repr=False)
    weights: dict = field(repr=False)
    loci: dict = field(repr=False)
    heritability: float = 0.5


def _simulate_genotypes(n, simulator, rng):
    if simulator in ("auto", "msprime"):
        try:
            import msprime  # noqa: F401
        except ImportError:
            if simulator == "msprime":
                raise ImportError(
                    "simulator='msprime' needs msprime: pip install msprime "
                    "(or use simulator='independent')"
                ) from None
            simulator = "independent"
    if simulator == "independent":
        return gen.simulate_independent(n, rng=rng)
    return gen.simulate_msprime(n, rng=rng)


def stratified_pick(values, k, rng, choose=None):
    """One member from each of ``k`` equal-size quantile strata of ``values``.

    The picks then have (up to the within-stratum spread) the same distribution as
    ``values``. Strata are visited in random order; ``choose(candidates, chosen)``
    returns the member of a stratum to take given the positions chosen so far, or
    None when none fits, which makes the whole pick fail (``None``); by default a
    random member. Returns positions into ``values``.
    """
    values = np.asarray(values)
    strata = np.array_split(np.argsort(values, kind="stable"), k)
    chosen = []
    for s in rng.permutation(k):
        i = rng.choice(strata[s]) if choose is None else choose(strata[s], chosen)
        if i is None:
            return None
        chosen.append(int(i))
    return np.array(chosen, dtype=int)


def _spaced_chooser(chrom, bp, spacing, rng, best_share=0.1):
    """A ``choose`` for :func:`stratified_pick` keeping ``spacing`` bp between picks.

    Among the candidates at least ``spacing`` from every pick on their chromosome it
    takes a random one of the ``best_share`` that waste least room (closest to that
    distance from a pick, or to a chromosome end), so the genome fits many loci.
    """
    chroms = np.unique(chrom)
    first = dict(zip(chroms, [bp[chrom == c].min() for c in chroms]))
    last = dict(zip(chroms, [bp[chrom == c].max() for c in chroms]))

    def choose(cand, chosen):
        room = np.minimum(bp[cand] - np.array([first[c] for c in chrom[cand]]),
                          np.array([last[c] for c in chrom[cand]]) - bp[cand])
        if chosen:
            c = np.asarray(chosen)
            same = chrom[cand][:, None] == chrom[c][None, :]
            dist = np.where(same, np.abs(bp[cand][:, None] - bp[c][None, :]), np.inf).min(1)
            fits = dist >= spacing
            room = np.minimum(room, dist - spacing)
            cand, room = cand[fits], room[fits]
        if len(cand) == 0:
            return None
        best = np.argsort(room, kind="stable")[: max(1, int(np.ceil(best_share * len(cand))))]
        return cand[rng.choice(best)]

    return choose


def pick_loci(data, panel, n_loci, rng):
    """``n_loci`` SNPs of the panel, frequency-matched to it and well separated.

    One SNP per MAF stratum of the panel (:func:`stratified_pick`), with the largest
    spacing of :data:`LOCUS_SPACINGS` that the genome has room for between loci on
    one chromosome (a few random tries per spacing). When the panel has fewer SNPs
    than loci, all of them are used and the rest repeat.
    """
    panel = np.asarray(panel)
    if len(panel) < n_loci:
        reps = rng.permutation(panel)
        return reps[np.arange(n_loci) % len(panel)]
    maf = data.maf[panel]
    chrom = np.asarray(data.chromosome[panel])
    bp = np.asarray(data.bp_position[panel], dtype=np.int64)
    for spacing in LOCUS_SPACINGS:
        if spacing == 0:
            return panel[stratified_pick(maf, n_loci, rng)]
        choose = _spaced_chooser(chrom, bp, spacing, rng)
        for _ in range(4):
            picks = stratified_pick(maf, n_loci, rng, choose)
            if picks is not None:
                return panel[picks]
    raise AssertionError("unreachable: LOCUS_SPACINGS ends with 0")  # pragma: no cover


def pick_genes(burden, n_causal, rng):
    """``n_causal`` genes whose carrier frequencies match those of all genes.

    Genes need variation and, when at least ``n_causal`` genes have it,
    :data:`MIN_CARRIER_FREQUENCY` carriers (so each causal burden is carried by
    enough people to be learnable). One gene per carrier-frequency stratum of the
    eligible genes; when there are fewer eligible genes than needed, all are used and
    the rest repeat.
    """
    carriers = (burden > 0).mean(0)
    varies = burden.std(0) > 0
    eligible = np.flatnonzero(varies & (carriers >= MIN_CARRIER_FREQUENCY))
    if len(eligible) < n_causal:
        eligible = np.flatnonzero(varies)
    if len(eligible) == 0:
        eligible = np.arange(burden.shape[1])
    if len(eligible) < n_causal:
        reps = rng.permutation(eligible)
        return reps[np.arange(n_causal) % len(eligible)]
    return eligible[stratified_pick(carriers[eligible], n_causal, rng)]


def simulate_cohort(n_individuals, *, genotypes, heritability, genetic_shares, n_snps,
                    n_pgs, n_genes, simulator, rng) -> Cohort:
    """Genetics, latent traits and the planted truth for one cohort.

    ``genetic_shares`` is a normalised dict (or None for :data:`GENETIC_SHARES`);
    ``rng`` a :class:`numpy.random.Generator`, advanced in place. Arguments are
    assumed valid (checked by the public entry points).
    """
    shares = dict(GENETIC_SHARES) if genetic_shares is None else dict(genetic_shares)
    if genotypes is not None:
        data, iids = gen.from_dataarray(genotypes, rng)
        n = len(iids)
    else:
        n = int(n_individuals)
        data = _simulate_genotypes(n, simulator, rng)
        width = max(6, len(str(n)))
        iids = np.array([f"ID{i:0{width}d}" for i in range(1, n + 1)])
    n_traits = len(TRAITS)
    # the SNP panel first (evenly thinned common SNPs), then planted loci inside it
    snp_idx = gen.thin_common(data, n_snps)
    loci = pick_loci(data, snp_idx, n_traits * N_CAUSAL["snp"], rng).reshape(n_traits, -1)
    pgs = gen.polygenic_scores(data, n_pgs, rng)
    burden, blocks = gen.burden_scores(data, n_genes)
    pgs_ids = np.array([f"PGS{j:06d}" for j in range(1, n_pgs + 1)])
    genes = gen.gene_names(n_genes, rng)

    # --- causal features per trait ------------------------------------------------
    kp, kb = N_CAUSAL["pgs"], N_CAUSAL["burden"]
    # PGS are standardised scores with no frequency: a random draw is unbiased;
    # distinct features per trait while there are enough (tiny cohorts reuse them)
    pgs_perm = rng.permutation(n_pgs)
    causal_genes = pick_genes(burden, n_traits * kb, rng).reshape(n_traits, kb)
    causal, weights, loci_ids = {}, {}, {}
    genetic = np.zeros((n, n_traits))
    z_snp = standardise(data.genotypes[:, loci.ravel()]).reshape(n, n_traits, -1)
    z_pgs, z_burden = standardise(pgs), standardise(burden)
    for t, trait in enumerate(TRAITS):
        pg = pgs_perm[np.arange(t * kp, (t + 1) * kp) % n_pgs]
        gb = causal_genes[t]
        parts = {"snp": z_snp[:, t, :], "pgs": z_pgs[:, pg], "burden": z_burden[:, gb]}
        names = {"snp": data.snp_ids[loci[t]], "pgs": pgs_ids[pg], "burden": genes[gb]}
        weights[trait] = {}
        g = np.zeros(n)
        for mod, z in parts.items():
            k = z.shape[1]
            # equal variance shares within a modality, random signs
            w = rng.choice([-1.0, 1.0], k) * np.sqrt(shares[mod] / k)
            g += z @ w
            weights[trait].update({str(nm): float(wi) for nm, wi in zip(names[mod], w)})
        # a modality with no share of the genetic variance has no causal features
        causal[trait] = {mod: [str(x) for x in names[mod]] if shares[mod] > 0 else []
                         for mod in MODALITIES}
        loci_ids[trait] = list(causal[trait]["snp"])
        genetic[:, t] = g
    genetic = standardise(genetic)
    # non-genetic part: orthogonal to the genetic value, so the heritability is exact
    noise = standardise(rng.standard_normal((n, n_traits)))
    noise -= genetic * (noise * genetic).mean(0)
    noise = standardise(noise)
    h = float(heritability)
    latent = np.sqrt(h) * genetic + np.sqrt(1 - h) * noise
    if h in (0.0, 1.0):
        latent = standardise(latent)
    traits = pd.DataFrame(latent, index=pd.Index(iids, name="individual"), columns=TRAITS)
    return Cohort(
        iids=iids, genotypes=data, snp_idx=snp_idx, pgs=pgs, pgs_ids=pgs_ids,
        burden=burden, genes=genes, gene_blocks=blocks, traits=traits,
        genetic_values=pd.DataFrame(genetic, index=traits.index, columns=TRAITS),
        causal=causal, weights=weights, loci=loci_ids, heritability=h,
    )
