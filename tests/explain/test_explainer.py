"""Explainer: cached E(x) against a naive re-encoding, completeness, outputs, errors."""

import copy

import numpy as np
import pytest
import torch
import xarray as xr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from sklearn_contig.data import CohortDataset, from_arrays, individual_codes
from sklearn_contig.explain import (
    AUTHORS_SETTINGS,
    Explainer,
    deeplift_safe,
    plot_global,
    plot_image_attribution,
    plot_local,
)
from sklearn_contig.explain._reference import recomputed_pair_loss
from sklearn_contig.losses import ContIGLoss
from sklearn_contig.pretraining import ContIGPretrainer

N = 40


@pytest.fixture(scope="module")
def cohort():
    rng = np.random.default_rng(0)
    pgs = rng.normal(size=(N, 6))
    pgs[3] = np.nan  # sample 3 lacks pgs
    pgs[7, 2] = np.nan  # partial NaN, imputed
    snp = rng.integers(0, 3, size=(N, 5)).astype(float)
    snp[[3, 5]] = np.nan  # sample 3 lacks everything, sample 5 lacks snp
    # 34 individuals: samples 0-5 are the second image of individuals 34-39's people
    individuals = [f"i{k}" for k in range(N - 6)] + [f"i{k}" for k in range(6)]
    return from_arrays(
        rng.integers(0, 255, (N, 3, 16, 16), dtype=np.uint8),
        sample_ids=[f"s{k}" for k in range(N)],
        individual_ids=individuals,
        feature_names={"pgs": [f"PGS{k:06d}" for k in range(6)]},
        pgs=pgs,
        snp=snp,
    )


@pytest.fixture(scope="module")
def model(cohort):
    return ContIGPretrainer(
        "resnet18", hidden_dim=16, projection_dim=8, batch_size=8, max_epochs=1,
        validation_fraction=0, verbose=0, random_state=0,
    ).fit(cohort)


def naive_loss(model, ds, reference_rows, i, temperature=None, loss_weight=None):
    """The ContIG loss of reference + {x}, re-encoding the whole batch."""
    crit = ContIGLoss(model.temperature if temperature is None else temperature,
                      model.loss_weight if loss_weight is None else loss_weight,
                      model.exclude_positive)
    data = CohortDataset(ds, model.modalities_, fill=model.fill_values_, codes=individual_codes(ds))
    X, _ = data.__getitems__(np.r_[reference_rows, i])
    module = model.module_.eval()
    with torch.no_grad():
        out = module(**X)
        return float(crit(out["pairs"], X["individual"]))


@pytest.mark.parametrize("exclude_positive", [False, True])
def test_cached_loss_matches_naive_reencoding(cohort, model, exclude_positive):
    model.exclude_positive = exclude_positive
    try:
        explainer = Explainer(model, n_reference=20, random_state=0).fit(cohort)
        cached = explainer.loss(cohort)
        ref = np.flatnonzero(np.isin(cohort["sample"].values, explainer.reference_samples_))
        naive = np.array([naive_loss(model, cohort, ref, i) for i in range(N)])
    finally:
        model.exclude_positive = False
    assert explainer.n_reference_ == 20
    # one sample per individual in the reference batch
    assert len(set(cohort["individual"].sel(sample=explainer.reference_samples_).values)) == 20
    # some explained samples share an individual with the reference: masked like ContIGLoss
    assert np.isin(cohort["individual"].values, cohort["individual"].sel(sample=explainer.reference_samples_).values).sum() > 20
    rel = np.abs(cached - naive) / np.abs(naive)
    assert rel.max() <= 1e-5, rel.max()


def test_explained_loss_settings_and_recomputed_loss(cohort, model):
    # the authors' loss settings: temperature 1.0 and weight 0.5 instead of the training ones
    explainer = Explainer(model, n_reference=20, temperature=1.0, loss_weight=0.5,
                          random_state=0).fit(cohort)
    assert (explainer.temperature_, explainer.loss_weight_) == (1.0, 0.5)
    cached = explainer.loss(cohort)
    ref = np.flatnonzero(np.isin(cohort["sample"].values, explainer.reference_samples_))
    naive = np.array([naive_loss(model, cohort, ref, i, 1.0, 0.5) for i in range(12)])
    np.testing.assert_allclose(cached[:12], naive, rtol=1e-5)
    trained = Explainer(model, n_reference=20, random_state=0).fit(cohort).loss(cohort)
    assert np.abs(trained - cached).max() > 0.1  # the settings do change E

    class Recomputed(Explainer):
        _pair_loss = staticmethod(recomputed_pair_loss)

    # the full (b + 1) x (b + 1) logits per row give the same E as the cached statistics
    again = Recomputed(model, n_reference=20, random_state=0).fit(cohort).loss(cohort)
    np.testing.assert_allclose(again, trained, rtol=1e-5)


