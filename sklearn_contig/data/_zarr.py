"""Store a cohort Dataset as zarr and open it back lazily.

Zarr 3 quirks handled here: fixed-width numpy strings (``<U``) have no zarr 3
specification (zarr warns), so string variables are written as variable-length
strings and read back as plain numpy ``<U`` arrays; consolidated metadata is
not part of zarr 3 and is not used; zarr lists arrays by name, so the order of
the data variables (the modality order) is kept in a store attribute; encodings
inherited from an earlier store (chunk shapes) are dropped so re-chunked data
can be written again.
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from ._schema import IMAGE

__all__ = ["to_zarr", "open_zarr"]

#: Store attribute keeping the data-variable order (zarr lists arrays by name).
_ORDER = "_sklearn_contig_variable_order"


def _is_string(var: xr.Variable) -> bool:
    if var.dtype.kind in "UST":
        return True
    if var.dtype.kind != "O" or var.size == 0:
        return False
    return isinstance(np.asarray(var.values).flat[0], str)


def to_zarr(ds: xr.Dataset, path, *, samples_per_chunk: int = 1, mode: str = "w") -> str:
    """Write a cohort Dataset to a zarr (format 3) store.

    The ``image`` variable is chunked along ``sample`` (``samples_per_chunk``
    samples per chunk, whole images) and written chunk by chunk, so a lazily
    read image folder is never loaded at once. Other variables are written
    whole. ``ds`` is not modified.

    Parameters
    ----------
    ds : xarray.Dataset
    path : str or path-like
        Directory of the store.
    samples_per_chunk : int, default=1
        Images per zarr chunk; 1 suits random access in training.
    mode : {"w", "w-"}, default="w"
        ``"w"`` overwrites an existing store, ``"w-"`` fails if it exists.

    Returns
    -------
    path : str

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn_contig.data import from_arrays, to_zarr, open_zarr
    >>> ds = from_arrays(np.zeros((3, 1, 4, 4), np.uint8), pgs=np.ones((3, 2)),
    ...                  sample_ids=["a", "b", "c"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     back = open_zarr(to_zarr(ds, f"{tmp}/cohort.zarr"))
    ...     back["image"].chunks[0], back["sample"].values.tolist()
    ((1, 1, 1), ['a', 'b', 'c'])
    """
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"ds must be an xarray.Dataset, got {type(ds).__name__}")
    samples_per_chunk = int(samples_per_chunk)
    if samples_per_chunk < 1:
        raise ValueError(f"samples_per_chunk must be >= 1, got {samples_per_chunk}")
    out = ds.copy(deep=False)
    strings = {
        name: var.copy(data=np.asarray(var.values).astype(object))
        for name, var in out.variables.items()
        if _is_string(var)
    }
    out = _assign(out, strings)
    if IMAGE in out and "sample" in out[IMAGE].dims:
        chunks = {d: (samples_per_chunk if d == "sample" else -1) for d in out[IMAGE].dims}
        out[IMAGE] = out[IMAGE].chunk(chunks)
    for var in out.variables.values():
        var.encoding = {}
    out.attrs = {**out.attrs, _ORDER: list(map(str, out.data_vars))}
    path = os.fspath(path)
    out.to_zarr(path, mode=mode, zarr_format=3, consolidated=False)
    return path


def open_zarr(path) -> xr.Dataset:
    """Open a store written by :func:`to_zarr`, lazily (dask-backed).

    Data variables stay lazy; coordinates are small and loaded, with strings
    as numpy ``<U`` arrays.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ds : xarray.Dataset
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"zarr store {path!r} does not exist")
    ds = xr.open_zarr(path, consolidated=False, zarr_format=3)
    updates = {}
    for name, var in ds.variables.items():
        if name in ds.coords or _is_string(var):
            data = np.asarray(var.values)
            if data.dtype.kind in "OT":
                data = data.astype(object).astype(str)
            updates[name] = var.copy(data=data)
    ds = _assign(ds, updates)
    attrs = dict(ds.attrs)
    order = [k for k in attrs.pop(_ORDER, []) if k in ds.data_vars]
    order += [k for k in ds.data_vars if k not in order]
    return xr.Dataset({k: ds.variables[k] for k in order}, coords=ds.coords, attrs=attrs)


def _assign(ds: xr.Dataset, variables: dict) -> xr.Dataset:
    coords = {k: v for k, v in variables.items() if k in ds.coords}
    data = {k: v for k, v in variables.items() if k not in ds.coords}
    if coords:
        ds = ds.assign_coords(coords)
    if data:
        ds = ds.assign(data)
    return ds
