"""The image-only baselines: they learn, and they behave like scikit-learn estimators."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.models import load_encoder
from sklearn_contig.pretraining import (
    BarlowTwinsPretrainer,
    BYOLPretrainer,
    NNCLRPretrainer,
    SimCLRPretrainer,
    SimSiamPretrainer,
)

# Small heads; the mlp encoder on flattened 16 px images keeps five fits within
# seconds of CPU time (a resnet18 needs far more steps than a unit test can
# afford before its held-out retrieval moves).
SPECS = {
    SimCLRPretrainer: dict(hidden_dim=64, projection_dim=32),
    BYOLPretrainer: dict(hidden_dim=64, projection_dim=32, predictor_hidden_dim=64),
    BarlowTwinsPretrainer: dict(hidden_dim=64, projection_dim=64),
    SimSiamPretrainer: dict(hidden_dim=64, projection_dim=64, predictor_hidden_dim=16),
    NNCLRPretrainer: dict(hidden_dim=64, projection_dim=32, predictor_hidden_dim=64, support_set_size=128),
}
COMMON = dict(image_encoder="mlp", batch_size=32, lr=1e-3, validation_fraction=0, verbose=0, random_state=0,
              device="cpu")
EPOCHS = 3
CLASSES = list(SPECS)
IDS = [c.__name__ for c in CLASSES]


def make(cls, **kw):
    return cls(**{**COMMON, **SPECS[cls], **kw})


@pytest.fixture(scope="module")
def flat_images():
    """Fundus-like 16 px images, flattened: 128 to train on, 64 held out."""
    ds, _ = make_imaging_genetics(n_individuals=192, image_size=16, simulator="independent", random_state=0)
    flat = ds["image"].values.reshape(ds.sizes["sample"], -1)
    return flat[:128], flat[128:]


@pytest.fixture(scope="module")
def fitted(flat_images):
    cache = {}

    def get(cls):
        if cls not in cache:
            cache[cls] = make(cls, max_epochs=EPOCHS).fit(flat_images[0])
        return cache[cls]

    return get


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_pretraining_improves_held_out_view_retrieval(cls, flat_images, fitted):
    train, test = flat_images
    untrained = make(cls, max_epochs=0).fit(train).score(test)
    model = fitted(cls)
    trained = model.score(test)
    # measured: untrained 0.19; trained 0.42-0.55 (chance 1/32 = 0.03)
    assert trained >= untrained + 0.1, (untrained, trained)
    losses = [row["train_loss"] for row in model.history_]
    assert len(losses) == EPOCHS and losses[-1] < losses[0]
    assert model.score(test) == trained  # repeatable
    if cls is BYOLPretrainer:
        assert int(model.module_.momentum_step) == EPOCHS * (128 // 32)
    if cls is NNCLRPretrainer:
        assert len(model.module_.memory_bank) == 128


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_pickled_fitted_model_transforms_the_same(cls, flat_images, fitted):
    test = flat_images[1]
    model = fitted(cls)
    Z = model.transform(test)
    assert Z.shape == (64, 512) and model.embedding_dim_ == 512
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.transform(test), Z, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", CLASSES, ids=IDS)
def test_clone_get_params_and_unfitted(cls):
    est = make(cls, max_epochs=2)
    params = est.get_params()
    assert clone(est).get_params() == params
    assert est.set_params(lr=0.5).lr == 0.5
    with pytest.raises(NotFittedError):
        est.transform(np.zeros((2, 4)))


@pytest.mark.parametrize(
    "cls,bad",
    [
        (SimCLRPretrainer, {"temperature": 0.0}),
        (SimCLRPretrainer, {"memory_bank_size": -1}),
        (BYOLPretrainer, {"momentum": 1.5}),
        (BYOLPretrainer, {"momentum_schedule": "linear"}),
        (BarlowTwinsPretrainer, {"lambda_param": -1.0}),
        (SimSiamPretrainer, {"predictor_hidden_dim": 0}),
        (NNCLRPretrainer, {"support_set_size": 0}),
    ],
)
def test_invalid_parameters_are_rejected_before_training(cls, bad):
    with pytest.raises(InvalidParameterError):
        make(cls, **bad).fit(np.zeros((8, 4), dtype=np.float32))


def test_simclr_memory_bank_fills_with_negatives(flat_images):
    model = make(SimCLRPretrainer, memory_bank_size=48, max_epochs=1).fit(flat_images[0][:64])
    bank = model.module_.memory_bank
    assert len(bank) == 48 and torch.isfinite(bank.get()).all()
    assert np.isfinite(model.history_[-1, "train_loss"])


def test_image_dataset_with_genetics_resnet_validation_and_encoder(tmp_path):
    ds, _ = make_imaging_genetics(n_individuals=16, image_size=16, simulator="independent", random_state=0)
    model = SimSiamPretrainer("resnet18", hidden_dim=16, projection_dim=16, predictor_hidden_dim=8, batch_size=6,
                              max_epochs=1, validation_fraction=0.25, verbose=0, random_state=0, device="cpu")
    model.fit(ds)  # the genetic variables are ignored
    assert model.modalities_ == [] and model.n_valid_samples_ == 4
    assert np.isfinite(model.history_[-1, "valid_loss"])
    Z = model.set_output(transform="pandas").transform(ds)
    assert Z.shape == (16, 512) and list(Z.index.get_level_values("sample")) == list(ds["sample"].values)
    score = model.score(ds)
    assert 0 <= score <= 1 and model.score(ds) == score
    path = model.save_encoder(tmp_path / "enc.safetensors")
    enc = load_encoder(path, expected="resnet18")
    with torch.no_grad():
        Z2 = enc(torch.from_numpy(ds["image"].values)).numpy()
    np.testing.assert_allclose(Z2, Z.to_numpy(), rtol=1e-4, atol=1e-5)


def test_byol_checkpoint_resume_restores_network_and_momentum_step(tmp_path, flat_images):
    train = flat_images[0][:32]
    kw = dict(batch_size=8, checkpoint_dir=str(tmp_path))
    first = make(BYOLPretrainer, max_epochs=1, **kw).fit(train)
    assert int(first.module_.momentum_step) == 4
    resumed = make(BYOLPretrainer, max_epochs=2, resume=True, **kw).fit(train)
    assert len(resumed.history_) == 2
    assert int(resumed.module_.momentum_step) == 8  # 4 restored from the checkpoint + 4 new
