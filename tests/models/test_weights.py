"""Published weights into ImageEncoder: file formats, key layouts, timm, errors."""

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from sklearn_contig.models import (
    IMAGENET_MEAN,
    ImageEncoder,
    ImageEncoderName,
    check_image_encoder_name,
    load_encoder,
    load_weights,
    save_encoder,
)


@pytest.fixture(scope="module")
def resnet18_state():
    torch.manual_seed(1)
    return torchvision.models.resnet18(weights=None).state_dict()


def _assert_backbone_is(encoder, state, skip=("fc.",)):
    own = encoder.backbone.state_dict()
    for k, v in state.items():
        if k.startswith(skip):
            continue
        assert torch.equal(own[k], v), k


def test_torchvision_state_dict_with_torch_save(tmp_path, resnet18_state):
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18_state, path)  # includes the ImageNet classifier fc.*
    enc = load_weights(ImageEncoder("resnet18", image_size=32), path)
    _assert_backbone_is(enc, resnet18_state)
    torch.testing.assert_close(enc.mean.flatten(), torch.tensor(IMAGENET_MEAN))


def test_safetensors_and_dataparallel_prefix(tmp_path, resnet18_state):
    path = tmp_path / "r.safetensors"
    save_file({"module." + k: v.contiguous() for k, v in resnet18_state.items()}, str(path))
    enc = load_weights(ImageEncoder("resnet18", image_size=32), path, normalization="keep")
    _assert_backbone_is(enc, resnet18_state)
    assert torch.equal(enc.mean, torch.zeros_like(enc.mean))


@pytest.mark.parametrize("prefix", ["model.imaging_model.", "models.0.imaging_model."])
def test_lightning_checkpoint_layouts(tmp_path, resnet18_state, prefix):
    state = {prefix + k: v for k, v in resnet18_state.items()}
    # other sub-networks of the checkpoint are ignored
    state["model.genetics_model.0.weight"] = torch.zeros(3, 3)
    state["models.0.projection.weight"] = torch.zeros(3, 3)
    ckpt = {"epoch": 7, "global_step": 10, "state_dict": state, "hyper_parameters": {"lr": 0.1}}
    path = tmp_path / "last.ckpt"
    torch.save(ckpt, path)
    enc = load_weights(ImageEncoder("resnet18", image_size=32), path)
    _assert_backbone_is(enc, resnet18_state)


def test_mismatched_architecture_lists_keys(tmp_path, resnet18_state):
    path = tmp_path / "r18.pth"
    torch.save(resnet18_state, path)
    with pytest.raises(ValueError, match=r"missing keys .*layer1\.0\.conv3\.weight") as info:
        load_weights(ImageEncoder("resnet50", image_size=32), path)
    assert "shape mismatches" in str(info.value) and "unexpected keys" in str(info.value)
    # unknown extra tensors are reported, not silently dropped
    torch.save({**resnet18_state, "extra.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match=r"unexpected keys 1 \['extra.weight'\]"):
        load_weights(ImageEncoder("resnet18", image_size=32), path)


def test_unreadable_or_unsafe_files(tmp_path):
    enc = ImageEncoder("resnet18", image_size=32)
    with pytest.raises(FileNotFoundError):
        load_weights(enc, tmp_path / "none.pth")
    bad = tmp_path / "weights.npz"
    bad.write_bytes(b"x")
    with pytest.raises(ValueError, match="must end in"):
        load_weights(enc, bad)
    pickled = tmp_path / "obj.pth"
    torch.save({"model": {"w": torch.zeros(1)}, "opt": torch.optim.SGD}, pickled)
    with pytest.raises(ValueError, match="weights_only=True"):
        load_weights(enc, pickled)
    with pytest.raises(ValueError, match="not 'mlp'"):
        load_weights(ImageEncoder("mlp", in_channels=4), bad)
    with pytest.raises(TypeError, match="encoder must be an ImageEncoder"):
        load_weights(torch.nn.Linear(2, 2), bad)
    path = tmp_path / "ok.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="normalization"):
        load_weights(enc, path, normalization="data")


def test_image_encoder_names():
    assert check_image_encoder_name("timm:resnet18") == "timm:resnet18"
    for bad in ["vgg16", "timm:", "TIMM:resnet18"]:
        with pytest.raises(ValueError, match="image_encoder"):
            check_image_encoder_name(bad)
    with pytest.raises(TypeError, match="image_encoder must be a str"):
        check_image_encoder_name(3)
    c = ImageEncoderName()
    assert c.is_satisfied_by("resnet50") and not c.is_satisfied_by("vgg16") and not c.is_satisfied_by(None)
    assert "timm" in str(c)


def test_timm_missing_gives_clear_import_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_timm(name, *args, **kwargs):
        if name == "timm" or name.startswith("timm."):
            raise ImportError("no timm")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_timm)
    assert check_image_encoder_name("timm:anything") == "timm:anything"
    with pytest.raises(ImportError, match="pip install timm"):
        ImageEncoder("timm:resnet18", image_size=32)


timm = pytest.importorskip("timm", reason="timm is an optional dependency")


def test_timm_unknown_architecture():
    with pytest.raises(ValueError, match="no architecture 'not_a_model'"):
        check_image_encoder_name("timm:not_a_model")


def test_retfound_layout_vit_at_another_image_size(tmp_path):
    torch.manual_seed(0)
    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=224)  # with its head
    state = dict(vit.state_dict())
    state["mask_token"] = torch.zeros(1, 1, 192)  # MAE decoder parts are dropped
    state["decoder_embed.weight"] = torch.zeros(4, 192)
    path = tmp_path / "RETFound_cfp_weights.pth"
    torch.save({"model": state, "epoch": 100}, path)

    enc = load_weights(ImageEncoder("timm:vit_tiny_patch16_224", image_size=64), path)
    assert enc.out_dim == 192 and enc.backbone.pos_embed.shape == (1, 17, 192)
    own = enc.backbone.state_dict()
    assert torch.equal(own["blocks.3.attn.qkv.weight"], vit.state_dict()["blocks.3.attn.qkv.weight"])
    assert torch.equal(own["cls_token"], vit.state_dict()["cls_token"])
    # the class token's position embedding is kept, the patch grid resampled
    assert torch.equal(own["pos_embed"][:, 0], vit.state_dict()["pos_embed"][:, 0])
    with torch.no_grad():
        out = enc.eval()(torch.randint(0, 256, (2, 3, 80, 80), dtype=torch.uint8))
    assert out.shape == (2, 192) and torch.isfinite(out).all()


def test_timm_encoder_save_load_roundtrip(tmp_path):
    enc = ImageEncoder("timm:vit_tiny_patch16_224", image_size=32).eval()
    enc.set_normalization([0.1, 0.2, 0.3], [0.5, 0.6, 0.7])
    loaded = load_encoder(save_encoder(enc, tmp_path / "vit.safetensors"))
    assert loaded.name == "timm:vit_tiny_patch16_224" and loaded.image_size == 32
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(enc(x), loaded(x))
    # a timm CNN takes any size; set_image_size resamples a ViT's grid
    cnn = ImageEncoder("timm:resnet18", image_size=24, in_channels=1).eval()
    assert cnn(torch.zeros(2, 1, 30, 30)).shape == (2, cnn.out_dim)
    enc.set_image_size(48)
    assert enc.backbone.pos_embed.shape == (1, 10, 192) and enc(torch.rand(1, 3, 20, 20)).shape == (1, 192)
