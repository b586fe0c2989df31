"""The pretrainers train through an accelerate.Accelerator (single CPU process here)."""

import pickle

import numpy as np
import pytest

from sklearn_contig.pretraining import BYOLPretrainer, ContIGPretrainer

accelerate = pytest.importorskip("accelerate", reason="accelerate not installed (pip install sklearn-contig[gpu])")


def test_contig_fits_through_an_accelerator(cohort, fast, tmp_path):
    model = ContIGPretrainer(**fast, accelerator=accelerate.Accelerator(cpu=True), checkpoint_dir=tmp_path)
    model.fit(cohort)
    assert type(model.net_).__name__ == "AcceleratedNet"
    assert [row["epoch"] for row in model.history_] == [1, 2]
    assert (tmp_path / "latest" / "last_module.safetensors").is_file()
    Z = model.transform(cohort)
    assert Z.shape == (96, 512) and np.isfinite(Z).all()
    # the fitted estimator keeps no Accelerator and pickles
    assert model.net_.accelerator is None
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).transform(cohort), Z)


def test_accelerated_run_resumes_from_checkpoint(cohort, fast, tmp_path):
    params = {**fast, "max_epochs": 3, "patience": None, "checkpoint_dir": tmp_path, "resume": True}
    ContIGPretrainer(**{**params, "max_epochs": 2}, accelerator=accelerate.Accelerator(cpu=True)).fit(cohort)
    model = ContIGPretrainer(**params, accelerator=accelerate.Accelerator(cpu=True)).fit(cohort)
    assert [row["epoch"] for row in model.history_] == [1, 2, 3]


def test_byol_momentum_callback_under_accelerate(cohort):
    model = BYOLPretrainer("resnet18", hidden_dim=16, projection_dim=8, predictor_hidden_dim=8, batch_size=16,
                           max_epochs=1, verbose=0, random_state=0, accelerator=accelerate.Accelerator(cpu=True))
    model.fit(cohort)
    assert int(model.module_.momentum_step) > 0
