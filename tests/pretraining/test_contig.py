import os
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import Pipeline

from sklearn_contig.data import Samples, from_arrays
from sklearn_contig.pretraining import ContIGPretrainer

from .._processes import kill_after_epochs


@pytest.fixture(scope="module")
def fitted(cohort, fast):
    return ContIGPretrainer(**fast).fit(cohort)


def test_fit_transform_shapes_and_history(fitted, cohort):
    Z = fitted.transform(cohort)
    assert Z.shape == (96, 512) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert len(fitted.history_) == 2
    row = fitted.history_[-1]
    for key in ("train_loss", "valid_loss", "train_loss_pgs", "valid_loss_burden"):
        assert np.isfinite(row[key])
    assert fitted.modalities_ == ["pgs", "burden"]
    assert fitted.n_valid_samples_ > 0


def test_transform_accepts_bare_images_of_any_size(fitted, cohort):
    img = cohort["image"].values
    a = fitted.transform(img)
    b = fitted.transform(img.astype(np.float32) / 255.0)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    big = np.repeat(np.repeat(img[:4], 2, axis=2), 2, axis=3)
    assert fitted.transform(big).shape == (4, 512)


def test_pandas_output_indexed_by_sample(cohort, fast):
    model = ContIGPretrainer(**fast).set_output(transform="pandas").fit(cohort)
    Z = model.transform(cohort)
    assert isinstance(Z, pd.DataFrame)
    assert list(Z.index.get_level_values("sample")) == list(cohort["sample"].values)
    assert list(Z.index.get_level_values("individual")) == list(cohort["individual"].values)
    assert Z.columns[0] == "embedding0"


def test_transform_genetics_marks_missing_rows(fitted, cohort):
    G = fitted.transform_genetics(cohort)
    missing = np.isnan(cohort["burden"].values).all(1)
    assert G["burden"].shape == (96, 32)
    assert np.isnan(G["burden"][missing]).all() and np.isfinite(G["burden"][~missing]).all()


def test_score_is_retrieval_accuracy(fitted, cohort):
    acc = fitted.retrieval_accuracy(cohort, k=1)
    assert set(acc) == {"pgs", "burden"}
    assert fitted.score(cohort) == pytest.approx(np.mean(list(acc.values())))
    top10 = fitted.retrieval_accuracy(cohort, k=10)
    assert all(top10[m] >= acc[m] for m in acc)


def test_same_random_state_gives_identical_embeddings(cohort, fast):
    a = ContIGPretrainer(**fast).fit(cohort).transform(cohort)
    b = ContIGPretrainer(**fast).fit(cohort).transform(cohort)
    np.testing.assert_array_equal(a, b)


def test_pickle_roundtrip_gives_identical_embeddings(fitted, cohort, tmp_path):
    joblib.dump(fitted, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.transform(cohort), fitted.transform(cohort))
    # the optimizer state is not pickled: the file is about the size of the weights
    n_bytes = sum(p.numel() * 4 for p in fitted.module_.parameters())
    assert os.path.getsize(tmp_path / "m.joblib") < 2.5 * n_bytes


def test_clone_and_params():
    model = ContIGPretrainer(temperature=0.2, aggregation="inner")
    params = model.get_params()
    assert params["temperature"] == 0.2 and params["aggregation"] == "inner"
    other = clone(model).set_params(temperature=0.5)
    assert other.temperature == 0.5 and model.temperature == 0.2
    assert not hasattr(other, "net_")


def test_unfitted_raises(cohort):
    with pytest.raises(NotFittedError):
        ContIGPretrainer().transform(cohort)


def test_pipeline_with_logistic_regression(cohort, fast):
    y = (cohort["pgs"].values[:, 0] > 0).astype(int)
    pipe = Pipeline([("contig", ContIGPretrainer(**fast)), ("clf", LogisticRegression(max_iter=500))])
    pipe.fit(Samples(cohort), y)
    assert pipe.predict(Samples(cohort)).shape == (96,)


