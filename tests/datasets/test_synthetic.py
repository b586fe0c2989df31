"""Tests of the synthetic imaging-genetics biobank."""

import os
import shutil
import subprocess
import tracemalloc

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from sklearn_contig.data import validate
from sklearn_contig.datasets import (
    EASY_TRAITS,
    HARD_TRAITS,
    TRAITS,
    generate_to_disk,
    make_imaging_genetics,
    write_image_folder,
)

TINY = dict(simulator="independent", n_snps=60, n_pgs=30, n_genes=20)


@pytest.fixture(scope="module")
def tiny():
    return make_imaging_genetics(40, image_size=32, random_state=1, **TINY)


@pytest.fixture(scope="module")
def coalescent():
    """A small msprime cohort (images tiny: genetics is what is tested on it)."""
    pytest.importorskip("msprime")
    return make_imaging_genetics(600, image_size=16, random_state=3, simulator="msprime",
                                 n_snps=500)


@pytest.fixture(scope="module")
def medium():
    """Enough people to check regressions and image statistics."""
    return make_imaging_genetics(500, image_size=32, random_state=2, simulator="independent",
                                 n_snps=200, n_pgs=60, n_genes=40)


# --- structure ------------------------------------------------------------------------


def test_dims_coords_attrs(tiny):
    ds, truth = tiny
    assert validate(ds) == ["snp", "pgs", "burden"]
    assert ds["image"].dims == ("sample", "channel", "y", "x")
    assert ds["image"].shape == (40, 3, 32, 32) and ds["image"].dtype == np.uint8
    assert ds["snp"].dims == ("sample", "snp_id")
    assert ds["pgs"].dims == ("sample", "pgs_id") and ds.sizes["pgs_id"] == 30
    assert ds["burden"].dims == ("sample", "gene") and ds.sizes["gene"] == 20
    for name in ("snp", "pgs", "burden"):
        assert ds[name].attrs["kind"] == "genetic" and ds[name].dtype == np.float32
    assert all(str(s).startswith("rs") for s in ds["snp_id"].values)
    assert ds["chromosome"].dims == ("snp_id",) and ds["chromosome"].dtype.kind == "i"
    assert ds["bp_position"].dtype.kind == "i"
    assert list(ds["pgs_id"].values[:2]) == ["PGS000001", "PGS000002"]
    snp = ds["snp"].values
    assert np.isin(snp[~np.isnan(snp)], [0, 1, 2]).all()
    assert ds["grade"].dims == ("sample",) and set(np.unique(ds["grade"])) <= set(range(5))
    assert ds["diseases"].dims == ("sample", "disease") and 3 <= ds.sizes["disease"] <= 5
    assert set(np.unique(ds["diseases"])) <= {0, 1}
    assert ds["risk"].dims == ("sample", "factor")
    assert list(ds["factor"].values) == ["age", "bmi", "sbp"]
    assert ds["risk_binary"].dims == ("sample", "binary_factor")
    assert ds["disc_mask"].dims == ("sample", "y", "x") and ds["disc_mask"].dtype == np.uint8
    for name in ("grade", "diseases", "risk", "risk_binary", "disc_mask"):
        assert ds[name].attrs["kind"] == "label"
    assert (ds["sample"].values == ds["individual"].values).all()
    assert list(truth.traits.columns) == TRAITS
    assert truth.easy_traits == EASY_TRAITS and truth.hard_traits == HARD_TRAITS
    assert 6 <= len(TRAITS) <= 8
    assert list(truth.traits.index) == list(ds["individual"].values)
    for trait in TRAITS:
        assert set(truth.causal[trait]) == {"snp", "pgs", "burden"}
        assert set(truth.loci[trait]) <= set(ds["snp_id"].values.tolist())
        assert len(truth.loci[trait]) >= 3


def test_images_look_like_a_fundus(tiny):
    img = tiny[0]["image"].values.astype(float)
    corner = img[:, :, :3, :3].mean()
    centre = img[:, :, 12:20, 12:20].mean((0, 2, 3))
    assert corner < 5  # dark outside the round field
    assert centre[0] > centre[1] > centre[2]  # orange-red
    assert img.std() > 10


def test_deterministic():
    a, ta = make_imaging_genetics(12, image_size=16, random_state=5, **TINY)
    b, tb = make_imaging_genetics(12, image_size=16, random_state=5, **TINY)
    c, _ = make_imaging_genetics(12, image_size=16, random_state=6, **TINY)
    xr.testing.assert_identical(a, b)
    pd.testing.assert_frame_equal(ta.traits, tb.traits)
    assert not np.array_equal(a["image"].values, c["image"].values)
    d, _ = make_imaging_genetics(12, image_size=16, random_state=np.random.default_rng(5), **TINY)
    assert d.sizes["sample"] == 12


