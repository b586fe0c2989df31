"""Downstream estimators: sklearn model selection, persistence, labels, freezing, tasks."""

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_contig.data import Samples, from_arrays
from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
from sklearn_contig.metrics import qwk_scorer
from sklearn_contig.models import ImageEncoder, save_encoder

pytestmark = pytest.mark.usefixtures("one_thread")


MLP = dict(image_encoder="mlp", max_epochs=8, batch_size=32, device="cpu", random_state=0)
CNN = dict(image_encoder="resnet18", max_epochs=1, batch_size=16, device="cpu", random_state=0)


def _ordinal(n=120, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    grade = np.digitize(X[:, 0] + 0.3 * rng.normal(size=n), [-1.0, -0.3, 0.3, 1.0])
    return X, grade


def _images(n=24, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (n, 3, size, size), dtype=np.uint8)


def test_pipeline_gridsearch_over_lr_with_qwk():
    X, y = _ordinal()
    pipe = make_pipeline(StandardScaler(), ContIGClassifier(task="ordinal", **MLP))
    search = GridSearchCV(pipe, {"contigclassifier__lr": [1e-3, 1e-2]}, scoring=qwk_scorer, cv=2)
    search.fit(X, y)
    assert search.best_params_["contigclassifier__lr"] in (1e-3, 1e-2)
    assert search.best_score_ > 0.3
    assert set(search.predict(X)) <= set(y)


def test_cross_val_score_group_kfold_by_individual():
    X = _images(24)
    ids = np.repeat([f"p{i}" for i in range(12)], 2)  # two eyes per person
    grade = np.tile([0, 1, 2], 8)
    ds = from_arrays(X, pgs=np.random.default_rng(0).normal(size=(24, 3)),
                     sample_ids=[f"s{i}" for i in range(24)], individual_ids=ids,
                     labels={"grade": grade})
    S = Samples(ds)
    clf = ContIGClassifier(task="ordinal", target="grade", **CNN)
    scores = cross_val_score(clf, S, groups=S.individual, cv=GroupKFold(n_splits=3))
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_validation_split_is_by_individual():
    X = _images(24)
    ids = np.repeat([f"p{i}" for i in range(12)], 2)
    ds = from_arrays(X, sample_ids=[f"s{i}" for i in range(24)], individual_ids=ids,
                     labels={"grade": np.tile([0, 1], 12)})
    clf = ContIGClassifier(target="grade", validation_fraction=0.25, **CNN).fit(ds)
    assert clf.n_valid_samples_ == 6 and clf.n_train_samples_ == 18  # 3 people x 2 eyes held out


def test_pickle_roundtrip_same_predictions(tmp_path):
    X, y = _ordinal(60)
    clf = ContIGClassifier(**MLP).fit(X, y)
    joblib.dump(clf, tmp_path / "clf.joblib")
    again = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    np.testing.assert_allclose(again.predict_proba(X), clf.predict_proba(X))


def test_string_labels_and_random_state_repeatable():
    X, g = _ordinal(60)
    y = np.array(["none", "mild", "moderate", "severe", "proliferative"])[g]
    a = ContIGClassifier(**MLP).fit(X, y)
    b = ContIGClassifier(**MLP).fit(X, y)
    assert a.classes_.tolist() == sorted(set(y))
    assert set(a.predict(X)) <= set(y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.score(X, y) > 0.4


def test_ordinal_coral_probabilities_and_qwk_score():
    X, y = _ordinal(150)
    clf = ContIGClassifier(task="ordinal", **MLP).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 5)
    np.testing.assert_allclose(proba.sum(1), 1)
    assert clf.decision_function(X).shape == (150, 4)  # K-1 cumulative logits
    assert clf.score(X, y) > 0.5  # QWK


def test_multilabel_indicator():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 5)).astype(np.float32)
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0.5, X[:, 0] + X[:, 2] > 0].astype(int)
    clf = ContIGClassifier(**MLP).fit(X, Y)
    assert clf.task_ == "multilabel"
    assert clf.predict(X).shape == (100, 3) and clf.predict_proba(X).shape == (100, 3)
    assert clf.score(X, Y) > 0.8  # micro ROC-AUC


