"""Images from files, opened lazily as a file-backed ``image`` variable.

The ``image`` variable wraps :class:`ImageFileArray`, an xarray backend array
over the list of paths: indexing it (``ds["image"][idx]``, ``isel``) only
composes the selection, and reading the values opens, decodes (PIL), converts
and resizes the selected files, nothing else. A batch read therefore costs what
decoding its files costs, whatever the size of the cohort (a graph of one dask
task per file costs time in proportion to the cohort instead), and cohorts of
100k+ images never need to be in memory. The array pickles as its paths, so
DataLoader worker processes decode their own batches.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from PIL import Image
from xarray.backends import BackendArray
from xarray.core import indexing

from ._schema import IMAGE, validate
from ._tables import ID_DTYPES, _id_index

__all__ = ["ImageFileArray", "UnreadableImageError", "read_images", "decode_count", "reset_decode_count"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class _Counter:
    """Thread-safe count of decoded images (selections may be read from threads)."""

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


class UnreadableImageError(ValueError):
    """An image file that cannot be opened or decoded (missing, truncated, not an image).

    ``reason`` holds the exception that the decoder raised.
    """

    def __init__(self, path, reason):
        super().__init__(f"cannot read image file {path!r}: {reason}")
        self.path = path
        self.reason = reason


#: What PIL raises on a missing, truncated, corrupted or oversized image file.
_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError, truncated files
    ValueError,
    SyntaxError,  # malformed headers (e.g. PNG chunks)
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


def _open(path: str, mode: str, draft=None) -> Image.Image:
    """Open and fully decode one file in ``mode``; an :class:`UnreadableImageError` names the file.

    ``draft``: a ``(w, h)`` size; a JPEG is then decoded at the smallest DCT
    scale (1/2, 1/4, 1/8) that keeps it at least that large, which is faster
    for files far larger than needed.
    """
    try:
        with Image.open(path) as img:
            if draft is not None and img.format == "JPEG":
                img.draft(mode, draft)
            img.load()
            if img.mode.startswith("I"):  # 16-bit grayscale ("I;16", or "I" with 16-bit values)
                img = _high_bit_depth_to_8_bit(img)
            elif img.mode == "F":
                raise ValueError("32-bit float images are not supported; save them as 8 or 16 bits")
            return img if img.mode == mode else img.convert(mode)
    except _DECODE_ERRORS as exc:
        raise UnreadableImageError(path, exc) from None


def _high_bit_depth_to_8_bit(img: Image.Image) -> Image.Image:
    """A 16-bit grayscale image scaled to 8 bits (``value / 257``, so 65535 is 255).

    PIL's own conversion clips at 255, which turns a 16-bit image white.
    """
    arr = np.asarray(img)
    if arr.min() < 0 or arr.max() > 65535:
        raise ValueError(f"integer image values from {arr.min()} to {arr.max()} are not 16-bit")
    return Image.fromarray(np.rint(arr.astype(np.float64) / 257.0).astype(np.uint8), mode="L")


def _to_array(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Resize (bilinear) to ``size`` when needed; return a (channels, h, w) uint8 array."""
    if img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _decode(path: str, size: tuple[int, int], channels: int) -> np.ndarray:
    """Decode one file to a (channels, h, w) uint8 array."""
    _DECODES.add()
    return _to_array(_open(path, "RGB" if channels == 3 else "L"), size)


class ImageFileArray(BackendArray):
    """Read-only ``(sample, channel, y, x)`` uint8 array backed by image files.

    An xarray backend array: wrapped in
    :class:`xarray.core.indexing.LazilyIndexedArray`, selections compose without
    reading, and reading decodes exactly the selected files (each once, in a
    loop, so the cost is that of decoding them). Pickles as its paths.

    Parameters
    ----------
    paths : sequence of str
    image_size : (int, int)
        Output ``(h, w)``; files of another size are resized (bilinear).
    channels : {1, 3}

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     Image.fromarray(np.full((6, 6), 9, np.uint8)).save(f"{tmp}/a.png")
    ...     arr = ImageFileArray([f"{tmp}/a.png"] * 3, (4, 4), channels=1)
    ...     block = np.asarray(arr[indexing.BasicIndexer((slice(1, 3), 0, 0, 0))])
    >>> arr.shape, block.tolist()
    ((3, 1, 4, 4), [9, 9])
    """

    def __init__(self, paths, image_size, channels):
        self.paths = tuple(map(str, paths))
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.channels = int(channels)
        self.shape = (len(self.paths), self.channels) + self.image_size
        self.dtype = np.dtype(np.uint8)

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.OUTER, self._read
        )

    def _read(self, key: tuple) -> np.ndarray:
        """Decode the files selected by an outer key (int, slice or int array per dim)."""
        first, rest = key[0], tuple(key[1:])
        if isinstance(first, slice):
            rows = range(*first.indices(self.shape[0]))
        else:
            rows = np.asarray(first, dtype=np.int64)
        scalar = np.ndim(rows) == 0
        rows = np.atleast_1d(rows)
        out = np.empty((len(rows),) + self.shape[1:], dtype=np.uint8)
        for j, i in enumerate(rows):
            out[j] = _decode(self.paths[i], self.image_size, self.channels)
        for axis in range(len(rest), 0, -1):  # outer indexing, one axis at a time
            k = rest[axis - 1]
            out = out[(slice(None),) * axis + (k,)]
        return out[0] if scalar else out