def test_grid_search_over_temperature_grouped_by_individual(fast, make_toy):
    ds = make_toy(n=96, eyes=2)
    X = Samples(ds)
    search = GridSearchCV(
        ContIGPretrainer(**{**fast, "max_epochs": 1}),
        {"temperature": [0.1, 0.5]},
        cv=GroupKFold(n_splits=2),
    )
    search.fit(X, groups=X.individual)
    assert set(search.cv_results_["param_temperature"]) == {0.1, 0.5}
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_two_images_per_individual_split_by_individual(fast, make_toy):
    ds = make_toy(n=96, eyes=2)
    model = ContIGPretrainer(**{**fast, "max_epochs": 1, "validation_fraction": 0.25}).fit(ds)
    assert model.n_train_samples_ + model.n_valid_samples_ == 96
    assert model.n_valid_samples_ % 2 == 0  # both eyes of a person on one side


def test_inner_aggregation_uses_complete_individuals(cohort, fast):
    model = ContIGPretrainer(**{**fast, "max_epochs": 1}, aggregation="inner").fit(cohort)
    complete = int((~np.isnan(cohort["burden"].values).all(1)).sum())
    assert model.n_train_samples_ + model.n_valid_samples_ == complete


def test_untrained_model_with_zero_epochs(cohort, fast):
    model = ContIGPretrainer(**{**fast, "max_epochs": 0}).fit(cohort)
    assert len(model.history_) == 0
    assert model.transform(cohort).shape == (96, 512)


def test_mlp_encoder_on_flat_features(fast):
    rng = np.random.default_rng(0)
    pgs = rng.normal(size=(64, 5))
    feats = np.hstack([pgs @ rng.normal(size=(5, 10)), rng.normal(size=(64, 6))]).astype(np.float32)
    ds = from_arrays(feats, pgs=pgs)
    model = ContIGPretrainer(**{**fast, "image_encoder": "mlp"}).fit(ds)
    assert model.transform(ds).shape == (64, 512)


def test_save_encoder_roundtrip(fitted, cohort, tmp_path):
    from sklearn_contig.models import load_encoder

    path = fitted.save_encoder(tmp_path / "enc.safetensors")
    enc = load_encoder(path, expected="resnet18")
    import torch

    with torch.no_grad():
        Z = enc(torch.from_numpy(cohort["image"].values[:8])).numpy()
    np.testing.assert_allclose(Z, fitted.transform(cohort)[:8], rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "params, match",
    [
        ({"batch_size": 1}, "batch_size"),
        ({"image_encoder": "vgg"}, "image_encoder"),
        ({"genetic_encoder": "H3"}, "genetic_encoder"),
        ({"aggregation": "left"}, "aggregation"),
        ({"temperature": 0.0}, "temperature"),
        ({"loss_weight": 2.0}, "loss_weight"),
        ({"precision": "fp8"}, "precision"),
        ({"augment": {"spin": 3}}, "augment"),
        ({"resume": True}, "checkpoint_dir"),
    ],
)
def test_bad_parameters_raise_before_training(cohort, params, match, fast):
    with pytest.raises(ValueError, match=match):
        ContIGPretrainer(**{**fast, **params}).fit(cohort)


def test_inner_with_too_few_complete_individuals(fast, make_toy):
    ds = make_toy(n=32, missing_burden=0.0)
    burden = ds["burden"].values.copy()
    burden[1:] = np.nan
    ds = ds.assign(burden=ds["burden"].copy(data=burden))
    with pytest.raises(ValueError, match="inner.*at least 2"):
        ContIGPretrainer(**fast, aggregation="inner").fit(ds)


