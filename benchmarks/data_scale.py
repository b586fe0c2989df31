"""Cost of a random batch read from image files, against cohort size.

For JPEG folders of each size (default 1,000 and 100,000 files, 64 px), one run
times, alternating within each trial so that a noisy machine and the page cache
affect both alike:

- ``read_images``: ``CohortDataset(read_images(folder)).__getitems__(rows)`` for
  a random batch of 64 rows (what a DataLoader worker does per batch);
- ``bare PIL``: a plain loop opening, decoding (RGB) and converting to numpy the
  same 64 files (what decoding costs, the lower bound);
- ``dask graph`` (reference, ``--dask``): the previous implementation, one dask
  task per file, read through the same ``__getitems__``.

Median over the trials. The folders are written once under ``--root`` (outside
the repository) from a few hundred distinct synthetic fundus images of
:func:`~sklearn_contig.datasets.make_imaging_genetics`, each JPEG-encoded once
by PIL and saved under many names, in parallel. Targets: the batch from the
largest folder costs <= 2 x the bare decode and <= 1.3 x the batch from the
smallest folder.

Usage::

    python benchmarks/data_scale.py                          # 1,000 and 100,000 files
    python benchmarks/data_scale.py --sizes 1000 10000 --trials 15
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import os
import statistics
import time

import numpy as np
from PIL import Image

from sklearn_contig.data import CohortDataset, read_images
from sklearn_contig.datasets import make_imaging_genetics


def _write_files(args):
    folder, names_and_blobs = args
    for name, blob in names_and_blobs:
        with open(os.path.join(folder, name), "wb") as f:
            f.write(blob)
    return len(names_and_blobs)


def write_folder(folder, n_files, blobs, n_jobs):
    """Write ``n_files`` JPEGs (the distinct ``blobs`` in turn) to ``folder``."""
    os.makedirs(folder, exist_ok=True)
    names = [f"img{i:07d}.jpg" for i in range(n_files)]
    work = [(name, blobs[i % len(blobs)]) for i, name in enumerate(names)]
    step = 2000
    parts = [(folder, work[s: s + step]) for s in range(0, n_files, step)]
    with concurrent.futures.ProcessPoolExecutor(max_workers=n_jobs) as pool:
        sum(pool.map(_write_files, parts))


def distinct_jpegs(n, image_size, quality=90):
    ds, _ = make_imaging_genetics(n_individuals=n, image_size=image_size, simulator="independent",
                                  n_snps=50, n_pgs=10, n_genes=10, random_state=0)
    images = np.asarray(ds["image"].values)
    blobs = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(buf, "JPEG", quality=quality)
        blobs.append(buf.getvalue())
    return blobs


def bare_decode(paths):
    arrays = []
    for path in paths:
        with Image.open(path) as img:
            arrays.append(np.asarray(img.convert("RGB")))
    return arrays


def dask_images(ds):
    """The previous reader: one dask task per file (for reference)."""
    import dask.array as da
    import xarray as xr
    from dask.base import tokenize

    from sklearn_contig.data._images import _decode

    paths = ds["path"].values.tolist()
    c, h, w = ds["image"].shape[1:]
    name = "read-images-" + tokenize(tuple(paths), (h, w), c)
    graph = {(name, i, 0, 0, 0): (lambda p: _decode(p, (h, w), c)[None], p) for i, p in enumerate(paths)}
    image = da.Array(graph, name, chunks=((1,) * len(paths), (c,), (h,), (w,)), dtype=np.uint8)
    return ds.assign(image=xr.Variable(ds["image"].dims, image, ds["image"].attrs))


def time_size(folder, batch, trials, rng, with_dask):
    t0 = time.perf_counter()
    ds = read_images(folder, 64)
    build = time.perf_counter() - t0
    readers = {"read_images": CohortDataset(ds)}
    if with_dask:
        readers["dask graph"] = CohortDataset(dask_images(ds))
    paths = ds["path"].values
    n = ds.sizes["sample"]
    times = {name: [] for name in ["bare PIL", *readers]}
    for reader in readers.values():  # warm-up (imports, first allocations)
        reader.__getitems__(rng.choice(n, batch, replace=False))
    for trial in range(trials):
        rows = rng.choice(n, batch, replace=False)
        order = ["bare PIL", *readers]
        if trial % 2:
            order = order[::-1]
        for name in order:
            t0 = time.perf_counter()
            if name == "bare PIL":
                bare_decode(paths[rows])
            else:
                X, _ = readers[name].__getitems__(rows)
            times[name].append(time.perf_counter() - t0)
    return build, {name: statistics.median(v) for name, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--distinct", type=int, default=300)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--trials", type=int, default=31)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--root", default="/tmp/sklearn_contig_data_scale")
    parser.add_argument("--dask", action="store_true", help="also time the per-file dask graph")
    args = parser.parse_args()

    blobs = None
    rng = np.random.default_rng(0)
    rows = []
    for size in sorted(args.sizes):
        folder = os.path.join(args.root, f"jpeg{args.image_size}_{size}")
        if not os.path.isdir(folder) or len(os.listdir(folder)) != size:
            blobs = blobs or distinct_jpegs(args.distinct, args.image_size)
            t0 = time.perf_counter()
            write_folder(folder, size, blobs, args.jobs)
            print(f"wrote {size:,} files to {folder} in {time.perf_counter() - t0:.1f} s")
        build, med = time_size(folder, args.batch, args.trials, rng, args.dask)
        rows.append((size, build, med))

    names = list(rows[0][2])
    print(f"\nrandom batch of {args.batch} JPEGs ({args.image_size} px), median of {args.trials} trials, ms")
    print("| files | read_images build (s) | " + " | ".join(names) + " | read_images / bare |")
    print("| ---: | ---: | " + " | ".join("---:" for _ in names) + " | ---: |")
    for size, build, med in rows:
        cells = " | ".join(f"{1e3 * med[n]:.1f}" for n in names)
        print(f"| {size:,} | {build:.2f} | {cells} | {med['read_images'] / med['bare PIL']:.2f} |")
    small, large = rows[0][2], rows[-1][2]
    vs_bare = large["read_images"] / large["bare PIL"]
    vs_small = large["read_images"] / small["read_images"]
    print(f"\nlargest folder: read_images / bare PIL = {vs_bare:.2f} (target <= 2): "
          f"{'ok' if vs_bare <= 2 else 'MISSED'}")
    print(f"largest / smallest folder, read_images = {vs_small:.2f} (target <= 1.3): "
          f"{'ok' if vs_small <= 1.3 else 'MISSED'}")


if __name__ == "__main__":
    main()
