"""One-time preparation of an image cohort into a zarr store.

What biobank pipelines do once before training: find the field of view of each
fundus photograph (thresholding), crop to it, pad to the output aspect, resize,
drop images that are too dark or too bright, and write everything as a chunked
uint8 zarr store that :func:`~sklearn_contig.data.open_zarr` opens as a cohort
Dataset. Files are processed in chunks, over processes, and committed to the
store in order; a progress record next to the store makes a re-run skip the
committed chunks. A bad file never stops the run: it is listed, with the
reason, in a CSV table next to the store.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import numbers
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import zarr
from PIL import Image
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from ._images import UnreadableImageError, _image_size, _list_files, _open, _to_array
from ._schema import IMAGE, validate
from ._zarr import _ORDER, open_zarr

__all__ = ["prepare_images", "fundus_crop"]

_CROPS = ("fundus", None)


def _sidecar_paths(store) -> tuple[str, str]:
    """Paths of the rejected-files table and of the progress record of ``store``.

    Both sit next to the store: ``<stem>_rejected.csv`` and ``<stem>_progress.json``.
    """
    store = Path(os.fspath(store))
    stem = store.name[: -len(store.suffix)] if store.suffix else store.name
    return str(store.with_name(f"{stem}_rejected.csv")), str(store.with_name(f"{stem}_progress.json"))


def fundus_crop(arr: np.ndarray, threshold: float = 10.0) -> np.ndarray | None:
    """Crop an image to the bounding box of its field of view.

    The field of view is the set of pixels whose grey level (mean over
    channels) exceeds ``threshold``; rows and columns holding less than 1 % of
    the largest row (column) count are ignored, so isolated bright pixels in
    the black surround do not widen the box.

    Parameters
    ----------
    arr : ndarray of shape (h, w) or (h, w, channels)
    threshold : float, default=10.0

    Returns
    -------
    crop : ndarray or None
        The cropped image (a view), None when no pixel exceeds ``threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((10, 12), np.uint8)
    >>> img[2:6, 5:11] = 200
    >>> fundus_crop(img).shape
    (4, 6)
    >>> fundus_crop(np.zeros((4, 4), np.uint8)) is None
    True
    """
    grey = arr.mean(axis=2) if arr.ndim == 3 else arr
    mask = grey > threshold
    rows, cols = mask.sum(axis=1), mask.sum(axis=0)
    if rows.max() == 0:
        return None
    keep_r = np.flatnonzero(rows >= max(1, 0.01 * rows.max()))
    keep_c = np.flatnonzero(cols >= max(1, 0.01 * cols.max()))
    return arr[keep_r[0]: keep_r[-1] + 1, keep_c[0]: keep_c[-1] + 1]


def _pad_to_aspect(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pad with black, centred, to the aspect ratio ``h / w`` of ``size``."""
    h, w = arr.shape[:2]
    target_h = max(h, int(round(w * size[0] / size[1])))
    target_w = max(w, int(round(h * size[1] / size[0])))
    if (target_h, target_w) == (h, w):
        return arr
    top, left = (target_h - h) // 2, (target_w - w) // 2
    out = np.zeros((target_h, target_w) + arr.shape[2:], dtype=arr.dtype)
    out[top: top + h, left: left + w] = arr
    return out


def _prepare_one(path, size, channels, crop, fov_threshold, min_brightness, max_brightness):
    """Return ``(image (channels, h, w) uint8, brightness, None)`` or ``(None, None, reason)``."""
    mode = "RGB" if channels == 3 else "L"
    try:  # a JPEG far larger than needed is decoded at a reduced DCT scale
        arr = np.asarray(_open(path, mode, draft=(2 * size[1], 2 * size[0])), dtype=np.uint8)
    except UnreadableImageError as exc:
        return None, None, f"unreadable: {type(exc.reason).__name__}: {exc.reason}"
    if crop == "fundus":
        arr = fundus_crop(arr, fov_threshold)
        if arr is None:
            return None, None, f"no field of view: no pixel above fov_threshold={fov_threshold:g}"
    brightness = float(arr.mean())
    if min_brightness is not None and brightness < min_brightness:
        return None, brightness, f"too dark: mean intensity {brightness:.1f} < min_brightness={min_brightness:g}"
    if max_brightness is not None and brightness > max_brightness:
        return None, brightness, f"too bright: mean intensity {brightness:.1f} > max_brightness={max_brightness:g}"
    return _to_array(Image.fromarray(_pad_to_aspect(arr, size)), size), brightness, None