def test_image_of_wrong_shape_for_encoder(cohort, fast):
    flat = from_arrays(np.zeros((10, 7), np.float32), pgs=np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match="resnet18.*sample, channel, y, x"):
        ContIGPretrainer(**fast).fit(flat)
    with pytest.raises(ValueError, match="mlp.*flat"):
        ContIGPretrainer(**{**fast, "image_encoder": "mlp"}).fit(cohort)


def test_dataset_without_genetics(cohort, fast):
    with pytest.raises(ValueError, match="no genetic modality"):
        ContIGPretrainer(**fast).fit(cohort[["image"]])


def test_unknown_modality(cohort, fast):
    with pytest.raises(ValueError, match="unknown modality 'snp'"):
        ContIGPretrainer(**fast, modalities=["snp"]).fit(cohort)


def test_not_a_dataset(fast):
    with pytest.raises(TypeError, match="xarray.Dataset"):
        ContIGPretrainer(**fast).fit(np.zeros((4, 3, 8, 8)))


def test_fit_does_not_modify_input(cohort, fast, make_toy):
    before = cohort.copy(deep=True)
    ContIGPretrainer(**{**fast, "max_epochs": 1}).fit(cohort)
    assert cohort.identical(before)


# ---------------------------------------------------------- checkpoint/resume
_SCRIPT = textwrap.dedent(
    """
    import time
    import numpy as np
    from skorch.callbacks import Callback
    from sklearn_contig.data import from_arrays
    from sklearn_contig.pretraining import ContIGPretrainer

    {toy_source}

    class Slow(Callback):
        def on_epoch_end(self, net, **kw):
            time.sleep(0.4)

    ContIGPretrainer(image_encoder="resnet18", batch_size=16, max_epochs=5, hidden_dim=32,
                     projection_dim=8, patience=None, random_state=0, verbose=0,
                     checkpoint_dir={ckpt!r}, resume=True, callbacks=[Slow()]).fit(toy_cohort(n=48))
    """
)


def test_killed_fit_resumes_from_checkpoint(tmp_path, make_toy):
    import inspect
    import json

    ckpt = tmp_path / "ckpt"
    script = tmp_path / "fit.py"
    toy_source = textwrap.dedent(inspect.getsource(make_toy))
    script.write_text(_SCRIPT.format(toy_source=toy_source, ckpt=str(ckpt)))
    done = kill_after_epochs(script, ckpt)
    assert 2 <= done < 5, "the process was not killed mid-training"

    ds = make_toy(n=48)
    model = ContIGPretrainer(image_encoder="resnet18", batch_size=16, max_epochs=5, hidden_dim=32,
                             projection_dim=8, patience=None, random_state=0, verbose=0,
                             checkpoint_dir=ckpt, resume=True).fit(ds)
    epochs = [row["epoch"] for row in model.history_]
    assert epochs == list(range(1, 6))
    for row in model.history_:
        assert np.isfinite(row["train_loss"]) and np.isfinite(row["valid_loss"])
    assert len(json.loads((ckpt / "latest" / "history.json").read_text())) == 5


def test_early_stopping_restores_best_epoch_and_keeps_history_complete(cohort, fast, tmp_path):
    from safetensors.torch import load_file

    # a learning rate this high makes the held-out loss worse after the first epochs
    model = ContIGPretrainer(**{**fast, "max_epochs": 6, "lr": 0.05, "patience": 2},
                             checkpoint_dir=tmp_path).fit(cohort)
    history = model.history_
    assert all("valid_loss" in row for row in history)
    losses = [row["valid_loss"] for row in history]
    best = int(np.argmin(losses)) + 1
    assert model.best_epoch_ == best
    if len(history) < 6:
        assert history[-1]["stopped_early"] and len(history) == best + 2
    # the weights in use are the best epoch's, as written to the checkpoint folder
    saved = load_file(str(tmp_path / "latest" / "best_module.safetensors"))
    for name, value in model.module_.state_dict().items():
        np.testing.assert_array_equal(value.cpu().numpy(), saved[name].numpy())
