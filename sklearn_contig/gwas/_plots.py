"""Manhattan and QQ plots of GWAS results (matplotlib, no pyplot state)."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd
from scipy import stats

from ._association import genomic_inflation
from ._plink import min_p_across


def _new_axes(ax, figsize):
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    # A bare Figure renders with the Agg canvas: no GUI backend, no global state.
    return Figure(figsize=figsize, layout="constrained").add_subplot()


def _save(ax, path):
    if path is not None:
        ax.figure.savefig(os.fspath(path), dpi=150)


def _chrom_key(c):
    s = str(c).removeprefix("chr")
    digits = re.fullmatch(r"\d+", s)
    return (0, int(s), "") if digits else (1, 0, s)


def manhattan_plot(results, path=None, ax=None, threshold=5e-8, highlight=None):
    """Manhattan plot: -log10 p-value along the genome.

    Results with several phenotypes (e.g. the 10 embedding PCs) are combined
    per SNP with :func:`min_p_across` (minimum p-value, Bonferroni-corrected
    by the number of phenotypes), as in the ContIG paper.

    Parameters
    ----------
    results : pandas.DataFrame
        Output of :func:`run_gwas` or :func:`min_p_across` (columns SNP, CHR,
        BP, P).
    path : str or path-like or None, default=None
        Save the figure there as PNG (150 dpi).
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure when None.
    threshold : float or None, default=5e-8
        Draw a dashed genome-wide significance line at this p-value.
    highlight : iterable of str or None, default=None
        SNP ids to mark in red (e.g. planted loci or clump index SNPs).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn_contig.gwas import manhattan_plot
    >>> rng = np.random.default_rng(0)
    >>> res = pd.DataFrame({"SNP": [f"rs{i}" for i in range(200)],
    ...                     "CHR": np.repeat([1, 2], 100), "P": rng.uniform(size=200),
    ...                     "BP": np.tile(np.arange(100), 2)})
    >>> manhattan_plot(res, highlight=["rs3"]).get_ylabel()
    '$-\\\\log_{10}(p)$'
    """
    n_pheno = 1
    if "phenotype" in results and results["phenotype"].nunique() > 1:
        results = min_p_across(results)
        n_pheno = results.attrs["n_phenotypes"]
    df = results[["SNP", "CHR", "BP", "P"]].dropna(subset=["P"])
    chroms = sorted(pd.unique(df["CHR"]), key=_chrom_key)
    ax = _new_axes(ax, (10, 4))
    offset, ticks, labels = 0.0, [], []
    colors = ("#1f4e79", "#6fa8dc")
    x_all = np.empty(len(df))
    pos_in = {c: np.flatnonzero((df["CHR"] == c).to_numpy()) for c in chroms}
    bp = df["BP"].to_numpy(dtype=np.float64)
    for c in chroms:
        idx = pos_in[c]
        x = bp[idx] - bp[idx].min() + offset
        x_all[idx] = x
        span = max(bp[idx].max() - bp[idx].min(), 1.0)
        ticks.append(offset + span / 2)
        labels.append(str(c))
        offset += span * 1.02 + 1.0
    logp = -np.log10(np.clip(df["P"].to_numpy(dtype=np.float64), 1e-300, 1.0))
    for i, c in enumerate(chroms):
        idx = pos_in[c]
        ax.scatter(x_all[idx], logp[idx], s=4, color=colors[i % 2], rasterized=True)
    if highlight is not None:
        hit = df["SNP"].isin(list(highlight)).to_numpy()
        if hit.any():
            ax.scatter(
                x_all[hit], logp[hit], s=18, color="#c00000", zorder=3,
                label="highlighted",
            )
            ax.legend(loc="upper right", frameon=False)
    if threshold is not None:
        ax.axhline(-np.log10(threshold), color="grey", ls="--", lw=1)
    ax.set_xticks(ticks, labels)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}(p)$")
    if n_pheno > 1:
        ax.set_title(f"min p across {n_pheno} phenotypes (Bonferroni-corrected)")
    ax.set_ylim(bottom=0)
    _save(ax, path)
    return ax


def qq_plot(results, path=None, ax=None):
    """QQ plot of observed vs expected -log10 p-values, with lambda_GC.

    All p-values are pooled (each phenotype's p-values are uniform under the
    null). The grey band is the pointwise 95 % interval of uniform order
    statistics.

    Parameters
    ----------
    results : pandas.DataFrame or array-like
        Output of :func:`run_gwas` (column P) or p-values.
    path : str or path-like or None, default=None
        Save the figure there as PNG (150 dpi).
    ax : matplotlib.axes.Axes or None, default=None
        Axes to draw on; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_contig.gwas import qq_plot
    >>> ax = qq_plot(np.random.default_rng(0).uniform(size=1000))
    >>> ax.get_title().startswith("$\\\\lambda_{GC}$")
    True
    """
    p = results["P"] if isinstance(results, pd.DataFrame) else results
    p = np.asarray(p, dtype=np.float64).ravel()
    p = np.sort(np.clip(p[~np.isnan(p)], 1e-300, 1.0))
    n = p.size
    if n == 0:
        raise ValueError("no p-values to plot")
    ax = _new_axes(ax, (5, 5))
    k = np.arange(1, n + 1)
    expected = -np.log10(k / (n + 1))
    lo = -np.log10(stats.beta.ppf(0.975, k, n - k + 1))
    hi = -np.log10(stats.beta.ppf(0.025, k, n - k + 1))
    ax.fill_between(expected, lo, hi, color="0.85", lw=0)
    ax.scatter(expected, -np.log10(p), s=4, color="#1f4e79", rasterized=True)
    top = expected.max()
    ax.plot([0, top], [0, top], color="#c00000", lw=1)
    ax.set_xlabel(r"expected $-\log_{10}(p)$")
    ax.set_ylabel(r"observed $-\log_{10}(p)$")
    ax.set_title(rf"$\lambda_{{GC}}$ = {genomic_inflation(p):.3f}")
    _save(ax, path)
    return ax
