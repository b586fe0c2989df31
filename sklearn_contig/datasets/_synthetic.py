"""A synthetic imaging-genetics biobank with planted ground truth.

Genotypes (coalescent or independent) -> polygenic scores and gene burden -> latent
visual traits (a known small set of causal genetic features plus non-genetic noise at a
set heritability) -> fundus-like images, optic-disc masks and downstream labels.
"""

from __future__ import annotations

import numbers
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ..data import validate
from . import _genotypes as gen
from ._render import draw_geometry, ma_counts, render, trait_to_params

#: Latent visual traits; the first four are easy for a random CNN, the rest hard.
EASY_TRAITS = ["pigmentation", "disc_size", "cup_to_disc", "macula_size"]
HARD_TRAITS = ["vessel_tortuosity", "vessel_calibre", "microaneurysms"]
TRAITS = EASY_TRAITS + HARD_TRAITS

#: Share of each trait's genetic variance per modality (SNP loci, PGS, burden genes).
GENETIC_SHARES = {"snp": 0.4, "pgs": 0.4, "burden": 0.2}
#: Number of causal features per trait and modality.
N_CAUSAL = {"snp": 3, "pgs": 3, "burden": 2}

#: Grade liability: weights on the standardised latent traits (mostly hard traits),
#: the residual noise sd and the liability quantiles that cut grades 0|1|2|3|4.
GRADE_WEIGHTS = {"microaneurysms": 0.6, "vessel_tortuosity": 0.35, "vessel_calibre": 0.3,
                 "cup_to_disc": 0.5}
GRADE_NOISE = 0.25
GRADE_QUANTILES = (0.35, 0.60, 0.80, 0.92)

DISEASES = {
    # name: (prevalence, {trait: weight})
    "glaucoma": (0.10, {"cup_to_disc": 0.8, "disc_size": 0.3}),
    "amd": (0.08, {"macula_size": 0.6, "pigmentation": -0.5}),
    "hypertensive_retinopathy": (0.15, {"vessel_tortuosity": 0.6, "vessel_calibre": -0.5}),
    "diabetic_retinopathy": (0.20, {"microaneurysms": 0.8, "vessel_tortuosity": 0.3}),
}
RISK_FACTORS = {
    # name: (mean, sd, {trait: weight}); the rest of the unit variance is noise
    "age": (57.0, 7.0, {"pigmentation": 0.5, "vessel_tortuosity": 0.4}),
    "bmi": (27.0, 4.5, {"vessel_calibre": 0.5, "disc_size": 0.3}),
    "sbp": (132.0, 16.0, {"vessel_tortuosity": 0.55, "vessel_calibre": -0.45}),
}
BINARY_FACTORS = ["smoker", "diabetes", "hypertension"]

DEFAULT_MISSING = {"pgs": 0.06, "burden": 0.4}
MODALITIES = ("snp", "pgs", "burden")


@dataclass
class SyntheticTruth:
    """Ground truth planted by :func:`make_imaging_genetics`.

    Attributes
    ----------
    traits : pandas.DataFrame of shape (n_individuals, n_traits)
        Latent visual traits (mean 0, sd 1), indexed by individual id.
    genetic_values : pandas.DataFrame of shape (n_individuals, n_traits)
        The genetic part of each trait (standardised), indexed by individual id.
    causal : dict of str to dict of str to list of str
        Trait -> modality (``"snp"``, ``"pgs"``, ``"burden"``) -> causal feature names.
    weights : dict of str to dict of str to float
        Trait -> causal feature -> weight on the standardised feature (complete data).
    loci : dict of str to list of str
        Trait -> causal SNP ids, all present in the ``snp`` modality (planted GWAS loci).
    easy_traits, hard_traits : list of str
    heritability : float
    population : pandas.Series
        Population (ancestry group) of each individual; -1 for user genotypes.
    genotypes : GenotypeData
        The full genotype matrix (rare variants included) and its annotation.
    complete : dict of str to pandas.DataFrame
        The ``pgs`` and ``burden`` values before missingness was applied.
    gene_variants : dict of str to list of str
        Gene -> ids of the rare variants its burden counts.
    render : pandas.DataFrame
        Per-sample rendered quantities (e.g. ``disc_radius``, ``ma_count``,
        ``n_distractors``), indexed by sample id.
    """

    traits: pd.DataFrame
    genetic_values: pd.DataFrame
    causal: dict
    weights: dict
    loci: dict
    easy_traits: list
    hard_traits: list
    heritability: float
    population: pd.Series
    genotypes: object = field(repr=False)
    complete: dict = field(repr=False, default_factory=dict)
    gene_variants: dict = field(repr=False, default_factory=dict)
    render: pd.DataFrame = field(repr=False, default=None)


