"""Open a cohort from files: images, genotypes, polygenic and burden scores, labels."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["load_cohort", "read_table", "add_labels", "add_masks"]

log = logging.getLogger("sklearn_contig.cli")


def _exists(path, name):
    if not os.path.exists(path):
        raise FileNotFoundError(f"{name} {os.fspath(path)!r} does not exist")


def _is_zarr(path) -> bool:
    p = Path(path)
    return p.suffix == ".zarr" or (p.is_dir() and ((p / "zarr.json").exists() or (p / ".zgroup").exists()))


def read_images_any(images, image_size):
    """An image Dataset from a zarr store, an image folder or a CSV of paths."""
    from ..data import open_zarr, read_images

    _exists(images, "images")
    if _is_zarr(images):
        log.info("opening zarr image store %s", images)
        return open_zarr(images)
    if image_size is None:
        raise ValueError("image_size is required to read an image folder or CSV (pixels per side)")
    log.info("indexing images in %s (resized to %d px)", images, image_size)
    return read_images(images, image_size)


def read_table(path, name="table") -> pd.DataFrame:
    """A CSV/TSV/Parquet table indexed by its id column, as strings.

    The id column is the first of
    :data:`~sklearn_contig.data._tables.SAMPLE_ID_COLUMNS` present: ``sample``
    wins over the individual id, so labels given per eye match by sample. A
    Parquet table may carry its ids as an index named so. ``.tsv``, ``.txt``,
    ``.cov`` and ``.eigenvec`` files are tab-separated, other text files
    comma-separated. Ids are stripped of surrounding whitespace (``"4 "`` is
    ``"4"``); a missing or blank id raises a :class:`ValueError`. A family id
    column (``FID``, ``#FID``, ``fid``) is dropped, whatever the format.
    """
    from ..data._tables import _IGNORED, ID_DTYPES, SAMPLE_ID_COLUMNS, id_index

    _exists(path, name)
    path = os.fspath(path)
    where = f"{name} {path!r}"
    id_column = None
    if path.endswith(".parquet"):
        table = pd.read_parquet(path)
        if isinstance(table.index, pd.MultiIndex):
            return table.drop(columns=[c for c in table.columns if c in _IGNORED])
        if table.index.name in SAMPLE_ID_COLUMNS:
            id_column = table.index.name
    else:
        sep = "\t" if path.endswith((".tsv", ".txt", ".cov", ".eigenvec")) else ","
        table = pd.read_csv(path, sep=sep, dtype=ID_DTYPES)
    ids = id_index(table, id_column, candidates=SAMPLE_ID_COLUMNS, where=where)
    ids = pd.Index(ids.str.strip(), name=ids.name)
    blank = np.flatnonzero(ids == "")
    if len(blank):
        raise ValueError(f"{where}: id column {ids.name!r} has blank ids in rows {blank[:5].tolist()}")
    table = table.drop(columns=[c for c in table.columns if c == ids.name or c in _IGNORED])
    return table.set_axis(ids, axis=0)


def load_cohort(images=None, *, image_size=None, genotypes=None, every=1, maf=None,
                pgs=None, burden=None) -> xr.Dataset:
    """Join images and genetic modalities read from files on the individual id.

    Parameters
    ----------
    images : path, default=None
        A zarr store (``prepare-images``), an image folder or a CSV of paths.
    image_size : int, default=None
        Side in pixels for an image folder or CSV.
    genotypes : path, default=None
        ``.bed``/``.pgen``/``.bgen`` file (or prefix), read with
        :func:`sklearn_contig.data.read_genotypes`.
    every : int, default=1
        Keep every ``every``-th SNP.
    maf : float, default=None
        Minor allele frequency filter.
    pgs, burden : path, default=None
        Wide tables or ``plink2 --score`` files (:func:`~sklearn_contig.data.read_pgs`,
        :func:`~sklearn_contig.data.read_burden`).

    Returns
    -------
    ds : xarray.Dataset
    """
    from ..data import align, read_burden, read_genotypes, read_pgs

    if images is None and genotypes is None and pgs is None and burden is None:
        raise ValueError("no input: give images and/or genotypes, pgs, burden")
    modalities = {}
    if genotypes is not None:
        log.info("reading genotypes %s (every %d-th SNP)", genotypes, every)
        modalities["snp"] = read_genotypes(genotypes, every=int(every), maf=maf, dtype=np.float32)
    if pgs is not None:
        log.info("reading polygenic scores %s", pgs)
        modalities["pgs"] = read_pgs(pgs)
    if burden is not None:
        log.info("reading burden scores %s", burden)
        modalities["burden"] = read_burden(burden)
    image_ds = read_images_any(images, image_size) if images is not None else None
    if image_ds is not None and not modalities:
        return image_ds
    ds = align(image_ds, **modalities)
    log.info("cohort: %d samples of %d individuals; modalities %s", ds.sizes["sample"],
             len(pd.unique(ds["individual"].values)), sorted(modalities))
    return ds


def _row_ids(ds, table, where="labels"):
    """Positions of ``table`` rows for each sample of ``ds`` (by sample, else individual)."""
    key = "sample" if table.index.name == "sample" else "individual"
    ids = np.asarray(ds[key].values).astype(str)
    index = table.index.astype(str)
    if index.has_duplicates:
        raise ValueError(f"{where}: duplicate {key} ids, e.g. {index[index.duplicated()][0]!r}")
    pos = index.get_indexer(ids)
    return pos, key


def add_labels(ds, table: pd.DataFrame, target, where="labels") -> xr.Dataset:
    """Attach label column(s) ``target`` of ``table`` to ``ds`` as a label variable.

    A list of columns becomes one ``(sample, label)`` indicator variable named
    after the first column's prefix. Samples without a row in ``table`` and
    samples with a missing label (empty cell or ``NA``) are dropped, with a
    warning that counts them. ``-9`` is a label value like any other (it is not
    read as PLINK's missing code); a numeric label column holding it warns.
    ``where`` names the table in the messages.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np, pandas as pd, xarray as xr
    >>> ds = xr.Dataset(coords={"sample": ["a", "b", "c", "d"],
    ...                         "individual": ("sample", ["1", "2", "3", "4"])})
    >>> table = pd.DataFrame({"grade": [0, 1, np.nan]},
    ...                      index=pd.Index(["1", "2", "3"], name="individual"))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     out = add_labels(ds, table, "grade")
    >>> out["grade"].values.tolist()
    [0.0, 1.0]
    >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
    labels: 2 of 4 samples of the cohort are dropped: 1 have no row in the labels
    file (matched by individual), 1 have a missing label (empty cell or NA) in ['grade']
    """
    columns = [target] if isinstance(target, str) else list(target)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: no column {missing[0]!r}; columns are {list(table.columns)[:20]}")
    pos, key = _row_ids(ds, table, where)
    for c in columns:
        if pd.api.types.is_numeric_dtype(table[c].dtype) and not pd.api.types.is_bool_dtype(table[c].dtype):
            n_9 = int((table[c] == -9).sum())
            if n_9:
                warnings.warn(
                    f"{where}: label column {c!r} holds -9 in {n_9} rows; -9 is kept as a label "
                    "value, not read as missing (PLINK's missing code); leave the cell empty "
                    "or write NA to mark a label missing", UserWarning, stacklevel=2)
    has_row = pos >= 0
    values = table[columns].to_numpy()[pos[has_row]]
    labelled = ~pd.isna(values).reshape(len(values), -1).any(axis=1)
    n_no_row, n_na = int((~has_row).sum()), int((~labelled).sum())
    if n_no_row or n_na:
        warnings.warn(
            f"{where}: {n_no_row + n_na} of {len(pos)} samples of the cohort are dropped: "
            f"{n_no_row} have no row in the labels file (matched by {key}), {n_na} have a "
            f"missing label (empty cell or NA) in {columns}", UserWarning, stacklevel=2)
    keep = np.flatnonzero(has_row)[labelled]
    if len(keep) < 2:
        raise ValueError(f"{where}: fewer than 2 samples of the cohort have a label in {columns} "
                         f"(matched by {key})")
    values = values[labelled]
    ds = ds.isel(sample=keep)
    name = columns[0] if len(columns) == 1 else "labels"
    if len(columns) == 1:
        var = xr.DataArray(values[:, 0], dims="sample")
    else:
        var = xr.DataArray(values, dims=("sample", "label"), coords={"label": columns})
    ds = ds.assign({name: var})
    ds[name].attrs["kind"] = "label"
    return ds


def add_masks(ds, masks, image_size=None, name="mask") -> xr.Dataset:
    """Attach binary masks (image folder or CSV, matched by sample id) as ``name``."""
    from ..data import read_images

    _exists(masks, "masks")
    size = image_size or int(ds.sizes["y"])
    m = read_images(masks, size, channels=1)
    table = pd.DataFrame({"row": np.arange(m.sizes["sample"])},
                         index=pd.Index(np.asarray(m["sample"].values).astype(str), name="sample"))
    pos, _ = _row_ids(ds, table, "masks")
    keep = np.flatnonzero(pos >= 0)
    if len(keep) < 2:
        raise ValueError(f"masks: fewer than 2 samples of the cohort have a mask in {masks!r}")
    values = (np.asarray(m["image"].values)[pos[keep], 0] > 127).astype(np.float32)
    ds = ds.isel(sample=keep).assign({name: (("sample", "y", "x"), values)})
    ds[name].attrs["kind"] = "label"
    return ds
