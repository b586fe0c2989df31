"""PLINK writers and runners: ``plink2 --glm``, ``plink1.9 --clump``, ``plink2 --pca``.

PLINK 2 and PLINK 1.9 are the association and clumping engines (Debian packages
``plink2`` and ``plink1.9``). Everything here talks to them through files in a
working directory and returns tidy :class:`pandas.DataFrame` objects.

Genotypes may be a PLINK 1 fileset (``--bfile``), a PLINK 2 fileset
(``--pfile``) or a BGEN file (``--bgen FILE ref-last --sample FILE.sample``),
found from what exists at the path (see
:func:`sklearn_contig.data.genotype_files`). With BGEN, ``bgen_ref="last"``
(the default) makes the first allele ALT, the allele
:func:`sklearn_contig.data.read_genotypes` counts and ``BETA`` refers to; use
``"first"`` for files that list REF first (UK Biobank's imputed data) when
the tested allele matters.

PLINK always runs in a fresh temporary directory; only a run that succeeded
is read, and only then are its files moved to ``out_dir``: a killed or failing
PLINK never leaves output that could be taken for results.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ..data._genotypes import (
    GenotypeFiles,
    check_bgen_ref,
    find_genotype_files,
    read_sample_ids,
)
from ..data._plink_run import find_binary, run_plink

#: Columns of :func:`run_gwas` results, in order.
RESULT_COLUMNS = [
    "SNP", "CHR", "BP", "A1", "phenotype", "BETA", "SE", "T_STAT", "P", "N",
]  # fmt: skip
#: Columns of :func:`min_p_across` results.
COMBINED_COLUMNS = ["SNP", "CHR", "BP", "P"]
#: Columns of the clumps returned by :func:`count_independent_regions`.
CLUMP_COLUMNS = [
    "CHR", "SNP", "BP", "P", "TOTAL", "NSIG", "S05", "S01", "S001", "S0001", "SP2",
]  # fmt: skip


# -- helpers ------------------------------------------------------------------
def _bfile_prefix(bfile, name="bfile") -> Path:
    """The PLINK 1 fileset prefix of ``bfile``; checks that .bed/.bim/.fam exist.

    ``name`` is the caller's argument, named in the messages; PLINK 2 and BGEN
    files raise a ValueError.
    """
    return Path(find_genotype_files(bfile, formats=("bed",), name=name).prefix)


def _genotypes(bfile, sample=None, bgen_ref="last") -> GenotypeFiles:
    """The genotype files at ``bfile`` (.bed/.pgen prefix or .bgen); checks they exist."""
    check_bgen_ref(bgen_ref)
    return find_genotype_files(bfile, sample=sample, name="bfile")


def _read_fam(files: GenotypeFiles) -> pd.DataFrame:
    return read_sample_ids(files)


def _workdir(out_dir, prefix):
    """A fresh private directory for one PLINK run (inside ``out_dir`` when given)."""
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=None if out_dir is None else out_dir))


def _publish(work: Path, out_dir) -> Path:
    """Move the files of a successful run from ``work`` into ``out_dir``."""
    out_dir = Path(out_dir)
    for path in sorted(work.iterdir()):
        os.replace(path, out_dir / path.name)
    work.rmdir()
    return out_dir


def _check_names(columns, what):
    for c in columns:
        c = str(c)
        if not c or any(ch.isspace() for ch in c) or c in ("FID", "IID"):
            raise ValueError(
                f"{what} column name {c!r} cannot be used in a PLINK file "
                "(empty, contains whitespace, or is FID/IID)"
            )


def _check_unique_ids(index, what):
    """Raise ValueError when ``index`` (individual ids of ``what``) repeats an id."""
    if not index.is_unique:
        dup = list(index[index.duplicated()][:5])
        raise ValueError(f"{what} have duplicate individual ids, e.g. {dup}")


def _warn_not_genotyped(missing, n_phenotyped, where, stacklevel):
    """Warn that ``missing`` phenotype ids (of ``n_phenotyped``) have no genotypes."""
    if missing:
        warnings.warn(
            f"{len(missing)} of {n_phenotyped} individuals in the phenotypes are "
            f"not in {where} and are left out of the GWAS, e.g. {missing[:5]}",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def _warn_no_covariates(no_cov, stacklevel):
    """Warn that the phenotyped individuals ``no_cov`` have no covariates."""
    if len(no_cov):
        warnings.warn(
            f"{len(no_cov)} individuals with phenotypes have no covariates and "
            f"are left out of the GWAS, e.g. {list(no_cov[:5])}",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def _as_frame(data, what) -> pd.DataFrame:
    if isinstance(data, pd.Series):
        data = data.to_frame(name=data.name if data.name is not None else what)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame indexed by individual id")
    _check_unique_ids(data.index, what)
    return data


def _write_table(df, path, fid, what):
    df = _as_frame(df, what)
    _check_names(df.columns, what)
    iid = df.index.astype(str)
    if fid is None:
        fids = np.asarray(iid)
    elif isinstance(fid, pd.Series):
        fids = fid.reindex(df.index).to_numpy()
        if pd.isna(fids).any():
            raise ValueError(f"`fid` has no entry for {int(pd.isna(fids).sum())} ids")
    elif np.ndim(fid) == 0:
        fids = np.repeat(str(fid), len(df))
    else:
        fids = np.asarray(fid)
        if fids.shape != (len(df),):
            raise ValueError(f"`fid` must have one entry per row ({len(df)})")
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == bool:
            out[c] = out[c].astype(int)
    out.insert(0, "IID", np.asarray(iid))
    out.insert(0, "FID", np.asarray(fids, dtype=str))
    path = Path(os.fspath(path))
    out.to_csv(path, sep="\t", index=False, na_rep="NA", float_format="%.10g")
    return path


# -- writers ------------------------------------------------------------------
def write_phenotypes(df, path, fid=None):
    r"""Write phenotypes for PLINK 2, REGENIE or BOLT-LMM.

    A tab-separated file with header ``FID IID <columns>``, one row per
    individual, ``NA`` for missing values. This is the ``--pheno`` format of
    PLINK 2 (``--pheno``), REGENIE (``--phenoFile``) and BOLT-LMM
    (``--phenoFile`` with ``--phenoCol``). Values are written as they are:
    PLINK 2 also reads ``-9`` as missing unless given
    ``--no-input-missing-phenotype``, as :func:`run_gwas` does.

    Parameters
    ----------
    df : pandas.DataFrame or Series
        Phenotypes indexed by individual id (written as IID), e.g. the output of
        :class:`GWASTransformer`.
    path : str or path-like
        Phenotype file to write.
    fid : None, scalar, array-like or Series, default=None
        Family ids: ``None`` uses the IID (PLINK 2's convention when the .fam
        has FID = IID), a scalar for all rows, one value per row, or a Series
        indexed by individual id. :func:`run_gwas` takes them from the .fam.

    Returns
    -------
    pathlib.Path
        The phenotype file written (``path``).

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_contig.gwas import write_phenotypes
    >>> pheno = pd.DataFrame({"PC1": [0.5, None]}, index=["id1", "id2"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_phenotypes(pheno, os.path.join(tmp, "pheno.txt"))
    ...     path.read_text().splitlines()
    ['FID\tIID\tPC1', 'id1\tid1\t0.5', 'id2\tid2\tNA']
    """
    return _write_table(df, path, fid, "phenotypes")


def write_covariates(df, path, fid=None):
    r"""Write covariates for PLINK 2 (``--covar``), REGENIE or BOLT-LMM.

    Same format as :func:`write_phenotypes`: tab-separated, header
    ``FID IID <columns>``, ``NA`` for missing values. Non-numeric columns are
    read as categorical covariates by PLINK 2 (REGENIE: ``--catCovarList``,
    BOLT-LMM: ``--covarCol``; numeric ones ``--qCovarCol``).

    Parameters
    ----------
    df : pandas.DataFrame
        Covariates indexed by individual id.
    path : str or path-like
        Covariate file to write.
    fid : None, scalar, array-like or Series, default=None
        Family ids, as in :func:`write_phenotypes`.

    Returns
    -------
    pathlib.Path
        The covariate file written (``path``).

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> from sklearn_contig.gwas import write_covariates
    >>> cov = pd.DataFrame({"sex": [1, 0], "age": [61.5, 58.0]}, index=["a", "b"])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_covariates(cov, os.path.join(tmp, "covar.txt"))
    ...     path.read_text().splitlines()
    ['FID\tIID\tsex\tage', 'a\ta\t1\t61.5', 'b\tb\t0\t58']
    """
    return _write_table(df, path, fid, "covariates")


# -- association ----------------------------------------------------------------
def _match_fam(frame, fam, what):
    """Rows of ``frame`` whose id is an IID of the .fam; FIDs taken from the .fam."""
    if not fam["IID"].is_unique:
        raise ValueError(
            "the .fam has duplicate IIDs (the same IID in several families); "
            "individuals cannot be matched by IID alone"
        )
    ids = frame.index.astype(str)
    fid_of = pd.Series(fam["FID"].to_numpy(), index=pd.Index(fam["IID"]))
    inside = np.asarray(ids.isin(fid_of.index), dtype=bool)
    matched = frame[inside].set_axis(ids[inside])
    return matched, fid_of.reindex(matched.index), list(ids[~inside])


def _parse_glm(out_prefix: Path, phenotypes) -> pd.DataFrame:
    frames = []
    for name in phenotypes:
        path = Path(f"{out_prefix}.{name}.glm.linear")
        if not path.is_file():
            continue
        res = pd.read_csv(path, sep="\t", na_values=["NA", "."], low_memory=False)
        res = res.rename(
            columns={"#CHROM": "CHR", "POS": "BP", "ID": "SNP", "OBS_CT": "N"}
        )
        if "TEST" in res:
            res = res[res["TEST"] == "ADD"]
        res["phenotype"] = name
        frames.append(res.reindex(columns=RESULT_COLUMNS))
    if not frames:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    for c in ("BETA", "SE", "T_STAT", "P"):
        out[c] = out[c].astype(np.float64)
    return out


#: Prefix of the covariate columns in the file PLINK reads (see :func:`run_gwas`).
COVARIATE_PREFIX = "covar_"


def run_gwas(
    phenotypes,
    bfile,
    covariates=None,
    *,
    out_dir=None,
    plink2="plink2",
    threads=None,
    extra_args=(),
    keep_files=False,
    sample=None,
    bgen_ref="last",
):
    """Linear association of every phenotype with every SNP, with ``plink2 --glm``.

    Runs ``plink2 <genotypes> --glm hide-covar allow-no-covars
    --no-input-missing-phenotype --pheno ... [--covar ...
    --covar-variance-standardize] --out ...`` and parses each
    ``<out>.<phenotype>.glm.linear`` file. Only NaN (written as ``NA``) is a
    missing phenotype or covariate: ``-9``, PLINK's default missing code, is
    kept as a value, as :func:`linear_association` does.

    Parameters
    ----------
    phenotypes : pandas.DataFrame or Series
        Quantitative phenotypes indexed by individual id (the IID of the .fam,
        .psam or .sample), e.g. the output of :class:`GWASTransformer`. Ids are
        matched as str. Individuals that are not in the genotypes are reported
        with a warning and in ``result.attrs["missing_in_fam"]``; none in common
        is a ``ValueError``.
    bfile : str or path-like
        The genotypes: a PLINK 1 fileset prefix (``data`` for
        ``data.bed/.bim/.fam``; a path ending in ``.bed`` also works), a PLINK 2
        fileset (``data.pgen/.pvar/.psam``) or a ``.bgen`` file. A bare prefix
        is tried as .pgen, then .bed, then .bgen.
    covariates : pandas.DataFrame or None, default=None
        Covariates indexed by individual id (e.g. genetic PCs from
        :func:`genetic_pcs`, sex, age), written for ``--covar``. Pass them even
        when :class:`GWASTransformer` regressed them out of the embeddings, as
        the ContIG authors did: the inverse normal transform after the
        residualisation brings some correlation with them back. Their columns
        are written as ``covar_<name>`` (:data:`COVARIATE_PREFIX`), so they may
        share names with the phenotypes (``PC1`` phenotype and ``PC1``
        covariate).
    out_dir : str or path-like or None, default=None
        Where to keep PLINK's files; a temporary directory when None. PLINK runs
        in a private subdirectory and its files are moved here only after it
        succeeded.
    plink2 : str, default="plink2"
        Name or path of the PLINK 2 binary.
    threads : int or None, default=None
        ``--threads``; PLINK's default (all cores) when None.
    extra_args : sequence of str, default=()
        More PLINK 2 arguments, e.g. ``("--maf", "0.01")``.
    keep_files : bool, default=False
        Keep the temporary working directory (its path is in
        ``result.attrs["out_dir"]``). Files in a given ``out_dir`` are always kept.
    sample : str or path-like, default=None
        BGEN ``.sample`` file; ``<bgen prefix>.sample`` when it exists.
    bgen_ref : {"last", "first", "unknown"}, default="last"
        plink2's ``--bgen`` REF position: with ``"last"`` the first BGEN allele
        is ALT (the tested allele A1). Ignored for .bed and .pgen.

    Returns
    -------
    pandas.DataFrame
        One row per SNP and phenotype with columns ``SNP, CHR, BP, A1,
        phenotype, BETA, SE, T_STAT, P, N`` (A1: the tested allele, BETA per
        copy of A1; N: individuals in the regression). ``attrs`` holds
        ``missing_in_fam`` (list of ids), ``out_dir`` and ``log`` (PLINK's log).

    Raises
    ------
    FileNotFoundError
        If the genotype files do not exist (checked before running PLINK).
    RuntimeError
        If the binary is missing, or PLINK fails or is killed (the message ends
        with its log); nothing of that run is read or kept.
    ValueError
        If no phenotype individual is in the genotypes, or a bad ``bgen_ref``.

    See Also
    --------
    min_p_across : per-SNP minimum p-value across phenotypes.
    count_independent_regions : clump the hits.
    """
    phenotypes = _as_frame(phenotypes, "phenotypes")
    _check_names(phenotypes.columns, "phenotypes")
    files = _genotypes(bfile, sample, bgen_ref)
    fam = _read_fam(files)

    pheno, fids, missing = _match_fam(phenotypes, fam, "phenotypes")
    if len(pheno) == 0:
        raise ValueError(
            f"none of the {len(phenotypes)} phenotype individuals is in "
            f"{files.main} (phenotype ids e.g. {missing[:5]}, genotype IIDs e.g. "
            f"{list(fam['IID'][:5])})"
        )
    _warn_not_genotyped(missing, len(phenotypes), files.main, stacklevel=2)

    cov = None
    if covariates is not None:
        covariates = _as_frame(covariates, "covariates")
        _check_names(covariates.columns, "covariates")
        renamed = [f"{COVARIATE_PREFIX}{c}" for c in covariates.columns]
        clash = sorted(set(renamed) & set(map(str, pheno.columns)))
        if clash:
            raise ValueError(
                f"phenotype names {clash} are the names PLINK is given for covariates "
                f"(covariates are written as '{COVARIATE_PREFIX}<name>'); rename them"
            )
        cov, cov_fids, _ = _match_fam(covariates.set_axis(renamed, axis=1), fam, "covariates")
        _warn_no_covariates(pheno.index.difference(cov.index), stacklevel=2)

    exe = find_binary(plink2, "plink2")
    work = _workdir(out_dir, "contig_gwas_")
    keep = keep_files or out_dir is not None
    try:
        pheno_path = write_phenotypes(pheno, work / "pheno.txt", fid=fids)
        out_prefix = work / "gwas"
        cmd = [exe, *files.plink2_args(bgen_ref)]
        # -9 is a value of a continuous phenotype or covariate, not a missing
        # code: only NA (what the writers put for NaN) is missing
        cmd += ["--glm", "hide-covar", "allow-no-covars", "--no-input-missing-phenotype"]
        cmd += ["--pheno", str(pheno_path)]
        if cov is not None:
            covar_path = write_covariates(cov, work / "covar.txt", fid=cov_fids)
            cmd += ["--covar", str(covar_path), "--covar-variance-standardize"]
        if threads is not None:
            cmd += ["--threads", str(int(threads))]
        cmd += [*map(str, extra_args), "--out", str(out_prefix)]
        run_plink(cmd, out_prefix, "plink2 --glm")
        names = [str(c) for c in pheno.columns]
        result = _parse_glm(out_prefix, names)
        other = sorted(
            p.name for p in work.glob("gwas.*.glm.*") if not p.name.endswith(".linear")
        )
        if other:
            warnings.warn(
                "PLINK analysed some phenotypes as case/control (values only "
                f"0/1/2/NA); they are not in the result: {other}",
                UserWarning,
                stacklevel=2,
            )
        log = Path(str(out_prefix) + ".log")
        result.attrs["log"] = log.read_text(errors="replace") if log.is_file() else ""
        if out_dir is not None:
            work = _publish(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    result.attrs["missing_in_fam"] = missing
    result.attrs["out_dir"] = str(work) if keep else None
    return result


def min_p_across(results):
    """Per SNP, the minimum p-value across phenotypes, Bonferroni-corrected.

    ``P = min(1, n_phenotypes * min_k P_k)``, as the ContIG / transferGWAS
    authors combined the GWAS of 10 embedding PCs before clumping.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`run_gwas` (columns SNP, CHR, BP, phenotype, P).

    Returns
    -------
    pandas.DataFrame
        Columns ``SNP, CHR, BP, P``, one row per SNP in order of first
        appearance; ``attrs["n_phenotypes"]`` is the correction factor.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_contig.gwas import min_p_across
    >>> res = pd.DataFrame({"SNP": ["rs1", "rs2", "rs1", "rs2"], "CHR": 1,
    ...                     "BP": [100, 200, 100, 200], "P": [1e-9, 0.8, 0.01, 0.3],
    ...                     "phenotype": ["PC1", "PC1", "PC2", "PC2"]})
    >>> min_p_across(res)
       SNP  CHR   BP             P
    0  rs1    1  100  2.000000e-09
    1  rs2    1  200  6.000000e-01
    """
    if "phenotype" not in results:
        out = results.reindex(columns=COMBINED_COLUMNS).reset_index(drop=True)
        out.attrs["n_phenotypes"] = 1
        return out
    n_pheno = int(results["phenotype"].nunique())
    out = results.groupby("SNP", sort=False).agg(
        CHR=("CHR", "first"), BP=("BP", "first"), P=("P", "min")
    )
    out["P"] = np.minimum(out["P"].to_numpy() * n_pheno, 1.0)
    out = out.reset_index()[COMBINED_COLUMNS]
    out.attrs["n_phenotypes"] = n_pheno
    return out


def _parse_clumped(path: Path) -> pd.DataFrame:
    clumps = pd.read_csv(path, sep=r"\s+", skip_blank_lines=True)
    clumps = clumps.reindex(columns=CLUMP_COLUMNS)
    clumps["SP2"] = [
        [] if s == "NONE" or pd.isna(s) else [t.rsplit("(", 1)[0] for t in s.split(",")]
        for s in clumps["SP2"]
    ]
    return clumps.reset_index(drop=True)


def _as_bed(files: GenotypeFiles, work: Path, exe2, bgen_ref, snps=None) -> str:
    """A PLINK 1 fileset of ``files`` for plink1.9 (converted with plink2 when needed)."""
    if files.format == "bed":
        return files.prefix
    out_prefix = work / "ld"
    cmd = [exe2, *files.plink2_args(bgen_ref)]
    if snps is not None:
        ids = work / "ld_snps.txt"
        ids.write_text("\n".join(map(str, snps)) + "\n")
        cmd += ["--extract", str(ids)]
    cmd += ["--make-bed", "--out", str(out_prefix)]
    run_plink(cmd, out_prefix, f"plink2 --make-bed (converting {files.main} for plink1.9)")
    return str(out_prefix)


def count_independent_regions(
    results,
    bfile,
    p1=5e-8,
    p2=1e-7,
    r2=0.1,
    kb=150,
    plink="plink1.9",
    *,
    out_dir=None,
    extra_args=(),
    plink2="plink2",
    sample=None,
    bgen_ref="last",
):
    """Count independent associated regions with ``plink1.9 --clump``.

    Results with several phenotypes are first combined with
    :func:`min_p_across` (minimum p-value across phenotypes, Bonferroni-
    corrected), as the ContIG authors did. Defaults are theirs: index SNPs at
    ``p < 5e-8``, clumped SNPs at ``p < 1e-7``, ``r2 > 0.1`` within 150 kb.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`run_gwas` or :func:`min_p_across` (columns SNP and P;
        SNP ids must match the variant ids of the genotypes).
    bfile : str or path-like
        Genotypes for the LD computation: a .bed or .pgen fileset prefix or a
        .bgen file (see :func:`run_gwas`). plink1.9 reads .bed only: .pgen and
        .bgen are first converted with ``plink2 --make-bed`` (the SNPs of
        ``results`` only) in a temporary directory.
    p1, p2, r2, kb : float
        ``--clump-p1``, ``--clump-p2``, ``--clump-r2``, ``--clump-kb``.
    plink : str, default="plink1.9"
        Name or path of the PLINK 1.9 binary (PLINK 2's ``--clump`` differs).
    out_dir : str or path-like or None, default=None
        Where to keep PLINK's files (moved there after a successful run); none
        are kept when None.
    extra_args : sequence of str, default=()
        More PLINK 1.9 arguments.
    plink2 : str, default="plink2"
        PLINK 2 binary for the conversion of .pgen/.bgen genotypes.
    sample, bgen_ref
        BGEN sample file and allele order, as in :func:`run_gwas`.

    Returns
    -------
    n_regions : int
        Number of clumps (0 without any SNP at ``p < p1``; no error).
    clumps : pandas.DataFrame
        One row per clump: ``CHR, SNP`` (index SNP), ``BP, P, TOTAL, NSIG,
        S05, S01, S001, S0001`` and ``SP2`` (list of the clumped SNP ids).
    """
    if "phenotype" in results:
        results = min_p_across(results)
    files = _genotypes(bfile, sample, bgen_ref)
    exe = find_binary(plink, "plink")
    exe2 = find_binary(plink2, "plink2") if files.format != "bed" else None
    assoc = results[["SNP", "P"]].dropna()
    assoc = assoc.assign(P=np.clip(assoc["P"].to_numpy(np.float64), 1e-300, 1.0))
    work = _workdir(out_dir, "contig_clump_")
    try:
        prefix = _as_bed(files, work, exe2, bgen_ref, snps=assoc["SNP"].unique())
        assoc_path = work / "assoc.txt"
        assoc.to_csv(assoc_path, sep="\t", index=False, float_format="%.6g")
        out_prefix = work / "clump"
        cmd = [
            exe, "--bfile", str(prefix), "--clump", str(assoc_path),
            "--clump-p1", repr(float(p1)), "--clump-p2", repr(float(p2)),
            "--clump-r2", repr(float(r2)), "--clump-kb", repr(float(kb)),
            *map(str, extra_args), "--out", str(out_prefix),
        ]  # fmt: skip
        run_plink(cmd, out_prefix, "plink1.9 --clump")
        clumped = Path(str(out_prefix) + ".clumped")
        if clumped.is_file() and clumped.stat().st_size > 0:
            clumps = _parse_clumped(clumped)
        else:
            clumps = pd.DataFrame(columns=CLUMP_COLUMNS)
        if out_dir is not None:
            for part in work.glob("ld.*"):  # the converted genotypes are not results
                part.unlink()
            _publish(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already when published
    return len(clumps), clumps


def genetic_pcs(bfile, n_pcs=10, plink2="plink2", *, approx=None, threads=None,
                extra_args=(), sample=None, bgen_ref="last"):  # fmt: skip
    """Genetic principal components with ``plink2 --pca``, as ancestry covariates.

    Real cohorts are structured: allele frequencies differ between ancestries,
    and so do many traits (or their measurement). Without ancestry covariates a
    GWAS picks up ancestry-informative SNPs all over the genome, and a real
    locus drags them into the hits. Pass these PCs as ``covariates`` to
    :class:`GWASTransformer` or :func:`run_gwas` (the ContIG authors used 15).
    For best results compute them on LD-pruned SNPs
    (``plink2 --indep-pairwise 1000 50 0.2``, then ``extra_args=("--extract",
    "plink2.prune.in")``).

    Parameters
    ----------
    bfile : str or path-like
        Genotypes: a .bed or .pgen fileset prefix or a .bgen file (see
        :func:`run_gwas`).
    n_pcs : int, default=10
        Number of components.
    plink2 : str, default="plink2"
        Name or path of the PLINK 2 binary.
    approx : bool or None, default=None
        Use PLINK 2's randomised ``--pca approx``; by default only with more
        than 5,000 individuals (PLINK's recommendation), since the exact
        algorithm is faster and exact on small cohorts.
    threads : int or None, default=None
        ``--threads``.
    extra_args : sequence of str, default=()
        More PLINK 2 arguments.
    sample, bgen_ref
        BGEN sample file and allele order, as in :func:`run_gwas`.

    Returns
    -------
    pandas.DataFrame
        Indexed by IID (index name ``"individual"``), columns ``gPC1``..``gPCn``
        (named apart from :class:`GWASTransformer`'s ``PC1``..).
    """
    files = _genotypes(bfile, sample, bgen_ref)
    exe = find_binary(plink2, "plink2")
    n = len(_read_fam(files))
    if approx is None:
        approx = n > 5000
    with tempfile.TemporaryDirectory(prefix="contig_pca_") as work:
        out_prefix = Path(work) / "pca"
        cmd = [exe, *files.plink2_args(bgen_ref), "--pca", str(int(n_pcs))]
        if approx:
            cmd.append("approx")
        if threads is not None:
            cmd += ["--threads", str(int(threads))]
        cmd += [*map(str, extra_args), "--out", str(out_prefix)]
        run_plink(cmd, out_prefix, "plink2 --pca")
        vec = pd.read_csv(str(out_prefix) + ".eigenvec", sep="\t", dtype={"IID": str, "#IID": str})
    vec = vec.rename(columns={"#IID": "IID"}).set_index("IID")
    vec = vec.drop(columns=[c for c in ("#FID", "FID") if c in vec])
    vec.columns = [f"g{c}" for c in vec.columns]
    vec.index.name = "individual"
    return vec.astype(np.float64)