def _check_shares(genetic_shares):
    if genetic_shares is None:
        return None
    if not isinstance(genetic_shares, dict) or set(genetic_shares) - set(MODALITIES):
        raise ValueError(
            f"genetic_shares must be a dict with keys among {list(MODALITIES)}, got {genetic_shares!r}"
        )
    shares = {m: float(genetic_shares.get(m, 0.0)) for m in MODALITIES}
    if any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
        raise ValueError(f"genetic_shares must be >= 0 with a positive sum, got {genetic_shares!r}")
    total = sum(shares.values())
    return {m: v / total for m, v in shares.items()}


def _check_params(n_individuals, image_size, eyes, heritability, missing, n_snps, n_pgs,
                  n_genes, simulator, genotypes):
    if genotypes is None and (not isinstance(n_individuals, numbers.Integral) or n_individuals < 2):
        raise ValueError(f"n_individuals must be an integer >= 2, got {n_individuals!r}")
    if not isinstance(image_size, numbers.Integral) or image_size < 16:
        raise ValueError(f"image_size must be an integer >= 16, got {image_size!r}")
    if eyes not in (1, 2):
        raise ValueError(f"eyes must be 1 or 2, got {eyes!r}")
    if not isinstance(heritability, numbers.Real) or not 0.0 <= heritability <= 1.0:
        raise ValueError(f"heritability must be in [0, 1], got {heritability!r}")
    if not isinstance(missing, dict):
        raise ValueError(f"missing must be a dict modality -> fraction, got {missing!r}")
    for key, frac in missing.items():
        if key not in MODALITIES:
            raise ValueError(
                f"unknown modality {key!r} in missing; expected one of {list(MODALITIES)}"
            )
        if not isinstance(frac, numbers.Real) or not 0.0 <= frac < 1.0:
            raise ValueError(f"missing[{key!r}] must be in [0, 1), got {frac!r}")
    for name, value, low in (("n_snps", n_snps, 3 * len(TRAITS)), ("n_pgs", n_pgs, 5), ("n_genes", n_genes, 3)):
        if not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if simulator not in ("auto", "msprime", "independent"):
        raise ValueError(
            f"simulator must be 'auto', 'msprime' or 'independent', got {simulator!r}"
        )


def _standardise(x):
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


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


def _pick_loci(data, snp_idx, n_traits, k, rng):
    """k well-separated common SNPs per trait (MAF >= 0.15, >= 250 kb apart)."""
    maf = data.maf[snp_idx]
    cand = snp_idx[maf >= 0.15]
    if len(cand) < n_traits * k:
        cand = snp_idx[np.argsort(-maf)[: n_traits * k * 3]]
    cand = rng.permutation(cand)
    chosen = []
    for i in cand:
        ok = all(
            data.chromosome[i] != data.chromosome[j]
            or abs(int(data.bp_position[i]) - int(data.bp_position[j])) >= 250_000
            for j in chosen
        )
        if ok:
            chosen.append(i)
        if len(chosen) == n_traits * k:
            break
    if len(chosen) < n_traits * k:  # tiny genomes: relax the spacing
        rest = [i for i in cand if i not in chosen]
        chosen += rest[: n_traits * k - len(chosen)]
    return np.array(chosen).reshape(n_traits, k)