def test_standardised_inputs_baseline_and_noise(cohort, model):
    """Raw scores at another scale give the same attributions; "zeros" is the fitted location."""
    loc = np.array([1e-4, -2.0, 0.5, 3.0, 0.0, 1.0], dtype=np.float32)
    scale = np.array([1e-4, 10.0, 0.5, 2.0, 1.0, 3.0], dtype=np.float32)
    # the fitted model already standardises pgs (loc0, scale0); the same model on data
    # transformed by x * scale + loc standardises with the transformed statistics
    enc = model.module_.genetic_encoders["pgs"]
    loc0, scale0 = enc.loc.cpu().numpy().copy(), enc.scale.cpu().numpy().copy()
    scaled = copy.deepcopy(model)
    scaled.module_.genetic_encoders["pgs"].set_standardization(loc0 * scale + loc, scale0 * scale)
    scaled.fill_values_ = {**model.fill_values_, "pgs": model.fill_values_["pgs"] * scale + loc}
    raw = cohort.assign(pgs=(cohort["pgs"].dims, cohort["pgs"].values * scale + loc))
    kw = dict(modalities=["pgs"], n_reference=20, n_steps=8, random_state=0)
    sub = slice(8, 14)
    for method in ("integrated_gradients", "noise_tunnel"):
        a = Explainer(model, method=method, nt_samples=3, nt_stdevs=0.5, **kw).fit(cohort)
        b = Explainer(scaled, method=method, nt_samples=3, nt_stdevs=0.5, **kw).fit(raw)
        np.testing.assert_allclose(b.baseline_values_["pgs"], loc0 * scale + loc, rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(a.baseline_values_["pgs"], loc0, rtol=1e-6)
        la, lb = a.local(cohort.isel(sample=sub)), b.local(raw.isel(sample=sub))
        np.testing.assert_allclose(lb["baseline_loss"], la["baseline_loss"], rtol=1e-4)
        # attributions are per raw feature, and the noise is per standard deviation
        np.testing.assert_allclose(lb["pgs"], la["pgs"], rtol=1e-3, atol=1e-6)


def test_authors_settings(cohort, model):
    explainer = Explainer(model, n_reference=20, n_steps=4, random_state=0, **AUTHORS_SETTINGS)
    local = explainer.fit(cohort).local(cohort.isel(sample=slice(8, 11)))
    assert local.attrs["method"] == "noise_tunnel" and local.attrs["nt_stdevs"] == 1.0
    assert (local.attrs["temperature"], local.attrs["loss_weight"]) == (1.0, 0.5)
    assert np.isfinite(local["pgs"].values).all()


def _with_values(ds, name, values):
    out = ds.copy()
    present = ~np.all(np.isnan(ds[name].values), axis=1)
    new = np.array(ds[name].values)
    new[present] = np.broadcast_to(values, new.shape)[present]
    out[name] = (ds[name].dims, new)
    out[name].attrs = ds[name].attrs
    return out


@pytest.mark.parametrize("baseline", ["zeros", "mean"])
def test_integrated_gradients_completeness(cohort, model, baseline):
    explainer = Explainer(model, modalities=["pgs"], n_reference=20, n_steps=200,
                          baseline=baseline, random_state=0).fit(cohort)
    local = explainer.local(cohort)
    # E at x and at the baseline, evaluated independently of captum
    e_x = explainer.loss(cohort)
    base = explainer.baseline_values_["pgs"]
    filled = np.where(np.isnan(cohort["pgs"].values), explainer.fill_values_["pgs"], cohort["pgs"].values)
    e_b = explainer.loss(_with_values(cohort.assign(pgs=(cohort["pgs"].dims, filled)), "pgs", base))
    assert (~np.isnan(local["pgs"].values).all(axis=1)).sum() == N - 1 and np.isnan(local["pgs"].values[3]).all()
    # the imputed entry of sample 7 gets no attribution (its share stays in delta)
    assert np.isnan(local["pgs"].values[7, 2]) and np.isfinite(np.delete(local["pgs"].values[7], 2)).all()
    present = ~np.isnan(local["pgs"].values).any(axis=1)  # rows without an imputed entry
    assert present.sum() == N - 2
    total = local["pgs"].values[present].sum(axis=1)
    diff = (e_x - e_b)[present]
    np.testing.assert_allclose(local["loss"].values[present], e_x[present], rtol=1e-6)
    np.testing.assert_allclose(local["baseline_loss"].values[present], e_b[present], rtol=1e-6)
    # completeness: |sum(attr) - (E(x) - E(b))| <= 2 % of |E(x) - E(b)| + 5e-4 at 200 steps
    err = np.abs(total - diff)
    assert np.all(err <= 0.02 * np.abs(diff) + 5e-4), (err, diff)
    # captum's convergence delta is the same quantity
    np.testing.assert_allclose(local["delta"].values[present], total - diff, atol=1e-5)


def test_joint_image_attribution_completeness(cohort, model):
    explainer = Explainer(model, n_reference=20, n_steps=100, attribute_image=True, random_state=0)
    local = explainer.fit(cohort).local(cohort.isel(sample=slice(8, 14)))
    assert local["image"].dims == ("sample", "y", "x") and local["image"].shape == (6, 16, 16)
    assert local.attrs["attribute_image"] == 1
    total = local["image"].sum(("y", "x")) + local["pgs"].sum("pgs_id") + local["snp"].sum("snp_id")
    diff = local["loss"] - local["baseline_loss"]
    assert np.all(np.abs(total - diff) <= 0.05 * np.abs(diff) + 1e-3)


def test_local_output_layout_and_missing(cohort, model):
    explainer = Explainer(model, n_reference=20, n_steps=8, random_state=0).fit(cohort)
    local = explainer.local(cohort)
    assert set(local.data_vars) == {"pgs", "snp", "loss", "baseline_loss", "delta"}
    assert local["pgs"].dims == ("sample", "pgs_id")
    assert list(local["pgs_id"].values) == [f"PGS{k:06d}" for k in range(6)]
    assert list(local["sample"].values) == list(cohort["sample"].values)
    assert list(local["individual"].values) == list(cohort["individual"].values)
    # sample 3 lacks every explained modality: skipped; sample 5 lacks snp only
    assert np.isnan(local["delta"].values[3]) and np.isnan(local["pgs"].values[3]).all()
    assert np.isnan(local["snp"].values[5]).all() and np.isfinite(local["pgs"].values[5]).all()
    assert np.isfinite(local["delta"].values[5])
    glob = explainer.global_(local)
    assert glob.attrs["n_samples_pgs"] == N - 1 and glob.attrs["n_samples_snp"] == N - 2
    values = glob["pgs"].values
    assert np.all(np.diff(values) <= 0)
    expected = np.nanmean(np.abs(local["pgs"].values), axis=0)
    np.testing.assert_allclose(glob["pgs"].sel(pgs_id=glob["pgs_id"].values).values,
                               expected[np.argsort(-expected)])
    assert glob["pgs"].to_series().idxmax() == local["pgs_id"].values[np.argmax(expected)]
    # global_ on a Dataset computes the local attributions itself
    again = explainer.global_(cohort)
    xr.testing.assert_allclose(again["pgs"], glob["pgs"])


@pytest.mark.parametrize("method", ["deeplift", "noise_tunnel"])
def test_other_methods(cohort, model, method):
    explainer = Explainer(model, method=method, n_reference=20, n_steps=8, nt_samples=3,
                          random_state=0).fit(cohort)
    sub = cohort.isel(sample=slice(8, 12))
    local = explainer.local(sub)
    assert np.isfinite(local["pgs"].values).all() and np.isfinite(local["delta"].values).all()
    image = explainer.local(sub, image=True)
    assert image["image"].shape == (4, 16, 16) and np.isfinite(image["image"].values).all()
    if method == "noise_tunnel":  # repeatable with random_state
        xr.testing.assert_equal(local, explainer.local(sub))


def test_deeplift_safe_copy_matches_encoder(model):
    encoder = model.module_.image_encoder
    safe = deeplift_safe(encoder)
    x = torch.rand(3, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(safe(x), encoder(x))
    relus = [m for m in safe.modules() if isinstance(m, torch.nn.ReLU)]
    assert not any(r.inplace for r in relus)


def test_clone_and_params(model):
    explainer = Explainer(model, n_reference=50, method="deeplift")
    assert clone(explainer).get_params()["method"] == "deeplift"


def test_bad_input(cohort, model):
    with pytest.raises(NotFittedError, match="not fitted"):
        Explainer(ContIGPretrainer()).fit(cohort)
    with pytest.raises(NotFittedError):
        Explainer(model).local(cohort)
    with pytest.raises(ValueError, match="n_reference"):
        Explainer(model, n_reference=1).fit(cohort)
    with pytest.raises(ValueError, match="at least 2 individuals"):
        Explainer(model).fit(cohort.isel(sample=[0, N - 6]))  # one individual, two images
    with pytest.raises(ValueError, match=r"cannot explain modalities \['burden'\].*trained on"):
        Explainer(model, modalities=["burden"]).fit(cohort)
    with pytest.raises(ValueError, match="method"):
        Explainer(model, method="lime").fit(cohort)
    with pytest.raises(ValueError, match="temperature"):
        Explainer(model, temperature=0.0).fit(cohort)
    with pytest.raises(ValueError, match="loss_weight"):
        Explainer(model, loss_weight=1.5).fit(cohort)
    explainer = Explainer(model, n_reference=20, n_steps=4, modalities=["pgs"], random_state=0).fit(cohort)
    with pytest.raises(ValueError, match="lacks all explained modalities"):
        explainer.local(cohort.isel(sample=[3]))
    with pytest.raises(ValueError, match="has 4 features; the model was trained on 6"):
        explainer.local(cohort.isel(pgs_id=slice(0, 4)))
    with pytest.raises(ValueError, match="no variable for the explained modalities"):
        explainer.local(cohort.drop_vars("pgs"))
    with pytest.raises(TypeError, match="xarray.Dataset"):
        explainer.local(np.zeros((3, 4)))


def test_plots(cohort, model, tmp_path):
    explainer = Explainer(model, n_reference=20, n_steps=8, attribute_image=True, random_state=0).fit(cohort)
    local = explainer.local(cohort.isel(sample=slice(8, 12)))
    glob = explainer.global_(local)
    paths = [tmp_path / f"{k}.png" for k in ("global", "local", "image")]
    plot_global(glob, "pgs", top_k=5, path=paths[0])
    plot_local(local, "s9", image=cohort["image"].sel(sample="s9").values, top_k=3, path=paths[1])
    plot_image_attribution(cohort["image"].sel(sample="s9").values, local["image"].sel(sample="s9"), path=paths[2])
    for p in paths:
        assert p.stat().st_size > 1000
    with pytest.raises(ValueError, match="no variable 'burden'"):
        plot_global(glob, "burden")


def test_features_in_another_order_than_the_model_are_refused(cohort, model):
    shuffled = cohort.isel(pgs_id=[5, 4, 3, 2, 1, 0])
    with pytest.raises(ValueError, match=r"modality 'pgs' has the same features in another order.*ds.sel\(pgs_id="):
        Explainer(model, n_reference=20, n_steps=4, modalities=["pgs"], random_state=0).fit(shuffled)
    explainer = Explainer(model, n_reference=20, n_steps=4, modalities=["pgs"], random_state=0).fit(cohort)
    with pytest.raises(ValueError, match="modality 'pgs' has the same features in another order"):
        explainer.local(shuffled)
    renamed = cohort.assign_coords(pgs_id=[f"X{k}" for k in range(6)])
    with pytest.raises(ValueError, match="modality 'pgs' has other features than the model was trained on"):
        model.transform_genetics(renamed)


def test_global_counts_rows_with_an_imputed_entry_but_not_the_entry():
    from sklearn_contig.explain._results import aggregate

    local = xr.Dataset(
        {"pgs": (("sample", "pgs_id"), [[1.0, -3.0], [np.nan, 5.0], [np.nan, np.nan]]),
         "delta": ("sample", [0.0, 0.1, np.nan]), "loss": ("sample", [1.0, 2.0, np.nan]),
         "baseline_loss": ("sample", [0.5, 2.0, np.nan])},
        coords={"pgs_id": ["a", "b"]}, attrs={"modalities": ["pgs"], "explanation": "local"},
    )
    out = aggregate(local)
    assert out.attrs["n_samples_pgs"] == 2
    assert out["pgs"].sel(pgs_id="a").item() == 1.0 and out["pgs"].sel(pgs_id="b").item() == 4.0
    assert out.attrs["mean_abs_relative_delta"] == 0.0  # the row with loss == baseline_loss is left out


def test_image_attribution_of_a_flat_feature_model_is_refused():
    rng = np.random.default_rng(0)
    ds = from_arrays(rng.normal(size=(24, 5)).astype(np.float32), pgs=rng.normal(size=(24, 3)))
    model = ContIGPretrainer("mlp", hidden_dim=8, projection_dim=4, batch_size=8, max_epochs=1,
                             validation_fraction=0, verbose=0, random_state=0).fit(ds)
    explainer = Explainer(model, n_reference=10, n_steps=4, random_state=0).fit(ds)
    with pytest.raises(ValueError, match="image attributions need an image encoder"):
        explainer.local(ds, image=True)
    assert explainer.local(ds)["pgs"].shape == (24, 3)
