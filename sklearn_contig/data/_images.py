"""Images from files, opened lazily as a dask-backed ``image`` variable.

Each image is one dask chunk whose task opens, decodes (PIL), converts and
resizes that single file. Building the Dataset decodes nothing; computing a
selection (``ds["image"][idx].values``) decodes only the selected files, so
cohorts of 100k+ images never need to be in memory.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from dask.base import tokenize
from PIL import Image, UnidentifiedImageError

from ._schema import IMAGE, validate

__all__ = ["read_images", "decode_count", "reset_decode_count"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class _Counter:
    """Thread-safe count of decoded images (dask may decode in threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.value = 0

    def add(self):
        with self._lock:
            self.value += 1

    def reset(self):
        with self._lock:
            self.value = 0


_DECODES = _Counter()


def decode_count() -> int:
    """Number of images decoded in this process since the last reset.

    Examples
    --------
    >>> from sklearn_contig.data._images import decode_count, reset_decode_count
    >>> reset_decode_count()
    >>> decode_count()
    0
    """
    return _DECODES.value


def reset_decode_count() -> None:
    """Set the decode counter back to 0."""
    _DECODES.reset()


def _decode(path: str, size: tuple[int, int], channels: int) -> np.ndarray:
    """Decode one file to a (1, channels, h, w) uint8 block."""
    _DECODES.add()
    mode = "RGB" if channels == 3 else "L"
    try:
        with Image.open(path) as img:
            img = img.convert(mode)
            if img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"cannot read image file {path!r}: {exc}") from None
    if arr.ndim == 2:
        arr = arr[None]
    else:
        arr = arr.transpose(2, 0, 1)
    return arr[None]


def _check_header(path: str) -> None:
    try:
        with Image.open(path):  # reads the header only, no pixel decoding
            pass
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ValueError(f"cannot read image file {path!r}: {exc}") from None


def _image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)):
        size = (int(image_size), int(image_size))
    else:
        size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be a positive int or (h, w), got {image_size!r}")
    return size


def _list_files(source: str, pattern: str | None):
    """Return (paths, sample ids, individual ids) from a folder or a CSV."""
    if os.path.isdir(source):
        folder = Path(source)
        if pattern is None:
            files = [
                p for p in folder.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            ]
        else:
            files = [p for p in folder.glob(pattern) if p.is_file()]
        files = sorted(files)
        paths = [str(p) for p in files]
        samples = [p.stem for p in files]
        return paths, samples, samples
    if os.path.isfile(source):
        table = pd.read_csv(source)
        missing = {"path", "sample"} - set(table.columns)
        if missing:
            raise ValueError(
                f"image table {source!r} needs columns 'path' and 'sample'; "
                f"missing {sorted(missing)}"
            )
        base = Path(source).parent
        paths = [
            str(p) if os.path.isabs(p) else str(base / p)
            for p in table["path"].astype(str)
        ]
        samples = table["sample"].astype(str).tolist()
        individuals = (
            table["individual"].astype(str).tolist() if "individual" in table else samples
        )
        return paths, samples, individuals
    raise FileNotFoundError(f"image folder or CSV {source!r} does not exist")


def read_images(
    folder_or_csv,
    image_size,
    *,
    channels: int = 3,
    pattern: str | None = None,
    check: bool = False,
) -> xr.Dataset:
    """Open image files lazily as a cohort Dataset with an ``image`` variable.

    Parameters
    ----------
    folder_or_csv : str or path-like
        A folder (every ``*.png``, ``*.jpg``, ``*.jpeg`` in it, sorted by name;
        sample id = file stem) or a CSV with columns ``path`` and ``sample`` and
        optionally ``individual``. Relative paths in the CSV are relative to the
        CSV's folder.
    image_size : int or (int, int)
        Output size ``(h, w)`` (an int means square); images are resized with
        bilinear interpolation when they differ.
    channels : {1, 3}, default=3
        3 converts to RGB, 1 to grayscale.
    pattern : str, default=None
        Glob pattern inside a folder (e.g. ``"*_left.png"``) instead of the
        default suffixes.
    check : bool, default=False
        Open every file's header now (no pixel decoding) so that an unreadable
        file fails here rather than when it is read.

    Returns
    -------
    ds : xarray.Dataset
        ``image`` of dims ``(sample, channel, y, x)``, uint8, dask-backed with one
        chunk per image, ``attrs["kind"] == "image"``; coordinates ``sample``,
        ``individual`` and ``path`` (on ``sample``).

    Raises
    ------
    ValueError
        No image file found; duplicate sample ids; an unreadable file (naming
        it) when ``check=True`` or when that image is read.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from sklearn_contig.data import read_images
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for i in range(3):
    ...         Image.fromarray(np.full((10, 12, 3), i, np.uint8)).save(f"{tmp}/p{i}.png")
    ...     ds = read_images(tmp, image_size=8)
    ...     batch = ds["image"][[0, 2]].values
    >>> ds["image"].shape, batch.dtype, batch[1].max()
    ((3, 3, 8, 8), dtype('uint8'), np.uint8(2))
    >>> ds["sample"].values.tolist()
    ['p0', 'p1', 'p2']
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    size = _image_size(image_size)
    source = os.fspath(folder_or_csv)
    paths, samples, individuals = _list_files(source, pattern)
    if not paths:
        raise ValueError(f"no image files found in {source!r} (empty file list)")
    if check:
        for path in paths:
            _check_header(path)
    n = len(paths)
    name = "read-images-" + tokenize(tuple(paths), size, channels)
    graph = {
        (name, i, 0, 0, 0): (_decode, path, size, channels) for i, path in enumerate(paths)
    }
    chunks = ((1,) * n, (channels,), (size[0],), (size[1],))
    image = da.Array(graph, name, chunks=chunks, dtype=np.uint8)
    ds = xr.Dataset(
        {IMAGE: (("sample", "channel", "y", "x"), image, {"kind": IMAGE})},
        coords={
            "sample": np.asarray(samples).astype(str),
            "individual": ("sample", np.asarray(individuals).astype(str)),
            "path": ("sample", np.asarray(paths).astype(str)),
        },
    )
    validate(ds, min_samples=1)
    return ds