def simulate_cohort(n_individuals=2000, *, genotypes=None, heritability=0.5, genetic_shares=None, n_snps=2000,
                    n_pgs=300, n_genes=200, simulator="auto", random_state=0):
    """Everything except the images: genetics, latent traits, labels and the truth.

    Returns a dict with ``iids``, ``data`` (GenotypeData), ``snp_idx``, ``pgs``,
    ``burden``, ``gene_names``, ``traits`` (DataFrame), ``truth`` fields. Used by
    :func:`make_imaging_genetics` and :func:`generate_to_disk`.
    """
    rng = np.random.default_rng(random_state)
    shares = dict(GENETIC_SHARES) if genetic_shares is None else dict(genetic_shares)
    if genotypes is not None:
        data, iids = gen.from_dataarray(genotypes, rng)
        n = len(iids)
    else:
        n = int(n_individuals)
        data = _simulate_genotypes(n, simulator, rng)
        width = max(6, len(str(n)))
        iids = np.array([f"ID{i:0{width}d}" for i in range(1, n + 1)])
    # planted loci first (common, well separated), then the thinned SNP panel holding them
    n_traits = len(TRAITS)
    common = np.flatnonzero(data.maf >= gen.COMMON_MAF)
    loci = _pick_loci(data, common if len(common) else np.arange(len(data.maf)),
                      n_traits, N_CAUSAL["snp"], rng)
    snp_idx = gen.thin_common(data, n_snps, must_include=loci.ravel())
    pgs = gen.polygenic_scores(data, n_pgs, rng)
    burden, blocks = gen.burden_scores(data, n_genes)
    pgs_ids = np.array([f"PGS{j:06d}" for j in range(1, n_pgs + 1)])
    genes = gen.gene_names(n_genes, rng)

    # --- causal features per trait ------------------------------------------------
    pgs_perm = rng.permutation(n_pgs)
    carriers = (burden > 0).mean(0)
    good_genes = np.flatnonzero((carriers >= 0.05) & (burden.std(0) > 0))
    if len(good_genes) < n_traits * N_CAUSAL["burden"]:
        good_genes = np.argsort(-carriers)
    gene_perm = rng.permutation(good_genes)
    causal, weights, loci_ids = {}, {}, {}
    genetic = np.zeros((n, n_traits))
    z_snp = _standardise(data.genotypes[:, loci.ravel()].astype(np.float64)).reshape(n, n_traits, -1)
    z_pgs, z_burden = _standardise(pgs), _standardise(burden)
    for t, trait in enumerate(TRAITS):
        kp, kb = N_CAUSAL["pgs"], N_CAUSAL["burden"]
        # distinct features per trait while there are enough (tiny cohorts reuse them)
        pg = pgs_perm[np.arange(t * kp, (t + 1) * kp) % n_pgs]
        gb = gene_perm[np.arange(t * kb, (t + 1) * kb) % len(gene_perm)]
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
        causal[trait] = {mod: [str(x) for x in names[mod]] if shares[mod] > 0 else [] for mod in MODALITIES}
        loci_ids[trait] = list(causal[trait]["snp"])
        genetic[:, t] = g
    genetic = _standardise(genetic)
    # non-genetic part: orthogonal to the genetic value, so the heritability is exact
    noise = _standardise(rng.standard_normal((n, n_traits)))
    noise -= genetic * (noise * genetic).mean(0)
    noise = _standardise(noise)
    h = float(heritability)
    latent = np.sqrt(h) * genetic + np.sqrt(1 - h) * noise
    if h in (0.0, 1.0):
        latent = _standardise(latent)
    traits = pd.DataFrame(latent, index=pd.Index(iids, name="individual"), columns=TRAITS)
    genetic_df = pd.DataFrame(genetic, index=traits.index, columns=TRAITS)
    return dict(
        rng=rng, iids=iids, data=data, snp_idx=snp_idx, pgs=pgs, pgs_ids=pgs_ids,
        burden=burden, genes=genes, blocks=blocks, traits=traits, genetic=genetic_df,
        causal=causal, weights=weights, loci=loci_ids, heritability=h,
    )


