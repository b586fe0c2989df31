"""Read genotypes from PLINK 1 (.bed), PLINK 2 (.pgen) and BGEN files, compactly.

Which allele is counted
-----------------------
- ``.bed``: copies of A1 (the fifth .bim column), as :func:`read_plink` does and
  as plink2 reads it (A1 = ALT).
- ``.pgen``: copies of ALT (the first ALT allele of a multiallelic variant).
  ``plink2 --bfile x --make-pgen`` writes A1 as ALT, so a .pgen converted from
  a .bed reads back identical.
- ``.bgen``: the expected count of the **first** allele listed for the variant
  (``2 P(a1/a1) + P(a1/a2)``; for phased data the sum of the two haplotype
  probabilities of allele 1). ``plink2 --export bgen-1.2`` lists ALT first
  (its default is ``ref-last``), so a BGEN written that way from a .bed reads
  back as the .bed, up to float16 rounding of non-integer dosages. Read a file
  that lists REF first (UK Biobank's imputed data) with plink2 as
  ``--bgen FILE ref-first``; this reader still counts the first allele.

In every case coordinate ``allele_1`` is the counted allele and ``allele_2``
the other one.

Memory
------
Calls are held as float16 by default: 0, 1, 2 and NaN are exact, 2 bytes per
call (BGEN dosages are rounded to float16, an absolute error below 1e-3). The
file is read ``chunk_size`` variants at a time into the preallocated result,
so the peak is the result plus one chunk. With ``store=`` the chunks go to a
zarr store instead and the result is opened lazily: a cohort larger than
memory can be read.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from ._schema import GENETIC

__all__ = ["read_genotypes", "genotype_files"]

#: Formats :func:`read_genotypes` understands, in the order a bare prefix is tried.
FORMATS = ("pgen", "bed", "bgen")

_PARTS = {
    "bed": (".bed", ".bim", ".fam"),
    "pgen": (".pgen", ".pvar", ".psam"),
}
_MISSING_INT8 = -9

#: plink2's BGEN allele order modifiers (``--bgen FILE ref-<value>``).
BGEN_REF = ("first", "last", "unknown")


def check_bgen_ref(bgen_ref) -> str:
    """Check that ``bgen_ref`` is one of :data:`BGEN_REF` and return it."""
    if bgen_ref not in BGEN_REF:
        raise ValueError(f"bgen_ref must be one of {BGEN_REF}, got {bgen_ref!r}")
    return bgen_ref


@dataclass
class GenotypeFiles:
    """Where the genotypes of one dataset are, and in which format.

    ``prefix`` is the fileset prefix (.bed/.pgen) or the .bgen path without its
    extension; ``sample`` the BGEN ``.sample`` file or None.
    """

    format: str
    prefix: str
    sample: str | None = None
    files: list[str] = field(default_factory=list)

    @property
    def main(self) -> str:
        """The genotype file itself (``.bed``, ``.pgen`` or ``.bgen``)."""
        return self.prefix + "." + self.format

    def plink2_args(self, bgen_ref: str = "last") -> list[str]:
        """Input arguments of plink2 for these files (``--bfile``/``--pfile``/``--bgen``).

        ``bgen_ref`` is plink2's BGEN allele order modifier, one of
        :data:`BGEN_REF` (``"last"``: the first allele is ALT, which is what
        :func:`read_genotypes` counts).
        """
        if self.format == "bed":
            return ["--bfile", self.prefix]
        if self.format == "pgen":
            return ["--pfile", self.prefix]
        args = ["--bgen", self.main, f"ref-{check_bgen_ref(bgen_ref)}"]
        if self.sample is not None:
            args += ["--sample", self.sample]
        return args


def _strip(path: str) -> tuple[str, str | None]:
    for fmt in ("bed", "pgen", "bgen"):
        for ext in _PARTS.get(fmt, (".bgen",)):
            if path.endswith(ext):
                return path[: -len(ext)], fmt
    if path.endswith(".sample"):
        return path[: -len(".sample")], "bgen"
    return path, None


def genotype_files(path, sample=None) -> GenotypeFiles:
    """Find the genotype files at ``path`` and their format.

    Parameters
    ----------
    path : str or path-like
        A ``.bed``/``.bim``/``.fam``, ``.pgen``/``.pvar``/``.psam`` or ``.bgen``
        file, or a prefix; a prefix is tried as ``.pgen``, then ``.bed``, then
        ``.bgen``.
    sample : str or path-like, default=None
        BGEN sample file; ``<prefix>.sample`` when it exists, else the sample
        ids stored in the .bgen.

    Returns
    -------
    GenotypeFiles

    Raises
    ------
    FileNotFoundError
        Nothing found, or a fileset with a part missing (the message names it).
    TypeError
        ``path`` is not a str or path-like.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn_contig.data import write_plink, genotype_files
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     prefix = write_plink(f"{tmp}/toy", np.zeros((2, 3)))
    ...     genotype_files(prefix).format
    'bed'
    """
    return find_genotype_files(path, sample=sample)


#: How messages name the fileset of each format.
_DESCRIPTION = {
    "bed": "PLINK 1 (.bed/.bim/.fam)",
    "pgen": "PLINK 2 (.pgen/.pvar/.psam)",
    "bgen": "BGEN (.bgen)",
}


def _accepted(name, formats) -> str:
    kinds = " or ".join(_DESCRIPTION[f] for f in FORMATS if f in formats)
    return f"{name} must be a {kinds} fileset or its prefix"


def find_genotype_files(path, *, sample=None, formats=FORMATS, name="path") -> GenotypeFiles:
    """:func:`genotype_files` for the ``formats`` a caller accepts.

    Every reader and PLINK runner of the package finds its files here. ``name``
    is the caller's argument, named in every message. A path of another format
    (``x.pgen`` where only ``("bed",)`` is accepted, or a bare prefix with only
    files of another format) raises a ValueError that says which formats are
    accepted.
    """
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if not formats or unknown:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {formats!r}")
    if isinstance(path, GenotypeFiles):
        if path.format not in formats:
            raise ValueError(
                f"{_accepted(name, formats)}, got {_DESCRIPTION[path.format]} files {path.main!r}"
            )
        return path
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path-like, got {type(path).__name__}")
    path = os.fspath(path)
    prefix, fmt = _strip(path)
    if fmt is not None and fmt not in formats:
        raise ValueError(f"{_accepted(name, formats)}, got the {_DESCRIPTION[fmt]} file {path!r}")
    candidates = [fmt] if fmt is not None else [f for f in FORMATS if f in formats]
    for fmt in candidates:
        if fmt == "bgen":
            if not os.path.isfile(prefix + ".bgen"):
                continue
            if sample is None:
                guess = prefix + ".sample"
                sample_path = guess if os.path.isfile(guess) else None
            else:
                sample_path = os.fspath(sample)
                if not os.path.isfile(sample_path):
                    raise FileNotFoundError(
                        f"sample {sample_path!r} (the BGEN sample file of {name}) does not exist"
                    )
            files = [prefix + ".bgen"] + ([sample_path] if sample_path else [])
            return GenotypeFiles("bgen", prefix, sample_path, files)
        parts = [prefix + ext for ext in _PARTS[fmt]]
        present = [os.path.isfile(p) for p in parts]
        if any(present) and (fmt == candidates[0] or present[0]):
            if not all(present):
                missing = [p for p, ok in zip(parts, present) if not ok]
                kind = "PLINK" if fmt == "bed" else "PLINK 2"
                raise FileNotFoundError(
                    f"{name} {path!r}: {kind} fileset {prefix!r} is incomplete: "
                    f"missing {', '.join(missing)}"
                )
            return GenotypeFiles(fmt, prefix, None, parts)
    others = [f for f in FORMATS if f not in formats and os.path.isfile(prefix + "." + f)]
    if others:
        raise ValueError(
            f"{_accepted(name, formats)}, got {path!r}, the prefix of a "
            f"{_DESCRIPTION[others[0]]} fileset"
        )
    if len(candidates) > 1:
        looked = [prefix + "." + f for f in candidates]
    else:
        looked = [prefix + ext for ext in _PARTS.get(candidates[0], (".bgen",))]
    raise FileNotFoundError(
        f"{name} {path!r} has no genotype files: looked for {', '.join(looked)}"
    )


# -- metadata --------------------------------------------------------------------
def _read_bim(path) -> pd.DataFrame:
    bim = pd.read_csv(
        path, sep=r"\s+", header=None, usecols=[0, 1, 3, 4, 5],
        names=["chromosome", "snp_id", "cm", "bp_position", "allele_1", "allele_2"],
        dtype={"chromosome": str, "snp_id": str, "allele_1": str, "allele_2": str},
        keep_default_na=False,
    )  # fmt: skip
    return bim[["snp_id", "chromosome", "bp_position", "allele_1", "allele_2"]]


def _read_pvar(path) -> pd.DataFrame:
    header = None
    skip = 0
    with open(path) as fh:
        for line in fh:
            if line.startswith("##"):
                skip += 1
                continue
            if line.startswith("#"):
                header = line[1:].split()
                skip += 1
            break
    if header is None:  # a .bim-like .pvar without header
        return _read_bim(path)
    table = pd.read_csv(
        path, sep="\t", header=None, skiprows=skip, names=header,
        usecols=["CHROM", "POS", "ID", "REF", "ALT"], dtype=str, keep_default_na=False,
    )  # fmt: skip
    return pd.DataFrame({
        "snp_id": table["ID"].to_numpy(),
        "chromosome": table["CHROM"].to_numpy(),
        "bp_position": table["POS"].astype(np.int64).to_numpy(),
        "allele_1": table["ALT"].str.split(",").str[0].to_numpy(),
        "allele_2": table["REF"].to_numpy(),
    })  # fmt: skip


def read_sample_ids(files: GenotypeFiles) -> pd.DataFrame:
    """``FID`` and ``IID`` of every sample, in file order (FID ``"0"`` when absent)."""
    if files.format == "bed":
        fam = pd.read_csv(
            files.prefix + ".fam", sep=r"\s+", header=None, usecols=[0, 1],
            names=["FID", "IID"], dtype=str, keep_default_na=False,
        )  # fmt: skip
        return fam
    if files.format == "pgen":
        psam = pd.read_csv(
            files.prefix + ".psam", sep=r"\s+", dtype=str, keep_default_na=False
        )
        first = psam.columns[0]
        if first in ("#FID", "FID"):
            return pd.DataFrame({"FID": psam[first].to_numpy(), "IID": psam["IID"].to_numpy()})
        if first in ("#IID", "IID"):
            iid = psam[first].to_numpy()
            return pd.DataFrame({"FID": np.repeat("0", len(iid)), "IID": iid})
        # a .fam-like .psam
        psam = pd.read_csv(
            files.prefix + ".psam", sep=r"\s+", header=None, usecols=[0, 1],
            names=["FID", "IID"], dtype=str, keep_default_na=False,
        )  # fmt: skip
        return psam
    if files.sample is not None:
        table = pd.read_csv(files.sample, sep=r"\s+", dtype=str, keep_default_na=False)
        table = table.iloc[1:]  # the column-type line "0 0 0 D ..."
        return pd.DataFrame({
            "FID": table.iloc[:, 0].to_numpy(), "IID": table.iloc[:, 1].to_numpy()
        })  # fmt: skip
    import cbgen

    with cbgen.bgen_file(files.main) as bgen:
        if not bgen.contain_samples:
            raise ValueError(
                f"{files.main!r} stores no sample ids; pass its .sample file as sample="
            )
        iid = np.char.decode(bgen.read_samples(), "utf-8").astype(str)
    return pd.DataFrame({"FID": np.repeat("0", len(iid)), "IID": iid})


# -- readers: int8 (bed/pgen) or float32 (bgen) blocks of (n_samples, k) ----------
class _PgenSource:
    """.bed or .pgen through pgenlib; blocks of int8 calls, -9 missing."""

    def __init__(self, files: GenotypeFiles, n_samples: int, n_variants: int):
        import pgenlib

        kwargs = {"raw_sample_ct": n_samples} if files.format == "bed" else {}
        self._reader = pgenlib.PgenReader(files.main.encode(), variant_ct=n_variants, **kwargs)
        if self._reader.get_raw_sample_ct() != n_samples:
            raise ValueError(
                f"{files.main!r} has {self._reader.get_raw_sample_ct()} samples but "
                f"its sample file lists {n_samples}"
            )
        self.n = n_samples

    def allele_freq(self, index: np.ndarray) -> np.ndarray:
        counts = np.zeros(4, dtype=np.uint32)
        freq = np.empty(len(index))
        for k, j in enumerate(index):
            self._reader.count(int(j), counts)
            called = counts[0] + counts[1] + counts[2]
            freq[k] = (counts[1] + 2.0 * counts[2]) / (2.0 * called) if called else np.nan
        return freq

    def block(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty((self.n, len(index)), dtype=np.int8)
        self._reader.read_list(index.astype(np.uint32), out, sample_maj=True)
        return out, out == _MISSING_INT8

    def close(self):
        self._reader.close()


class _BgenSource:
    """.bgen through cbgen; blocks of float32 dosages of the first allele."""

    def __init__(self, files: GenotypeFiles):
        import cbgen

        self._tmp = tempfile.mkdtemp(prefix="contig_bgen_")
        try:
            self._bgen = cbgen.bgen_file(files.main)
            metafile = os.path.join(self._tmp, "bgen.metafile")
            self._bgen.create_metafile(metafile)
            with cbgen.bgen_metafile(metafile) as mf:
                parts = [mf.read_partition(i).variants for i in range(mf.npartitions)]
        except Exception:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        self.n = self._bgen.nsamples
        cat = lambda name: np.concatenate([getattr(v, name) for v in parts])  # noqa: E731
        rsid = np.char.decode(cat("rsid"), "utf-8").astype(str)
        varid = np.char.decode(cat("id"), "utf-8").astype(str)
        alleles = pd.Series(np.char.decode(cat("allele_ids"), "utf-8")).str.split(",")
        nalleles = cat("nalleles")
        if (nalleles != 2).any():
            bad = np.flatnonzero(nalleles != 2)[:5].tolist()
            raise ValueError(
                f"{files.main!r} has variants with other than 2 alleles (indices {bad}); "
                "only biallelic BGEN variants are read"
            )
        self.offsets = cat("offset")
        self.variants = pd.DataFrame({
            "snp_id": np.where(rsid != "", rsid, varid),
            "chromosome": np.char.decode(cat("chromosome"), "utf-8").astype(str),
            "bp_position": cat("position").astype(np.int64),
            "allele_1": alleles.str[0].to_numpy().astype(str),
            "allele_2": alleles.str[1].to_numpy().astype(str),
        })  # fmt: skip

    def _dosage(self, j: int) -> np.ndarray:
        gt = self._bgen.read_genotype(int(self.offsets[j]), precision=32)
        p = gt.probability
        if gt.phased:
            dosage = p[:, 0] + p[:, 2]
        else:
            if p.shape[1] != 3:
                raise ValueError(
                    f"BGEN variant {j} is not diploid ({p.shape[1]} genotype probabilities)"
                )
            dosage = 2.0 * p[:, 0] + p[:, 1]
        dosage[np.asarray(gt.missing, dtype=bool)] = np.nan
        return dosage

    def allele_freq(self, index: np.ndarray) -> np.ndarray:
        freq = np.empty(len(index))
        for k, j in enumerate(index):
            d = self._dosage(j)
            freq[k] = np.nanmean(d) / 2.0 if (~np.isnan(d)).any() else np.nan
        return freq

    def block(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.empty((self.n, len(index)), dtype=np.float32)
        for k, j in enumerate(index):
            out[:, k] = self._dosage(j)
        return out, np.isnan(out)

    def close(self):
        self._bgen.close()
        shutil.rmtree(self._tmp, ignore_errors=True)


def _mode(calls: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Per-column most frequent hard call (0, 1, 2) ignoring holes; ties -> smaller."""
    hard = calls if calls.dtype == np.int8 else np.rint(np.where(holes, -1, calls))
    counts = np.stack([(hard == g).sum(0) for g in (0, 1, 2)])
    return counts.argmax(0)


