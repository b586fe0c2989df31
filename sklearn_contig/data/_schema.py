"""The data model: one :class:`xarray.Dataset` per cohort, and its validation.

Layout
------
- dimension ``sample`` with coordinates ``sample`` (unique sample ids) and
  ``individual`` (individual ids; equal to ``sample`` with one image per person);
- ``image``: ``(sample, channel, y, x)`` uint8 or float, or ``(sample, feature)``
  for flat image-derived features (the ``mlp`` encoder);
- one variable per genetic modality, ``(sample, <feature dim>)`` float, with
  ``attrs["kind"] == "genetic"``; a missing modality for a sample is an all-NaN row;
- label variables with ``attrs["kind"] == "label"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

GENETIC = "genetic"
LABEL = "label"
IMAGE = "image"

#: Conventional feature dimension per modality name.
FEATURE_DIMS = {"snp": "snp_id", "pgs": "pgs_id", "burden": "gene"}

#: Names of the cohort's dimensions and coordinates; no modality can take them.
RESERVED = ("sample", "individual", IMAGE, "channel", "y", "x", "feature")

#: How partial NaN inside a present row is imputed, per modality name
#: (``"mode"`` for genotypes, ``"mean"`` otherwise; see :func:`imputation`).
IMPUTATION = {"snp": "mode"}


def imputation(ds, name: str) -> str:
    """``"mode"`` for genotype dosages, else ``"mean"``.

    A modality holds genotype dosages when it is named ``"snp"`` or its feature
    dimension is ``"snp_id"`` (as :func:`read_plink` and :func:`read_genotypes`
    write it, whatever name the modality is given in :func:`align`).
    """
    var = ds[name]
    if IMPUTATION.get(name) == "mode" or (var.ndim == 2 and var.dims[1] == FEATURE_DIMS["snp"]):
        return "mode"
    return "mean"


def feature_dim(name: str) -> str:
    """Return the conventional feature dimension name of modality ``name``.

    >>> feature_dim("pgs")
    'pgs_id'
    >>> feature_dim("metabolites")
    'metabolites_feature'
    """
    return FEATURE_DIMS.get(name, f"{name}_feature")


def _as_2d_float(name, values):
    if isinstance(values, (pd.DataFrame, xr.DataArray)):
        values = values.values
    arr = np.asarray(values)
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"modality {name!r} must hold numbers, got non-numeric objects"
            ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"modality {name!r} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"modality {name!r} must be 2-D (sample, feature), got shape {arr.shape}"
        )
    return arr.astype(np.float32, copy=True)


def _row_ids(what: str, values) -> np.ndarray | None:
    """The sample ids that label the rows of an input, as str, or None for positional rows.

    A DataFrame or Series gives its index (the ``sample`` level of a
    MultiIndex); a plain :class:`pandas.RangeIndex` (the default index of a
    frame built without ids) counts as no ids. A DataArray gives its ``sample``
    coordinate. Anything else (numpy arrays, lists) has no ids.
    """
    if isinstance(values, (pd.DataFrame, pd.Series)):
        index = values.index
        if isinstance(index, pd.MultiIndex):
            if "sample" not in index.names:
                raise ValueError(
                    f"{what} has a MultiIndex without a 'sample' level (levels "
                    f"{list(index.names)}); name the sample level 'sample' or pass a plain array"
                )
            index = index.get_level_values("sample")
        elif isinstance(index, pd.RangeIndex):
            return None
    elif isinstance(values, xr.DataArray) and "sample" in values.indexes:
        index = values.indexes["sample"]
    else:
        return None
    ids = np.asarray(index, dtype=object)
    missing = np.flatnonzero(pd.isna(ids))
    if len(missing):
        raise ValueError(
            f"{what} has missing ids (None or NaN) in its index at rows {missing[:5].tolist()}"
        )
    ids = ids.astype(str)
    index = pd.Index(ids)
    if index.has_duplicates:
        raise ValueError(
            f"{what} has duplicate ids in its index: {index[index.duplicated()].unique()[:5].tolist()}"
        )
    return ids


def _in_sample_order(what: str, values, ids: np.ndarray, sample_ids: np.ndarray, source: str):
    """``values`` with its rows reordered from ``ids`` to ``sample_ids``; other ids raise."""
    if np.array_equal(ids, sample_ids):
        return values
    positions = pd.Index(ids).get_indexer(sample_ids)
    lacking = sample_ids[positions < 0]
    extra = np.setdiff1d(ids, sample_ids)
    if len(lacking) or len(extra):
        raise ValueError(
            f"{what} is indexed by other ids than the sample ids (from {source}): "
            f"{len(lacking)} sample ids are not in its index (e.g. {lacking[:5].tolist()}) and "
            f"{len(extra)} of its ids are not sample ids (e.g. {extra[:5].tolist()}); "
            "give it the sample ids as index, or pass a numpy array to match rows by position"
        )
    if isinstance(values, xr.DataArray):
        return values.isel(sample=positions)
    return values.iloc[positions]


def from_arrays(
    image=None,
    *,
    sample_ids: Sequence | None = None,
    individual_ids: Sequence | None = None,
    feature_names: Mapping[str, Sequence] | None = None,
    labels: Mapping[str, object] | None = None,
    validate_result: bool = True,
    **modalities,
) -> xr.Dataset:
    """Build a validated cohort Dataset from numpy arrays or pandas objects.

    Parameters
    ----------
    image : array-like of shape (n, c, h, w) or (n, d), default=None
        Images (uint8 0-255 or float) or flat image-derived features. Copied, never
        modified.
    sample_ids : sequence of length n, default=None
        Unique sample ids. When omitted: the ids of the first modality (in
        keyword order), else of the first label, whose rows carry ids (see
        Notes); ``0..n-1`` as strings when no input carries ids.
    individual_ids : sequence of length n, default=None
        Individual of each sample (several images per person share one id);
        equal to ``sample_ids`` when omitted.
    feature_names : dict of str to sequence, default=None
        Feature names per modality (rsIDs, PGS ids, gene names). A DataFrame
        modality gives its column names instead.
    labels : dict of str to array-like, default=None
        Downstream labels stored beside the data with ``attrs["kind"] == "label"``;
        shape (n,) or (n, k) or (n, h, w) (masks).
    validate_result : bool, default=True
        Run :func:`validate` on the result.
    **modalities : array-like of shape (n, p_m)
        Genetic modalities, e.g. ``snp=``, ``pgs=``, ``burden=``. A missing
        modality for a sample is an all-NaN row.

    Returns
    -------
    ds : xarray.Dataset

    Raises
    ------
    ValueError
        An input whose row ids are missing (None, NaN), duplicated, or not
        exactly the sample ids; a MultiIndex without a ``sample`` level; shapes
        that do not agree; with ``validate_result=True``, what :func:`validate`
        refuses.

    Notes
    -----
    Rows are matched by id wherever an input carries ids: the index of a
    DataFrame or Series (its ``sample`` level for a MultiIndex) and the
    ``sample`` coordinate of a DataArray. Such an input is reordered to the
    sample ids, and must hold each sample id exactly once. A
    :class:`pandas.RangeIndex` (the default index of a frame built without
    ids) counts as no ids. Inputs without ids (numpy arrays, lists, frames
    with a RangeIndex, and always ``image``) are matched by position.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays
    >>> rng = np.random.default_rng(0)
    >>> ds = from_arrays(rng.integers(0, 255, (4, 3, 8, 8), dtype=np.uint8),
    ...                  pgs=rng.normal(size=(4, 5)))
    >>> ds["pgs"].dims
    ('sample', 'pgs_id')
    >>> ds["pgs"].attrs["kind"]
    'genetic'

    Indexed inputs are matched by id, not by position:

    >>> import pandas as pd
    >>> pgs = pd.DataFrame({"PGS1": [1.0, 2.0, 3.0]}, index=["A", "B", "C"])
    >>> grade = pd.Series([3, 1, 2], index=["C", "A", "B"])
    >>> ds = from_arrays(np.zeros((3, 1, 4, 4), np.uint8), pgs=pgs, labels={"grade": grade})
    >>> ds["sample"].values.tolist(), ds["grade"].values.tolist()
    (['A', 'B', 'C'], [1, 2, 3])
    """
    n = None
    if image is not None:
        try:
            image_arr = np.array(image, copy=True)
        except ValueError as exc:
            raise ValueError(f"image must be an array of equal-sized rows: {exc}") from None
        if image_arr.ndim not in (2, 4):
            raise ValueError(
                "image must have shape (sample, channel, y, x) or (sample, feature), "
                f"got {image_arr.ndim} dims with shape {image_arr.shape}"
            )
        n = image_arr.shape[0]
    feature_names = dict(feature_names or {})
    unknown = sorted(set(feature_names) - set(modalities))
    if unknown:
        raise ValueError(f"feature_names names modalities that are not given: {unknown}")
    for name, values in modalities.items():
        if name in RESERVED or name in {feature_dim(m) for m in modalities}:
            raise ValueError(
                f"modality {name!r} has the name of a dimension or coordinate of the cohort; rename it"
            )
        if name in (labels or {}):
            raise ValueError(f"{name!r} is given both as a modality and as a label")
        try:
            m = len(values)
        except TypeError:
            raise TypeError(
                f"modality {name!r} must be a 2-D array (sample, feature), got {type(values).__name__}"
            ) from None
        if n is None:
            n = m
        elif m != n:
            raise ValueError(
                f"modality {name!r} has {m} rows but the image/other modalities have {n}"
            )
    if n is None:
        raise ValueError("from_arrays needs an image or at least one modality")
    labels = dict(labels or {})
    row_ids = {}  # (kind, name) -> ids of the rows of an input that carries them
    for kind, inputs in (("modality", modalities), ("label", labels)):
        for name, values in inputs.items():
            ids = _row_ids(f"{kind} {name!r}", values)
            if ids is not None:
                row_ids[kind, name] = ids
    if sample_ids is not None:
        source = "sample_ids"
    elif row_ids:
        (kind, name), sample_ids = next(iter(row_ids.items()))
        source = f"the index of {kind} {name!r}"
    else:
        sample_ids = np.arange(n).astype(str)
    sample_ids = np.asarray(sample_ids)
    individual_ids = sample_ids if individual_ids is None else np.asarray(individual_ids)
    for what, ids in (("sample_ids", sample_ids), ("individual_ids", individual_ids)):
        if ids.ndim != 1 or len(ids) != n:
            raise ValueError(f"{what} must hold one id per sample ({n}), got shape {ids.shape}")
    if row_ids:
        order = sample_ids.astype(str)
        for (kind, name), ids in row_ids.items():
            inputs = modalities if kind == "modality" else labels
            inputs[name] = _in_sample_order(f"{kind} {name!r}", inputs[name], ids, order, source)

    coords = {"sample": sample_ids, "individual": ("sample", individual_ids)}
    data_vars = {}
    if image is not None:
        dims = ("sample", "channel", "y", "x") if image_arr.ndim == 4 else ("sample", "feature")
        data_vars[IMAGE] = xr.Variable(dims, image_arr, attrs={"kind": IMAGE})
    for name, values in modalities.items():
        names = feature_names.get(name)
        if names is None and isinstance(values, pd.DataFrame):
            names = values.columns.astype(str)
        arr = _as_2d_float(name, values)
        fdim = feature_dim(name)
        if names is None:
            names = [f"{name}_{j}" for j in range(arr.shape[1])]
        names = np.asarray(names)
        if len(names) != arr.shape[1]:
            raise ValueError(
                f"feature_names[{name!r}] has {len(names)} names for {arr.shape[1]} columns"
            )
        data_vars[name] = xr.Variable(("sample", fdim), arr, attrs={"kind": GENETIC})
        coords[fdim] = names
    for name, values in labels.items():
        arr = np.array(values.values if hasattr(values, "values") else values, copy=True)
        if arr.ndim == 0 or len(arr) != n:
            raise ValueError(
                f"label {name!r} must have one entry per sample ({n}), got shape {arr.shape}"
            )
        dims = ("sample",) + tuple(f"{name}_dim_{k}" for k in range(1, arr.ndim))
        if arr.ndim == 3:
            dims = ("sample", "y", "x")
        data_vars[name] = xr.Variable(dims, arr, attrs={"kind": LABEL})
    ds = xr.Dataset(data_vars, coords=coords)
    if validate_result:
        validate(ds, require_image=image is not None, modalities=list(modalities) or None)
    return ds


def genetic_modalities(ds: xr.Dataset) -> list[str]:
    """Names of the variables marked ``attrs["kind"] == "genetic"``, in order."""
    return [k for k, v in ds.data_vars.items() if v.attrs.get("kind") == GENETIC]


def label_variables(ds: xr.Dataset) -> list[str]:
    """Names of the variables marked ``attrs["kind"] == "label"``."""
    return [k for k, v in ds.data_vars.items() if v.attrs.get("kind") == LABEL]


def presence(ds: xr.Dataset, modalities: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Per-modality boolean mask of samples that have the modality (row not all-NaN).

    Cached in ``ds[name].attrs`` is avoided on purpose (attrs survive slicing);
    computing it is one pass over the modality, cheap next to any image work.
    """
    modalities = genetic_modalities(ds) if modalities is None else list(modalities)
    out = {}
    for name in modalities:
        values = np.asarray(ds[name].values)
        out[name] = ~np.all(np.isnan(values), axis=1)
    return out


