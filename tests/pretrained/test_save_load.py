"""save_pretrained -> load_pretrained: identical outputs, no pickle, readable config and card."""

import json

import numpy as np
import pytest
from safetensors import safe_open

from sklearn_contig import (
    ContIGClassifier,
    ContIGPretrainer,
    ContIGRegressor,
    ContIGSegmenter,
    SimCLRPretrainer,
    load_pretrained,
    save_pretrained,
)
from sklearn_contig._pretrained import from_json, to_json
from sklearn_contig.data import from_arrays

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(max_epochs=1, batch_size=8, verbose=0, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def ds():
    rng = np.random.default_rng(0)
    pgs = rng.normal(size=(24, 5)) * 1e-4
    pgs[3] = np.nan  # one individual without the modality
    return from_arrays(rng.integers(0, 255, (24, 3, 16, 16), dtype=np.uint8), pgs=pgs,
                       burden=rng.poisson(3.0, size=(24, 4)).astype(float))


def _no_pickle(folder):
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors"]
    json.loads((folder / "config.json").read_text())
    with safe_open(str(folder / "model.safetensors"), framework="pt") as f:  # tensors only
        assert len(list(f.keys())) > 0
    for p in folder.iterdir():
        head = p.read_bytes()[:2]
        assert head not in (b"PK", b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"), p  # no torch.save/pickle


def test_contig_roundtrip_transform_identical(ds, tmp_path):
    model = ContIGPretrainer("resnet18", hidden_dim=16, projection_dim=8, validation_fraction=0.0, **TINY).fit(ds)
    folder = model.save_pretrained(tmp_path / "contig", metrics={"retrieval_top1": 0.25})
    _no_pickle(folder)
    loaded = load_pretrained(folder)
    assert type(loaded) is ContIGPretrainer and loaded.get_params()["hidden_dim"] == 16
    np.testing.assert_array_equal(loaded.transform(ds), model.transform(ds))
    for m in ("pgs", "burden"):
        np.testing.assert_array_equal(loaded.transform_genetics(ds)[m], model.transform_genetics(ds)[m])
        np.testing.assert_array_equal(loaded.genetic_scaling_[m][0], model.genetic_scaling_[m][0])
        np.testing.assert_array_equal(loaded.fill_values_[m], model.fill_values_[m])
    assert loaded.modality_features_["pgs"].tolist() == model.modality_features_["pgs"].tolist()
    assert loaded.retrieval_accuracy(ds) == model.retrieval_accuracy(ds)
    config = json.loads((folder / "config.json").read_text())
    assert config["class"] == "ContIGPretrainer" and config["image_encoder"]["image_size"] == 16
    assert "genetic_scaling_" in config["fitted"] and config["package_version"]
    card = (folder / "README.md").read_text()
    assert "individuals: 24" in card and "retrieval_top1: 0.25" in card and "pgs (5 features)" in card
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save_pretrained(folder)
    model.save_pretrained(folder, overwrite=True)


def test_classifier_roundtrip_predict_identical(ds, tmp_path):
    X = ds["image"].values
    y = np.array(["mild", "none", "severe"])[np.arange(24) % 3]
    clf = ContIGClassifier(image_encoder="resnet18", task="ordinal", **TINY).fit(X, y)
    folder = save_pretrained(clf, tmp_path / "clf")
    _no_pickle(folder)
    loaded = load_pretrained(folder)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    assert loaded.classes_.tolist() == ["mild", "none", "severe"] and loaded.task_ == "ordinal"
    assert loaded.score(X, y) == clf.score(X, y)
    assert "classes ['mild', 'none', 'severe']" in (folder / "README.md").read_text()


def test_regressor_segmenter_and_baseline_roundtrip(ds, tmp_path):
    X = ds["image"].values
    Y = np.c_[np.arange(24.0), np.arange(24.0) ** 0.5]
    reg = ContIGRegressor(image_encoder="resnet18", **TINY).fit(X, Y[:, 0])
    loaded = load_pretrained(reg.save_pretrained(tmp_path / "reg"))
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded.predict(X).ndim == 1
    masks = (X[:, 0] > 127).astype(np.uint8)
    seg = ContIGSegmenter(image_encoder="resnet18", **TINY).fit(X, masks)
    np.testing.assert_array_equal(load_pretrained(seg.save_pretrained(tmp_path / "seg")).predict(X), seg.predict(X))
    ssl = SimCLRPretrainer("resnet18", hidden_dim=16, projection_dim=8, **TINY).fit(X)
    np.testing.assert_array_equal(load_pretrained(ssl.save_pretrained(tmp_path / "ssl")).transform(X), ssl.transform(X))


def test_loaded_encoder_starts_a_downstream_model(ds, tmp_path):
    model = ContIGPretrainer("resnet18", hidden_dim=16, projection_dim=8, **TINY).fit(ds)
    loaded = load_pretrained(model.save_pretrained(tmp_path / "m"))
    X, y = ds["image"].values, np.arange(24) % 2
    a = ContIGClassifier(encoder=model, **TINY).fit(X, y)
    b = ContIGClassifier(encoder=loaded, **TINY).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_save_load_errors(ds, tmp_path):
    with pytest.raises(TypeError, match="this package's estimators"):
        save_pretrained(object(), tmp_path / "x")
    with pytest.raises(Exception, match="not fitted"):
        save_pretrained(ContIGClassifier(), tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_pretrained(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"format": "other"}))
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="not written by save_pretrained"):
        load_pretrained(tmp_path / "bad")
    (tmp_path / "bad" / "config.json").write_text(
        json.dumps({"format": "sklearn_contig.pretrained", "format_version": 1, "class": "os.system"})
    )
    with pytest.raises(ValueError, match="unknown estimator class"):
        load_pretrained(tmp_path / "bad")


def test_json_codec_roundtrip():
    value = {
        "a": np.array([1.5, np.nan], dtype=np.float32),
        "b": (np.arange(3), "x"),
        "c": np.array(["u", "v"], dtype=object),
        "d": np.array([["p", "q"]]),
        "e": [np.int64(3), np.float64(0.1), True, None],
    }
    back = from_json(json.loads(json.dumps(to_json(value), allow_nan=False)))
    assert back["a"].dtype == np.float32 and np.isnan(back["a"][1]) and back["a"][0] == 1.5
    assert isinstance(back["b"], tuple) and back["b"][0].tolist() == [0, 1, 2]
    assert back["c"].dtype == object and back["c"].tolist() == ["u", "v"]
    assert back["d"].shape == (1, 2) and back["e"] == [3, 0.1, True, None]
    with pytest.raises(TypeError):
        to_json({1: 2})
    with pytest.raises(TypeError):
        to_json(object())


def test_unknown_saved_parameters_are_named_in_a_warning(ds, tmp_path):
    X = ds["image"].values
    clf = ContIGClassifier(image_encoder="resnet18", **TINY).fit(X, np.arange(24) % 2)
    folder = save_pretrained(clf, tmp_path / "clf")
    config = json.loads((folder / "config.json").read_text())
    config["params"]["embedding_pooling"] = "gem"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.warns(UserWarning, match=r"does not know, ignored: \['embedding_pooling'\]"):
        loaded = load_pretrained(folder)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