# -- zarr output -----------------------------------------------------------------
def _create_store(store, template: xr.DataArray, chunk_size: int, sample_chunk: int):
    import dask.array as da

    from ._zarr import _ORDER, _assign, _is_string

    n, p = template.shape
    lazy = da.full((n, p), np.nan, dtype=template.dtype, chunks=(sample_chunk, chunk_size))
    ds = template.copy(data=lazy).to_dataset(name="snp")
    strings = {
        name: var.copy(data=np.asarray(var.values).astype(object))
        for name, var in ds.variables.items()
        if _is_string(var)
    }
    ds = _assign(ds, strings)
    ds.attrs = {_ORDER: ["snp"]}
    ds.to_zarr(os.fspath(store), mode="w-", zarr_format=3, consolidated=False, compute=False)
    import zarr

    return zarr.open_array(os.fspath(store), path="snp", mode="r+")


# -- the reader --------------------------------------------------------------------
def read_genotypes(
    path,
    *,
    every: int = 1,
    snps: Sequence[str] | None = None,
    maf: float | None = None,
    impute: bool = True,
    dtype=np.float16,
    chunk_size: int = 1024,
    store=None,
    sample=None,
) -> xr.DataArray:
    """Read .bed, .pgen or .bgen genotypes into a ``(sample, snp_id)`` DataArray.

    The layout is :func:`read_plink`'s; values count ``allele_1`` (see the
    module docstring for which allele that is per format), held as float16 (2
    bytes per call) by default and read ``chunk_size`` variants at a time.

    Parameters
    ----------
    path : str or path-like
        A ``.bed``, ``.pgen`` or ``.bgen`` file (or another part of the fileset),
        or a prefix (tried as .pgen, .bed, .bgen).
    every : int, default=1
        Keep every ``every``-th variant, counted after the ``snps`` and ``maf``
        selections (ContIG used ``every=100``).
    snps : sequence of str, default=None
        Variant ids to keep, in file order; all when omitted. Unknown ids raise a
        :class:`ValueError`.
    maf : float in [0, 0.5], default=None
        Keep variants with minor allele frequency ``>= maf`` (over the called
        genotypes of all samples in the file, like ``plink2 --maf``).
    impute : bool, default=True
        Replace missing calls by the variant's most frequent hard call (ties go
        to the smaller dosage); a sample with every selected call missing keeps
        an all-NaN row (a missing modality). With ``impute=False`` missing calls
        are NaN.
    dtype : float dtype, default=numpy.float16
        float16 keeps 0, 1, 2 and NaN exactly in 2 bytes.
    chunk_size : int, default=1024
        Variants read per chunk (the peak memory above the result is about
        ``6 * n_samples * chunk_size`` bytes).
    store : str or path-like, default=None
        Write the genotypes chunk by chunk to this new zarr store (a ``snp``
        variable in :func:`to_zarr`'s layout, chunks of up to 256 samples by
        ``chunk_size`` variants) and return it opened lazily with
        :func:`open_zarr`, for cohorts larger than memory. The store must not exist.
    sample : str or path-like, default=None
        BGEN ``.sample`` file (``<prefix>.sample`` when it exists, else the ids
        stored in the .bgen); the IID is its second column.

    Returns
    -------
    snp : xarray.DataArray of shape (n_individuals, n_snps)
        Named ``"snp"`` with ``attrs["kind"] == "genetic"`` and
        ``attrs["format"]``; coordinates ``sample`` and ``individual`` (both the
        IID), ``snp_id`` and, on ``snp_id``, ``chromosome``, ``bp_position``,
        ``allele_1`` (the counted allele), ``allele_2``.

    Raises
    ------
    ValueError
        A bad ``every``, ``maf``, ``chunk_size``, ``dtype`` or ``snps``, an
        existing ``store``, or duplicate sample ids.
    FileNotFoundError
        No genotype files at ``path``, or a fileset with a part missing.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn_contig.data import read_genotypes, write_plink
    >>> g = np.array([[0, 1, 2, 0], [1, np.nan, 0, 2], [2, 1, 1, 0]])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     prefix = write_plink(f"{tmp}/toy", g, sid=["rs1", "rs2", "rs3", "rs4"])
    ...     snp = read_genotypes(prefix + ".bed", maf=0.4)
    >>> snp.dtype, snp["snp_id"].values.tolist()
    (dtype('float16'), ['rs1', 'rs2', 'rs3'])
    >>> snp.values.tolist()
    [[0.0, 1.0, 2.0], [1.0, 1.0, 0.0], [2.0, 1.0, 1.0]]
    """
    every = _check_int(every, "every", "a positive integer")
    chunk_size = _check_int(chunk_size, "chunk_size", "a positive integer")
    if maf is not None:
        try:
            maf = float(maf)
        except (TypeError, ValueError):
            raise ValueError(f"maf must be a number in [0, 0.5], got {maf!r}") from None
        if not 0.0 <= maf <= 0.5:
            raise ValueError(f"maf must be a number in [0, 0.5], got {maf}")
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be a float dtype, got {dtype!r}") from None
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a float dtype (NaN marks missing calls), got {dtype}")
    if snps is not None and isinstance(snps, str):
        raise ValueError("snps must be a sequence of variant ids, not a single string")
    if store is not None and os.path.exists(os.fspath(store)):
        raise ValueError(f"store {os.fspath(store)!r} already exists; pass a new path")
    files = genotype_files(path, sample=sample)

    ids = read_sample_ids(files)
    iid = ids["IID"].to_numpy().astype(str)
    if pd.Index(iid).has_duplicates:
        dup = pd.Index(iid)[pd.Index(iid).duplicated()][:5].tolist()
        raise ValueError(f"{files.main!r} has duplicate individual ids (IID), e.g. {dup}")
    if files.format == "bgen":
        source = _BgenSource(files)
        variants = source.variants
        if source.n != len(iid):
            source.close()
            raise ValueError(
                f"{files.main!r} has {source.n} samples but {files.sample!r} lists {len(iid)}"
            )
    else:
        meta = files.prefix + (".bim" if files.format == "bed" else ".pvar")
        variants = _read_bim(meta) if files.format == "bed" else _read_pvar(meta)
        source = _PgenSource(files, len(iid), len(variants))
    try:
        index = _select(variants, snps, files.main)
        if maf is not None and maf > 0:
            freq = source.allele_freq(index)
            minor = np.minimum(freq, 1.0 - freq)
            index = index[np.nan_to_num(minor, nan=-1.0) >= maf]
        index = index[::every]
        if len(index) == 0:
            raise ValueError(f"no variant selected from {files.main!r}")
        sel = variants.iloc[index]
        coords = {
            "sample": iid,
            "individual": ("sample", iid),
            "snp_id": sel["snp_id"].to_numpy().astype(str),
            "chromosome": ("snp_id", sel["chromosome"].to_numpy().astype(str)),
            "bp_position": ("snp_id", sel["bp_position"].to_numpy().astype(np.int32)),
            "allele_1": ("snp_id", sel["allele_1"].to_numpy().astype(str)),
            "allele_2": ("snp_id", sel["allele_2"].to_numpy().astype(str)),
        }
        attrs = {"kind": GENETIC, "format": files.format}
        n, p = len(iid), len(index)
        if store is None:
            values = np.empty((n, p), dtype=dtype)
            target = values
        else:
            template = xr.DataArray(
                np.broadcast_to(np.zeros((), dtype=dtype), (n, p)),
                dims=("sample", "snp_id"), coords=coords, name="snp", attrs=attrs,
            )  # fmt: skip
            target = _create_store(store, template, min(chunk_size, p), min(n, 256))
        observed = np.zeros(n, dtype=np.int64)
        for start in range(0, p, chunk_size):
            cols = index[start : start + chunk_size]
            stop = start + len(cols)
            calls, holes = source.block(cols)
            # in memory the chunk is converted straight into the result
            block = values[:, start:stop] if store is None else np.empty((n, len(cols)), dtype)
            np.copyto(block, calls, casting="unsafe")
            if holes.any():
                fill = _mode(calls, holes).astype(dtype)[None, :] if impute else np.nan
                np.copyto(block, fill, where=holes)
            if impute:
                observed += cols.size - holes.sum(1)
            if store is not None:
                target[:, start:stop] = block
            del calls, holes, block
        if impute:
            for row in np.flatnonzero(observed == 0):
                target[row, :] = np.nan
    finally:
        source.close()
    if store is not None:
        from ._zarr import open_zarr

        return open_zarr(store)["snp"]
    return xr.DataArray(
        values, dims=("sample", "snp_id"), coords=coords, name="snp", attrs=attrs
    )


def _check_int(value, name, what) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return int(value)


def _select(variants: pd.DataFrame, snps, where) -> np.ndarray:
    index = np.arange(len(variants))
    if snps is None:
        return index
    known = pd.Index(variants["snp_id"].to_numpy().astype(str))
    wanted = pd.Index(np.asarray(list(snps)).astype(str))
    if not known.is_unique:
        dup = known[known.duplicated()][:5].tolist()
        raise ValueError(f"{where} has duplicate variant ids (e.g. {dup}); cannot select by snps")
    missing = wanted.difference(known)
    if len(missing):
        raise ValueError(
            f"snps has {len(missing)} ids not in {where}, e.g. {missing[:5].tolist()}"
        )
    return np.sort(known.get_indexer(wanted.unique()))
