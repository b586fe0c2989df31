"""Join images and genetic modalities into one cohort Dataset by individual id."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ._schema import GENETIC, IMAGE, feature_dim, validate

__all__ = ["align"]

logger = logging.getLogger(__name__)


def _modality_ids(name: str, arr: xr.DataArray) -> tuple[np.ndarray, str]:
    """Individual ids of each row and the row dimension of a modality."""
    if not isinstance(arr, xr.DataArray):
        raise TypeError(
            f"modality {name!r} must be an xarray.DataArray (sample or individual, "
            f"feature), got {type(arr).__name__}; use from_arrays for plain arrays"
        )
    if arr.ndim != 2:
        raise ValueError(
            f"modality {name!r} must have 2 dims (sample or individual, feature), "
            f"got {arr.dims}"
        )
    if "individual" in arr.dims:
        row_dim = "individual"
    elif "sample" in arr.dims:
        row_dim = "sample"
    else:
        raise ValueError(
            f"modality {name!r} needs a 'sample' or 'individual' dimension, got {arr.dims}"
        )
    if "individual" in arr.coords and arr["individual"].dims == (row_dim,):
        ids = arr["individual"].values
    elif row_dim in arr.coords:
        ids = arr[row_dim].values
    else:
        raise ValueError(f"modality {name!r} has no individual ids (no {row_dim!r} coordinate)")
    missing = np.flatnonzero(pd.isna(np.asarray(ids)))
    if len(missing):
        raise ValueError(f"modality {name!r} has missing individual ids (None or NaN) at rows {missing[:5].tolist()}")
    ids = np.asarray(ids).astype(str)
    index = pd.Index(ids)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"modality {name!r} has several rows for individuals {dup}")
    return ids, row_dim


def align(image: xr.Dataset | None = None, **modalities: xr.DataArray) -> xr.Dataset:
    """Join an image Dataset and genetic modalities on the individual id.

    Rules
    -----
    - Ids are compared as strings (``1`` matches ``"1"``).
    - With ``image``: every image sample is kept, in order, with all of the
      Dataset's other variables. Each modality row is placed on every sample of
      its individual (several images per person repeat the row). Individuals
      with genetics but no image are dropped, and a :class:`UserWarning` gives
      their number per modality.
    - Without ``image``: outer join of all modalities; one sample per
      individual, ids in order of first appearance, ``sample == individual``.
    - A modality missing for an individual is an all-NaN row; their number
      per modality is logged at INFO level. A modality that shares no
      individual with the images raises a :class:`ValueError`.

    The inputs are not modified. The result is checked with :func:`validate`.

    Parameters
    ----------
    image : xarray.Dataset, default=None
        Dataset with an ``image`` variable and ``sample``/``individual``
        coordinates, e.g. from :func:`read_images` (stays lazy).
    **modalities : xarray.DataArray of dims (sample or individual, feature)
        Keyed by the modality name, e.g. ``snp=read_plink(...)``,
        ``pgs=read_pgs(...)``. Row ids come from the ``individual`` coordinate,
        else from the row dimension's coordinate. Coordinates on the feature
        dimension (``chromosome``, ...) are kept; a feature dimension other than
        ``sample``/``individual`` keeps its name.

    Returns
    -------
    ds : xarray.Dataset
        Every modality is float32 with ``attrs["kind"] == "genetic"``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from sklearn_contig.data import align, from_arrays
    >>> images = from_arrays(np.zeros((3, 1, 4, 4), np.uint8), sample_ids=["s1", "s2", "s3"],
    ...                      individual_ids=["7", "7", "9"])
    >>> pgs = xr.DataArray([[0.5], [1.5]], dims=("individual", "pgs_id"),
    ...                    coords={"individual": [7, 8], "pgs_id": ["PGS000001"]})
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     ds = align(images, pgs=pgs)
    >>> ds["pgs"].values.ravel().tolist()
    [0.5, 0.5, nan]
    >>> str(caught[0].message)
    "align: 1 individual(s) of modality 'pgs' have no image and are dropped"
    """
    if not modalities and image is None:
        raise ValueError("align needs an image Dataset or at least one modality")
    prepared = {name: _modality_ids(name, arr) for name, arr in modalities.items()}
    if image is not None:
        if isinstance(image, xr.DataArray):
            image = image.to_dataset(name=IMAGE)
        if not isinstance(image, xr.Dataset):
            raise TypeError(f"image must be an xarray.Dataset, got {type(image).__name__}")
        if "sample" not in image.dims:
            raise ValueError("image has no 'sample' dimension")
        if "individual" in image.coords:
            target = np.asarray(image["individual"].values).astype(str)
        else:
            target = np.asarray(image["sample"].values).astype(str)
            image = image.assign_coords(individual=("sample", image["sample"].values))
        for name in modalities:
            if name in image.variables:
                raise ValueError(f"modality {name!r} is already a variable of image")
        out = image.copy(deep=False)
    else:
        target = pd.unique(np.concatenate([ids for ids, _ in prepared.values()]))
        target = np.asarray(target).astype(str)
        out = xr.Dataset(coords={"sample": target, "individual": ("sample", target)})
    target_index = pd.Index(target)
    used_dims: dict[str, tuple[str, np.ndarray]] = {}
    for name, arr in modalities.items():
        ids, row_dim = prepared[name]
        fdim = next(d for d in arr.dims if d != row_dim)
        position = pd.Index(ids).get_indexer(target_index)
        found = position >= 0
        if not found.any():
            raise ValueError(
                f"modality {name!r} shares no individual id with the "
                f"{'images' if image is not None else 'other modalities'}: e.g. "
                f"{ids[:3].tolist()} vs {target[:3].tolist()}"
            )
        if image is not None:
            dropped = int((~pd.Index(ids).isin(target_index)).sum())
            if dropped:
                warnings.warn(
                    f"align: {dropped} individual(s) of modality {name!r} have no image "
                    "and are dropped",
                    UserWarning,
                    stacklevel=2,
                )
        arr = arr.transpose(row_dim, fdim)
        values = np.asarray(arr.values)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"modality {name!r} must be numeric, got dtype {values.dtype}")
        rows = np.full((len(target), values.shape[1]), np.nan, dtype=np.float32)
        rows[found] = values[position[found]]
        if not found.all():
            logger.info("align: modality %r is missing for %d of %d samples (all-NaN rows)",
                        name, int((~found).sum()), len(found))
        if fdim in ("sample", "individual"):
            fdim = feature_dim(name)
        if arr.dims[1] in arr.coords:
            names = np.asarray(arr[arr.dims[1]].values)
        else:
            names = np.array([f"{name}_{j}" for j in range(values.shape[1])])
        fcoords = {fdim: names}
        for cname, coord in arr.coords.items():
            if coord.dims == (arr.dims[1],) and cname != arr.dims[1]:
                fcoords[cname] = (fdim, coord.values)
        if fdim in used_dims:
            other, other_names = used_dims[fdim]
            if not np.array_equal(other_names, names):
                raise ValueError(
                    f"modalities {other!r} and {name!r} share the feature dimension "
                    f"{fdim!r} with different features; rename one dimension"
                )
        used_dims[fdim] = (name, names)
        attrs = dict(arr.attrs)
        attrs["kind"] = GENETIC
        out[name] = xr.DataArray(rows, dims=("sample", fdim), coords=fcoords, attrs=attrs)
    validate(out, require_image=image is not None and IMAGE in out)
    return out
