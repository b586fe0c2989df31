"""Torch datasets that read whole batches from a cohort Dataset.

``CohortDataset.__getitems__`` reads one batch with a single ``isel`` per
variable, so lazily opened images (zarr, dask, image files) are decoded batch by
batch, inside DataLoader worker processes when workers are used; the image
array is never loaded as a whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from ._images import UnreadableImageError
from ._schema import IMAGE, check_integer_images, column_fill, imputation, nan_column_mean


def individual_codes(ds) -> np.ndarray:
    """Integer code per sample of its ``individual`` coordinate."""
    codes, _ = pd.factorize(np.asarray(ds["individual"].values))
    return codes.astype(np.int64)


def fill_values(ds, modalities, rows=None) -> dict[str, np.ndarray]:
    """Per-modality fill values for partial NaN: column mode (``snp``) or mean.

    Computed on the present rows of ``rows`` (all samples when None).
    """
    return {name: column_fill(_present_values(ds, name, rows), imputation(ds, name)) for name in modalities}


def _present_values(ds, name, rows=None) -> np.ndarray:
    """float32 values of modality ``name`` on the rows of ``rows`` that have it (all samples when None)."""
    var = ds[name] if rows is None else ds[name].isel(sample=rows)
    values = np.asarray(var.values, dtype=np.float32)
    return values[~np.all(np.isnan(values), axis=1)]


def column_scaling(values: np.ndarray, kind: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Per-column location and scale of one modality's present rows, ignoring NaN.

    ``kind="snp"`` (allele dosages): the field's convention, location ``2p`` and
    scale ``sqrt(2p(1-p))`` with ``p`` the column's allele frequency; otherwise
    the column mean and standard deviation. A constant column (or one with
    fewer than two values) gets scale 1, so it is kept and never divides by 0.
    """
    values = np.asarray(values, dtype=np.float64)
    loc, counts = nan_column_mean(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind == "snp":
            p = np.clip(loc / 2.0, 0.0, 1.0)
            scale = np.sqrt(2.0 * p * (1.0 - p))
        else:
            dev = np.where(np.isnan(values), 0.0, values - loc)
            scale = np.sqrt((dev**2).sum(0) / np.maximum(counts - 1, 1))
    tiny = ~(scale > 1e-12 * np.maximum(np.abs(loc), 1.0)) | (counts < 2)
    scale = np.where(tiny, 1.0, scale)
    return loc.astype(np.float32), scale.astype(np.float32)


def genetic_scaling(ds, modalities, rows=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{modality: (location, scale)}`` from the present rows of ``rows``.

    Raises ``ValueError`` naming a modality whose values are all identical on
    those rows (it can carry no signal, and usually means a broken input).
    """
    out = {}
    for name in modalities:
        values = _present_values(ds, name, rows)
        finite = values[~np.isnan(values)]
        if finite.size and np.all(finite == finite.flat[0]):
            raise ValueError(
                f"genetic modality {name!r} has the same value ({float(finite.flat[0]):g}) in every "
                "present entry of the training rows; it carries no signal (check the input, or drop it)"
            )
        out[name] = column_scaling(values, "snp" if imputation(ds, name) == "mode" else "mean")
    return out


def collate_batch(batch):
    """``collate_fn`` for :class:`CohortDataset`: batches arrive already collated."""
    return batch


class CohortDataset(Dataset):
    """Batch-reading torch view of (a subset of) a cohort Dataset.

    Each batch is ``(X, y)`` with ``X`` a dict of tensors: ``image`` (uint8 kept
    as uint8, to be scaled on the device), per modality ``<m>`` (float32, missing
    rows zero, partial NaN imputed with ``fill``) and ``<m>_mask`` (bool, row
    present), and ``individual`` (int64 codes); ``y`` is the label array given, or
    zeros.

    Parameters
    ----------
    ds : xarray.Dataset
    modalities : sequence of str, default=()
    indices : array-like of int, default=None
        Samples to expose (all when None).
    fill : dict of str to ndarray, default=None
        Fill values for partial NaN (see :func:`fill_values`); computed from
        ``indices`` when None.
    include_image : bool, default=True
    y : ndarray, default=None
        Labels aligned with the samples of ``ds`` (not with ``indices``).
    codes : ndarray, default=None
        Individual codes for all samples of ``ds`` (from :func:`individual_codes`).
    on_bad_image : {"raise", "skip"}, default="raise"
        An image file that cannot be read raises a ``ValueError`` naming its
        sample and file, or (``"skip"``) leaves the batch: ``X["skipped"]``
        then holds the dataset rows left out.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.data import from_arrays
    >>> rng = np.random.default_rng(0)
    >>> ds = from_arrays(rng.integers(0, 255, (6, 3, 8, 8), dtype=np.uint8),
    ...                  pgs=rng.normal(size=(6, 4)))
    >>> X, y = next(iter(make_loader(CohortDataset(ds, ["pgs"]), batch_size=3)))
    >>> X["image"].shape, X["pgs"].shape, X["pgs_mask"].tolist()
    (torch.Size([3, 3, 8, 8]), torch.Size([3, 4]), [True, True, True])
    """

    def __init__(self, ds, modalities=(), indices=None, fill=None, include_image=True, y=None, codes=None,
                 on_bad_image="raise"):
        self.ds = ds
        self.modalities = list(modalities)
        n = ds.sizes["sample"]
        self.indices = np.arange(n) if indices is None else np.asarray(indices, dtype=np.int64)
        self.fill = fill if fill is not None else fill_values(ds, self.modalities, self.indices)
        self.include_image = include_image
        self.y = None if y is None else np.asarray(y)
        self.codes = individual_codes(ds) if codes is None else np.asarray(codes)
        self.on_bad_image = on_bad_image

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):
        return self.__getitems__([i])

    def batches(self, batch_size=None, *, num_workers=0, pin_memory=False):
        """Iterate over the samples in order, one ``(X, y)`` batch at a time.

        The one inference path of the package (``transform``, ``predict``, the
        explainer's encoding): batches of :func:`inference_batch_size`
        ``(batch_size)`` read by :meth:`__getitems__`, decoded in DataLoader
        worker processes when ``num_workers > 0``.
        """
        size = inference_batch_size(batch_size)
        if num_workers > 0:
            yield from make_loader(self, size, num_workers=num_workers, pin_memory=pin_memory)
            return
        for start in range(0, len(self), size):
            yield self.__getitems__(np.arange(start, min(start + size, len(self))))

    def _select(self, name, rows) -> np.ndarray:
        """Values of variable ``name`` at dataset ``rows`` (read in sorted order, returned in ``rows`` order)."""
        order = np.argsort(rows, kind="stable")
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return np.asarray(self.ds[name].isel(sample=rows[order]).values)[inverse]

    def _readable_images(self, rows):
        """Images of ``rows`` read one by one: ``(images, kept rows, skipped rows)``.

        The slow path, taken only when a batch holds an unreadable file: with
        ``on_bad_image="raise"`` the first such file is named with its sample,
        with ``"skip"`` its sample leaves the batch.
        """
        kept, images = [], []
        samples = self.ds["sample"].values
        for r in rows:
            try:
                images.append(self._select(IMAGE, np.array([r]))[0])
                kept.append(r)
            except (UnreadableImageError, OSError) as exc:
                if self.on_bad_image != "skip":
                    raise ValueError(f"cannot read the image of sample {samples[r].tolist()!r}: {exc} "
                                     "(on_bad_image='skip' leaves such samples out)") from None
        kept = np.asarray(kept, dtype=np.int64)
        if not len(kept):
            raise ValueError(f"no image of samples {samples[rows][:5].tolist()} can be read")
        return np.stack(images), kept, np.setdiff1d(rows, kept)

    def __getitems__(self, idx):
        rows = self.indices[np.asarray(idx, dtype=np.int64)]
        X = {}
        if self.include_image:
            try:
                img = self._select(IMAGE, rows)
            except (UnreadableImageError, OSError):
                img, rows, skipped = self._readable_images(rows)
                if len(skipped):
                    X["skipped"] = torch.from_numpy(skipped)
            if img.dtype.kind == "f":
                if not np.isfinite(img).all():
                    bad = np.asarray(self.ds["sample"].values)[rows][~np.isfinite(img.reshape(len(rows), -1)).all(1)]
                    raise ValueError(f"variable 'image' has non-finite values for samples {bad[:5].tolist()}")
                img = img.astype(np.float32, copy=False)
            elif img.dtype != np.uint8 and img.ndim == 4:
                # integer images are 0-255, as uint8 (see validate)
                check_integer_images(img, np.asarray(self.ds["sample"].values)[rows])
                img = img.astype(np.uint8)
            elif img.dtype != np.uint8:
                img = img.astype(np.float32)
            X["image"] = torch.from_numpy(np.ascontiguousarray(img))
        for name in self.modalities:
            values = self._select(name, rows).astype(np.float32, copy=False)
            nan = np.isnan(values)
            present = ~nan.all(axis=1)
            holes = nan & present[:, None]
            if holes.any():
                values = np.where(holes, self.fill[name][None, :], values)
            values[~present] = 0.0
            X[name] = torch.from_numpy(np.ascontiguousarray(values))
            X[f"{name}_mask"] = torch.from_numpy(present)
        X["individual"] = torch.from_numpy(self.codes[rows])
        y = torch.zeros(len(rows)) if self.y is None else torch.as_tensor(self.y[rows])
        return X, y


#: Smallest batch of the inference path: large enough to keep a device busy,
#: small enough for 448 px images on a CPU.
INFERENCE_BATCH_MIN = 64


def inference_batch_size(batch_size=None) -> int:
    """Batch size of inference: the training ``batch_size``, at least ``INFERENCE_BATCH_MIN``."""
    return max(int(batch_size or 0), INFERENCE_BATCH_MIN)


def make_loader(dataset, batch_size, *, shuffle=False, num_workers=0, pin_memory=False, drop_last=False,
                generator=None):
    """A DataLoader over a :class:`CohortDataset` that reads whole batches."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        collate_fn=collate_batch,
        generator=generator,
        persistent_workers=num_workers > 0,
    )
