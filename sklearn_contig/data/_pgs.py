"""Polygenic scores from PGS Catalog scoring files, computed with ``plink2 --score``.

A scoring file (``PGS000001.txt.gz`` from https://www.pgscatalog.org) has
``#``-prefixed header lines (``#pgs_id=PGS000001``) and tab-separated columns
``rsID`` and/or ``chr_name`` + ``chr_position``, ``effect_allele``,
``other_allele`` (optional) and ``effect_weight``.

Matching, as plink2 does it
---------------------------
A variant of the scoring file is matched to a genotype variant by rsID (when
the file has an ``rsID`` column and the genotype variant ids are rsIDs), else
by chromosome and position. It is used when its effect allele is one of the
variant's two alleles (and its other allele, when given, the other one):
plink2 then counts copies of the effect allele, whichever of REF/ALT it is (an
allele flip). Nothing is strand-flipped: like plink2, an effect allele on the
other strand does not match, and a strand-ambiguous variant (A/T, C/G) is
scored with the allele as written. Missing calls are mean-imputed (plink2's
default).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._genotypes import (
    GenotypeFiles,
    _BgenSource,
    _read_bim,
    _read_pvar,
    check_bgen_ref,
    genotype_files,
    read_sample_ids,
)
from ._plink_run import find_binary, run_plink
from ._tables import read_pgs

__all__ = ["compute_pgs", "read_scoring_file"]

logger = logging.getLogger(__name__)

_REQUIRED = ("effect_allele", "effect_weight")


def read_scoring_file(path) -> tuple[str, pd.DataFrame]:
    """Read a PGS Catalog scoring file (plain or gzip): ``(score name, table)``.

    The name is the ``#pgs_id=`` header value, else the file name without
    ``.txt``/``.tsv``/``.gz``. The table keeps the columns ``rsID``,
    ``chr_name``, ``chr_position``, ``effect_allele``, ``other_allele`` and
    ``effect_weight`` that are present (alleles upper-cased).

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn_contig.data import read_scoring_file
    >>> text = "#pgs_id=PGS000099\\nrsID\\teffect_allele\\teffect_weight\\nrs1\\ta\\t0.5\\n"
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with open(os.path.join(tmp, "s.txt"), "w") as fh:
    ...         _ = fh.write(text)
    ...     name, table = read_scoring_file(os.path.join(tmp, "s.txt"))
    >>> name, table["effect_allele"].tolist()
    ('PGS000099', ['A'])
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"scoring file {path!r} does not exist")
    opener = gzip.open if path.endswith(".gz") else open
    name = None
    skip = 0
    with opener(path, "rt") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            skip += 1
            key, _, value = line[1:].strip().partition("=")
            if key.strip() == "pgs_id" and value.strip():
                name = value.strip()
    if name is None:
        name = os.path.basename(path)
        for ext in (".gz", ".txt", ".tsv"):
            name = name[: -len(ext)] if name.endswith(ext) else name
    table = pd.read_csv(
        path, sep="\t", skiprows=skip, dtype={"rsID": str, "chr_name": str,
        "effect_allele": str, "other_allele": str}, low_memory=False,
    )  # fmt: skip
    missing = [c for c in _REQUIRED if c not in table]
    if missing:
        raise ValueError(
            f"scoring_files: {path!r} has no column {missing} (columns: {list(table.columns)})"
        )
    if "rsID" not in table and not {"chr_name", "chr_position"} <= set(table.columns):
        raise ValueError(
            f"scoring_files: {path!r} needs an 'rsID' column or 'chr_name' and 'chr_position'"
        )
    if not pd.api.types.is_numeric_dtype(table["effect_weight"]):
        raise ValueError(f"scoring_files: {path!r} column 'effect_weight' is not numeric")
    keep = [c for c in ("rsID", "chr_name", "chr_position", "effect_allele",
                        "other_allele", "effect_weight") if c in table]  # fmt: skip
    table = table[keep].copy()
    for col in ("effect_allele", "other_allele"):
        if col in table:
            table[col] = table[col].str.upper()
    return name, table