def test_regressor_multi_output_original_units():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    Y = np.c_[60 + 10 * X[:, 0], 130 + 15 * X[:, 1]]
    reg = ContIGRegressor(**MLP).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == (120, 2)
    assert abs(pred[:, 0].mean() - 60) < 5 and abs(pred[:, 1].mean() - 130) < 8
    assert reg.score(X, Y) > 0.5
    assert ContIGRegressor(**MLP).fit(X, Y[:, 0]).predict(X).shape == (120,)


def test_frozen_encoder_unchanged_head_trained(tmp_path):
    enc = ImageEncoder("resnet18", image_size=16)
    path = save_encoder(enc, tmp_path / "enc.safetensors")
    X = _images(24)
    y = np.tile([0, 1], 12)
    clf = ContIGClassifier(encoder=path, freeze_encoder=True, **{**CNN, "max_epochs": 2}).fit(X, y)
    after = clf.module_.encoder.state_dict()
    for k, v in enc.state_dict().items():  # weights and BatchNorm running statistics
        torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=f"encoder {k} changed")
    assert clf.pretrained_
    # The head trained: it differs from the same seed's untrained (max_epochs=0) head.
    clf2 = ContIGClassifier(encoder=path, freeze_encoder=True, **{**CNN, "max_epochs": 0}).fit(X, y)
    assert not torch.equal(clf.module_.head.weight, clf2.module_.head.weight)
    torch.testing.assert_close(clf2.module_.encoder.state_dict()["backbone.conv1.weight"],
                               after["backbone.conv1.weight"])


def test_segmenter_layouts_and_score():
    X = _images(12)
    masks = (X[:, :2] > 127).astype(np.uint8)  # (n, 2, h, w): two mask channels
    seg = ContIGSegmenter(**CNN).fit(X, masks)
    assert seg.n_masks_ == 2
    assert seg.predict(X).shape == masks.shape and seg.predict(X).dtype == np.uint8
    assert seg.predict_proba(X[:3]).shape == (3, 2, 16, 16)
    assert 0 <= seg.score(X, masks) <= 1
    seg1 = ContIGSegmenter(**CNN).fit(X, masks[:, 0])
    assert seg1.predict(X).shape == (12, 16, 16)


def test_segmenter_frozen_encoder_trains_decoder(tmp_path):
    enc = ImageEncoder("resnet18", image_size=16)
    path = save_encoder(enc, tmp_path / "enc.safetensors")
    X = _images(12)
    seg = ContIGSegmenter(encoder=path, freeze_encoder=True, **CNN).fit(X, (X[:, 0] > 127).astype(np.uint8))
    after = seg.module_.encoder.state_dict()
    for k, v in enc.state_dict().items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0)


def test_fitted_pretrainer_survives_cloning_when_frozen():
    from sklearn.base import clone
    from sklearn.frozen import FrozenEstimator

    from sklearn_contig.pretraining import ContIGPretrainer

    X = _images(16)
    ds = from_arrays(X, pgs=np.random.default_rng(0).normal(size=(16, 3)), labels={"grade": np.tile([0, 1], 8)})
    pre = ContIGPretrainer(image_encoder="resnet18", max_epochs=1, batch_size=8, hidden_dim=8,
                           projection_dim=4, device="cpu", random_state=0, verbose=0).fit(ds)
    clf = clone(ContIGClassifier(encoder=FrozenEstimator(pre), target="grade", **CNN)).fit(ds)
    assert clf.pretrained_
    ref = pre.get_encoder().state_dict()["backbone.conv1.weight"]
    start = ContIGClassifier(encoder=FrozenEstimator(pre), target="grade", **{**CNN, "max_epochs": 0}).fit(ds)
    torch.testing.assert_close(start.module_.encoder.state_dict()["backbone.conv1.weight"], ref)


