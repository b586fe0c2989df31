"""GWASTransformer: aggregation, PCA, residualisation, inverse normal transform."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from sklearn_contig.gwas import GWASTransformer, inverse_normal_transform


@pytest.fixture
def emb():
    """400 individuals, 2 images each (sample ids ``<id>_L`` / ``<id>_R``)."""
    rng = np.random.default_rng(0)
    n, d = 400, 32
    people = np.array([f"id{i:03d}" for i in range(n)])
    latent = rng.normal(size=(n, 4)) @ rng.normal(size=(4, d))
    values = np.repeat(latent, 2, axis=0) + 0.3 * rng.normal(size=(2 * n, d))
    samples = np.array([f"{p}_{eye}" for p in people for eye in "LR"])
    individual = np.repeat(people, 2)
    return values, samples, individual, people


def test_output_shape_index_columns(emb):
    values, samples, individual, people = emb
    gt = GWASTransformer(n_components=5, random_state=0)
    out = gt.fit_transform(values, individual=individual)
    assert isinstance(out, pd.DataFrame)
    assert out.shape == (400, 5)
    assert list(out.columns) == ["PC1", "PC2", "PC3", "PC4", "PC5"]
    assert out.index.name == "individual"
    assert list(out.index) == list(people)
    assert list(gt.get_feature_names_out()) == list(out.columns)
    assert gt.explained_variance_ratio_.shape == (5,)
    assert gt.pca_.n_components_ == 5 and gt.n_individuals_ == 400
    assert np.isfinite(out.to_numpy()).all()


def test_inverse_normal_gives_standard_normal_marginals(emb):
    values, _, individual, _ = emb
    out = GWASTransformer(n_components=3).fit_transform(values, individual=individual)
    for col in out:
        x = out[col].to_numpy()
        assert abs(x.mean()) < 1e-10
        assert abs(x.std() - 1) < 0.02
        assert stats.kstest(x, "norm").pvalue > 0.99  # exact normal scores


def test_inverse_normal_transform_blom_and_ties():
    x = np.array([3.0, 1.0, 2.0, 2.0, np.nan])
    out = inverse_normal_transform(x)
    n = 4
    expected_ranks = np.array([4.0, 1.0, 2.5, 2.5])
    np.testing.assert_allclose(
        out[:4], stats.norm.ppf((expected_ranks - 3 / 8) / (n + 1 / 4))
    )
    assert np.isnan(out[4])
    assert out[2] == out[3]


def test_residualisation_removes_covariate_correlation(emb):
    values, _, individual, people = emb
    rng = np.random.default_rng(1)
    cov = pd.DataFrame(
        {"age": rng.normal(60, 8, 400), "sex": rng.choice(["F", "M"], 400)},
        index=people,
    )
    # make the embeddings depend strongly on the covariates
    shift = np.repeat(
        np.outer(cov["age"] - 60, np.ones(32)) * 0.2
        + np.outer(cov["sex"] == "M", np.linspace(-2, 2, 32)),
        2,
        axis=0,
    )
    gt = GWASTransformer(n_components=4, covariates=cov, inverse_normal=False)
    out = gt.fit_transform(values + shift, individual=individual)
    design = np.column_stack([cov["age"], (cov["sex"] == "M").astype(float)])
    for col in out:
        for j in range(design.shape[1]):
            r = np.corrcoef(out[col], design[:, j])[0, 1]
            assert abs(r) < 1e-6
    assert gt.covariate_names_ == ["age", "sex_M"]
    assert gt.residual_coef_.shape == (3, 4)
    # with the inverse normal transform the correlation stays small
    out_int = gt.set_params(inverse_normal=True).fit_transform(
        values + shift, individual=individual
    )
    assert np.abs(np.corrcoef(out_int["PC1"], cov["age"])[0, 1]) < 0.05


def test_covariate_with_numeric_column_label_is_regressed_out(emb):
    values, _, individual, people = emb
    c = np.random.default_rng(5).normal(size=400)
    shift = np.repeat(np.outer(c, np.linspace(1, 2, 32)), 2, axis=0)
    cov = pd.DataFrame(c[:, None], index=people)  # column label 0
    gt = GWASTransformer(n_components=2, covariates=cov, random_state=0)
    out = gt.fit_transform(values + shift, individual=individual)
    assert gt.covariate_names_ == ["0"]
    assert abs(np.corrcoef(out["PC1"], c)[0, 1]) < 0.05
    named = GWASTransformer(n_components=2, covariates=cov.set_axis(["age"], axis=1), random_state=0)
    pd.testing.assert_frame_equal(out, named.fit_transform(values + shift, individual=individual))


def test_categorical_covariates_encoded_as_in_fit(emb):
    values, _, individual, people = emb
    rng = np.random.default_rng(6)
    cov = pd.DataFrame(
        {"sex": rng.choice(["F", "M"], 400), "site": rng.choice(["a", "b", "c"], 400),
         "age": rng.normal(60, 8, 400)},
        index=people,
    )  # fmt: skip
    shift = np.repeat(np.outer(cov["sex"] == "M", np.linspace(-2, 2, 32)), 2, axis=0)
    x = values + shift
    gt = GWASTransformer(n_components=3, covariates=cov, inverse_normal=False, random_state=0)
    everyone = gt.fit_transform(x, individual=individual)
    assert gt.covariate_names_ == ["sex_M", "site_b", "site_c", "age"]
    men = np.isin(individual, people[cov["sex"] == "M"])
    only_men = gt.transform(x[men], individual=individual[men])
    np.testing.assert_allclose(only_men.to_numpy(), everyone.loc[only_men.index].to_numpy())
    one_site = np.isin(individual, people[cov["site"] == "c"])
    got = gt.transform(x[one_site], individual=individual[one_site])
    np.testing.assert_allclose(got.to_numpy(), everyone.loc[got.index].to_numpy())
    # a category column is encoded by its categories, whatever the subset holds
    cat = cov.astype({"site": "category"})
    gt_cat = GWASTransformer(n_components=3, covariates=cat, inverse_normal=False, random_state=0)
    pd.testing.assert_frame_equal(gt_cat.fit_transform(x, individual=individual), everyone)
    np.testing.assert_allclose(gt_cat.transform(x[one_site], individual=individual[one_site]), got)


def test_covariate_level_or_columns_not_seen_in_fit(emb):
    values, _, individual, people = emb
    cov = pd.DataFrame({"sex": np.tile(["F", "M"], 200), "age": np.linspace(40, 70, 400)},
                       index=people)  # fmt: skip
    gt = GWASTransformer(n_components=2, covariates=cov).fit(values, individual=individual)
    other = cov.copy()
    other.iloc[:3, 0] = "X"
    gt.covariates = other
    with pytest.raises(ValueError, match=r"covariates column 'sex' has levels \['X'\] that were not seen in fit"):
        gt.transform(values, individual=individual)
    gt.covariates = cov[["age"]]
    with pytest.raises(ValueError, match=r"covariates has columns \['age'\], but .* fitted with covariate columns \['sex', 'age'\]"):
        gt.transform(values, individual=individual)
    gt.covariates = None
    with pytest.raises(ValueError, match=r"covariates has columns \[\], but"):
        gt.transform(values, individual=individual)
    bare = GWASTransformer(n_components=2).fit(values, individual=individual)
    assert bare.covariate_names_ == []
    bare.covariates = cov
    with pytest.raises(ValueError, match=r"fitted with covariate columns \[\]"):
        bare.transform(values, individual=individual)


def test_covariate_column_of_unusable_dtype(emb):
    values, _, individual, people = emb
    cov = pd.DataFrame({"span": pd.arrays.IntervalArray.from_breaks(np.arange(401.0))}, index=people)
    with pytest.raises(TypeError, match="covariates column 'span' must be numeric or categorical, got dtype interval"):
        GWASTransformer(n_components=2, covariates=cov).fit(values, individual=individual)


def test_aggregation_mean_over_two_images(emb):
    values, samples, individual, people = emb
    mean = values.reshape(400, 2, -1).mean(axis=1)
    gt = GWASTransformer(n_components=3, inverse_normal=False, random_state=0)
    got = gt.fit_transform(values, individual=individual)
    ref = GWASTransformer(n_components=3, inverse_normal=False, random_state=0)
    want = ref.fit_transform(mean, individual=people)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-10)


def test_aggregation_suffix_and_callable(emb):
    values, samples, individual, people = emb
    df = pd.DataFrame(values, index=pd.Index(samples, name="sample"))
    left = values[0::2]
    kw = dict(n_components=3, inverse_normal=False, random_state=0)
    got = GWASTransformer(aggregate="_L", **kw).fit_transform(df, individual=individual)
    want = GWASTransformer(**kw).fit_transform(left, individual=people)
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-10)
    first = GWASTransformer(aggregate=lambda a: a[0], **kw)
    np.testing.assert_allclose(
        first.fit_transform(values, individual=individual).to_numpy(),
        want.to_numpy(),
        atol=1e-10,
    )
    # individuals without a left image are dropped with a warning
    with pytest.warns(UserWarning, match="1 of 400 individuals have no sample"):
        out = GWASTransformer(aggregate="_L", **kw).fit_transform(
            df.iloc[1:], individual=individual[1:]
        )
    assert len(out) == 399
    with pytest.raises(ValueError, match="several samples"):
        GWASTransformer(aggregate=None, **kw).fit(values, individual=individual)


def test_input_kinds_agree(emb):
    values, samples, individual, people = emb
    kw = dict(n_components=3, random_state=0)
    want = GWASTransformer(**kw).fit_transform(values, individual=individual)
    multi = pd.DataFrame(
        values,
        index=pd.MultiIndex.from_arrays([samples, individual], names=["sample", "individual"]),
    )
    da = xr.DataArray(
        values,
        dims=("sample", "feature"),
        coords={"sample": samples, "individual": ("sample", individual)},
    )
    ds = xr.Dataset({"embedding": da})
    series = pd.Series(individual, index=samples)
    by_sample = pd.DataFrame(values, index=samples)
    for got in (
        GWASTransformer(**kw).fit_transform(multi),
        GWASTransformer(**kw).fit_transform(da),
        GWASTransformer(**kw).fit_transform(ds),
        GWASTransformer(individuals=series, **kw).fit_transform(by_sample),
        GWASTransformer(individuals=individual, **kw).fit_transform(values),
    ):
        pd.testing.assert_frame_equal(got, want)
    # numpy without ids: one individual per row, ids 0..n-1
    out = GWASTransformer(**kw).fit_transform(values[:50])
    assert list(out.index) == list(range(50))


def test_pipeline_with_sklearn_step_in_front(emb):
    values, samples, individual, people = emb
    pipe = Pipeline(
        [
            ("embed", FunctionTransformer(lambda x: np.tanh(x))),
            ("gwas", GWASTransformer(n_components=4, individuals=individual)),
        ]
    )
    out = pipe.fit_transform(values)
    assert out.shape == (400, 4) and list(out.index) == list(people)
    np.testing.assert_allclose(pipe.transform(values).to_numpy(), out.to_numpy())
    # pandas output upstream: the index carries the sample ids
    by_sample = pd.DataFrame(values, index=samples)
    pipe = Pipeline(
        [
            ("scale", StandardScaler().set_output(transform="pandas")),
            ("gwas", GWASTransformer(n_components=4, individuals=pd.Series(individual, index=samples))),
        ]
    )
    out = pipe.fit(by_sample).transform(by_sample)
    assert list(out.index) == list(people)
    # ids through fit params
    pipe = Pipeline([("scale", StandardScaler()), ("gwas", GWASTransformer(n_components=2))])
    out = pipe.fit_transform(values, gwas__individual=individual)
    assert out.shape == (400, 2)


def test_get_params_clone_set_output(emb):
    values, _, individual, _ = emb
    cov = pd.DataFrame({"age": np.arange(400.0)}, index=np.unique(individual))
    gt = GWASTransformer(n_components=3, covariates=cov, random_state=0)
    params = gt.get_params()
    assert params["n_components"] == 3 and params["aggregate"] == "mean"
    assert params["covariates"] is cov
    c = clone(gt)
    assert c.n_components == 3 and not hasattr(c, "pca_")
    pd.testing.assert_frame_equal(c.covariates, cov)
    with pytest.raises(NotFittedError):
        c.transform(values)
    out = c.set_output(transform="pandas").fit_transform(values, individual=individual)
    assert list(out.columns) == ["PC1", "PC2", "PC3"] and out.index[0] == "id000"
    with pytest.raises(ValueError, match="n_components"):
        GWASTransformer(n_components=0).fit(values)


def test_constant_columns_dropped_with_warning(emb):
    values, _, individual, _ = emb
    x = values.copy()
    x[:, [3, 7]] = 1.5
    with pytest.warns(UserWarning, match="dropping 2 constant embedding features"):
        gt = GWASTransformer(n_components=3).fit(x, individual=individual)
    assert list(gt.constant_features_) == [3, 7]
    assert gt.transform(x, individual=individual).shape == (400, 3)
    with pytest.raises(ValueError, match="all 32 embedding features are constant"):
        GWASTransformer(n_components=3).fit(np.ones((10, 32)))


def test_covariates_missing_values(emb):
    values, _, individual, people = emb
    cov = pd.DataFrame({"age": np.linspace(40, 70, 400), "bmi": 25.0}, index=people)
    cov.iloc[[5, 9, 11], 1] = np.nan
    with pytest.raises(ValueError, match=r"'bmi': 3"):
        GWASTransformer(n_components=2, covariates=cov).fit(values, individual=individual)
    gt = GWASTransformer(n_components=2, covariates=cov, covariates_missing="drop")
    with pytest.warns(UserWarning, match="dropping 3 individuals with missing covariates"):
        out = gt.fit_transform(values, individual=individual)
    assert len(out) == 397 and "id005" not in out.index


def test_covariates_missing_individuals(emb):
    values, _, individual, people = emb
    cov = pd.DataFrame({"age": np.arange(398.0)}, index=people[2:])
    with pytest.raises(ValueError, match=r"2 of 400 individuals .*'id000', 'id001'"):
        GWASTransformer(n_components=2, covariates=cov).fit(values, individual=individual)


def test_bad_embeddings(emb):
    values, _, individual, _ = emb
    x = values.copy()
    x[4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        GWASTransformer(n_components=2).fit(x, individual=individual)
    with pytest.raises(ValueError, match="one individual id per sample"):
        GWASTransformer(n_components=2).fit(values, individual=individual[:10])
    with pytest.raises(ValueError, match="n_components=40 exceeds"):
        GWASTransformer(n_components=40).fit(values, individual=individual)
    gt = GWASTransformer(n_components=2).fit(values, individual=individual)
    with pytest.raises(ValueError, match="expecting 32 features"):
        gt.transform(values[:, :5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GWASTransformer(n_components=2).fit(values, individual=individual)


def _dead_units_cohort():
    """8 informative features (one latent factor) beside 24 near-dead units.

    The dead units are zero except for a small joint spike in 3 % of the people:
    tiny raw variance, but perfectly correlated with each other.
    """
    rng = np.random.default_rng(4)
    n = 500
    latent = rng.normal(size=n)
    informative = latent[:, None] + 0.5 * rng.normal(size=(n, 8))
    event = (rng.random(n) < 0.03).astype(float)
    dead = 0.05 * event[:, None] + 1e-4 * rng.normal(size=(n, 24))
    return np.hstack([informative, dead]), latent, event


def test_pca_runs_on_centred_raw_embeddings_by_default():
    x, latent, event = _dead_units_cohort()
    gt = GWASTransformer(n_components=2, inverse_normal=False, random_state=0)
    out = gt.fit_transform(x)
    assert gt.standardize is False
    np.testing.assert_array_equal(gt.scale_, np.ones(32))
    np.testing.assert_allclose(gt.mean_, x.mean(axis=0))
    # the same scores as a PCA of the centred embeddings (up to sign)
    ref = PCA(n_components=2).fit_transform(x - x.mean(axis=0))
    for j in range(2):
        assert abs(np.corrcoef(out.iloc[:, j], ref[:, j])[0, 1]) > 1 - 1e-8
    assert abs(np.corrcoef(out["PC1"], latent)[0, 1]) > 0.95


def test_standardize_lets_near_dead_units_take_over():
    x, latent, event = _dead_units_cohort()
    gt = GWASTransformer(n_components=2, standardize=True, inverse_normal=False, random_state=0)
    out = gt.fit_transform(x)
    np.testing.assert_allclose(gt.scale_, x.std(axis=0))
    assert abs(np.corrcoef(out["PC1"], event)[0, 1]) > 0.95
    assert abs(np.corrcoef(out["PC1"], latent)[0, 1]) < 0.3


def test_standardize_must_be_boolean(emb):
    values, _, individual, _ = emb
    with pytest.raises(ValueError, match="standardize"):
        GWASTransformer(n_components=2, standardize="yes").fit(values, individual=individual)


def test_transform_refuses_reordered_or_renamed_columns(emb):
    values, samples, individual, _ = emb
    df = pd.DataFrame(values, index=samples, columns=[f"embedding{j}" for j in range(values.shape[1])])
    gt = GWASTransformer(n_components=2, inverse_normal=False).fit(df, individual=individual)
    with pytest.raises(ValueError, match="other feature names than in fit"):
        gt.transform(df[df.columns[::-1]], individual=individual)
    with pytest.raises(ValueError, match="other feature names than in fit"):
        gt.transform(df.rename(columns={"embedding0": "e0"}), individual=individual)
    pd.testing.assert_frame_equal(gt.transform(df, individual=individual),
                                  gt.transform(df.to_numpy(), individual=individual))