def _labels(traits: pd.DataFrame, rng):
    """Per-individual downstream labels from the latent traits plus noise."""
    n = len(traits)
    T = traits
    liab = sum(w * T[k].to_numpy() for k, w in GRADE_WEIGHTS.items())
    liab = liab / np.sqrt(sum(w * w for w in GRADE_WEIGHTS.values()))
    liab = liab + GRADE_NOISE * rng.standard_normal(n)
    cuts = np.quantile(liab, GRADE_QUANTILES)
    grade = np.searchsorted(cuts, liab).astype(np.int64)
    diseases = np.zeros((n, len(DISEASES)), dtype=np.int64)
    for j, (name, (prev, w)) in enumerate(DISEASES.items()):
        l = sum(wk * T[k].to_numpy() for k, wk in w.items()) + 0.6 * rng.standard_normal(n)
        diseases[:, j] = (l > np.quantile(l, 1 - prev)).astype(np.int64)
    risk = np.zeros((n, len(RISK_FACTORS)))
    for j, (name, (mean, sd, w)) in enumerate(RISK_FACTORS.items()):
        signal = sum(wk * T[k].to_numpy() for k, wk in w.items())
        rest = np.sqrt(max(0.0, 1 - sum(v * v for v in w.values())))
        risk[:, j] = mean + sd * (signal + rest * rng.standard_normal(n))
    binary = np.zeros((n, len(BINARY_FACTORS)), dtype=np.int64)
    smoke = 0.4 * T["vessel_calibre"].to_numpy() + rng.standard_normal(n)
    binary[:, 0] = smoke > np.quantile(smoke, 0.8)
    diab = 0.7 * T["microaneurysms"].to_numpy() + 0.7 * rng.standard_normal(n)
    binary[:, 1] = diab > np.quantile(diab, 0.9)
    binary[:, 2] = risk[:, 2] > 140.0
    return grade, diseases, risk, binary


def _missing_rows(n, missing, rng):
    out = {}
    for mod in MODALITIES:
        frac = missing.get(mod, 0.0)
        k = int(round(frac * n))
        mask = np.zeros(n, dtype=bool)
        if k:
            mask[rng.choice(n, k, replace=False)] = True
        out[mod] = mask
    return out


def _render_chunks(params, geometry, image_size, mirror, chunk=256):
    n = len(mirror)
    images = np.empty((n, 3, image_size, image_size), dtype=np.uint8)
    masks = np.empty((n, image_size, image_size), dtype=np.uint8)
    step = max(1, int(chunk * (64 / image_size) ** 2))
    for s in range(0, n, step):
        sl = slice(s, s + step)
        p = {k: v[sl] for k, v in params.items()}
        g = {k: v[sl] for k, v in geometry.items()}
        images[sl], masks[sl] = render(p, g, image_size, mirror[sl])
    return images, masks