def test_ordinal_grades_keep_the_order_of_an_ordered_categorical():
    import pandas as pd

    X, grade = _ordinal(150)
    names = np.array(["none", "mild", "moderate", "severe", "proliferative"])
    y = pd.Series(pd.Categorical(names[grade], categories=list(names), ordered=True))
    clf = ContIGClassifier(task="ordinal", **MLP).fit(X, y)
    assert clf.classes_.tolist() == names.tolist()
    np.testing.assert_allclose(clf.predict_proba(X), ContIGClassifier(task="ordinal", **MLP).fit(X, grade)
                               .predict_proba(X), atol=1e-6)
    with pytest.warns(UserWarning, match="text grades: their order is taken as sorted"):
        ContIGClassifier(task="ordinal", **{**MLP, "max_epochs": 1}).fit(X, names[grade])


def test_score_uses_sample_weight_for_every_task():
    X, grade = _ordinal(150)
    w = np.r_[np.ones(75), np.zeros(75)]
    clf = ContIGClassifier(task="ordinal", **{**MLP, "max_epochs": 2}).fit(X, grade)
    assert clf.score(X, grade, sample_weight=w) == pytest.approx(clf.score(X[:75], grade[:75]))
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0.5].astype(int)
    ml = ContIGClassifier(**{**MLP, "max_epochs": 2}).fit(X, Y)
    assert ml.score(X, Y, sample_weight=w) == pytest.approx(ml.score(X[:75], Y[:75]))
    imgs = _images(12)
    masks = (imgs[:, 0] > 127).astype(np.uint8)
    seg = ContIGSegmenter(**CNN).fit(imgs, masks)
    w = np.r_[np.ones(6), np.zeros(6)]
    assert seg.score(imgs, masks, sample_weight=w) == pytest.approx(seg.score(imgs[:6], masks[:6]))


def test_integer_images_are_read_as_0_to_255_and_out_of_range_ones_refused():
    X = _images(16)
    y = np.arange(16) % 2
    clf = ContIGClassifier(**CNN).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X.astype(np.int64)), clf.predict_proba(X), atol=1e-6)
    with pytest.raises(ValueError, match=r"uint16 values from 15 to 4079 \(samples \[0, 1, 2, 3, 4\]\)|uint16 values from 15 to 4079;"):
        ContIGClassifier(**CNN).fit((X.astype(np.uint16) * 16 + 15), y)


def test_channel_last_image_variable_is_refused():
    import xarray as xr

    ds = from_arrays(_images(8))
    last = xr.Dataset({"image": ds["image"].transpose("sample", "y", "x", "channel")}, coords=ds.coords)
    with pytest.raises(ValueError, match=r"channel first.*transpose\('sample', 'channel', 'y', 'x'\)"):
        ContIGClassifier(**CNN).fit(last, np.arange(8) % 2)


def test_encoder_saved_without_a_size_works_at_the_training_size(tmp_path):
    path = save_encoder(ImageEncoder("resnet18"), tmp_path / "enc.safetensors")
    X16 = _images(16)
    clf = ContIGClassifier(encoder=path, **CNN).fit(X16, np.arange(16) % 2)
    assert clf.module_.encoder.image_size == 16
    X32 = np.repeat(np.repeat(X16, 2, axis=2), 2, axis=3)
    at16 = clf.module_.encoder.to_unit(torch.from_numpy(X32)).numpy()  # the encoder's own resize
    assert at16.shape[-1] == 16
    np.testing.assert_allclose(clf.predict_proba(X32), clf.predict_proba(at16), atol=1e-6)


def test_float_images_on_the_0_255_scale_are_warned_about():
    X = _images(16).astype(np.float32)
    with pytest.warns(UserWarning, match="float images are read as 0-1"):
        ContIGClassifier(**CNN).fit(X, np.arange(16) % 2)