def impute_partial(values: np.ndarray, strategy: str = "mean", fill=None) -> np.ndarray:
    """Fill NaN entries inside present rows; all-NaN (missing) rows stay NaN.

    Parameters
    ----------
    values : ndarray of shape (n, p)
    strategy : {"mean", "mode"}
        Column mean (scores) or column mode (genotype dosages).
    fill : ndarray of shape (p,), default=None
        Precomputed fill values (e.g. learned at fit time); computed from the
        present rows of ``values`` when omitted.

    Returns
    -------
    imputed : ndarray of shape (n, p), a copy.
    """
    values = np.array(values, dtype=np.float32, copy=True)
    present = ~np.all(np.isnan(values), axis=1)
    if fill is None:
        fill = column_fill(values[present], strategy)
    rows = values[present]
    holes = np.isnan(rows)
    if holes.any():
        rows[holes] = np.broadcast_to(fill, rows.shape)[holes]
        values[present] = rows
    return values


def nan_column_mean(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean ignoring NaN (0 for an all-NaN column) and count of non-NaN values.

    >>> mean, counts = nan_column_mean(np.array([[1.0, np.nan], [3.0, np.nan]]))
    >>> mean.tolist(), counts.tolist()
    ([2.0, 0.0], [2, 0])
    """
    values = np.asarray(values, dtype=np.float64)
    counts = (~np.isnan(values)).sum(0)
    with np.errstate(invalid="ignore"):  # +inf and -inf in one column give NaN
        return np.nansum(values, 0) / np.maximum(counts, 1), counts


def column_fill(values: np.ndarray, strategy: str = "mean") -> np.ndarray:
    """Per-column fill value (mean or mode) ignoring NaN; 0 for all-NaN columns."""
    values = np.asarray(values, dtype=np.float64)
    if strategy == "mean":
        fill, _ = nan_column_mean(values)
    elif strategy == "mode":
        counts = np.stack([(values == g).sum(0) for g in (0.0, 1.0, 2.0)])
        fill = counts.argmax(0).astype(np.float64)
    else:
        raise ValueError(f"strategy must be 'mean' or 'mode', got {strategy!r}")
    return fill.astype(np.float32)


def _check_image_dims(dims) -> None:
    """Refuse a 4-D image whose named channel or spatial dimensions are out of place."""
    misplaced = [name for name, pos in (("channel", 1), ("y", 2), ("x", 3)) if name in dims and dims[pos] != name]
    if misplaced:
        raise ValueError(
            f"variable 'image' has dims {dims}; images must be (sample, channel, y, x) "
            "(channel first): use ds['image'].transpose('sample', 'channel', 'y', 'x')"
        )


def check_integer_images(values, samples=None) -> None:
    """Integer images other than uint8 are read as 0-255: refuse values outside that range."""
    lo, hi = (values.min(), values.max()) if values.size else (0, 0)
    if lo < 0 or hi > 255:
        where = "" if samples is None else f" (samples {np.asarray(samples)[:5].tolist()})"
        raise ValueError(
            f"variable 'image' has {values.dtype} values from {lo} to {hi}{where}; images must be "
            "uint8 0-255 or float 0-1, and other integer images are read as 0-255: rescale them"
        )


def check_image_values(values) -> None:
    """Checks of in-memory (n, channel, y, x) images: the integer range, the float scale.

    Float images are read as 0-1; a maximum above 2 (0-255 floats, say) gets a
    warning, since ImageNet statistics and pretrained encoders then see the
    wrong scale.
    """
    if values.ndim != 4 or values.dtype == np.uint8 or not values.size:
        return
    if values.dtype.kind in "biu":
        check_integer_images(values)
    elif values.dtype.kind == "f" and float(np.nanmax(values)) > 2.0:
        warnings.warn(
            "variable 'image' holds float values above 2; float images are read as 0-1 (uint8 as "
            "0-255): divide 0-255 floats by 255, or pass them as uint8",
            UserWarning,
            stacklevel=3,
        )


def check_feature_names(ds, expected: Mapping, *, what: str = "the model was trained on") -> None:
    """Raise unless every modality of ``expected`` in ``ds`` has those features, in that order.

    ``expected`` maps a modality to its feature names (as :func:`align` and the
    readers write them on the feature dimension; positions when there is no
    coordinate). Names are compared as text. A mismatch is a ``ValueError``
    naming the modality, since a model reads features by position.
    """
    for name, names in expected.items():
        if name not in ds:
            continue
        var = ds[name]
        dim = var.dims[-1]
        got = np.asarray(var[dim].values if dim in var.coords else np.arange(var.shape[-1])).astype(str)
        names = np.asarray(names).astype(str)
        if len(got) != len(names):
            raise ValueError(f"modality {name!r} has {len(got)} features; {what} {len(names)}")
        if not np.array_equal(got, names):
            first = int(np.flatnonzero(got != names)[0])
            how = (
                f"the same features in another order: reorder with ds.sel({dim}=...)"
                if set(got) == set(names) else "other features"
            )
            raise ValueError(
                f"modality {name!r} has {how} than {what} (position {first}: {got[first]!r}, "
                f"expected {names[first]!r}); a model reads features by position"
            )


def validate(
    ds,
    modalities: Sequence[str] | None = None,
    *,
    require_image: bool = True,
    require_genetics: bool = False,
    min_samples: int = 2,
) -> list[str]:
    """Check a cohort Dataset against the data model; return the genetic modalities used.

    Raises a :class:`ValueError` (or :class:`TypeError`) that names the variable and
    the problem. Nothing is modified. Image values are checked for finiteness only
    when the image is in memory (lazy images are checked batch by batch on read).

    Parameters
    ----------
    ds : xarray.Dataset
    modalities : list of str, default=None
        Genetic modalities to check; all variables with ``attrs["kind"] == "genetic"``
        when omitted.
    require_image : bool, default=True
    require_genetics : bool, default=False
        Raise if no genetic modality is selected.
    min_samples : int, default=2

    Returns
    -------
    modalities : list of str
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    if "sample" not in ds.dims:
        raise ValueError("ds has no 'sample' dimension")
    n = ds.sizes["sample"]
    if n < min_samples:
        raise ValueError(f"ds has {n} samples; at least {min_samples} are needed")
    sample_ids = pd.Index(ds["sample"].values)
    if sample_ids.has_duplicates:
        dup = sample_ids[sample_ids.duplicated()].unique()[:5].tolist()
        raise ValueError(f"coordinate 'sample' has duplicate ids, e.g. {dup}")
    if "individual" not in ds.coords:
        raise ValueError("ds has no 'individual' coordinate on the 'sample' dimension")
    if ds["individual"].dims != ("sample",):
        raise ValueError("coordinate 'individual' must have dims ('sample',)")
    for coord in ("sample", "individual"):
        missing = np.flatnonzero(pd.isna(np.asarray(ds[coord].values)))
        if len(missing):
            raise ValueError(
                f"coordinate {coord!r} has missing ids (None or NaN) at positions {missing[:5].tolist()}"
            )
    if require_image:
        if IMAGE not in ds:
            raise ValueError("ds has no 'image' variable")
        img = ds[IMAGE]
        if img.ndim not in (2, 4) or img.dims[0] != "sample":
            raise ValueError(
                "variable 'image' must have dims (sample, channel, y, x) or "
                f"(sample, feature), got {img.dims}"
            )
        if img.ndim == 4:
            _check_image_dims(img.dims)
        if img.dtype.kind not in "biuf":
            raise TypeError(f"variable 'image' must be numeric, got dtype {img.dtype}")
        if 0 in img.shape[1:]:
            raise ValueError(f"variable 'image' is empty along a dimension: dims {img.dims}, shape {img.shape}")
        if img.dtype.kind == "f" and not _is_lazy(img):
            if not np.isfinite(img.values).all():
                raise ValueError("variable 'image' has non-finite values (NaN or inf)")
        if not _is_lazy(img):
            check_image_values(img.values)
    available = genetic_modalities(ds)
    if modalities is None:
        modalities = available
    else:
        if isinstance(modalities, str):
            modalities = [modalities]
        modalities = list(modalities)
        for name in modalities:
            if name not in ds.data_vars:
                raise ValueError(
                    f"unknown modality {name!r}; ds has genetic modalities {available}"
                )
    if require_genetics and not modalities:
        raise ValueError(
            "ds has no genetic modality: mark variables with attrs['kind'] = 'genetic' "
            "or name them with modalities=[...]"
        )
    for name in modalities:
        var = ds[name]
        if var.ndim != 2 or var.dims[0] != "sample":
            raise ValueError(
                f"modality {name!r} must have dims (sample, feature), got {var.dims}"
            )
        if var.dtype.kind not in "biuf":
            raise TypeError(f"modality {name!r} must be numeric, got dtype {var.dtype}")
        if var.shape[1] == 0:
            raise ValueError(f"modality {name!r} has no feature (shape {var.shape})")
        data = var.values  # checked in column blocks: no full-size float64 copy
        present = np.zeros(data.shape[0], dtype=bool)
        for start in range(0, data.shape[1], 1024):
            values = np.asarray(data[:, start : start + 1024], dtype=np.float64)
            if np.isinf(values).any():
                raise ValueError(f"modality {name!r} has infinite values")
            present |= ~np.all(np.isnan(values), axis=1)
            if name == "snp":
                v = values[~np.isnan(values)]
                bad = ~np.isin(v, (0.0, 1.0, 2.0))
                if bad.any():
                    raise ValueError(
                        f"modality 'snp' must hold genotype dosages 0, 1, 2 or NaN; "
                        f"found {np.unique(v[bad])[:5].tolist()}"
                    )
        if not present.any():
            raise ValueError(f"modality {name!r} is missing for every sample (all rows NaN)")
    return modalities


def _is_lazy(var: xr.DataArray) -> bool:
    data = var.variable._data
    return not isinstance(data, np.ndarray)

