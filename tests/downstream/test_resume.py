"""Downstream estimators train through the shared core: checkpoints, resume, compile, accelerator."""

import textwrap

import numpy as np
import pytest

from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter

from .._processes import kill_after_epochs

PARAMS = dict(image_encoder="mlp", max_epochs=5, batch_size=16, validation_fraction=0.25, patience=None,
              device="cpu", random_state=0)

_DATA = """
import numpy as np

def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 6)).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.normal(size=96) > 0).astype(int)
    return X, y
"""

_SCRIPT = """
import time
import torch
from skorch.callbacks import Callback
from sklearn_contig.downstream import ContIGClassifier
{data}

class Slow(Callback):
    def on_epoch_end(self, net, **kw):
        time.sleep(0.5)

torch.set_num_threads(1)
X, y = data()
ContIGClassifier(**{params!r}, checkpoint_dir={ckpt!r}, resume=True, callbacks=[Slow()]).fit(X, y)
"""


def _data():
    namespace = {}
    exec(_DATA, namespace)
    return namespace["data"]()


def test_killed_classifier_fit_resumes_to_the_uninterrupted_history(tmp_path):
    ckpt = tmp_path / "ckpt"
    script = tmp_path / "fit.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(data=_DATA, params=PARAMS, ckpt=str(ckpt))))
    done = kill_after_epochs(script, ckpt)
    assert 2 <= done < 5, "the process was not killed mid-training"

    X, y = _data()
    resumed = ContIGClassifier(**PARAMS, checkpoint_dir=ckpt, resume=True).fit(X, y)
    straight = ContIGClassifier(**PARAMS).fit(X, y)
    assert [row["epoch"] for row in resumed.history_] == [1, 2, 3, 4, 5]
    for key in ("train_loss", "valid_loss"):
        np.testing.assert_allclose(resumed.history_[:, key], straight.history_[:, key], rtol=1e-5)
    np.testing.assert_allclose(resumed.predict_proba(X), straight.predict_proba(X), rtol=1e-4, atol=1e-6)


def test_resume_without_checkpoint_dir_is_refused():
    X, y = _data()
    with pytest.raises(ValueError, match="checkpoint_dir"):
        ContIGClassifier(**PARAMS, resume=True).fit(X, y)


@pytest.mark.parametrize("Estimator", [ContIGClassifier, ContIGRegressor, ContIGSegmenter])
def test_every_downstream_estimator_takes_the_shared_training_parameters(Estimator):
    params = Estimator().get_params()
    for name in ("resume", "compile", "accelerator", "checkpoint_dir", "num_workers"):
        assert name in params


def test_classifier_fits_with_a_single_process_accelerator():
    accelerate = pytest.importorskip("accelerate")
    X, y = _data()
    clf = ContIGClassifier(**{**PARAMS, "max_epochs": 2}, accelerator=accelerate.Accelerator(cpu=True)).fit(X, y)
    assert clf.accelerator is not None and clf.net_.accelerator is None  # a fit-time tool, dropped after
    assert clf.predict(X).shape == (96,) and len(clf.history_) == 2