def _prepare_chunk(paths, size, channels, crop, fov_threshold, min_brightness, max_brightness):
    """Process one chunk of files: accepted images, their positions, brightness, rejections."""
    images, kept, brightness, rejected = [], [], [], []
    for j, path in enumerate(paths):
        arr, light, reason = _prepare_one(
            path, size, channels, crop, fov_threshold, min_brightness, max_brightness
        )
        if reason is None:
            images.append(arr)
            kept.append(j)
            brightness.append(light)
        else:
            rejected.append((j, reason))
    stack = np.stack(images) if images else np.zeros((0, channels) + size, np.uint8)
    return stack, kept, np.asarray(brightness, np.float32), rejected


def _check_params(image_size, channels, crop, fov_threshold, min_brightness, max_brightness,
                  samples_per_chunk, n_jobs, progress, overwrite):
    size = _image_size(image_size)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if crop not in _CROPS:
        raise ValueError(f"crop must be 'fundus' or None, got {crop!r}")
    if (not isinstance(fov_threshold, numbers.Real) or isinstance(fov_threshold, bool)
            or not 0 <= fov_threshold < 255):
        raise ValueError(f"fov_threshold must be a number in [0, 255), got {fov_threshold!r}")
    for name, value in (("min_brightness", min_brightness), ("max_brightness", max_brightness)):
        if value is not None and (not isinstance(value, numbers.Real) or isinstance(value, bool)
                                  or not 0 <= value <= 255):
            raise ValueError(f"{name} must be None or a number in [0, 255], got {value!r}")
    if min_brightness is not None and max_brightness is not None and min_brightness >= max_brightness:
        raise ValueError(
            f"min_brightness must be below max_brightness, got {min_brightness!r} >= {max_brightness!r}"
        )
    if (not isinstance(samples_per_chunk, numbers.Integral) or isinstance(samples_per_chunk, bool)
            or samples_per_chunk < 1):
        raise ValueError(f"samples_per_chunk must be a positive integer, got {samples_per_chunk!r}")
    if (not isinstance(n_jobs, numbers.Integral) or isinstance(n_jobs, bool)
            or not (n_jobs >= 1 or n_jobs == -1)):
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    for name, value in (("progress", progress), ("overwrite", overwrite)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    return size


def _fingerprint(files: pd.DataFrame, settings: dict) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True).encode())
    for column in files.columns:
        h.update(column.encode())
        h.update("\0".join(map(str, files[column])).encode())
    return h.hexdigest()


def _write_json(path: str, record: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)  # atomic: a crash leaves the previous record


def _rejected_table(files: pd.DataFrame, rejected: list) -> pd.DataFrame:
    rows = [int(i) for i, _ in rejected]
    table = files.iloc[rows].reset_index(drop=True).copy()
    table["reason"] = [reason for _, reason in rejected]
    return table


def _truncate(store: str, n: int) -> None:
    """Cut every array of the store back to its first ``n`` samples (after a crash mid-append)."""
    group = zarr.open_group(store, mode="r+", zarr_format=3)
    for _, array in group.arrays():
        if array.shape and array.shape[0] != n:
            array.resize((n,) + tuple(array.shape[1:]))


def _append(store: str, chunk: xr.Dataset, first: bool, samples_per_chunk: int) -> None:
    """Write (``first``) or append one chunk, with the conventions of :func:`to_zarr`.

    The first chunk creates the store through xarray (variable-length strings,
    the variable-order attribute, zarr format 3, no consolidated metadata);
    later chunks grow each array along ``sample`` and write its tail directly,
    at a cost that does not grow with the store.
    """
    if first:
        chunk = chunk.copy(deep=False)
        strings = {name: var.copy(data=np.asarray(var.values).astype(object))
                   for name, var in chunk.variables.items() if var.dtype.kind == "U"}
        chunk = chunk.assign_coords(strings)
        chunk.attrs[_ORDER] = [IMAGE]
        encoding = {IMAGE: {"chunks": (samples_per_chunk,) + chunk[IMAGE].shape[1:]}}
        encoding.update({name: {"chunks": (max(4096, samples_per_chunk),)} for name in chunk.coords})
        chunk.to_zarr(store, mode="w", zarr_format=3, consolidated=False, encoding=encoding)
        return
    group = zarr.open_group(store, mode="r+", zarr_format=3)
    n = chunk.sizes["sample"]
    for name, var in chunk.variables.items():
        array = group[name]
        start = array.shape[0]
        array.resize((start + n,) + tuple(array.shape[1:]))
        values = np.asarray(var.values)
        array[start:] = values.astype(object) if values.dtype.kind == "U" else values


def _is_zarr_store(path) -> bool:
    """True for a folder that holds a zarr group or array (format 2 or 3), or nothing at all."""
    names = set(os.listdir(path))
    return not names or bool(names & {".zgroup", ".zarray", ".zattrs", "zarr.json"})