def _variants(files: GenotypeFiles) -> pd.DataFrame:
    if files.format == "bed":
        return _read_bim(files.prefix + ".bim")
    if files.format == "pgen":
        return _read_pvar(files.prefix + ".pvar")
    source = _BgenSource(files)
    try:
        return source.variants
    finally:
        source.close()


def _match(table: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``table`` found in ``variants`` with consistent alleles; adds ``ID``."""
    var = variants.reset_index(drop=True)
    by_id = "rsID" in table and var["snp_id"].str.startswith("rs").any()
    if by_id:
        key_t = table["rsID"].astype(str)
        key_v = var["snp_id"].astype(str)
    else:
        chrom_t = table["chr_name"].astype(str).str.removeprefix("chr")
        key_t = chrom_t + ":" + table["chr_position"].astype("Int64").astype(str)
        key_v = var["chromosome"].astype(str).str.removeprefix("chr") + ":" + var[
            "bp_position"
        ].astype(str)
    lookup = pd.Series(np.arange(len(var)), index=key_v.to_numpy())
    lookup = lookup[~lookup.index.duplicated(keep=False)]
    pos = lookup.reindex(key_t.to_numpy()).to_numpy()
    found = ~pd.isna(pos)
    rows = table[found].copy()
    hit = var.iloc[pos[found].astype(np.int64)]
    a1 = hit["allele_1"].str.upper().to_numpy()
    a2 = hit["allele_2"].str.upper().to_numpy()
    eff = rows["effect_allele"].to_numpy()
    ok = (eff == a1) | (eff == a2)
    if "other_allele" in rows:
        other = rows["other_allele"].to_numpy()
        expected = np.where(eff == a1, a2, a1)
        ok &= pd.isna(other) | (other == expected)
    rows["ID"] = hit["snp_id"].to_numpy()
    rows = rows[ok]
    return rows[~rows["ID"].duplicated()]


def compute_pgs(
    scoring_files,
    genotypes,
    *,
    score: str = "avg",
    plink2: str = "plink2",
    threads: int | None = None,
    sample=None,
    bgen_ref: str = "last",
    extra_args=(),
) -> xr.DataArray:
    """Polygenic scores of every individual with ``plink2 --score``.

    Parameters
    ----------
    scoring_files : path or sequence of paths
        PGS Catalog scoring files (plain or ``.gz``); one score each, named by
        its ``#pgs_id=`` header (else the file name). See the module docstring
        for how variants and alleles are matched.
    genotypes : path or sequence of paths
        .bed/.pgen filesets or .bgen files (see
        :func:`sklearn_contig.data.read_genotypes`), e.g. one per chromosome:
        each is scored on the variants it holds and the results are summed.
        All must hold the same individuals.
    score : {"avg", "sum"}, default="avg"
        plink2's ``SCORE_AVG`` (sum over variants of dosage times weight,
        divided by the number of alleles scored, ``ALLELE_CT``; over several
        genotype files the sums and allele counts are added first) or
        ``SCORE_SUM``.
    plink2 : str, default="plink2"
        Name or path of the PLINK 2 binary.
    threads : int or None, default=None
        ``--threads``.
    sample, bgen_ref
        BGEN sample file and allele order (see :func:`sklearn_contig.gwas.run_gwas`).
    extra_args : sequence of str, default=()
        More PLINK 2 arguments.

    Returns
    -------
    pgs : xarray.DataArray of shape (n_individuals, n_scores)
        :func:`read_pgs`'s layout (``pgs_id`` one per scoring file, individuals
        by IID). ``attrs["matched"]`` maps each score to the share of its
        variants that were matched and scored (also logged at INFO level),
        ``attrs["n_variants"]`` to the number of variants in its file.

    Raises
    ------
    ValueError
        ``score``/``bgen_ref`` not allowed, an empty ``scoring_files`` or
        ``genotypes``, genotype files that hold different individuals (a
        person's score would sum only some of them), a scoring file without
        the needed columns, or a score with no variant matched.
    FileNotFoundError
        A scoring or genotype file does not exist.
    RuntimeError
        plink2 is missing or fails.
    """
    if score not in ("avg", "sum"):
        raise ValueError(f"score must be 'avg' or 'sum', got {score!r}")
    check_bgen_ref(bgen_ref)
    scoring_files = _as_list(scoring_files, "scoring_files")
    genotypes = _as_list(genotypes, "genotypes")
    scores = [read_scoring_file(p) for p in scoring_files]
    names = [name for name, _ in scores]
    if len(set(names)) < len(names):
        raise ValueError(f"scoring_files: score names repeat: {names}")
    files = [genotype_files(g, sample=sample) for g in genotypes]
    _check_same_individuals(files)
    exe = find_binary(plink2, "plink2")
    variants = [_variants(f) for f in files]

    sums, counts, matched = {}, {}, {}
    work = Path(tempfile.mkdtemp(prefix="contig_pgs_"))
    try:
        for name, table in scores:
            n_used = 0
            for k, (gfiles, var) in enumerate(zip(files, variants)):
                rows = _match(table, var)
                if rows.empty:
                    continue
                score_path = work / f"score{k}.txt"
                rows[["ID", "effect_allele", "effect_weight"]].to_csv(
                    score_path, sep="\t", index=False, float_format="%.10g"
                )
                out_prefix = work / f"pgs{k}"
                cmd = [exe, *gfiles.plink2_args(bgen_ref), "--score", str(score_path),
                       "1", "2", "3", "header", "cols=+scoresums", "list-variants"]  # fmt: skip
                if threads is not None:
                    cmd += ["--threads", str(int(threads))]
                cmd += [*map(str, extra_args), "--out", str(out_prefix)]
                run_plink(cmd, out_prefix, "plink2 --score")
                table_k = pd.read_csv(str(out_prefix) + ".sscore", sep="\t", dtype=str)
                iid = table_k["IID"].to_numpy()
                s = pd.Series(table_k["SCORE1_SUM"].astype(np.float64).to_numpy(), index=iid)
                c = pd.Series(table_k["ALLELE_CT"].astype(np.float64).to_numpy(), index=iid)
                used = Path(str(out_prefix) + ".sscore.vars")
                n_used += len(used.read_text().split()) if used.is_file() else len(rows)
                sums[name] = s if name not in sums else sums[name].add(s, fill_value=0)
                counts[name] = c if name not in counts else counts[name].add(c, fill_value=0)
                for path in work.iterdir():
                    path.unlink()
            matched[name] = n_used / max(len(table), 1)
            logger.info(
                "compute_pgs: %s: %d of %d variants matched (%.1f%%)",
                name, n_used, len(table), 100 * matched[name],
            )  # fmt: skip
            if n_used == 0:
                raise ValueError(
                    f"scoring_files: no variant of {name} ({len(table)} variants) "
                    f"matched the genotypes {[f.main for f in files]}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ids = sums[names[0]].index
    wide = pd.DataFrame(
        {
            name: (sums[name] / counts[name] if score == "avg" else sums[name]).reindex(ids)
            for name in names
        }
    )
    wide.insert(0, "IID", ids)
    pgs = read_pgs(wide.reset_index(drop=True))
    pgs.attrs["matched"] = matched
    pgs.attrs["n_variants"] = {name: len(table) for name, table in scores}
    return pgs


def _check_same_individuals(files) -> None:
    """Raise unless every genotype file holds the same individuals (by IID)."""
    first = None
    for k, gfiles in enumerate(files):
        iid = pd.Index(read_sample_ids(gfiles)["IID"].astype(str))
        if first is None:
            first = iid
            continue
        if not iid.sort_values().equals(first.sort_values()):
            only_here = iid.difference(first)[:3].tolist()
            only_first = first.difference(iid)[:3].tolist()
            raise ValueError(
                f"genotypes: {files[k].main!r} holds other individuals than {files[0].main!r} "
                f"(e.g. only in the former: {only_here}, only in the latter: {only_first}); "
                "every file must hold the same individuals, or a person's score would sum only "
                "some of the files"
            )


def _as_list(value, name) -> list:
    if isinstance(value, (str, os.PathLike)):
        return [value]
    try:
        value = list(value)
    except TypeError:
        raise TypeError(f"{name} must be a path or a sequence of paths") from None
    if not value:
        raise ValueError(f"{name} is empty")
    return value
