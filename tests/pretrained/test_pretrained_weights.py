"""pretrained_weights= and image_encoder='timm:<name>' on the estimators."""

import numpy as np
import pytest
import torch
import torchvision

from sklearn_contig import ContIGClassifier, ContIGPretrainer, ContIGSegmenter, SimCLRPretrainer
from sklearn_contig.data import from_arrays
from sklearn_contig.models import IMAGENET_STD

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(max_epochs=0, batch_size=8, verbose=0, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def r18():
    torch.manual_seed(3)
    return torchvision.models.resnet18(weights=None)


@pytest.fixture
def ckpt(tmp_path, r18):
    path = tmp_path / "contig_epoch=9.ckpt"
    state = {"models.0.imaging_model." + k: v for k, v in r18.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 9}, path)
    return path


@pytest.fixture(scope="module")
def ds():
    rng = np.random.default_rng(0)
    return from_arrays(rng.integers(0, 255, (16, 3, 16, 16), dtype=np.uint8), pgs=rng.normal(size=(16, 4)))


@pytest.mark.parametrize("cls", [ContIGPretrainer, SimCLRPretrainer])
def test_pretrainers_start_from_weights(cls, ds, ckpt, r18):
    model = cls("resnet18", pretrained_weights=ckpt, hidden_dim=8, projection_dim=4, **TINY).fit(ds)
    enc = model.module_.image_encoder
    assert model.pretrained_ is True
    assert torch.equal(enc.backbone.layer3[0].conv1.weight, r18.layer3[0].conv1.weight)
    torch.testing.assert_close(enc.std.flatten(), torch.tensor(IMAGENET_STD))


def test_data_normalization_keeps_weights(ds, ckpt, r18):
    model = ContIGPretrainer("resnet18", pretrained_weights=ckpt, weights_normalization="data",
                             hidden_dim=8, projection_dim=4, **TINY).fit(ds)
    enc = model.module_.image_encoder
    assert model.pretrained_ is True
    assert torch.equal(enc.backbone.conv1.weight, r18.conv1.weight)
    assert abs(float(enc.mean.mean()) - 0.5) < 0.05  # uniform 0-255 images, not ImageNet's 0.45


def test_classifier_starts_from_weights(ds, ckpt, r18):
    y = np.arange(16) % 2
    clf = ContIGClassifier(image_encoder="resnet18", pretrained_weights=ckpt, **TINY).fit(ds["image"].values, y)
    assert clf.pretrained_ is True
    assert torch.equal(clf.module_.encoder.backbone.conv1.weight, r18.conv1.weight)


def test_parameter_checks_before_work(ds, ckpt, tmp_path):
    X, y = ds["image"].values, np.arange(16) % 2
    with pytest.raises(ValueError, match="'image_encoder' parameter"):
        ContIGPretrainer("vgg16", **TINY).fit(ds)
    with pytest.raises(ValueError, match="'image_encoder' parameter"):
        ContIGClassifier(image_encoder="timm:no_such_model", **TINY).fit(X, y)
    with pytest.raises(ValueError, match="'weights_normalization' parameter"):
        ContIGPretrainer("resnet18", pretrained_weights=ckpt, weights_normalization="own", **TINY).fit(ds)
    with pytest.raises(TypeError, match="'pretrained_weights' parameter"):
        ContIGPretrainer("resnet18", pretrained_weights=3, **TINY).fit(ds)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ContIGPretrainer("resnet18", pretrained_weights=tmp_path / "no.pth", **TINY).fit(ds)
    with pytest.raises(ValueError, match="image_encoder='mlp'"):
        ContIGPretrainer("mlp", pretrained_weights=ckpt, **TINY).fit(ds)
    with pytest.raises(ValueError, match="pass one of them"):
        ContIGClassifier(encoder=ckpt, pretrained_weights=ckpt, **TINY).fit(X, y)
    flat = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    with pytest.raises(ValueError, match="flat features"):
        ContIGClassifier(pretrained_weights=ckpt, **TINY).fit(flat, y)
    with pytest.raises(ValueError, match=r"missing keys .*conv3"):
        ContIGClassifier(image_encoder="resnet50", pretrained_weights=ckpt, **TINY).fit(X, y)


def test_segmenter_refuses_non_resnet_encoders(ds):
    X = ds["image"].values
    masks = (X[:, 0] > 127).astype(np.uint8)
    with pytest.raises(ValueError, match="needs a ResNet encoder.*'timm:resnet18'"):
        ContIGSegmenter(image_encoder="timm:resnet18", **TINY).fit(X, masks)


def test_timm_vit_encoder_in_estimators(ds, tmp_path):
    pytest.importorskip("timm", reason="timm is an optional dependency")
    model = ContIGPretrainer("timm:vit_tiny_patch16_224", image_size=32, hidden_dim=8, projection_dim=4,
                             **{**TINY, "max_epochs": 1}).fit(ds)
    assert model.transform(ds).shape == (16, 192)
    path = model.save_encoder(tmp_path / "vit.safetensors")
    clf = ContIGClassifier(encoder=path, image_size=48, **TINY).fit(ds["image"].values, np.arange(16) % 2)
    assert clf.module_.encoder.backbone.pos_embed.shape == (1, 10, 192)
    assert clf.predict(ds["image"].values).shape == (16,)
