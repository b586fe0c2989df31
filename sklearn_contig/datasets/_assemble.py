"""From a simulated cohort to samples: image plan, per-sample arrays, the xarray
Dataset and the :class:`SyntheticTruth`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ._cohort import EASY_TRAITS, HARD_TRAITS, MODALITIES, TRAITS, Cohort
from ._labels import BINARY_FACTORS, DISEASES, RISK_FACTORS, Labels, missing_rows, simulate_labels
from ._render import draw_geometry, ma_counts, trait_to_params


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
        Per-sample rendered quantities (e.g. ``disc_radius``, ``cup_ratio``,
        ``ma_count``, ``n_distractors``), indexed by sample id.
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


@dataclass
class SamplePlan:
    """Everything per sample (image) except the pixels.

    Attributes
    ----------
    sample_ids, eye : ndarray of str, shape (m,)
    individual_index : ndarray of int, shape (m,)
        Row of the cohort each sample belongs to.
    params, geometry : dict of ndarray
        Render parameters and random image geometry (see ``_render``).
    labels : Labels
        Per-individual labels.
    missing : dict of str to ndarray of bool
        Per-individual missingness of each modality.
    """

    sample_ids: np.ndarray
    eye: np.ndarray
    individual_index: np.ndarray
    params: dict = field(repr=False)
    geometry: dict = field(repr=False)
    labels: Labels = field(repr=False)
    missing: dict = field(repr=False)

    @property
    def mirror(self):
        """Left eyes are rendered mirrored."""
        return self.eye == "L"


def plan_samples(cohort: Cohort, *, eyes, missing, rng) -> SamplePlan:
    """Lay out the samples (one or two eyes each), draw image geometry, labels and
    missingness, in this order, from ``rng``."""
    iids = cohort.iids
    n = len(iids)
    if eyes == 2:
        sample_ids = np.array([f"{i}_{e}" for i in iids for e in ("L", "R")])
        ind_of = np.repeat(np.arange(n), 2)
        eye = np.tile(np.array(["L", "R"]), n)
    else:
        sample_ids = iids.copy()
        ind_of = np.arange(n)
        eye = np.full(n, "R")
    params = trait_to_params({k: cohort.traits[k].to_numpy()[ind_of] for k in TRAITS})
    geometry = draw_geometry(len(sample_ids), rng)
    labels = simulate_labels(cohort.traits, rng)
    miss = missing_rows(n, missing, MODALITIES, rng)
    return SamplePlan(sample_ids, eye, ind_of, params, geometry, labels, miss)


def assemble_dataset(cohort: Cohort, plan: SamplePlan, images=None) -> xr.Dataset:
    """The cohort as the package's Dataset; ``images`` is a dict of rendered arrays
    (``image``, ``disc_mask``, ``cup_mask``) or None for a Dataset without them."""
    data = cohort.genotypes
    ind_of = plan.individual_index
    snp = data.genotypes[:, cohort.snp_idx].astype(np.float32)
    pgs = cohort.pgs.astype(np.float32)
    burden = cohort.burden.astype(np.float32)
    for name, arr in (("snp", snp), ("pgs", pgs), ("burden", burden)):
        arr[plan.missing[name]] = np.nan
    coords = {
        "sample": plan.sample_ids,
        "individual": ("sample", cohort.iids[ind_of]),
        "eye": ("sample", plan.eye),
        "snp_id": data.snp_ids[cohort.snp_idx],
        "chromosome": ("snp_id", data.chromosome[cohort.snp_idx].astype(np.int64)),
        "bp_position": ("snp_id", data.bp_position[cohort.snp_idx].astype(np.int64)),
        "pgs_id": cohort.pgs_ids,
        "gene": cohort.genes,
        "disease": list(DISEASES),
        "factor": list(RISK_FACTORS),
        "binary_factor": BINARY_FACTORS,
    }

    def genetic(dim, a):
        return xr.Variable(("sample", dim), a[ind_of], attrs={"kind": "genetic"})

    def label(dims, a, **attrs):
        return xr.Variable(dims, a, attrs={"kind": "label", **attrs})

    lab = plan.labels
    data_vars = {
        "snp": genetic("snp_id", snp),
        "pgs": genetic("pgs_id", pgs),
        "burden": genetic("gene", burden),
        "grade": label(("sample",), lab.grade[ind_of], description="ordinal grade 0-4"),
        "diseases": label(("sample", "disease"), lab.diseases[ind_of]),
        "risk": label(("sample", "factor"), lab.risk[ind_of].astype(np.float32),
                      units="age: years, bmi: kg/m2, sbp: mmHg"),
        "risk_binary": label(("sample", "binary_factor"), lab.risk_binary[ind_of]),
    }
    if images is not None:
        pixels = ("sample", "y", "x")
        data_vars["image"] = xr.Variable(("sample", "channel", "y", "x"), images["image"],
                                         attrs={"kind": "image"})
        data_vars["disc_mask"] = label(pixels, images["disc_mask"],
                                       description="optic-disc segmentation mask 0/1")
        data_vars["cup_mask"] = label(
            pixels, images["cup_mask"],
            description="optic-cup segmentation mask 0/1 (small, low contrast, inside the disc)",
        )
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs["description"] = "synthetic imaging-genetics biobank (make_imaging_genetics)"
    ds.attrs["heritability"] = cohort.heritability
    return ds


def build_truth(cohort: Cohort, plan: SamplePlan) -> SyntheticTruth:
    """The planted truth of a cohort and its samples."""
    data = cohort.genotypes
    ind_of = plan.individual_index
    index = cohort.traits.index
    render_info = pd.DataFrame(
        {
            "individual": cohort.iids[ind_of],
            "eye": plan.eye,
            "disc_radius": plan.params["disc_radius"],
            "cup_ratio": plan.params["cup_ratio"],
            "macula_sd": plan.params["macula_sd"],
            "ma_count": ma_counts(plan.params, plan.geometry),
            "n_distractors": plan.geometry["n_distractors"],
        },
        index=pd.Index(plan.sample_ids, name="sample"),
    )
    return SyntheticTruth(
        traits=cohort.traits,
        genetic_values=cohort.genetic_values,
        causal=cohort.causal,
        weights=cohort.weights,
        loci=cohort.loci,
        easy_traits=list(EASY_TRAITS),
        hard_traits=list(HARD_TRAITS),
        heritability=cohort.heritability,
        population=pd.Series(data.population, index=index, name="population"),
        genotypes=data,
        complete={
            "pgs": pd.DataFrame(cohort.pgs, index=index, columns=cohort.pgs_ids),
            "burden": pd.DataFrame(cohort.burden, index=index, columns=cohort.genes),
        },
        gene_variants={str(g): [str(s) for s in data.snp_ids[b]]
                       for g, b in zip(cohort.genes, cohort.gene_blocks)},
        render=render_info,
    )
