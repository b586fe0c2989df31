"""A sample-indexable view of a cohort Dataset for scikit-learn model selection."""

from __future__ import annotations

import numpy as np
import xarray as xr


class Samples:
    """Wrap a cohort :class:`xarray.Dataset` so scikit-learn can split it by sample.

    ``GridSearchCV``, ``cross_val_score`` and ``Pipeline`` index their ``X`` along the
    first axis; an ``xarray.Dataset`` has no such axis (its ``len`` counts
    variables). ``Samples(ds)`` has ``shape == (n_samples,)`` and indexing returns
    ``Samples(ds.isel(sample=key))``. Every estimator of this package accepts a
    ``Samples`` wherever it accepts a Dataset.

    Parameters
    ----------
    ds : xarray.Dataset

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays, Samples
    >>> ds = from_arrays(np.zeros((5, 3, 4, 4), np.uint8), pgs=np.ones((5, 2)))
    >>> X = Samples(ds)
    >>> X.shape, X[[0, 3]].shape
    ((5,), (2,))
    """

    def __init__(self, ds: xr.Dataset):
        if isinstance(ds, Samples):
            ds = ds.ds
        if not isinstance(ds, xr.Dataset):
            raise TypeError(f"Samples wraps an xarray.Dataset, got {type(ds).__name__}")
        self.ds = ds

    @property
    def shape(self) -> tuple[int]:
        return (self.ds.sizes["sample"],)

    def __len__(self) -> int:
        return self.ds.sizes["sample"]

    def __getitem__(self, key):
        if isinstance(key, tuple):
            key = key[0]
        if isinstance(key, slice):
            return Samples(self.ds.isel(sample=key))
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return Samples(self.ds.isel(sample=np.atleast_1d(key)))

    @property
    def individual(self) -> np.ndarray:
        """Individual id of each sample (use as ``groups=`` in grouped CV)."""
        return np.asarray(self.ds["individual"].values)

    def __repr__(self) -> str:
        return f"Samples(n_samples={self.shape[0]}, variables={list(self.ds.data_vars)})"


def as_dataset(X, *, required=False, name="X") -> xr.Dataset | None:
    """The Dataset behind ``X`` (Dataset or Samples), or None for other inputs.

    With ``required=True`` other inputs raise a ``TypeError`` naming ``name``.
    """
    if isinstance(X, Samples):
        return X.ds
    if isinstance(X, xr.Dataset):
        return X
    if required:
        raise TypeError(f"{name} must be an xarray.Dataset (or sklearn_contig.data.Samples), got {type(X).__name__}")
    return None
