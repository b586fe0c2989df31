"""The ``ds.contig`` accessor: a thin namespace over :mod:`._schema`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from . import _schema

__all__ = ["ContigAccessor"]


@xr.register_dataset_accessor("contig")
class ContigAccessor:
    """Cohort helpers on any :class:`xarray.Dataset`, as ``ds.contig``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays
    >>> ds = from_arrays(np.zeros((3, 1, 4, 4), np.uint8),
    ...                  pgs=[[1.0], [np.nan], [2.0]], individual_ids=["a", "a", "b"])
    >>> ds.contig.modalities
    ['pgs']
    >>> ds.contig.presence()["pgs"].tolist()
    [True, False, True]
    >>> ds.contig.individuals.tolist()
    ['a', 'b']
    >>> ds.contig.validate()
    ['pgs']
    """

    def __init__(self, ds: xr.Dataset):
        self._ds = ds

    def validate(self, modalities: Sequence[str] | None = None, **kwargs) -> list[str]:
        """Run :func:`~sklearn_contig.data.validate`; return the modalities checked."""
        return _schema.validate(self._ds, modalities, **kwargs)

    @property
    def modalities(self) -> list[str]:
        """Names of the genetic modalities (``attrs["kind"] == "genetic"``)."""
        return _schema.genetic_modalities(self._ds)

    def presence(self, modalities: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Per-modality boolean mask of samples whose row is not all-NaN."""
        return _schema.presence(self._ds, modalities)

    @property
    def individuals(self) -> np.ndarray:
        """Distinct individual ids, in order of first appearance."""
        return np.asarray(pd.unique(np.asarray(self._ds["individual"].values)))