def prepare_images(
    source,
    store,
    image_size=448,
    *,
    channels: int = 3,
    pattern: str | None = None,
    crop: str | None = "fundus",
    fov_threshold: float = 10.0,
    min_brightness: float | None = None,
    max_brightness: float | None = None,
    samples_per_chunk: int = 64,
    n_jobs: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> Bunch:
    """Crop, resize and quality-filter image files once into a zarr cohort store.

    Each file is decoded, cropped to its field of view (``crop="fundus"``: the
    bounding box of the pixels brighter than ``fov_threshold``, see
    :func:`fundus_crop`), checked against the brightness limits, padded with
    black (centred) to the aspect of ``image_size`` (square by default), so the
    fundus keeps its shape, and resized (bilinear). JPEGs are decoded at the
    smallest DCT scale that stays at least twice the output size.

    Files are processed ``samples_per_chunk`` at a time, over ``n_jobs``
    processes, and committed to the store in order. After each commit a
    progress record (``<stem>_progress.json`` next to the store) notes the
    chunks done, so running the same call again after an interruption resumes
    from the first unfinished chunk, and running it after completion does no
    work. A file that cannot be read or is rejected never stops the run: it is
    listed with the reason in ``<stem>_rejected.csv`` next to the store.

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        As for :func:`read_images`: a folder (sample = individual = file stem),
        or a CSV / DataFrame with columns ``path`` and ``sample`` and optionally
        ``individual`` and ``eye``.
    store : str or path-like
        Directory of the zarr store to write.
    image_size : int or (int, int), default=448
        Output ``(h, w)``; an int means square.
    channels : {1, 3}, default=3
    pattern : str, default=None
        Glob pattern inside a folder, as for :func:`read_images`.
    crop : {"fundus", None}, default="fundus"
        None keeps the whole image (still padded to the output aspect).
    fov_threshold : float, default=10.0
        Grey level (0-255) above which a pixel belongs to the field of view.
        An image with no such pixel is rejected ("no field of view").
    min_brightness, max_brightness : float, default=None
        Reject images whose mean intensity (0-255, over the cropped image,
        before padding) is below / above. The ContIG authors dropped the 0.5 %
        darkest and brightest images of their cohort; the stored ``brightness``
        coordinate gives those quantiles after a first run.
    samples_per_chunk : int, default=64
        Files per unit of work and of the progress record, and images per zarr
        chunk.
    n_jobs : int, default=1
        Worker processes; -1 uses every CPU. 1 works in this process.
    progress : bool, default=True
        Show a progress bar (tqdm).
    overwrite : bool, default=False
        Start again from scratch. Without it, an existing store is resumed when
        it was written by the same call (same files and settings) and a
        :class:`ValueError` is raised otherwise.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``dataset``: the store opened with :func:`open_zarr`: ``image``
        (sample, channel, y, x) uint8, coordinates ``sample``, ``individual``,
        ``path``, ``brightness`` and ``eye`` when given, ready for
        :func:`align`; ``rejected``: DataFrame of the rejected files (the
        columns of the file table plus ``reason``); ``store``,
        ``rejected_csv``, ``progress_json``: paths; ``n_processed``: files
        processed by this call (0 when everything was already done).

    Raises
    ------
    ValueError
        A bad argument (named), an empty file list, duplicate sample ids, a
        missing ``path``, ``sample`` or ``individual`` in a CSV or DataFrame
        (naming the column and rows), an existing store from other files or
        settings (without ``overwrite``),
        or no file accepted at all (the table of reasons is written first).

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from PIL import Image
    >>> from sklearn_contig.data import prepare_images
    >>> tmp = tempfile.mkdtemp()
    >>> for i in range(3):
    ...     img = np.zeros((40, 60, 3), np.uint8)
    ...     img[5:35, 10 + 5 * i: 40 + 5 * i] = 120     # field of view
    ...     Image.fromarray(img).save(f"{tmp}/eye{i}.png")
    >>> Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(f"{tmp}/black.png")
    >>> out = prepare_images(tmp, f"{tmp}/cohort.zarr", 16, progress=False)
    >>> out.dataset["image"].shape, out.dataset["sample"].values.tolist()
    ((3, 3, 16, 16), ['eye0', 'eye1', 'eye2'])
    >>> out.rejected[["sample", "reason"]].values.tolist()
    [['black', 'no field of view: no pixel above fov_threshold=10']]
    >>> prepare_images(tmp, f"{tmp}/cohort.zarr", 16, progress=False).n_processed
    0
    >>> import shutil; shutil.rmtree(tmp)
    """
    size = _check_params(image_size, channels, crop, fov_threshold, min_brightness,
                         max_brightness, samples_per_chunk, n_jobs, progress, overwrite)
    if isinstance(store, pd.DataFrame) or not isinstance(store, (str, os.PathLike)):
        raise ValueError(f"store must be a path, got {type(store).__name__}")
    store = os.fspath(store)
    files = _list_files(source if isinstance(source, pd.DataFrame) else os.fspath(source), pattern)
    if files.empty:
        raise ValueError("source has no image files (empty file list)")
    duplicated = files["sample"].duplicated()
    if duplicated.any():
        raise ValueError(
            f"source has duplicate sample ids, e.g. {files['sample'][duplicated].unique()[:5].tolist()}"
        )
    settings = {
        "image_size": list(size), "channels": channels, "crop": crop,
        "fov_threshold": float(fov_threshold),
        "min_brightness": None if min_brightness is None else float(min_brightness),
        "max_brightness": None if max_brightness is None else float(max_brightness),
        "samples_per_chunk": int(samples_per_chunk),
    }
    fingerprint = _fingerprint(files, settings)
    rejected_csv, progress_json = _sidecar_paths(store)
    record = {"fingerprint": fingerprint, "chunks_done": 0, "n_written": 0, "rejected": []}
    if not overwrite and (os.path.exists(store) or os.path.exists(progress_json)):
        try:
            with open(progress_json) as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = {}
        if previous.get("fingerprint") != fingerprint:
            raise ValueError(
                f"store {store!r} exists and was not prepared from these files with these "
                "settings; pass overwrite=True to start again"
            )
        record = previous
    elif overwrite:
        if os.path.isdir(store) and not _is_zarr_store(store):
            raise ValueError(
                f"store {store!r} is a folder that is not a zarr store; overwrite=True deletes only "
                "a store written before (name a new or a zarr folder)"
            )
        for path in (progress_json, rejected_csv):
            if os.path.exists(path):
                os.remove(path)
        if os.path.isdir(store):
            shutil.rmtree(store)

    n_files = len(files)
    spc = int(samples_per_chunk)
    n_chunks = -(-n_files // spc)
    first_chunk = int(record["chunks_done"])
    if record["n_written"] > 0:
        if not os.path.exists(store):
            raise ValueError(
                f"store {store!r} is missing but {progress_json!r} records written images; "
                "pass overwrite=True to start again"
            )
        _truncate(store, int(record["n_written"]))
    paths = files["path"].tolist()
    args = (size, channels, crop, fov_threshold, min_brightness, max_brightness)
    todo = list(range(first_chunk, n_chunks))
    n_processed = 0

    def commit(k, result):
        nonlocal n_processed
        images, kept, brightness, rejected = result
        start = k * spc
        if len(kept):
            rows = files.iloc[[start + j for j in kept]]
            coords = {
                "sample": rows["sample"].to_numpy().astype(str),
                "individual": ("sample", rows["individual"].to_numpy().astype(str)),
                "path": ("sample", rows["path"].to_numpy().astype(str)),
                "brightness": ("sample", brightness),
            }
            if "eye" in rows:
                coords["eye"] = ("sample", rows["eye"].to_numpy().astype(str))
            chunk = xr.Dataset(
                {IMAGE: (("sample", "channel", "y", "x"), images, {"kind": IMAGE})}, coords=coords
            )
            first = record["n_written"] == 0
            _append(store, chunk, first, spc)
            record["n_written"] += len(kept)
        record["rejected"] += [[start + j, reason] for j, reason in rejected]
        record["chunks_done"] = k + 1
        _write_json(progress_json, record)
        if rejected:
            _rejected_table(files, record["rejected"]).to_csv(rejected_csv, index=False)
        n_processed += min(spc, n_files - start)
        bar.update(min(spc, n_files - start))

    workers = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
    bar = tqdm(total=n_files, initial=min(first_chunk * spc, n_files), unit="img",
               desc="prepare_images", disable=not progress)
    try:
        if workers == 1 or len(todo) <= 1:
            for k in todo:
                commit(k, _prepare_chunk(paths[k * spc: (k + 1) * spc], *args))
        else:
            with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
                pending = {}
                queue = iter(todo)
                for k in queue:  # keep at most 2 chunks per worker in flight, commit in order
                    pending[k] = pool.submit(_prepare_chunk, paths[k * spc: (k + 1) * spc], *args)
                    if len(pending) >= 2 * workers:
                        break
                for k in todo:
                    result = pending.pop(k).result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending[nxt] = pool.submit(
                            _prepare_chunk, paths[nxt * spc: (nxt + 1) * spc], *args
                        )
                    commit(k, result)
    finally:
        bar.close()

    rejected = _rejected_table(files, record["rejected"])
    if n_processed or not os.path.exists(rejected_csv):
        rejected.to_csv(rejected_csv, index=False)
    if record["n_written"] == 0:
        raise ValueError(
            f"no image of source was accepted ({n_files} rejected); reasons in {rejected_csv!r}"
        )
    ds = open_zarr(store)
    validate(ds, min_samples=1)
    return Bunch(dataset=ds, rejected=rejected, store=store, rejected_csv=rejected_csv,
                 progress_json=progress_json, n_processed=n_processed)
