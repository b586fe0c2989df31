"""linear_association against a direct least-squares fit (plink2 check: test_gwas_plink)."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from sklearn_contig.data import write_plink
from sklearn_contig.gwas import linear_association


def _direct(y, g, z):
    """Slow, obviously correct OLS of y ~ 1 + z + g on complete cases."""
    ok = ~np.isnan(y) & ~np.isnan(g) & ~np.isnan(z).any(axis=1)
    x = np.column_stack([np.ones(ok.sum()), z[ok], g[ok]])
    coef, *_ = np.linalg.lstsq(x, y[ok], rcond=None)
    resid = y[ok] - x @ coef
    df = ok.sum() - x.shape[1]
    cov = resid @ resid / df * np.linalg.inv(x.T @ x)
    se = np.sqrt(cov[-1, -1])
    return coef[-1], se, 2 * stats.t.sf(abs(coef[-1] / se), df), ok.sum()


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n, m = 300, 12
    ids = [f"p{i}" for i in range(n)]
    g = rng.binomial(2, rng.uniform(0.1, 0.5, m), size=(n, m)).astype(float)
    g[rng.random((n, m)) < 0.05] = np.nan  # missing calls
    g[:, 5] = 1.0  # monomorphic
    z = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n)])
    z[3, 0] = np.nan
    y = np.column_stack([np.nan_to_num(g[:, 2]) * 0.4 + z[:, 0] + rng.normal(size=n),
                         rng.normal(size=n)])  # fmt: skip
    y[7, 1] = np.nan
    return (
        pd.DataFrame(y, index=ids, columns=["a", "b"]),
        pd.DataFrame(g, index=ids, columns=[f"rs{j}" for j in range(m)]),
        pd.DataFrame(z, index=ids, columns=["c1", "c2"]),
    )


def test_matches_direct_least_squares(data):
    pheno, geno, cov = data
    res = linear_association(pheno, geno, cov)
    assert len(res) == 2 * 12
    for row in res.itertuples():
        if row.SNP == "rs5":
            assert np.isnan(row.BETA) and np.isnan(row.P)
            continue
        b, se, p, n = _direct(
            pheno[row.phenotype].to_numpy(), geno[row.SNP].to_numpy(), cov.to_numpy()
        )
        np.testing.assert_allclose([row.BETA, row.SE, row.P], [b, se, p], rtol=1e-8)
        assert row.N == n
    top = res[res["phenotype"] == "a"].set_index("SNP")["P"].idxmin()
    assert top == "rs2"


def test_dataarray_with_several_samples_per_individual(data):
    pheno, geno, _ = data
    values = np.repeat(geno.to_numpy(), 2, axis=0)
    da = xr.DataArray(
        values,
        dims=("sample", "snp_id"),
        coords={
            "sample": [f"s{i}" for i in range(len(values))],
            "individual": ("sample", np.repeat(geno.index.to_numpy(), 2)),
            "snp_id": geno.columns.to_numpy(),
            "chromosome": ("snp_id", ["1"] * 12),
            "bp_position": ("snp_id", np.arange(12) * 100),
        },
    )
    got = linear_association(pheno, da)
    want = linear_association(pheno, geno)
    np.testing.assert_allclose(got["P"], want["P"])
    assert (got["N"] == want["N"]).all() and list(got["BP"][:3]) == [0, 100, 200]
    with pytest.raises(ValueError, match=r"no individual .*\(phenotype ids e.g. \['x0'.* genotype ids e.g. \['p0'"):
        linear_association(pheno.set_axis([f"x{i}" for i in range(300)]), geno)


def test_dataarray_rows_of_one_individual_must_agree(data):
    pheno, geno, _ = data
    values = np.repeat(geno.to_numpy(), 2, axis=0)
    values[1, 0] = 2.0 - values[1, 0] if values[1, 0] != 1.0 else 0.0  # second image of individual 0 differs
    da = xr.DataArray(
        values,
        dims=("sample", "snp_id"),
        coords={"individual": ("sample", np.repeat(geno.index.to_numpy(), 2)), "snp_id": geno.columns.to_numpy()},
    )
    with pytest.raises(ValueError, match="different values for the same individual"):
        linear_association(pheno, da)


def test_dataframe_rows_of_one_individual_are_used_once_and_must_agree(data):
    pheno, geno, _ = data
    repeated = pd.concat([geno, geno.iloc[:20]])  # 20 individuals twice, same calls
    got = linear_association(pheno, repeated)
    want = linear_association(pheno, geno)
    pd.testing.assert_frame_equal(got, want)
    differs = repeated.copy()
    differs.iloc[-1, 0] = 3.0  # second row of individual p19 differs
    with pytest.raises(ValueError, match=r"genotypes has several rows with different values .*\['p19'\]"):
        linear_association(pheno, differs)


def test_fileset_reads_like_the_dataframe(data, tmp_path):
    pheno, geno, cov = data
    prefix = write_plink(tmp_path / "g", geno.to_numpy(), iid=geno.index, sid=geno.columns,
                         chromosome=["2"] * 12, bp_position=np.arange(12) * 10 + 1)  # fmt: skip
    want = linear_association(pheno, geno, cov)
    for path in (prefix, prefix + ".bed"):
        got = linear_association(pheno, path, cov)
        cols = ["SNP", "phenotype", "BETA", "SE", "T_STAT", "P", "N"]
        pd.testing.assert_frame_equal(got[cols], want[cols])
        assert (got["CHR"] == 2).all() and list(got["BP"][:2]) == [1, 11] and (got["A1"] == "A1").all()


def test_fileset_errors_name_genotypes(data, tmp_path):
    pheno, geno, _ = data
    with pytest.raises(FileNotFoundError, match=r"genotypes .*none' has no genotype files: looked for .*none\.bed"):
        linear_association(pheno, tmp_path / "none")
    with pytest.raises(ValueError, match=r"genotypes must be a PLINK 1 .* got the PLINK 2 .* file"):
        linear_association(pheno, tmp_path / "g.pgen")
    with pytest.raises(TypeError, match="genotypes must be a PLINK fileset prefix, .* got ndarray"):
        linear_association(pheno, geno.to_numpy())


def test_phenotype_individuals_without_genotypes_are_reported():
    """Ids that lost their leading zeros: 99 of 200 phenotype ids match no genotype."""
    rng = np.random.default_rng(2)
    geno = pd.DataFrame(rng.binomial(2, 0.3, size=(200, 3)).astype(float),
                        index=[f"{i:03d}" for i in range(1, 201)], columns=["rs1", "rs2", "rs3"])  # fmt: skip
    pheno = pd.Series(rng.normal(size=200), index=range(1, 201), name="y")
    with pytest.warns(UserWarning, match=r"99 of 200 individuals in the phenotypes are not in genotypes .*'1', '2'"):
        res = linear_association(pheno, geno)
    assert (res["N"] == 101).all()
    with pytest.raises(ValueError, match="no individual is in both"):
        linear_association(pheno.iloc[:99], geno)


def test_individuals_without_covariates_are_counted_in_a_warning(data):
    pheno, geno, cov = data
    with pytest.warns(UserWarning, match="3 individuals with phenotypes have no covariates"):
        res = linear_association(pheno, geno, cov.iloc[3:])
    assert res["N"].max() <= 297