def _build(cohort, *, image_size, eyes, missing, render_images=True):
    """Assemble the per-sample arrays; images are rendered when ``render_images``."""
    rng = cohort["rng"]
    iids = cohort["iids"]
    n = len(iids)
    data = cohort["data"]
    if eyes == 2:
        sample_ids = np.array([f"{i}_{e}" for i in iids for e in ("L", "R")])
        ind_of = np.repeat(np.arange(n), 2)
        eye = np.tile(np.array(["L", "R"]), n)
    else:
        sample_ids = iids.copy()
        ind_of = np.arange(n)
        eye = np.full(n, "R")
    m = len(sample_ids)
    traits = cohort["traits"]
    params = trait_to_params({k: traits[k].to_numpy()[ind_of] for k in TRAITS})
    geometry = draw_geometry(m, rng)
    mirror = eye == "L"
    grade, diseases, risk, binary = _labels(traits, rng)
    miss = _missing_rows(n, missing, rng)

    snp = data.genotypes[:, cohort["snp_idx"]].astype(np.float32)
    pgs = cohort["pgs"].astype(np.float32)
    burden = cohort["burden"].astype(np.float32)
    for name, arr in (("snp", snp), ("pgs", pgs), ("burden", burden)):
        arr[miss[name]] = np.nan
    coords = {
        "sample": sample_ids,
        "individual": ("sample", iids[ind_of]),
        "eye": ("sample", eye),
        "snp_id": data.snp_ids[cohort["snp_idx"]],
        "chromosome": ("snp_id", data.chromosome[cohort["snp_idx"]].astype(np.int64)),
        "bp_position": ("snp_id", data.bp_position[cohort["snp_idx"]].astype(np.int64)),
        "pgs_id": cohort["pgs_ids"],
        "gene": cohort["genes"],
        "disease": list(DISEASES),
        "factor": list(RISK_FACTORS),
        "binary_factor": BINARY_FACTORS,
    }
    gvar = lambda dim, a: xr.Variable(("sample", dim), a[ind_of], attrs={"kind": "genetic"})  # noqa: E731
    lvar = lambda dims, a, **at: xr.Variable(dims, a, attrs={"kind": "label", **at})  # noqa: E731
    data_vars = {
        "snp": gvar("snp_id", snp),
        "pgs": gvar("pgs_id", pgs),
        "burden": gvar("gene", burden),
        "grade": lvar(("sample",), grade[ind_of], description="ordinal grade 0-4"),
        "diseases": lvar(("sample", "disease"), diseases[ind_of]),
        "risk": lvar(("sample", "factor"), risk[ind_of].astype(np.float32),
                     units="age: years, bmi: kg/m2, sbp: mmHg"),
        "risk_binary": lvar(("sample", "binary_factor"), binary[ind_of]),
    }
    render_info = pd.DataFrame(
        {
            "individual": iids[ind_of],
            "eye": eye,
            "disc_radius": params["disc_radius"],
            "cup_ratio": params["cup_ratio"],
            "macula_sd": params["macula_sd"],
            "ma_count": ma_counts(params, geometry),
            "n_distractors": geometry["n_distractors"],
        },
        index=pd.Index(sample_ids, name="sample"),
    )
    if render_images:
        images, masks = _render_chunks(params, geometry, image_size, mirror)
        data_vars["image"] = xr.Variable(("sample", "channel", "y", "x"), images,
                                         attrs={"kind": "image"})
        data_vars["disc_mask"] = lvar(("sample", "y", "x"), masks,
                                      description="optic-disc segmentation mask 0/1")
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs["description"] = "synthetic imaging-genetics biobank (make_imaging_genetics)"
    ds.attrs["heritability"] = cohort["heritability"]
    population = pd.Series(data.population, index=traits.index, name="population")
    truth = SyntheticTruth(
        traits=traits,
        genetic_values=cohort["genetic"],
        causal=cohort["causal"],
        weights=cohort["weights"],
        loci=cohort["loci"],
        easy_traits=list(EASY_TRAITS),
        hard_traits=list(HARD_TRAITS),
        heritability=cohort["heritability"],
        population=population,
        genotypes=data,
        complete={
            "pgs": pd.DataFrame(cohort["pgs"], index=traits.index, columns=cohort["pgs_ids"]),
            "burden": pd.DataFrame(cohort["burden"], index=traits.index, columns=cohort["genes"]),
        },
        gene_variants={str(g): [str(s) for s in data.snp_ids[b]]
                       for g, b in zip(cohort["genes"], cohort["blocks"])},
        render=render_info,
    )
    return ds, truth, (params, geometry, mirror)


