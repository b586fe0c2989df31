"""A synthetic imaging-genetics biobank with planted ground truth.

Genotypes (coalescent or independent) -> polygenic scores and gene burden -> latent
visual traits (a known small set of causal genetic features plus non-genetic noise at a
set heritability) -> fundus-like images, optic-disc and optic-cup masks and downstream
labels. The steps live in their own modules: ``_cohort`` (genetics, traits, causal
features), ``_labels``, ``_render`` (images), ``_assemble`` (samples, Dataset, truth)
and ``_disk`` (the on-disk writer); this module holds the public entry point and the
argument checks both entry points share.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..data import validate
from ._assemble import SyntheticTruth, assemble_dataset, build_truth, plan_samples
from ._cohort import EASY_TRAITS, HARD_TRAITS, MODALITIES, TRAITS, simulate_cohort
from ._render import render_batches

__all__ = ["EASY_TRAITS", "HARD_TRAITS", "TRAITS", "SyntheticTruth", "make_imaging_genetics"]

DEFAULT_MISSING = {"pgs": 0.06, "burden": 0.4}


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


def _simulate(n_individuals, image_size, eyes, genotypes, missing, heritability, *,
              genetic_shares, n_snps, n_pgs, n_genes, simulator, random_state):
    """Check the arguments, then simulate the cohort and plan its samples.

    Shared by :func:`make_imaging_genetics` and :func:`generate_to_disk`, so the same
    arguments give the same genetics, labels and images in memory and on disk.
    """
    missing = dict(DEFAULT_MISSING) if missing is None else missing
    _check_params(n_individuals, image_size, eyes, heritability, missing, n_snps, n_pgs,
                  n_genes, simulator, genotypes)
    genetic_shares = _check_shares(genetic_shares)
    rng = np.random.default_rng(random_state)
    cohort = simulate_cohort(
        n_individuals, genotypes=genotypes, heritability=heritability,
        genetic_shares=genetic_shares, n_snps=n_snps, n_pgs=n_pgs, n_genes=n_genes,
        simulator=simulator, rng=rng,
    )
    plan = plan_samples(cohort, eyes=eyes, missing=missing, rng=rng)
    return cohort, plan


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
    variance) plus non-genetic noise, with ``heritability`` the genetic share. The
    causal features are drawn frequency-matched to the other features of their
    modality: one planted SNP per minor-allele-frequency stratum of the ``snp`` panel
    (loci on one chromosome as far apart as the genome allows, 250 kb or less), one
    causal gene per carrier-frequency stratum of the genes, so that a feature's
    frequency says nothing about whether it is causal. The traits are:

    - easy for a random CNN: ``pigmentation`` (background colour), ``disc_size``,
      ``cup_to_disc`` (cup-to-disc ratio), ``macula_size``;
    - hard but visible: ``vessel_tortuosity`` (waviness of the fine vessels),
      ``vessel_calibre`` (width of the fine vessels), ``microaneurysms`` (number of
      small dark-red dots, mixed with a random number of genetically neutral yellow
      dots).

    Labels are computed per individual from the latent traits plus noise: ``grade``
    (0-4, mostly from the hard traits), ``diseases`` (4 liability-threshold
    diseases), ``risk`` (age, bmi, sbp) and ``risk_binary`` (smoker, diabetes,
    hypertension), and the per-image segmentation masks ``disc_mask`` (optic disc,
    about 2 % of the image) and ``cup_mask`` (optic cup: a faint, paler region inside
    the disc, about 0.4 % of the image, its radius ``cup_ratio * disc_radius``
    following ``cup_to_disc``), a small, low-contrast target.

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
        Number of common SNPs (MAF >= 5 %, evenly thinned; the planted loci are
        drawn among them) in the ``snp`` modality; at least 21.
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
        (sample, binary_factor), ``disc_mask`` and ``cup_mask`` (sample, y, x)
        uint8 0/1. Sample coordinates ``individual`` and ``eye``.
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
    cohort, plan = _simulate(
        n_individuals, image_size, eyes, genotypes, missing, heritability,
        genetic_shares=genetic_shares, n_snps=n_snps, n_pgs=n_pgs, n_genes=n_genes,
        simulator=simulator, random_state=random_state,
    )
    m = len(plan.sample_ids)
    images = {
        "image": np.empty((m, 3, image_size, image_size), dtype=np.uint8),
        "disc_mask": np.empty((m, image_size, image_size), dtype=np.uint8),
        "cup_mask": np.empty((m, image_size, image_size), dtype=np.uint8),
    }
    # about 256 images of 64 px per batch: float32 buffers of ~100 MB
    batch_size = max(1, int(256 * (64 / image_size) ** 2))
    for rows, img, disc, cup in render_batches(plan.params, plan.geometry, image_size,
                                               plan.mirror, batch_size):
        images["image"][rows], images["disc_mask"][rows], images["cup_mask"][rows] = img, disc, cup
    ds = assemble_dataset(cohort, plan, images)
    validate(ds)
    return ds, build_truth(cohort, plan)
