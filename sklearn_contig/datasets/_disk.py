"""Writing a synthetic biobank to disk: image folders and the chunked generator."""

from __future__ import annotations

import json
import numbers
import os

import numpy as np
import pandas as pd
import xarray as xr

from ._assemble import assemble_dataset, build_truth
from ._render import render_batches
from ._synthetic import _simulate

_FORMATS = {"png": ("png", "PNG"), "jpeg": ("jpg", "JPEG"), "jpg": ("jpg", "JPEG")}


def _image_format(format):
    fmt = str(format).lower()
    if fmt not in _FORMATS:
        raise ValueError(f"format must be 'png' or 'jpeg', got {format!r}")
    return _FORMATS[fmt]


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

    ext, pil_fmt = _image_format(format)
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


def generate_to_disk(path, n_individuals=20000, image_size=448, *, eyes=1, genotypes=None,
                     missing=None, heritability=0.5, genetic_shares=None, n_snps=2000,
                     n_pgs=300, n_genes=200, simulator="auto", random_state=0,
                     chunk_size=500, format="jpeg", plink=True):
    """Write a synthetic biobank to disk, rendering images chunk by chunk.

    Only one chunk of images is ever in memory, so 20,000 people at 448 px fit in a
    few hundred MB. For the same arguments and seed, the genetics, labels and truth
    are those of :func:`make_imaging_genetics`, and the images are written to the
    same files an in-memory run would produce (pixel for pixel in PNG; JPEG is lossy).

    Layout of ``path``::

        images/<sample>.jpg, images/images.csv   (path, sample, individual)
        cohort.nc        genetic modalities and labels (no images), netCDF
        traits.csv       latent traits per individual
        truth.json       causal features, weights, planted loci, heritability
        genotypes.bed/.bim/.fam   the ``snp`` modality (when ``plink``)

    Parameters
    ----------
    path : str or path-like
    n_individuals, image_size, eyes, genotypes, missing, heritability
        As in :func:`make_imaging_genetics` (``n_individuals`` defaults to 20,000
        and ``image_size`` to 448 here).
    genetic_shares, n_snps, n_pgs, n_genes, simulator, random_state
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
        The cohort without images (genetics, labels; the ``disc_mask`` and
        ``cup_mask`` images omitted), with the image paths in the ``image_path``
        coordinate.

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
    if not isinstance(chunk_size, numbers.Integral) or isinstance(chunk_size, bool) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    _image_format(format)
    cohort, plan = _simulate(
        n_individuals, image_size, eyes, genotypes, missing, heritability,
        genetic_shares=genetic_shares, n_snps=n_snps, n_pgs=n_pgs, n_genes=n_genes,
        simulator=simulator, random_state=random_state,
    )
    ds = assemble_dataset(cohort, plan)
    truth = build_truth(cohort, plan)
    os.makedirs(path, exist_ok=True)
    img_dir = os.path.join(path, "images")
    samples = ds["sample"].values
    individuals = ds["individual"].values
    for rows, images, _, _ in render_batches(plan.params, plan.geometry, image_size,
                                             plan.mirror, chunk_size):
        chunk = xr.Dataset(
            {"image": (("sample", "channel", "y", "x"), images)},
            coords={"sample": samples[rows], "individual": ("sample", individuals[rows])},
        )
        write_image_folder(chunk, img_dir, format=format, mode="w" if rows.start == 0 else "a")
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