def _check_header(path: str) -> None:
    try:
        with Image.open(path):  # reads the header only, no pixel decoding
            pass
    except _DECODE_ERRORS as exc:
        raise UnreadableImageError(path, exc) from None


def _image_size(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    else:
        try:
            size = tuple(int(s) for s in image_size)
        except (TypeError, ValueError):
            size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be a positive int or (h, w), got {image_size!r}")
    return size


def _list_files(source, pattern: str | None = None) -> pd.DataFrame:
    """Table of ``path``, ``sample``, ``individual`` (and ``eye`` when given).

    ``source`` is a folder (sample = individual = file stem), a CSV file or a
    DataFrame with columns ``path`` and ``sample`` and optionally ``individual``
    and ``eye``; relative paths of a CSV are relative to its folder. A missing
    (None, NaN, empty CSV cell) ``path``, ``sample`` or ``individual`` raises a
    ValueError naming the table, the column and the rows.
    """
    if isinstance(source, pd.DataFrame):
        table, base, name = source, None, "image table"
    else:
        source = os.fspath(source)
        if os.path.isdir(source):
            if pattern is None:  # scandir: no stat per file, so 100k+ files list fast
                with os.scandir(source) as entries:
                    names = sorted(
                        e.name for e in entries
                        if e.name.lower().endswith(IMAGE_SUFFIXES)
                        and os.path.splitext(e.name)[1] and e.is_file()
                    )
                prefix = os.path.join(source, "")
                paths = [prefix + name for name in names]
                stems = [name[: name.rfind(".")] for name in names]
            else:
                files = sorted(
                    (p for p in Path(source).glob(pattern) if p.is_file()), key=lambda p: p.parts
                )
                paths, stems = [str(p) for p in files], [p.stem for p in files]
            return pd.DataFrame(
                {"path": paths, "sample": stems, "individual": stems}, dtype=object
            )
        if not os.path.isfile(source):
            raise FileNotFoundError(f"image folder or CSV {source!r} does not exist")
        table, base, name = pd.read_csv(source, dtype=ID_DTYPES), Path(source).parent, f"image table {source!r}"
    missing = {"path", "sample"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{name} needs columns 'path' and 'sample'; missing {sorted(missing)}"
        )
    missing_paths = np.flatnonzero(pd.isna(table["path"].to_numpy()))
    if len(missing_paths):
        raise ValueError(
            f"{name}: column 'path' has missing paths (None or NaN) in rows "
            f"{missing_paths[:5].tolist()}"
        )
    paths = [
        p if base is None or os.path.isabs(p) else str(base / p)
        for p in table["path"].astype(str)
    ]
    samples = _id_index(table["sample"].to_numpy(), "sample", name).tolist()
    out = pd.DataFrame({"path": paths, "sample": samples}, dtype=object)
    out["individual"] = (
        _id_index(table["individual"].to_numpy(), "individual", name).tolist()
        if "individual" in table else out["sample"]
    )
    if "eye" in table:
        out["eye"] = table["eye"].astype(str).tolist()
    return out


def _coords(files: pd.DataFrame) -> dict:
    """Cohort coordinates of a file table (``eye`` only when the table has it)."""
    coords = {
        "sample": np.asarray(files["sample"]).astype(str),
        "individual": ("sample", np.asarray(files["individual"]).astype(str)),
        "path": ("sample", np.asarray(files["path"]).astype(str)),
    }
    if "eye" in files:
        coords["eye"] = ("sample", np.asarray(files["eye"]).astype(str))
    return coords


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
    folder_or_csv : str, path-like or pandas.DataFrame
        A folder (every ``*.png``, ``*.jpg``, ``*.jpeg`` in it, sorted by name;
        sample id = file stem) or a CSV (or DataFrame) with columns ``path`` and
        ``sample`` and optionally ``individual`` and ``eye``. Relative paths in
        a CSV are relative to the CSV's folder.
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
        ``image`` of dims ``(sample, channel, y, x)``, uint8, backed lazily by
        the files (an :class:`ImageFileArray`; ``ds.chunk()`` turns it into
        dask), ``attrs["kind"] == "image"``; coordinates ``sample``,
        ``individual``, ``path`` and, when the table has it, ``eye`` (on
        ``sample``).

    Raises
    ------
    ValueError
        No image file found; duplicate sample ids; a missing (None, NaN, empty
        cell) ``path``, ``sample`` or ``individual`` in a CSV or DataFrame
        (naming the column and rows); an unreadable file (naming it) when
        ``check=True`` or when that image is read.

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
    source = folder_or_csv if isinstance(folder_or_csv, pd.DataFrame) else os.fspath(folder_or_csv)
    files = _list_files(source, pattern)
    if files.empty:
        name = "the image table" if isinstance(source, pd.DataFrame) else repr(source)
        raise ValueError(f"no image files found in {name} (empty file list)")
    paths = files["path"].tolist()
    if check:
        for path in paths:
            _check_header(path)
    image = indexing.LazilyIndexedArray(ImageFileArray(paths, size, channels))
    ds = xr.Dataset(
        {IMAGE: xr.Variable(("sample", "channel", "y", "x"), image, {"kind": IMAGE})},
        coords=_coords(files),
    )
    validate(ds, min_samples=1)
    return ds
