"""ImageEmbedder: pooled layers, flips, normalisation, pandas index, GWAS pipeline."""

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from sklearn.pipeline import make_pipeline

from sklearn_contig import ContIGPretrainer, GWASTransformer, ImageEmbedder
from sklearn_contig.data import from_arrays
from sklearn_contig.models import IMAGENET_MEAN, IMAGENET_STD

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path_factory.mktemp("w") / "resnet18.pth"
    torch.save(net.state_dict(), path)
    return path, net


@pytest.fixture(scope="module")
def ds():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (12, 3, 32, 32), dtype=np.uint8)
    ds = from_arrays(images, pgs=rng.normal(size=(12, 3)),
                     individual_ids=np.repeat(np.arange(6), 2))
    return ds


def _reference(net, images, layer=None, flips=((),)):
    x = torch.as_tensor(images).float() / 255
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    body = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                               net.layer4)
    stop = {"layer1": 5, "layer2": 6, "layer3": 7, None: 8}[layer]
    with torch.no_grad():
        outs = [body[:stop](x.flip(d) if d else x).mean(dim=(2, 3)) for d in flips]
    return (sum(outs) / len(outs)).numpy()


@pytest.mark.parametrize("layer, tta, flips, width", [
    (None, "none", ((),), 512),
    ("layer2", "hflip", ((), (3,)), 128),
    ("layer3", "flips", ((), (3,), (2,), (2, 3)), 256),
])
def test_embeddings_match_a_manual_forward(weights, ds, layer, tta, flips, width):
    path, net = weights
    emb = ImageEmbedder("resnet18", pretrained_weights=path, layer=layer, tta=tta, device="cpu").fit(ds)
    Z = emb.transform(ds)
    assert Z.shape == (12, width) and emb.embedding_dim_ == width
    np.testing.assert_allclose(Z, _reference(net, ds["image"].values, layer, flips), rtol=1e-4, atol=1e-5)


def test_flip_averaging_is_flip_invariant(weights, ds):
    emb = ImageEmbedder("resnet18", pretrained_weights=weights[0], tta="hflip", device="cpu").fit(ds)
    images = ds["image"].values
    np.testing.assert_allclose(emb.transform(images), emb.transform(images[..., ::-1].copy()), rtol=1e-4, atol=1e-5)


def test_data_normalization_and_encoder_source(weights, ds):
    emb = ImageEmbedder("resnet18", pretrained_weights=weights[0], weights_normalization="data",
                        device="cpu").fit(ds)
    assert abs(float(emb.encoder_.mean.mean()) - 0.5) < 0.05
    pre = ContIGPretrainer("resnet18", hidden_dim=8, projection_dim=4, max_epochs=1, batch_size=6, verbose=0,
                           device="cpu", random_state=0).fit(ds)
    from_pre = ImageEmbedder(encoder=pre, device="cpu").fit(ds)
    np.testing.assert_allclose(from_pre.transform(ds), pre.transform(ds), rtol=1e-5, atol=1e-6)


def test_pandas_output_feeds_gwas_transformer(weights, ds):
    emb = ImageEmbedder("resnet18", pretrained_weights=weights[0], layer="layer1", device="cpu")
    df = emb.set_output(transform="pandas").fit_transform(ds)
    assert isinstance(df, pd.DataFrame) and df.index.names == ["sample", "individual"]
    assert df.columns[0] == "embedding0"
    pipe = make_pipeline(ImageEmbedder("resnet18", pretrained_weights=weights[0], layer="layer1", device="cpu"),
                         GWASTransformer(n_components=2))
    pipe.set_output(transform="pandas")
    pheno = pipe.fit_transform(ds)
    assert pheno.shape[0] == 6  # one row per individual



def test_pandas_output_of_a_dataarray_is_indexed_by_sample(weights, ds):
    emb = ImageEmbedder("resnet18", pretrained_weights=weights[0], layer="layer1", device="cpu")
    df = emb.set_output(transform="pandas").fit(ds).transform(ds["image"])
    assert df.index.name == "sample" and list(df.index) == list(ds["sample"].values)

def test_checks(weights, ds, tmp_path):
    path = weights[0]
    with pytest.raises(ValueError, match="exactly one of"):
        ImageEmbedder("resnet18").fit(ds)
    with pytest.raises(ValueError, match="'layer' parameter"):
        ImageEmbedder("resnet18", pretrained_weights=path, layer="layer9").fit(ds)
    with pytest.raises(ValueError, match="'tta' parameter"):
        ImageEmbedder("resnet18", pretrained_weights=path, tta="rotate").fit(ds)
    with pytest.raises(ValueError, match="not an image backbone"):
        ImageEmbedder("mlp", pretrained_weights=path).fit(ds)
    with pytest.raises(FileNotFoundError):
        ImageEmbedder("resnet18", pretrained_weights=tmp_path / "none.pth").fit(ds)
    with pytest.raises(ValueError, match="images"):
        ImageEmbedder("resnet18", pretrained_weights=path).fit(np.zeros((4, 5), dtype=np.float32))
    emb = ImageEmbedder("resnet18", pretrained_weights=path, device="cpu").fit(ds)
    with pytest.raises(ValueError, match="3 channels"):
        emb.transform(np.zeros((2, 1, 32, 32), dtype=np.uint8))
    pytest.importorskip("timm", reason="timm is an optional dependency")
    from sklearn_contig.models import ImageEncoder

    with pytest.raises(ValueError, match="needs a ResNet"):
        ImageEmbedder(encoder=ImageEncoder("timm:resnet18", image_size=32), layer="layer2").fit(ds)
