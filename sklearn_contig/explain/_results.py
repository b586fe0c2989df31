"""Assembling explanations: the local result Dataset and its global aggregate."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from ..data._schema import IMAGE


def local_dataset(ds, results, image, delta, loss, base_loss, attrs) -> xr.Dataset:
    """The result of :meth:`Explainer.local` from per-sample arrays.

    ``results`` maps each explained modality to its (n, p_m) attributions;
    ``image`` is (n, y, x) or None; ``attrs`` are the result's attributes.
    """
    sample_coords = {"sample": ds["sample"].values, "individual": ("sample", ds["individual"].values)}
    out = xr.Dataset(coords=sample_coords)
    for m, values in results.items():
        fdim = ds[m].dims[1]
        feature_coords = {k: c for k, c in ds[m].coords.items() if c.dims == (fdim,)}
        out[m] = xr.DataArray(values, dims=("sample", fdim), coords={**sample_coords, **feature_coords})
        out[m].attrs["description"] = f"signed attribution of E(x) to {m} features"
    if image is not None:
        out[IMAGE] = xr.DataArray(image, dims=("sample", "y", "x"), coords=sample_coords)
        out[IMAGE].attrs["description"] = "attribution to image pixels (summed over channels)"
    out["loss"] = ("sample", loss)
    out["baseline_loss"] = ("sample", base_loss)
    out["delta"] = ("sample", delta)
    out.attrs.update(explanation="local", modalities=list(results), **attrs)
    return out


def aggregate(local: xr.Dataset) -> xr.Dataset:
    """Global attributions from the output of :meth:`Explainer.local`.

    Per explained modality the mean ``|attribution|`` over the samples that
    have it (an entry that was missing and imputed is left out of its
    feature's mean), sorted in descending order; attributes ``n_samples_<m>``,
    ``mean_abs_delta`` and ``mean_abs_relative_delta``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> local = xr.Dataset({"pgs": (("sample", "pgs_id"), [[1.0, -3.0], [np.nan, np.nan]]),
    ...                     "delta": ("sample", [0.0, np.nan]),
    ...                     "loss": ("sample", [1.0, np.nan]),
    ...                     "baseline_loss": ("sample", [0.5, np.nan])},
    ...                    coords={"pgs_id": ["a", "b"]}, attrs={"modalities": ["pgs"]})
    >>> aggregate(local)["pgs"].to_series().to_dict()
    {'b': 3.0, 'a': 1.0}
    """
    modalities = list(local.attrs.get("modalities", []))
    out = xr.Dataset()
    for m in modalities:
        da = local[m]
        fdim = da.dims[1]
        present = np.isfinite(da.values).any(axis=1)
        mean_abs = np.full(da.shape[1], np.nan)
        if present.any():
            with warnings.catch_warnings():  # a feature imputed in every present row stays NaN
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_abs = np.nanmean(np.abs(da.values[present]), axis=0)
        order = np.argsort(-np.nan_to_num(mean_abs, nan=-np.inf), kind="stable")
        feature_coords = {k: c for k, c in da.coords.items() if c.dims == (fdim,)}
        g = xr.DataArray(mean_abs, dims=(fdim,), coords=feature_coords).isel({fdim: order})
        g.attrs["description"] = f"mean |attribution| of E(x) to {m} features"
        g.attrs["n_samples"] = int(present.sum())
        out[m] = g
        out.attrs[f"n_samples_{m}"] = int(present.sum())
    delta = np.asarray(local["delta"].values, dtype=float)
    diff = np.abs(np.asarray(local["loss"].values) - np.asarray(local["baseline_loss"].values))
    ok = np.isfinite(delta)
    rel = np.abs(delta[ok & (diff > 0)]) / diff[ok & (diff > 0)]
    out.attrs.update({k: v for k, v in local.attrs.items() if k != "explanation"})
    out.attrs["explanation"] = "global"
    out.attrs["mean_abs_delta"] = float(np.abs(delta[ok]).mean()) if ok.any() else float("nan")
    out.attrs["mean_abs_relative_delta"] = float(np.nanmean(rel)) if len(rel) else float("nan")
    return out