def test_two_eyes():
    ds, truth = make_imaging_genetics(10, image_size=32, eyes=2, random_state=0,
                                      missing={"pgs": 0.5}, **TINY)
    assert ds.sizes["sample"] == 20
    assert ds["sample"].values[0].endswith("_L") and ds["sample"].values[1].endswith("_R")
    iid = ds["individual"].values
    assert (iid[0::2] == iid[1::2]).all() and len(set(iid)) == 10
    assert list(ds["eye"].values[:2]) == ["L", "R"]
    for name in ("snp", "pgs", "burden", "grade"):
        np.testing.assert_array_equal(ds[name].values[0::2], ds[name].values[1::2])
    # left eyes are mirrored: the optic disc sits on the other side
    mask = ds["disc_mask"].values
    x = np.arange(32)
    cx = (mask * x).sum((1, 2)) / mask.sum((1, 2))
    assert (cx[0::2] < 16).all() and (cx[1::2] > 16).all()
    assert not np.array_equal(ds["image"].values[0, :, :, ::-1], ds["image"].values[1])


def test_missingness_fractions():
    ds, _ = make_imaging_genetics(100, image_size=16, random_state=0, eyes=2,
                                  missing={"pgs": 0.06, "burden": 0.4, "snp": 0.1}, **TINY)
    for name, frac in (("pgs", 0.06), ("burden", 0.4), ("snp", 0.1)):
        values = ds[name].values
        row_nan = np.isnan(values).all(1)
        assert (np.isnan(values).any(1) == row_nan).all()  # whole rows only
        per_ind = pd.Series(row_nan).groupby(ds["individual"].values).agg(["min", "max"])
        assert (per_ind["min"] == per_ind["max"]).all()  # both eyes alike
        assert per_ind["min"].mean() == pytest.approx(frac, abs=0.011)
    ds, _ = make_imaging_genetics(30, image_size=16, random_state=0, **TINY)
    assert not np.isnan(ds["snp"].values).any()
    assert np.isnan(ds["burden"].values).all(1).mean() == pytest.approx(0.4, abs=0.02)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_individuals=1), "n_individuals"),
        (dict(image_size=8), "image_size"),
        (dict(eyes=3), "eyes"),
        (dict(heritability=1.5), "heritability"),
        (dict(heritability=-0.1), "heritability"),
        (dict(missing={"pgs": 1.0}), "missing"),
        (dict(missing={"pgs": -0.1}), "missing"),
        (dict(missing={"metabolites": 0.1}), "unknown modality"),
        (dict(simulator="slim"), "simulator"),
        (dict(n_snps=5), "n_snps"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_imaging_genetics(**{"n_individuals": 10, "image_size": 16, **kwargs})


# --- planted signal ---------------------------------------------------------------


def _r2(X, y):
    X = np.column_stack([np.ones(len(y)), X])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    return 1 - ((y - X @ beta) ** 2).sum() / ((y - y.mean()) ** 2).sum()


def test_signal_is_in_the_causal_features_only(medium):
    # tolerance: n = 500 and 8 regressors give a sampling sd of R^2 around 0.03;
    # we allow 0.1 on the causal side and 0.06 (above the ~8/500 chance level) on noise
    ds, truth = medium
    rng = np.random.default_rng(0)
    snp = pd.DataFrame(truth.genotypes.genotypes, columns=truth.genotypes.snp_ids)
    features = {"snp": snp, **truth.complete}
    for trait in TRAITS:
        y = truth.traits[trait].to_numpy()
        causal = truth.causal[trait]
        X = np.column_stack([features[m][list(names)].to_numpy(dtype=float)
                             for m, names in causal.items()])
        assert _r2(X, y) == pytest.approx(truth.heritability, abs=0.1), trait
        noise = []
        for m, names in causal.items():
            all_causal = {n for t in TRAITS for n in truth.causal[t][m]}
            pool = [c for c in features[m].columns if c not in all_causal]
            noise.append(features[m][list(rng.choice(pool, len(names), replace=False))])
        assert _r2(np.column_stack(noise), y) < 0.06, trait


def test_heritability_is_settable():
    _, truth = make_imaging_genetics(400, image_size=16, heritability=0.2, random_state=0, **TINY)
    gv = truth.genetic_values
    for trait in TRAITS:
        r = np.corrcoef(gv[trait], truth.traits[trait])[0, 1]
        assert r**2 == pytest.approx(0.2, abs=0.05)


def test_image_statistics_follow_easy_traits(medium):
    ds, truth = medium
    t = truth.traits.loc[ds["individual"].values]
    img = ds["image"].values.astype(float)
    inside = img[:, :, 8:24, 4:16]  # temporal retina, away from the disc
    redness = inside[:, 1].mean((1, 2)) / inside[:, 0].mean((1, 2))
    assert np.corrcoef(redness, t["pigmentation"])[0, 1] < -0.7  # dark = less green
    area = ds["disc_mask"].values.sum((1, 2))
    assert np.corrcoef(area, t["disc_size"])[0, 1] > 0.8
    counts = truth.render["ma_count"].to_numpy()
    assert np.corrcoef(counts, t["microaneurysms"])[0, 1] > 0.9


# --- genotypes (msprime) ----------------------------------------------------------


def test_genotypes_look_like_genotypes(coalescent):
    ds, truth = coalescent
    g = truth.genotypes
    maf = g.maf
    maf = maf[maf > 0]
    assert (maf < 0.05).mean() >= 0.2  # rare tail
    assert 4 >= truth.genotypes.chromosome.max() >= 2
    # LD decays with distance
    common = np.flatnonzero(g.maf >= 0.1)
    common = common[g.chromosome[common] == 1]
    G = g.genotypes[:, common].astype(float)
    G = (G - G.mean(0)) / G.std(0)
    pos = g.bp_position[common]
    i = np.arange(0, len(common) - 1, max(1, len(common) // 200))
    near = [np.mean(G[:, k] * G[:, k + 1]) ** 2 for k in i if pos[k + 1] - pos[k] < 5_000]
    far_j = np.searchsorted(pos, pos[i] + 400_000)
    far = [np.mean(G[:, k] * G[:, j]) ** 2 for k, j in zip(i, far_j) if j < len(common)]
    assert np.mean(near) > 3 * np.mean(far)
    # ancestry structure: PC1/PC2 of the SNP panel separate the populations
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    X = ds["snp"].values
    X = (X - X.mean(0)) / (X.std(0) + 1e-9)
    pcs = PCA(2, random_state=0).fit_transform(X)
    pop = truth.population.loc[ds["individual"].values].to_numpy()
    assert len(np.unique(pop)) >= 3
    assert silhouette_score(pcs, pop) > 0.2


def test_planted_loci_reach_genome_wide_significance(coalescent):
    from scipy import stats

    ds, truth = coalescent
    n = ds.sizes["sample"]
    snp = ds["snp"].to_pandas()
    hits = 0
    for trait, loci in truth.loci.items():
        y = truth.traits[trait].loc[snp.index].to_numpy()
        for rs in loci:
            r, _ = stats.pearsonr(snp[rs], y)
            chi2 = n * r * r
            hits += stats.chi2.sf(chi2, 1) < 5e-8 * 600 / n  # scaled to this small n
    # at n=600 the per-locus expected chi2 is ~35; most loci pass the scaled threshold
    assert hits >= 0.6 * sum(len(v) for v in truth.loci.values())


# --- user genotypes, writers -------------------------------------------------------


def test_user_genotypes(tiny):
    ds0, truth0 = tiny
    geno = ds0["snp"].drop_vars(["individual", "eye"]).rename(sample="individual")
    ds, truth = make_imaging_genetics(genotypes=geno, image_size=16, n_snps=40, n_pgs=10,
                                      n_genes=5, random_state=0)
    assert list(ds["individual"].values) == list(geno["individual"].values)
    assert set(ds["snp_id"].values) <= set(geno["snp_id"].values)
    np.testing.assert_array_equal(
        ds["chromosome"].values, geno["chromosome"].sel(snp_id=ds["snp_id"]).values
    )
    assert ds.sizes["pgs_id"] == 10 and ds.sizes["gene"] == 5
    with pytest.raises(ValueError, match="genotypes"):
        make_imaging_genetics(genotypes=np.zeros((5, 5)), image_size=16)


def test_write_image_folder(tmp_path, tiny):
    from PIL import Image

    ds = tiny[0].isel(sample=slice(0, 5))
    index = write_image_folder(ds, tmp_path / "png")
    csv = pd.read_csv(tmp_path / "png" / "images.csv")
    assert list(csv.columns) == ["path", "sample", "individual"] and len(csv) == 5
    back = np.asarray(Image.open(tmp_path / "png" / csv["path"][0])).transpose(2, 0, 1)
    np.testing.assert_array_equal(back, ds["image"].values[0])
    write_image_folder(ds, tmp_path / "jpg", format="jpeg")
    assert (tmp_path / "jpg" / f"{ds['sample'].values[0]}.jpg").exists()
    with pytest.raises(ValueError, match="format"):
        write_image_folder(ds, tmp_path / "x", format="tiff")
    assert list(index["sample"]) == list(ds["sample"].values)


def test_generate_to_disk_is_chunked(tmp_path):
    from PIL import Image

    kwargs = dict(random_state=4, **TINY)
    n, size, chunk = 24, 96, 4
    tracemalloc.start()
    ds = generate_to_disk(tmp_path, n, size, chunk_size=chunk, format="png", plink=False,
                          **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    total = n * 3 * size * size
    # peak holds one chunk of float32 render buffers, never all the images
    assert peak < 0.75 * total * 4 * 4
    one_chunk = chunk * 3 * size * size * 4 * 12
    assert peak < one_chunk + 30e6
    csv = pd.read_csv(tmp_path / "images" / "images.csv")
    assert len(csv) == n and list(csv.columns) == ["path", "sample", "individual"]
    ref, _ = make_imaging_genetics(n, size, **kwargs)
    for i in (0, n - 1):
        img = np.asarray(Image.open(tmp_path / "images" / csv["path"][i])).transpose(2, 0, 1)
        np.testing.assert_array_equal(img, ref["image"].values[i])
    back = xr.load_dataset(tmp_path / "cohort.nc")
    np.testing.assert_array_equal(back["grade"].values, ref["grade"].values)
    assert "image" not in ds and "image_path" in ds.coords


# --- PLINK round trip ---------------------------------------------------------------


def _plink_io():
    try:
        from sklearn_contig.data import read_plink, write_plink
    except ImportError:
        pytest.skip("sklearn_contig.data.read_plink/write_plink not available yet")
    return read_plink, write_plink


def test_plink_round_trip(tmp_path, tiny):
    read_plink, write_plink = _plink_io()
    ds = tiny[0]
    prefix = write_plink(tmp_path / "geno", ds["snp"])
    back = read_plink(prefix, impute=False)
    np.testing.assert_array_equal(back.values, ds["snp"].values)
    assert list(back["snp_id"].values) == list(ds["snp_id"].values)
    np.testing.assert_array_equal(back["bp_position"].values.astype(int), ds["bp_position"].values)


@pytest.mark.plink
@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 is not on PATH")
def test_plink2_freq_runs(tmp_path, tiny):
    _, write_plink = _plink_io()
    prefix = write_plink(tmp_path / "geno", tiny[0]["snp"])
    subprocess.run(["plink2", "--bfile", prefix, "--freq", "--out", str(tmp_path / "f")],
                   check=True, capture_output=True)
    freq = pd.read_csv(tmp_path / "f.afreq", sep="\t")
    assert len(freq) == tiny[0].sizes["snp_id"]


# --- difficulty extremes --------------------------------------------------------------


def test_random_probe_easy_vs_hard():
    pytest.importorskip("torchvision")
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).parents[2] / "benchmarks" / "trait_difficulty.py"
    spec = importlib.util.spec_from_file_location("trait_difficulty", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ds, truth = make_imaging_genetics(400, image_size=48, random_state=0, **TINY)
    feats = bench.random_resnet18_features(ds["image"].values, seed=0)
    t = truth.traits
    assert bench.probe_r2(feats, t["pigmentation"].to_numpy()) > 0.7
    assert bench.probe_r2(feats, t["vessel_tortuosity"].to_numpy()) < 0.5


def test_genetic_shares_route_the_signal_through_one_modality():
    from sklearn.linear_model import LinearRegression

    ds, truth = make_imaging_genetics(400, image_size=16, simulator="independent", heritability=0.8,
                                      genetic_shares={"pgs": 1.0}, missing={}, random_state=1)
    traits = truth.traits.loc[ds["individual"].values]
    for trait, causal in truth.causal.items():
        assert causal["snp"] == [] and causal["burden"] == [] and truth.loci[trait] == []
        X = ds["pgs"].sel(pgs_id=causal["pgs"]).values
        r2 = LinearRegression().fit(X, traits[trait]).score(X, traits[trait])
        assert abs(r2 - 0.8) < 0.08
    with pytest.raises(ValueError, match="genetic_shares"):
        make_imaging_genetics(10, image_size=16, simulator="independent", genetic_shares={"eqtl": 1.0})
