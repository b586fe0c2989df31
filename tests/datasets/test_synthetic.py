"""Tests of the synthetic imaging-genetics biobank."""

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
    return make_imaging_genetics(800, image_size=16, random_state=3, simulator="msprime",
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
    assert ds["cup_mask"].dims == ("sample", "y", "x") and ds["cup_mask"].dtype == np.uint8
    assert set(np.unique(ds["cup_mask"])) <= {0, 1}
    for name in ("grade", "diseases", "risk", "risk_binary", "disc_mask", "cup_mask"):
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
    cup = ds["cup_mask"].values
    assert ((cup <= mask).all()) and (cup.sum((1, 2)) > 0).all()
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
    # each locus explains h2 * 0.4 / 3 = 6.7 % of its trait: at n=800 the expected
    # chi2 is ~53 against a scaled threshold of ~31, so most loci pass (at n=600,
    # expected chi2 ~40, the count varied between 11 and 16 of 21 over seeds)
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
    xr.Variable("x", np.zeros(1))  # xarray imports dask on first use: not the generator's memory
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


@pytest.mark.parametrize("eyes", [1, 2])
def test_generate_to_disk_matches_make_imaging_genetics(tmp_path, eyes):
    """Every argument of make_imaging_genetics, same meaning: same genetics and labels."""
    user = make_imaging_genetics(15, image_size=16, random_state=9, **TINY)[0]["snp"]
    user = user.drop_vars(["individual", "eye"]).rename(sample="individual")
    kwargs = dict(image_size=16, eyes=eyes, genotypes=user, missing={"snp": 0.2, "pgs": 0.1},
                  heritability=0.7, genetic_shares={"snp": 1, "burden": 1}, n_snps=40,
                  n_pgs=12, n_genes=6, simulator="independent", random_state=3)
    ref, truth = make_imaging_genetics(**kwargs)
    ds = generate_to_disk(tmp_path, chunk_size=7, format="png", plink=False, **kwargs)
    back = xr.load_dataset(tmp_path / "cohort.nc")
    for name in ("snp", "pgs", "burden", "grade", "diseases", "risk", "risk_binary"):
        xr.testing.assert_identical(ds[name].drop_vars("image_path"), ref[name])
        np.testing.assert_array_equal(back[name].values, ref[name].values)
    assert list(back["sample"].values) == list(ref["sample"].values)
    traits = pd.read_csv(tmp_path / "traits.csv", index_col="individual")
    np.testing.assert_allclose(traits.to_numpy(), truth.traits.to_numpy())
    import json

    saved = json.loads((tmp_path / "truth.json").read_text())
    assert saved["causal"] == truth.causal and saved["loci"] == truth.loci
    assert all(c["pgs"] == [] for c in truth.causal.values())  # genetic_shares was used
    assert saved["heritability"] == 0.7
    csv = pd.read_csv(tmp_path / "images" / "images.csv")
    from PIL import Image

    for i in (0, len(csv) - 1):
        img = np.asarray(Image.open(tmp_path / "images" / csv["path"][i])).transpose(2, 0, 1)
        np.testing.assert_array_equal(img, ref["image"].values[i])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(chunk_size=0), "chunk_size"),
        (dict(format="tiff"), "format"),
        (dict(genetic_shares={"eqtl": 1.0}), "genetic_shares"),
        (dict(eyes=3), "eyes"),
    ],
)
def test_generate_to_disk_checks_arguments_first(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_to_disk(tmp_path / "out", 10, 16, **kwargs)
    assert not (tmp_path / "out").exists()  # raised before any work


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


# --- planted truth not confounded by frequency ----------------------------------------


@pytest.fixture(scope="module")
def default_cohort():
    """The default cohort (msprime when installed) at a moderate size. The image size
    does not enter the random stream before the images, so the genetics and causal
    features are those of the default 64 px run."""
    return make_imaging_genetics(2000, image_size=16, random_state=0)


def test_causal_features_are_frequency_matched(default_cohort):
    # with a zero attribution baseline a non-carrier's attribution is exactly 0, so
    # frequency alone would separate causal from noise features if they differed
    ds, truth = default_cohort
    snp = ds["snp"].values
    maf = np.nanmean(snp, 0) / 2
    maf = np.minimum(maf, 1 - maf)
    causal_snps = {s for c in truth.causal.values() for s in c["snp"]}
    is_causal = np.isin(ds["snp_id"].values, list(causal_snps))
    assert is_causal.sum() == len(causal_snps) == 3 * len(TRAITS)
    gap = abs(maf[is_causal].mean() - maf[~is_causal].mean())
    print(f"mean MAF causal {maf[is_causal].mean():.3f} vs non-causal {maf[~is_causal].mean():.3f}")
    assert gap <= 0.02, gap
    burden = truth.complete["burden"]
    carriers = (burden > 0).mean(axis=0)
    causal_genes = {g for c in truth.causal.values() for g in c["burden"]}
    is_causal = carriers.index.isin(list(causal_genes))
    assert is_causal.sum() == len(causal_genes) == 2 * len(TRAITS)
    gap = abs(carriers[is_causal].mean() - carriers[~is_causal].mean())
    print(f"carriers causal {carriers[is_causal].mean():.4f} vs non-causal {carriers[~is_causal].mean():.4f}")
    assert gap <= 0.01, gap


def test_frequency_matching_is_not_luck():
    # a skewed spectrum (the independent simulator) and several seeds: causal SNPs
    # spread over the whole MAF range of the panel instead of its common end
    for seed in range(3):
        ds, truth = make_imaging_genetics(300, image_size=16, random_state=seed, **TINY)
        maf = truth.genotypes.maf
        ids = {s: i for i, s in enumerate(truth.genotypes.snp_ids)}
        panel = maf[[ids[s] for s in ds["snp_id"].values]]
        causal = maf[[ids[s] for c in truth.causal.values() for s in c["snp"]]]
        assert abs(causal.mean() - panel.mean()) <= 0.02
        assert causal.min() < np.quantile(panel, 0.1) and causal.max() > np.quantile(panel, 0.9)


def test_planted_loci_are_separate_regions(default_cohort):
    # 21 loci on four 1 Mb chromosomes: at least 160 kb apart, beyond the 150 kb
    # clumping window and the LD of the coalescent genotypes
    ds, truth = default_cohort
    pos = ds[["chromosome", "bp_position"]].to_pandas()
    loci = pos.loc[[s for v in truth.loci.values() for s in v]].sort_values(
        ["chromosome", "bp_position"])
    gaps = loci.groupby("chromosome")["bp_position"].diff().dropna()
    assert len(loci) == 21 and gaps.min() >= 160_000, gaps.min()


# --- optic cup ------------------------------------------------------------------------


def test_cup_mask_is_small_inside_the_disc_and_follows_cup_to_disc():
    ds, truth = make_imaging_genetics(300, image_size=64, random_state=0, **TINY)
    cup = ds["cup_mask"].values
    disc = ds["disc_mask"].values
    share = cup.mean((1, 2))
    assert share.mean() < 0.02 and share.max() < 0.02  # ~0.4 % of the image (~17 px)
    assert (share > 0).all()
    assert (cup <= disc).all()  # inside the disc
    t = truth.traits.loc[ds["individual"].values]
    assert np.corrcoef(cup.sum((1, 2)), t["cup_to_disc"])[0, 1] > 0.7  # measured 0.86
    # the cup is offset towards the macula (left of the disc centre in right eyes)
    x = np.arange(64)
    shift = (cup * x).sum((1, 2)) / cup.sum((1, 2)) - (disc * x).sum((1, 2)) / disc.sum((1, 2))
    assert shift.mean() < -0.3 and shift.max() <= 0.5, (shift.mean(), shift.max())


def test_cup_has_low_contrast(monkeypatch):
    # Counterfactual contrast: the same images rendered without the cup. Measured at
    # 64 px: the cup lifts the luminance of its pixels by ~9.5 grey levels (Weber
    # contrast ~0.05, three times the pixel noise sd), while the disc stands ~55 levels
    # above the retina around it; the cup step is ~0.18 of the disc step.
    from scipy.ndimage import binary_dilation, binary_erosion

    from sklearn_contig.datasets import _render

    kwargs = dict(n_individuals=100, image_size=64, random_state=0, **TINY)
    ds, _ = make_imaging_genetics(**kwargs)
    monkeypatch.setattr(_render, "CUP_OPACITY", 0.0)
    flat, _ = make_imaging_genetics(**kwargs)

    def lum(im):
        im = im.astype(float)
        return 0.299 * im[:, 0] + 0.587 * im[:, 1] + 0.114 * im[:, 2]

    L, L0 = lum(ds["image"].values), lum(flat["image"].values)
    cup = ds["cup_mask"].values.astype(bool)
    disc = ds["disc_mask"].values.astype(bool)
    steps, weber, disc_steps = [], [], []
    for i in range(len(L)):
        steps.append((L[i] - L0[i])[cup[i]].mean())
        weber.append(steps[-1] / L0[i][cup[i]].mean())
        rim = binary_erosion(disc[i]) & ~cup[i]
        ring = binary_dilation(disc[i], iterations=3) & ~binary_dilation(disc[i])
        if rim.any():
            disc_steps.append(L0[i][rim].mean() - L0[i][ring].mean())
    step, disc_step = np.mean(steps), np.mean(disc_steps)
    print(f"cup step {step:.1f} levels (Weber {np.mean(weber):.3f}), disc step {disc_step:.1f}")
    assert 3 < step < 15 and np.mean(weber) < 0.08  # visible, but faint
    assert step < 0.3 * disc_step


def test_standardise_centres_scales_and_zeroes_constant_columns():
    from sklearn_contig.datasets._genotypes import standardise

    x = np.column_stack([np.arange(7.0), np.full(7, 0.1), np.full(7, 7.7)])  # float means round off
    z = standardise(x)
    np.testing.assert_allclose(z[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(z[:, 0].std(), 1.0)
    np.testing.assert_array_equal(z[:, 1:], 0.0)


def test_polygenic_scores_are_standardised():
    from sklearn_contig.datasets import _genotypes as gen

    rng = np.random.default_rng(0)
    data = gen.GenotypeData(rng.integers(0, 3, (50, 30)).astype(np.int8), np.ones(30, int),
                            np.arange(30), np.zeros(50, int), np.arange(30).astype(str))
    scores = gen.polygenic_scores(data, 4, rng, snps_per_score=(5, 10))
    assert scores.shape == (50, 4) and scores.dtype == np.float64
    np.testing.assert_allclose(scores.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(scores.std(0), 1.0)
