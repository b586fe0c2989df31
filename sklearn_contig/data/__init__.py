"""Data layer: the cohort Dataset, its validation, readers and torch loaders."""

from . import _accessor  # noqa: F401  (registers the ``ds.contig`` accessor)
from ._align import align
from ._genotypes import genotype_files, read_genotypes
from ._images import read_images
from ._pgs import compute_pgs, read_scoring_file
from ._plink import read_plink, write_plink
from ._prepare import prepare_images
from ._samples import Samples, as_dataset
from ._schema import (
    FEATURE_DIMS,
    GENETIC,
    LABEL,
    column_fill,
    feature_dim,
    from_arrays,
    genetic_modalities,
    impute_partial,
    label_variables,
    presence,
    validate,
)
from ._split import split_individuals
from ._tables import read_burden, read_pgs
from ._torch import (
    CohortDataset,
    collate_batch,
    fill_values,
    genetic_scaling,
    individual_codes,
    inference_batch_size,
    make_loader,
)
from ._zarr import open_zarr, to_zarr

__all__ = [
    "CohortDataset",
    "Samples",
    "as_dataset",
    "collate_batch",
    "fill_values",
    "genetic_scaling",
    "individual_codes",
    "inference_batch_size",
    "make_loader",
    "FEATURE_DIMS",
    "GENETIC",
    "LABEL",
    "column_fill",
    "feature_dim",
    "from_arrays",
    "genotype_files",
    "genetic_modalities",
    "impute_partial",
    "label_variables",
    "presence",
    "validate",
    "align",
    "compute_pgs",
    "open_zarr",
    "prepare_images",
    "read_burden",
    "read_genotypes",
    "read_images",
    "read_pgs",
    "read_plink",
    "read_scoring_file",
    "split_individuals",
    "to_zarr",
    "write_plink",
]
