import numpy as np
import pytest
import torch

from sklearn_contig.models import (
    BatchAugment,
    ContIGModule,
    GeneticEncoder,
    ImageEncoder,
    load_encoder,
    save_encoder,
)


def _module():
    enc = ImageEncoder("mlp", in_channels=6)
    return ContIGModule(enc, {"pgs": 5}, "H12", hidden_dim=16, projection_dim=4)


def _batch(fill_missing):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(8, 5)), dtype=torch.float32)
    mask = torch.tensor([1, 1, 0, 1, 0, 1, 1, 0], dtype=torch.bool)
    x[~mask] = fill_missing
    return torch.tensor(rng.normal(size=(8, 6)), dtype=torch.float32), x, mask


def test_missing_rows_do_not_enter_batchnorm_statistics():
    stats = []
    for fill in (0.0, 1e3):
        torch.manual_seed(0)
        module = _module().train()
        image, x, mask = _batch(fill)
        module(image, None, pgs=x, pgs_mask=mask)
        bns = [m for m in module.genetic_encoders["pgs"].modules() if isinstance(m, torch.nn.BatchNorm1d)]
        stats.append(torch.cat([bn.running_mean for bn in bns] + [bn.running_var for bn in bns]))
    torch.testing.assert_close(stats[0], stats[1])


def test_missing_rows_get_no_gradient():
    module = _module().train()
    image, x, mask = _batch(0.0)
    x.requires_grad_(True)
    out = module(image, None, pgs=x, pgs_mask=mask)
    zv, zg, m = out["pairs"]["pgs"]
    (zg[m].sum() + zv.sum()).backward()
    assert torch.all(x.grad[~mask] == 0)
    assert torch.any(x.grad[mask] != 0)


def test_single_present_row_in_training_is_skipped():
    module = _module().train()
    image, x, _ = _batch(0.0)
    mask = torch.zeros(8, dtype=torch.bool)
    mask[2] = True
    _, _, m = module(image, None, pgs=x, pgs_mask=mask)["pairs"]["pgs"]
    assert not m.any()


@pytest.mark.parametrize("kind, out", [("None", 7), ("H1", 16), ("H12", 16)])
def test_genetic_encoder_kinds(kind, out):
    enc = GeneticEncoder(7, kind, hidden=16)
    assert enc(torch.randn(3, 7)).shape == (3, out) and enc.out_dim == out
    n_bn = sum(isinstance(m, torch.nn.BatchNorm1d) for m in enc.modules())
    assert n_bn == {"None": 0, "H1": 1, "H12": 2}[kind]


def test_unknown_encoder_names():
    with pytest.raises(ValueError, match="image_encoder"):
        ImageEncoder("vgg16")
    with pytest.raises(ValueError, match="genetic_encoder"):
        GeneticEncoder(3, "H3")


def test_image_encoder_accepts_uint8_float_and_any_size():
    enc = ImageEncoder("resnet18", image_size=32).eval()
    x = torch.randint(0, 256, (2, 3, 48, 40), dtype=torch.uint8)
    with torch.no_grad():
        a = enc(x)
        b = enc(x.float() / 255)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="channels"):
        enc(torch.zeros(2, 1, 32, 32))


def test_save_and_load_encoder_roundtrip(tmp_path):
    enc = ImageEncoder("resnet18", image_size=32).eval()
    enc.set_normalization([0.1, 0.2, 0.3], [0.5, 0.5, 0.5])
    path = save_encoder(enc, tmp_path / "enc.safetensors")
    loaded = load_encoder(path).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), loaded(x))
    with pytest.raises(ValueError, match="resnet50"):
        load_encoder(path, expected="resnet50")


def test_load_encoder_rejects_foreign_files(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="safetensors"):
        load_encoder(bad)
    with pytest.raises(FileNotFoundError):
        load_encoder(tmp_path / "missing.safetensors")


def test_batch_augment_is_per_sample_and_identity_in_eval():
    aug = BatchAugment(rotation=30, hflip=True, brightness=0.3)
    x = torch.rand(1, 3, 16, 16).repeat(16, 1, 1, 1)
    aug.eval()
    assert torch.equal(aug(x), x)
    aug.train()
    y = aug(x)
    assert y.shape == x.shape
    # different samples got different parameters
    assert (y[1:] - y[:1]).abs().amax(dim=(1, 2, 3)).min() > 1e-3


def test_batch_augment_crop_blur_grayscale_shapes():
    aug = BatchAugment(rotation=0, crop_scale=(0.08, 1.0), saturation=0.7, grayscale_p=0.5, blur_p=1.0).train()
    y = aug(torch.rand(5, 3, 32, 32))
    assert y.shape == (5, 3, 32, 32) and torch.isfinite(y).all()
    assert y.min() >= 0
