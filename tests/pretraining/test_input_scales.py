"""Genetic inputs at the scale real pipelines write them: standardised inside the encoders."""

import numpy as np
import pytest

from sklearn_contig.data import from_arrays
from sklearn_contig.pretraining import ContIGPretrainer

pytestmark = pytest.mark.usefixtures("one_thread")

N_TRAIN, N_TEST, BATCH = 480, 192, 32
PARAMS = dict(image_encoder="mlp", modalities=["pgs"], batch_size=BATCH, max_epochs=4, lr=1e-3,
              weight_decay=1e-4, hidden_dim=64, projection_dim=16, patience=None, validation_fraction=0.0,
              device="cpu", random_state=0, verbose=0)


def _cohort(scale=1.0, shift=0.0, seed=0):
    """Flat image features driven by the first four PGS; PGS given as ``pgs * scale + shift``."""
    rng = np.random.default_rng(seed)
    n = N_TRAIN + N_TEST
    pgs = rng.normal(size=(n, 12))
    image = np.c_[pgs[:, :4] + 0.3 * rng.normal(size=(n, 4)), rng.normal(size=(n, 4))]
    ds = from_arrays(image.astype(np.float32), pgs=(pgs * scale + shift).astype(np.float32))
    return ds.isel(sample=slice(0, N_TRAIN)), ds.isel(sample=slice(N_TRAIN, None))


def _gap(scale=1.0, shift=0.0, **params):
    """How far the held-out contrastive loss gets below chance (ln of the batch size)."""
    train, test = _cohort(scale, shift)
    model = ContIGPretrainer(**{**PARAMS, **params}).fit(train)
    return np.log(BATCH) - model.contrastive_loss(test, chunk_size=BATCH)["mean"]


@pytest.fixture(scope="module")
def reference_gap():
    # measured: 2.09 below ln(32) = 3.47 (raw x1e-4 + 3e-3 without standardising: -1.10)
    gap = _gap()
    assert gap > 1.0, f"standardised PGS should learn here, gap {gap:.3f}"
    return gap


@pytest.mark.parametrize("scale, shift", [(1e-4, 0.0), (1e-4, 3e-3), (40.0, 100.0)])
def test_raw_scale_scores_learn_as_far_as_standardised_ones(reference_gap, scale, shift):
    gap = _gap(scale, shift)
    assert gap >= 0.85 * reference_gap, (gap, reference_gap)


def test_without_standardisation_tiny_scores_learn_much_less(reference_gap):
    # the failure the standardisation fixes: BatchNorm's epsilon swamps inputs near 1e-4
    gap = _gap(1e-4, 3e-3, standardize_genetics=False)
    assert gap < 0.5 * reference_gap, (gap, reference_gap)


def test_fitted_scaling_is_the_training_rows_statistics():
    train, _ = _cohort(1e-4, 3e-3)
    model = ContIGPretrainer(**{**PARAMS, "max_epochs": 0}).fit(train)
    loc, scale = model.genetic_scaling_["pgs"]
    values = train["pgs"].values.astype(np.float64)
    np.testing.assert_allclose(loc, values.mean(0), rtol=1e-4)
    np.testing.assert_allclose(scale, values.std(0, ddof=1), rtol=1e-3)


def test_snp_dosages_use_allele_frequency_scaling():
    rng = np.random.default_rng(0)
    p = np.array([0.1, 0.3, 0.5])
    snp = rng.binomial(2, p, size=(200, 3)).astype(np.float32)
    ds = from_arrays(rng.normal(size=(200, 8)).astype(np.float32), snp=snp)
    model = ContIGPretrainer(**{**PARAMS, "modalities": ["snp"], "max_epochs": 0}).fit(ds)
    loc, scale = model.genetic_scaling_["snp"]
    freq = snp.mean(0) / 2
    np.testing.assert_allclose(loc, 2 * freq, rtol=1e-5)
    np.testing.assert_allclose(scale, np.sqrt(2 * freq * (1 - freq)), rtol=1e-5)


def test_constant_column_is_kept_without_nan():
    train, test = _cohort()
    pgs = train["pgs"].values.copy()
    pgs[:, 3] = 7.5  # constant on the training rows
    train = train.assign(pgs=(train["pgs"].dims, pgs, train["pgs"].attrs))
    model = ContIGPretrainer(**{**PARAMS, "max_epochs": 1}).fit(train)
    assert model.genetic_scaling_["pgs"][1][3] == 1.0
    emb = model.transform_genetics(test)["pgs"]
    assert np.isfinite(emb).all() and np.isfinite(model.history_[-1, "train_loss"])


def test_modality_with_one_value_everywhere_is_refused_by_name():
    train, _ = _cohort()
    flat = train.assign(pgs=(train["pgs"].dims, np.full(train["pgs"].shape, 0.25, np.float32),
                             train["pgs"].attrs))
    with pytest.raises(ValueError, match="'pgs'.*same value"):
        ContIGPretrainer(**PARAMS).fit(flat)
