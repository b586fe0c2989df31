"""Numpy association statistics: genomic inflation and a small linear GWAS.

:func:`linear_association` reproduces ``plink2 --glm`` (additive linear model
with intercept and covariates) for data that fits in memory; use :func:`run_gwas`
for biobank-sized data.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from scipy import stats

from ..data._genotypes import read_genotypes
from ..data._plink import dedupe_individuals
from ._plink import RESULT_COLUMNS, _bfile_prefix, _warn_no_covariates, _warn_not_genotyped

#: Median of the chi-squared distribution with one degree of freedom.
CHI2_MEDIAN = float(stats.chi2.ppf(0.5, 1))


def genomic_inflation(p_values):
    """Genomic inflation factor lambda_GC = median(chi2) / 0.4549.

    The p-values are turned into 1-df chi-squared statistics; about 1 when the
    test statistics follow the null distribution, above 1 under population
    stratification, cryptic relatedness or polygenic signal.

    Parameters
    ----------
    p_values : array-like or pandas.DataFrame
        P-values, or a results frame with a ``P`` column (all phenotypes are
        pooled). NaN values are ignored.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.gwas import genomic_inflation
    >>> p = np.random.default_rng(0).uniform(size=100_000)
    >>> round(genomic_inflation(p), 2)
    1.0
    """
    if isinstance(p_values, pd.DataFrame):
        p_values = p_values["P"]
    p = np.asarray(p_values, dtype=np.float64).ravel()
    p = p[~np.isnan(p)]
    if p.size == 0:
        raise ValueError("no p-values (all missing or empty)")
    if (p < 0).any() or (p > 1).any():
        raise ValueError("p-values must lie in [0, 1]")
    return float(np.median(stats.chi2.isf(p, 1)) / CHI2_MEDIAN)


def _genotypes(genotypes):
    """(G (n, m) float64 with NaN missing, iid Index, SNP info frame)."""
    import xarray as xr

    if isinstance(genotypes, (str, os.PathLike)):
        prefix = _bfile_prefix(genotypes, "genotypes")
        # float64 straight from the file: the statistics need it, and one copy
        # of the calls is all that is held
        snp = read_genotypes(f"{prefix}.bed", impute=False, dtype=np.float64)
        info = pd.DataFrame(
            {
                "SNP": snp["snp_id"].values,
                "CHR": snp["chromosome"].values,
                "BP": snp["bp_position"].values,
                "A1": snp["allele_1"].values,
            }
        )
        chrom = pd.Series(info["CHR"])
        numeric = pd.to_numeric(chrom, errors="coerce")
        info["CHR"] = numeric.astype(np.int64) if numeric.notna().all() else chrom
        return snp.values, pd.Index(snp["individual"].values.astype(str)), info
    if isinstance(genotypes, xr.DataArray):
        dims = genotypes.dims
        if genotypes.ndim != 2:
            raise ValueError(f"genotypes must be 2-D, got dims {dims}")
        row = next((d for d in ("individual", "sample") if d in dims), dims[0])
        genotypes = genotypes.transpose(row, *[d for d in dims if d != row])
        col = genotypes.dims[1]
        by = "individual" if "individual" in genotypes.coords else row
        ids = genotypes[by].values
        info = pd.DataFrame({"SNP": genotypes[col].values.astype(str)})
        keys = {"CHR": "chromosome", "BP": "bp_position", "A1": "allele_1"}
        for name, key in keys.items():
            coord = genotypes.coords.get(key)
            ok = coord is not None and coord.dims == (col,)
            info[name] = coord.values if ok else (None if name == "A1" else np.nan)
        g = np.asarray(genotypes.values, dtype=np.float64)
    elif isinstance(genotypes, pd.DataFrame):
        info = pd.DataFrame(
            {"SNP": genotypes.columns.astype(str), "CHR": np.nan, "BP": np.nan, "A1": None}
        )
        g = genotypes.to_numpy(dtype=np.float64)
        ids = genotypes.index
    else:
        raise TypeError(
            "genotypes must be a PLINK fileset prefix, a DataFrame (individual x "
            f"SNP) or a 2-D DataArray, got {type(genotypes).__name__}"
        )
    # several samples (images) of one individual carry the same genotypes
    g, ids = dedupe_individuals(g, pd.Index(ids).astype(str))
    return g, pd.Index(ids), info


def linear_association(phenotypes, genotypes, covariates=None):
    """Additive linear association test per SNP and phenotype, in numpy.

    For each phenotype and SNP fits ``y ~ 1 + covariates + g`` by least squares
    (``g`` the allele count of A1) and tests the SNP coefficient with a
    t-test, as ``plink2 --glm`` does; individuals with a missing phenotype or
    covariate are left out of that phenotype, individuals with a missing
    genotype out of that SNP. Dense and in memory: for small data and checks;
    use :func:`run_gwas` for a cohort.

    Parameters
    ----------
    phenotypes : pandas.DataFrame or Series
        Phenotypes indexed by individual id. Ids are matched as str;
        individuals that are not in the genotypes are left out with a warning,
        as in :func:`run_gwas`.
    genotypes : str, path-like, pandas.DataFrame or xarray.DataArray
        A PLINK 1 fileset prefix or ``.bed`` file (read with
        :func:`~sklearn_contig.data.read_genotypes`; A1 is the .bim's fifth
        column; ``plink2 --glm`` may report the other allele as A1, with BETA's
        sign flipped), or allele counts 0/1/2 (NaN = missing) as a DataFrame
        indexed by individual id with one column per SNP, or a 2-D DataArray
        such as ``ds["snp"]`` (rows by its ``individual`` coordinate). One row
        per individual is used: repeated rows of one individual (several
        images of a person) must agree.
    covariates : pandas.DataFrame or None, default=None
        Numeric covariates indexed by individual id.

    Returns
    -------
    pandas.DataFrame
        Columns as :func:`run_gwas`: ``SNP, CHR, BP, A1, phenotype, BETA, SE,
        T_STAT, P, N`` (CHR/BP/A1 missing unless read from a fileset). SNPs
        without variance get NaN statistics.

    Raises
    ------
    ValueError
        Rows of one individual that differ, no individual in both inputs, or a
        PLINK 2 or BGEN file as ``genotypes`` (run :func:`run_gwas` on those).
    FileNotFoundError
        A fileset ``genotypes`` that does not exist or lacks a part.
    TypeError
        ``genotypes`` of another type.

    Warns
    -----
    UserWarning
        Phenotype individuals that are not in the genotypes (how many, and
        the first ids).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_contig.gwas import linear_association
    >>> rng = np.random.default_rng(0)
    >>> ids = [f"id{i}" for i in range(200)]
    >>> g = pd.DataFrame(rng.binomial(2, 0.3, size=(200, 3)), index=ids,
    ...                  columns=["rs1", "rs2", "rs3"])
    >>> y = pd.Series(0.5 * g["rs2"] + rng.normal(size=200), index=ids, name="y")
    >>> res = linear_association(y, g)
    >>> res.loc[res["P"].idxmin(), "SNP"]
    'rs2'
    """
    if isinstance(phenotypes, pd.Series):
        phenotypes = phenotypes.to_frame(name=phenotypes.name or "phenotype")
    g_all, iid, info = _genotypes(genotypes)
    pheno = phenotypes.set_axis(phenotypes.index.astype(str))
    common = pheno.index.intersection(iid)
    if len(common) == 0:
        raise ValueError(
            "no individual is in both the phenotypes and the genotypes (phenotype "
            f"ids e.g. {list(pheno.index[:5])}, genotype ids e.g. {list(iid[:5])})"
        )
    missing = list(pheno.index.difference(iid, sort=False))
    where = os.fspath(genotypes) if isinstance(genotypes, (str, os.PathLike)) else "genotypes"
    _warn_not_genotyped(missing, len(pheno), where, stacklevel=2)
    pos = iid.get_indexer(common)
    g_all = g_all[pos]
    if covariates is not None:
        cov_index = covariates.index.astype(str)
        _warn_no_covariates(common.difference(cov_index), stacklevel=2)
        cov = covariates.set_axis(cov_index).reindex(common)
        z_all = cov.to_numpy(dtype=np.float64)
    else:
        z_all = np.empty((len(common), 0))
    frames = []
    for name in pheno.columns:
        y = pheno.loc[common, name].to_numpy(dtype=np.float64)
        ok = ~np.isnan(y) & ~np.isnan(z_all).any(axis=1)
        beta, se, t, p, n = _ols_snps(y[ok], g_all[ok], z_all[ok])
        res = info.copy()
        res["phenotype"] = str(name)
        res["BETA"], res["SE"], res["T_STAT"], res["P"], res["N"] = beta, se, t, p, n
        frames.append(res)
    return pd.concat(frames, ignore_index=True)[RESULT_COLUMNS]


def _ols_snps(y, g, z):
    """Per-column SNP statistics for y ~ 1 + z + g, by Frisch-Waugh-Lovell."""
    m = g.shape[1]
    beta, se, t, p = (np.full(m, np.nan) for _ in range(4))
    n_obs = np.zeros(m, dtype=np.int64)
    miss = np.isnan(g)
    complete = ~miss.any(axis=0)
    design = np.column_stack([np.ones(len(y)), z])

    def fit(yy, gg, dd):
        q, _ = np.linalg.qr(dd)
        yr = yy - q @ (q.T @ yy)
        gr = gg - q @ (q.T @ gg)
        ss_g = np.einsum("ij,ij->j", gr, gr)
        gy = gr.T @ yr
        df = len(yy) - np.linalg.matrix_rank(dd) - 1
        with np.errstate(divide="ignore", invalid="ignore"):
            b = gy / ss_g
            rss = yr @ yr - b * gy
            s = np.sqrt(rss / df / ss_g)
            tt = b / s
        # A genotype column in the span of the covariates has no variance left.
        flat = ss_g <= 1e-10 * np.maximum(np.einsum("ij,ij->j", gg, gg), 1.0)
        b[flat] = s[flat] = tt[flat] = np.nan
        return b, s, tt, 2 * stats.t.sf(np.abs(tt), df)

    if complete.any():
        cols = np.flatnonzero(complete)
        beta[cols], se[cols], t[cols], p[cols] = fit(y, g[:, cols], design)
        n_obs[cols] = len(y)
    for j in np.flatnonzero(~complete):
        keep = ~miss[:, j]
        out = fit(y[keep], g[keep, j : j + 1], design[keep])
        beta[j], se[j], t[j], p[j] = (v[0] for v in out)
        n_obs[j] = int(keep.sum())
    return beta, se, t, p, n_obs
