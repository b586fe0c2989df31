"""Bad input is refused before any training, with an error naming the problem."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_contig.data import from_arrays
from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
from sklearn_contig.models import ImageEncoder, save_encoder
from sklearn_contig.pretraining import ContIGPretrainer

FAST = dict(max_epochs=1, batch_size=8, device="cpu", random_state=0)


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 255, (10, 3, 16, 16), dtype=np.uint8)


@pytest.fixture(autouse=True)
def _no_training(monkeypatch):
    """Any of these errors must come before the first epoch."""
    import skorch

    def boom(*a, **k):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(skorch.NeuralNet, "partial_fit", boom)


def test_mask_shape_mismatch(images):
    with pytest.raises(ValueError, match=r"masks must have shape .* \(16, 16\); got masks of shape \(10, 8, 8\)"):
        ContIGSegmenter(image_encoder="resnet18", **FAST).fit(images, np.zeros((10, 8, 8)))


def test_non_binary_masks(images):
    with pytest.raises(ValueError, match="binary"):
        ContIGSegmenter(image_encoder="resnet18", **FAST).fit(images, np.full((10, 16, 16), 3))


def test_nan_labels(images):
    y = np.arange(10.0) % 2
    y[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ContIGClassifier(image_encoder="resnet18", **FAST).fit(images, y)
    with pytest.raises(ValueError, match="NaN"):
        ContIGRegressor(image_encoder="resnet18", **FAST).fit(images, y)
    ys = np.array(["a", "b"] * 5, dtype=object)
    ys[2] = None
    with pytest.raises(ValueError, match="NaN"):
        ContIGClassifier(image_encoder="resnet18", **FAST).fit(images, ys)


def test_single_class(images):
    with pytest.raises(ValueError, match="single class"):
        ContIGClassifier(image_encoder="resnet18", **FAST).fit(images, np.ones(10))


def test_multilabel_column_all_zero(images):
    Y = np.c_[np.arange(10) % 2, np.zeros(10, int), np.arange(10) % 3 == 0].astype(int)
    ds = from_arrays(images, labels={"diseases": Y})
    with pytest.raises(ValueError, match=r"column 1 .* no positive samples"):
        ContIGClassifier(image_encoder="resnet18", **FAST).fit(images, Y)
    with pytest.raises(ValueError, match="column 1"):
        ContIGClassifier(image_encoder="resnet18", target="diseases", **FAST).fit(ds)


def test_encoder_file_of_wrong_architecture(images, tmp_path):
    path = save_encoder(ImageEncoder("resnet18"), tmp_path / "r18.safetensors")
    with pytest.raises(ValueError, match="holds a 'resnet18' encoder, expected 'resnet50'"):
        ContIGClassifier(encoder=path, image_encoder="resnet50", **FAST).fit(images, np.arange(10) % 2)
    flat = save_encoder(ImageEncoder("mlp", in_channels=4), tmp_path / "mlp.safetensors")
    with pytest.raises(ValueError, match="'mlp' encoder needs flat features"):
        ContIGClassifier(encoder=flat, **FAST).fit(images, np.arange(10) % 2)
    with pytest.raises(ValueError, match="X has 5 features but the 'mlp' encoder expects 4"):
        ContIGClassifier(encoder=flat, **FAST).fit(np.zeros((10, 5)), np.arange(10) % 2)
    gray = save_encoder(ImageEncoder("resnet18", in_channels=1), tmp_path / "gray.safetensors")
    with pytest.raises(ValueError, match="X has 3 channels but the 'resnet18' encoder expects 1"):
        ContIGSegmenter(encoder=gray, **FAST).fit(images, np.zeros((10, 16, 16), int))


def test_encoder_from_unfitted_pretrainer(images):
    with pytest.raises(NotFittedError, match="unfitted ContIGPretrainer"):
        ContIGClassifier(encoder=ContIGPretrainer(), **FAST).fit(images, np.arange(10) % 2)


def test_other_input_errors(images):
    with pytest.raises(ValueError, match="target='grade' is not a variable of X"):
        ContIGClassifier(target="grade", **FAST).fit(from_arrays(images))
    with pytest.raises(ValueError, match="requires y"):
        ContIGClassifier(**FAST).fit(images)
    with pytest.raises(ValueError, match="y has 9 entries but X has 10 samples"):
        ContIGRegressor(**FAST).fit(images, np.arange(9.0))
    with pytest.raises(ValueError, match="segmentation needs images"):
        ContIGSegmenter(image_encoder="mlp", **FAST).fit(np.zeros((10, 4)), np.zeros((10, 4, 4)))
    with pytest.raises(ValueError, match="lr"):
        ContIGRegressor(lr=-1).fit(images, np.arange(10.0))


def test_segmenter_refuses_mlp_encoder(images, tmp_path):
    flat = save_encoder(ImageEncoder("mlp", in_channels=4), tmp_path / "mlp.safetensors")
    with pytest.raises(ValueError, match="flat features"):
        ContIGSegmenter(encoder=flat, **FAST).fit(images, np.zeros((10, 16, 16), int))


def test_pandas_labels_indexed_by_shuffled_sample_ids(images):
    import pandas as pd

    ds = from_arrays(images)
    ids = ds["sample"].values
    y = pd.Series(np.arange(10) % 2, index=ids[::-1])
    with pytest.raises(ValueError, match="y is indexed by the sample ids of X but in another order"):
        ContIGClassifier(image_encoder="resnet18", **FAST).fit(ds, y)