def make_imaging_genetics(
    n_individuals=2000,
    image_size=64,
    eyes=1,
    genotypes=None,
    missing=None,
    heritability=0.5,
    *,
    genetic_shares=None,
    n_snps=2000,
    n_pgs=300,
    n_genes=200,
    simulator="auto",
    random_state=0,
):
    """Simulate a biobank of fundus-like images, genetics and labels with known truth.

    Genotypes come from a coalescent simulation (:mod:`msprime`: three populations
    with migration, four 1 Mb chromosomes, LD, a rare-variant tail) or from a fast
    independent-SNP generator. From the full genotype matrix the generator computes
    ``n_pgs`` polygenic scores (weighted sums of 100-400 common SNPs, standardised)
    and ``n_genes`` rare-variant burden scores (minor-allele counts over the rare
    variants of a gene region). Seven latent visual traits (mean 0, sd 1) each
    depend on 3 planted SNP loci, 3 PGS and 2 burden genes (40/40/20 % of the genetic
    variance) plus non-genetic noise, with ``heritability`` the genetic share:

    - easy for a random CNN: ``pigmentation`` (background colour), ``disc_size``,
      ``cup_to_disc`` (cup-to-disc ratio), ``macula_size``;
    - hard but visible: ``vessel_tortuosity`` (waviness of the fine vessels),
      ``vessel_calibre`` (width of the fine vessels), ``microaneurysms`` (number of
      small dark-red dots, mixed with a random number of genetically neutral yellow
      dots).

    Labels are computed per individual from the latent traits plus noise: ``grade``
    (0-4, mostly from the hard traits), ``diseases`` (4 liability-threshold
    diseases), ``risk`` (age, bmi, sbp) and ``risk_binary`` (smoker, diabetes,
    hypertension), and the per-image ``disc_mask``.

    Parameters
    ----------
    n_individuals : int, default=2000
        Number of people (ignored when ``genotypes`` is given).
    image_size : int, default=64
        Image height and width in pixels (>= 16).
    eyes : {1, 2}, default=1
        Images per individual. With 2, each person has a left (``"<iid>_L"``,
        mirrored) and a right (``"<iid>_R"``) image with the same traits but their own
        vessel geometry, lesion positions and noise.
    genotypes : xarray.DataArray of shape (n, n_variants), default=None
        Plant the traits on these genotypes (dims ``(sample|individual, snp_id)``,
        values 0/1/2, NaN allowed and mode-imputed; ``chromosome``/``bp_position``
        coordinates kept when present), e.g. from ``read_plink``.
    missing : dict of str to float, default=None
        Fraction of individuals missing each modality (an all-NaN row, on both eyes);
        keys among ``"snp"``, ``"pgs"``, ``"burden"``. ``None`` means
        ``{"pgs": 0.06, "burden": 0.4}``.
    heritability : float, default=0.5
        Variance share of every latent trait explained by its causal features.
    genetic_shares : dict, default=None
        How the genetic variance of each trait splits over the modalities' causal
        features, e.g. ``{"snp": 0, "pgs": 1, "burden": 0}`` to let only the
        PGS carry it; ``{"snp": 0.4, "pgs": 0.4, "burden": 0.2}`` when None.
        Shares are normalised to sum to 1.
    n_snps : int, default=2000
        Number of common SNPs (MAF >= 5 %, evenly thinned, always including the
        planted loci) in the ``snp`` modality; at least 21.
    n_pgs : int, default=300
        Number of polygenic scores (``PGS000001``...).
    n_genes : int, default=200
        Number of genes with a burden score.
    simulator : {"auto", "msprime", "independent"}, default="auto"
        ``"auto"`` uses msprime when it imports, else the independent generator.
    random_state : int or numpy.random.Generator, default=0

    Returns
    -------
    ds : xarray.Dataset
        ``image`` (sample, channel, y, x) uint8; genetic modalities ``snp``
        (sample, snp_id; coords ``chromosome``, ``bp_position``), ``pgs``
        (sample, pgs_id), ``burden`` (sample, gene); labels ``grade`` (sample,),
        ``diseases`` (sample, disease), ``risk`` (sample, factor), ``risk_binary``
        (sample, binary_factor), ``disc_mask`` (sample, y, x) uint8. Sample
        coordinates ``individual`` and ``eye``.
    truth : SyntheticTruth
        Latent traits, causal features and weights, planted loci, populations, the
        full genotype matrix and per-image rendered quantities.

    Examples
    --------
    >>> from sklearn_contig.datasets import make_imaging_genetics
    >>> ds, truth = make_imaging_genetics(20, image_size=32, simulator="independent",
    ...                                   n_snps=50, n_pgs=10, n_genes=10)
    >>> ds["image"].shape
    (20, 3, 32, 32)
    >>> ds["pgs"].dims, int(ds["grade"].max()) <= 4
    (('sample', 'pgs_id'), True)
    >>> truth.hard_traits
    ['vessel_tortuosity', 'vessel_calibre', 'microaneurysms']
    """
    missing = dict(DEFAULT_MISSING) if missing is None else missing
    _check_params(n_individuals, image_size, eyes, heritability, missing, n_snps, n_pgs,
                  n_genes, simulator, genotypes)
    genetic_shares = _check_shares(genetic_shares)
    cohort = simulate_cohort(
        n_individuals, genotypes=genotypes, heritability=heritability,
        genetic_shares=genetic_shares, n_snps=n_snps,
        n_pgs=n_pgs, n_genes=n_genes, simulator=simulator, random_state=random_state,
    )
    ds, truth, _ = _build(cohort, image_size=image_size, eyes=eyes, missing=missing)
    validate(ds)
    return ds, truth


