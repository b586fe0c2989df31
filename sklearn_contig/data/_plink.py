"""Read and write PLINK 1 binary genotypes (.bed/.bim/.fam) with bed-reader.

Counting convention
-------------------
A genotype value is the number of copies of ``allele_1`` (the first allele
column of the .bim file, PLINK's A1; plink2 reads it as ALT), i.e. bed-reader's
``count_A1=True``. :func:`read_plink` and :func:`write_plink` both use it, so a
round trip is exact and ``plink2 --freq`` reports ``ALT_FREQS`` as the mean
dosage divided by two. In files written by ``plink --make-bed`` A1 is the
minor allele, so the value is the minor-allele count there.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from bed_reader import to_bed

from ._genotypes import find_genotype_files, read_genotypes

__all__ = ["read_plink", "write_plink"]

#: bed-reader's ``count_A1``: values count ``allele_1`` (PLINK A1, plink2 ALT).
COUNT_A1 = True

_SNP_COORDS = ("chromosome", "bp_position", "allele_1", "allele_2")


def _prefix(path) -> str:
    path = os.fspath(path)
    for ext in (".bed", ".bim", ".fam"):
        if path.endswith(ext):
            return path[: -len(ext)]
    return path


def read_plink(
    path,
    every: int = 1,
    snps: Sequence[str] | None = None,
    impute: bool = True,
    dtype=np.float32,
) -> xr.DataArray:
    """Read a PLINK 1 binary fileset into a ``(sample, snp_id)`` DataArray.

    Values count copies of ``allele_1`` (PLINK A1 = plink2 ALT; see the module
    docstring), so they are 0, 1, 2 or NaN.

    Parameters
    ----------
    path : str or path-like
        The ``.bed`` (or ``.bim``, ``.fam``) file or the common prefix of
        ``.bed/.bim/.fam``.
    every : int, default=1
        Keep every ``every``-th SNP (ContIG used ``every=100``), counted after
        the ``snps`` selection.
    snps : sequence of str, default=None
        SNP ids (.bim column 2, e.g. rsIDs) to keep, in file order. All when
        omitted. Unknown ids raise a :class:`ValueError`.
    impute : bool, default=True
        Replace missing calls by the SNP's most frequent genotype (mode over the
        individuals read; ties go to the smaller dosage). An individual with every
        selected call missing keeps an all-NaN row (a missing modality). With
        ``impute=False`` missing calls are NaN.
    dtype : float dtype, default=numpy.float32
        ``numpy.float16`` holds 0, 1, 2 and NaN exactly in half the memory;
        :func:`read_genotypes` (which this calls) uses it by default and also
        reads .pgen and .bgen files, filters by allele frequency and reads
        chunk by chunk.

    Returns
    -------
    snp : xarray.DataArray of shape (n_individuals, n_snps)
        Named ``"snp"`` with ``attrs["kind"] == "genetic"``; coordinates ``sample``
        and ``individual`` (both the IID), ``snp_id`` and, on ``snp_id``,
        ``chromosome``, ``bp_position``, ``allele_1``, ``allele_2``.

    Raises
    ------
    FileNotFoundError
        No ``.bed``/``.bim``/``.fam`` at ``path``, or one of them missing (the
        message names it).
    ValueError
        ``path`` is a PLINK 2 or BGEN file or the prefix of one (read those with
        :func:`read_genotypes`), or a bad ``every``, ``snps`` or ``dtype``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn_contig.data import read_plink, write_plink
    >>> g = np.array([[0, 1, 2, 0], [1, np.nan, 0, 2], [2, 1, 1, 0]])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     prefix = write_plink(f"{tmp}/toy", g, sid=["rs1", "rs2", "rs3", "rs4"])
    ...     snp = read_plink(prefix, every=2)
    >>> snp.dims
    ('sample', 'snp_id')
    >>> snp["snp_id"].values.tolist()
    ['rs1', 'rs3']
    >>> snp.values.tolist()
    [[0.0, 2.0], [1.0, 0.0], [2.0, 1.0]]
    """
    files = find_genotype_files(path, formats=("bed",))
    return read_genotypes(files, every=every, snps=snps, impute=impute, dtype=dtype)


def dedupe_individuals(values, iid):
    """One row per individual: drop repeated rows of the same individual.

    ``values`` is a 2-D float array with one row per entry of ``iid``. The
    first row of each individual is kept; its repeated rows must hold the same
    values (NaN matching NaN), else a ValueError names some of the
    individuals. Returns ``(values, iid)`` as given when no id repeats.
    """
    idx = pd.Index(iid)
    if idx.is_unique:
        return values, iid
    first = ~idx.duplicated()
    repeat = ~first
    codes = pd.factorize(idx, use_na_sentinel=False)[0]
    row_of = np.empty(codes.max() + 1, dtype=np.intp)
    row_of[codes[first]] = np.flatnonzero(first)
    reference = values[row_of[codes[repeat]]]
    others = values[repeat]
    same = (reference == others) | (np.isnan(reference) & np.isnan(others))
    if not same.all():
        bad = idx[repeat][~same.all(axis=1)].unique()[:5].tolist()
        raise ValueError(
            "genotypes has several rows with different values for the same "
            f"individual, e.g. {bad}"
        )
    return values[first], np.asarray(iid)[first]


def write_plink(
    path,
    genotypes,
    *,
    chromosome=None,
    bp_position=None,
    allele_1=None,
    allele_2=None,
    fid=None,
    iid=None,
    sex=None,
    sid=None,
) -> str:
    """Write genotype dosages as a PLINK 1 binary fileset (.bed/.bim/.fam).

    Values are written as copies of ``allele_1`` (see the module docstring), so
    ``read_plink(write_plink(p, g))`` returns ``g`` exactly.

    Parameters
    ----------
    path : str or path-like
        Prefix of the fileset (a trailing ``.bed`` is removed).
    genotypes : xarray.DataArray of dims (sample, snp_id) or array-like of shape (n, p)
        Dosages 0, 1, 2 or NaN (missing call). For a DataArray the SNP ids come
        from the ``snp_id`` coordinate, the individual ids from ``individual``
        (else ``sample``) and ``chromosome``, ``bp_position``, ``allele_1``,
        ``allele_2`` from coordinates on ``snp_id`` when present. Several
        samples of one individual (several images per person) are written once;
        their rows must agree. All-NaN rows are written as all-missing calls.
    chromosome, bp_position, allele_1, allele_2 : array-like of shape (p,), default=None
        Override the coordinates; otherwise chromosome ``"0"``, position ``0``
        and alleles ``"A1"``/``"A2"``.
    fid : array-like of shape (n,), default=None
        Family ids; the individual id when omitted.
    iid : array-like of shape (n,), default=None
        Individual ids (for arrays: ``"iid0".."iid{n-1}"`` when omitted). The id
        ``"0"`` is refused: PLINK reads it as missing.
    sex : array-like of shape (n,), default=None
        PLINK sex codes (1 male, 2 female, 0 unknown); 0 when omitted.
    sid : array-like of shape (p,), default=None
        SNP ids (for arrays: ``"snp0".."snp{p-1}"`` when omitted).

    Returns
    -------
    prefix : str
        The fileset prefix, to pass to :func:`read_plink` or ``plink2 --bfile``.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from sklearn_contig.data import write_plink
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     prefix = write_plink(os.path.join(tmp, "toy"), np.array([[0, 1], [2, 0]]))
    ...     sorted(os.listdir(tmp))
    ['toy.bed', 'toy.bim', 'toy.fam']
    """
    prefix = _prefix(path)
    coords = {}
    if isinstance(genotypes, xr.DataArray):
        if genotypes.ndim != 2:
            raise ValueError(
                f"genotypes must be 2-D (sample, snp_id), got dims {genotypes.dims}"
            )
        sample_dim, snp_dim = genotypes.dims
        if snp_dim != "snp_id" and sample_dim == "snp_id":
            genotypes = genotypes.transpose()
            sample_dim, snp_dim = genotypes.dims
        for name in _SNP_COORDS:
            if name in genotypes.coords and genotypes[name].dims == (snp_dim,):
                coords[name] = genotypes[name].values
        if snp_dim in genotypes.coords:
            coords["sid"] = genotypes[snp_dim].values
        for name in ("individual", sample_dim):
            if name in genotypes.coords and genotypes[name].dims == (sample_dim,):
                coords["iid"] = genotypes[name].values
                break
        values = np.asarray(genotypes.values)
    else:
        values = np.asarray(genotypes)
        if values.ndim != 2:
            raise ValueError(
                f"genotypes must be 2-D (sample, snp), got shape {values.shape}"
            )
    if values.dtype.kind not in "biuf":
        raise TypeError(f"genotypes must be numeric, got dtype {values.dtype}")
    values = values.astype(np.float32)  # a copy: the input is never modified
    observed = values[~np.isnan(values)]
    bad = ~np.isin(observed, (0.0, 1.0, 2.0))
    if bad.any():
        raise ValueError(
            "genotypes must hold dosages 0, 1, 2 or NaN; "
            f"found {np.unique(observed[bad])[:5].tolist()}"
        )
    n, p = values.shape
    given = {
        "chromosome": chromosome,
        "bp_position": bp_position,
        "allele_1": allele_1,
        "allele_2": allele_2,
        "sid": sid,
        "iid": iid,
    }
    for name, value in given.items():
        if value is not None:
            coords[name] = np.asarray(value)
    if "iid" not in coords:
        coords["iid"] = np.array([f"iid{i}" for i in range(n)])
    if "sid" not in coords:
        coords["sid"] = np.array([f"snp{j}" for j in range(p)])
    missing = np.flatnonzero(pd.isna(np.asarray(coords["iid"])))
    if len(missing):
        raise ValueError(f"iid has missing ids (None or NaN) at positions {missing[:5].tolist()}")
    iid_arr = np.asarray(coords["iid"]).astype(str)
    if len(iid_arr) != n:
        raise ValueError(f"iid has {len(iid_arr)} entries for {n} rows of genotypes")
    if (iid_arr == "0").any():
        raise ValueError(
            "iid contains the id '0', which PLINK reads as a missing id; rename it"
        )
    if fid is None and sex is None:
        values, iid_arr = dedupe_individuals(values, iid_arr)
        n = len(iid_arr)
    elif pd.Index(iid_arr).has_duplicates:
        raise ValueError("iid has duplicate ids; pass one row per individual")
    properties = {
        "fid": iid_arr if fid is None else np.asarray(fid).astype(str),
        "iid": iid_arr,
        "sex": np.zeros(n, dtype=np.int32) if sex is None else np.asarray(sex, dtype=np.int32),
        "sid": np.asarray(coords["sid"]).astype(str),
    }
    if "chromosome" in coords:
        properties["chromosome"] = np.asarray(coords["chromosome"]).astype(str)
    if "bp_position" in coords:
        properties["bp_position"] = np.asarray(coords["bp_position"]).astype(np.int32)
    for name in ("allele_1", "allele_2"):
        if name in coords:
            properties[name] = np.asarray(coords[name]).astype(str)
    for name, value in properties.items():
        expected = n if name in ("fid", "iid", "sex") else p
        if len(value) != expected:
            raise ValueError(f"{name} has {len(value)} entries, expected {expected}")
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    to_bed(prefix + ".bed", values, properties=properties, count_A1=COUNT_A1)
    return prefix