def write_image_folder(ds, folder, format="png", *, quality=90, mode="w"):
    """Write one image file per sample and an ``images.csv`` index.

    Parameters
    ----------
    ds : xarray.Dataset
        With an ``image`` variable (sample, channel, y, x) uint8.
    folder : str or path-like
        Created if needed. Files are named ``<sample>.<ext>``.
    format : {"png", "jpeg"}, default="png"
    quality : int, default=90
        JPEG quality.
    mode : {"w", "a"}, default="w"
        Overwrite or append to ``images.csv``.

    Returns
    -------
    index : pandas.DataFrame
        Columns ``path`` (relative to ``folder``), ``sample``, ``individual``.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_contig.datasets import make_imaging_genetics, write_image_folder
    >>> ds, _ = make_imaging_genetics(3, image_size=16, simulator="independent",
    ...                               n_snps=30, n_pgs=5, n_genes=5)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     index = write_image_folder(ds, d)
    >>> list(index.columns), len(index)
    (['path', 'sample', 'individual'], 3)
    """
    from PIL import Image

    fmt = str(format).lower()
    if fmt in ("jpg", "jpeg"):
        ext, pil_fmt = "jpg", "JPEG"
    elif fmt == "png":
        ext, pil_fmt = "png", "PNG"
    else:
        raise ValueError(f"format must be 'png' or 'jpeg', got {format!r}")
    if mode not in ("w", "a"):
        raise ValueError(f"mode must be 'w' or 'a', got {mode!r}")
    os.makedirs(folder, exist_ok=True)
    images = ds["image"]
    if images.ndim != 4:
        raise ValueError("write_image_folder needs images with dims (sample, channel, y, x)")
    samples = np.asarray(ds["sample"].values).astype(str)
    individuals = np.asarray(ds["individual"].values).astype(str)
    paths = []
    for i, sid in enumerate(samples):
        arr = np.asarray(images[i].values)
        if arr.dtype != np.uint8:
            arr = np.clip(np.rint(arr * (255.0 if arr.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        name = f"{sid}.{ext}"
        kwargs = {"quality": quality} if pil_fmt == "JPEG" else {}
        Image.fromarray(arr.transpose(1, 2, 0)).save(os.path.join(folder, name), pil_fmt, **kwargs)
        paths.append(name)
    index = pd.DataFrame({"path": paths, "sample": samples, "individual": individuals})
    csv = os.path.join(folder, "images.csv")
    append = mode == "a" and os.path.exists(csv)
    index.to_csv(csv, mode="a" if append else "w", header=not append, index=False)
    return index


def generate_to_disk(path, n_individuals=20000, image_size=448, *, eyes=1, chunk_size=500,
                     format="jpeg", missing=None, heritability=0.5, n_snps=2000, n_pgs=300,
                     n_genes=200, simulator="auto", random_state=0, plink=True):
    """Write a synthetic biobank to disk, rendering images chunk by chunk.

    Only one chunk of images is ever in memory, so 20,000 people at 448 px fit in a
    few hundred MB. Images are written to the same files an in-memory run of
    :func:`make_imaging_genetics` with the same arguments would produce (pixel for
    pixel in PNG; JPEG is lossy).

    Layout of ``path``::

        images/<sample>.jpg, images/images.csv   (path, sample, individual)
        cohort.nc        genetic modalities and labels (no images), netCDF
        traits.csv       latent traits per individual
        truth.json       causal features, weights, planted loci, heritability
        genotypes.bed/.bim/.fam   the ``snp`` modality (when ``plink``)

    Parameters
    ----------
    path : str or path-like
    n_individuals, image_size, eyes, missing, heritability, n_snps, n_pgs, n_genes, simulator, random_state
        As in :func:`make_imaging_genetics`.
    chunk_size : int, default=500
        Images rendered and written at a time.
    format : {"jpeg", "png"}, default="jpeg"
    plink : bool, default=True
        Also write the ``snp`` modality as PLINK 1 files
        (``sklearn_contig.data.write_plink``).

    Returns
    -------
    ds : xarray.Dataset
        The cohort without images (genetics, labels; ``disc_mask`` omitted), with
        the image paths in the ``image_path`` coordinate.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn_contig.datasets import generate_to_disk
    >>> with tempfile.TemporaryDirectory() as d:
    ...     ds = generate_to_disk(d, 6, 32, chunk_size=4, simulator="independent",
    ...                           n_snps=30, n_pgs=5, n_genes=5, plink=False)
    ...     sorted(os.listdir(d))
    ['cohort.nc', 'images', 'traits.csv', 'truth.json']
    """
    import json

    missing = dict(DEFAULT_MISSING) if missing is None else missing
    _check_params(n_individuals, image_size, eyes, heritability, missing, n_snps, n_pgs,
                  n_genes, simulator, None)
    if not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    cohort = simulate_cohort(
        n_individuals, heritability=heritability, n_snps=n_snps, n_pgs=n_pgs,
        n_genes=n_genes, simulator=simulator, random_state=random_state,
    )
    ds, truth, (params, geometry, mirror) = _build(
        cohort, image_size=image_size, eyes=eyes, missing=missing, render_images=False
    )
    os.makedirs(path, exist_ok=True)
    img_dir = os.path.join(path, "images")
    m = ds.sizes["sample"]
    for s in range(0, m, chunk_size):
        sl = slice(s, s + chunk_size)
        p = {k: v[sl] for k, v in params.items()}
        g = {k: v[sl] for k, v in geometry.items()}
        images, _ = render(p, g, image_size, mirror[sl])
        chunk = xr.Dataset(
            {"image": (("sample", "channel", "y", "x"), images)},
            coords={"sample": ds["sample"].values[sl],
                    "individual": ("sample", ds["individual"].values[sl])},
        )
        write_image_folder(chunk, img_dir, format=format, mode="w" if s == 0 else "a")
        del images, chunk
    index = pd.read_csv(os.path.join(img_dir, "images.csv"))
    ds = ds.assign_coords(image_path=("sample", ("images/" + index["path"]).to_numpy()))
    ds.to_netcdf(os.path.join(path, "cohort.nc"))
    truth.traits.to_csv(os.path.join(path, "traits.csv"))
    with open(os.path.join(path, "truth.json"), "w") as fh:
        json.dump(
            {"causal": truth.causal, "weights": truth.weights, "loci": truth.loci,
             "easy_traits": truth.easy_traits, "hard_traits": truth.hard_traits,
             "heritability": truth.heritability},
            fh, indent=1,
        )
    if plink:
        from ..data import write_plink

        write_plink(os.path.join(path, "genotypes"), ds["snp"])
    return ds
