"""``sync_batchnorm``: checked before any work; in one process it trains like BatchNorm."""

import inspect

import numpy as np
import pytest
import torch

from sklearn_contig._distributed import SyncBatchNorm
from sklearn_contig.data import from_arrays
from sklearn_contig.pretraining import ContIGPretrainer

from .._estimators import TRAINED_ESTIMATORS as ESTIMATORS


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_sync_batchnorm_is_a_parameter_right_after_accelerator(cls):
    assert cls().sync_batchnorm is False
    names = list(inspect.signature(cls).parameters)
    assert names.index("sync_batchnorm") == names.index("accelerator") + 1


def test_bad_sync_batchnorm_is_rejected_before_training():
    X = from_arrays(np.zeros((8, 5), np.float32), pgs=np.zeros((8, 2), np.float32))
    with pytest.raises(ValueError, match="sync_batchnorm"):
        ContIGPretrainer("mlp", sync_batchnorm="yes").fit(X)


def test_single_process_sync_batchnorm_equals_batchnorm(one_thread):
    rng = np.random.default_rng(0)
    X = from_arrays(rng.normal(size=(24, 5)).astype(np.float32), pgs=rng.normal(size=(24, 3)).astype(np.float32))
    params = dict(batch_size=8, max_epochs=1, hidden_dim=8, projection_dim=4, validation_fraction=0,
                  augment=False, verbose=0, random_state=0, device="cpu")
    plain = ContIGPretrainer("mlp", **params).fit(X)
    synced = ContIGPretrainer("mlp", **params, sync_batchnorm=True).fit(X)
    assert any(isinstance(m, SyncBatchNorm) for m in synced.module_.modules())
    assert not any(isinstance(m, SyncBatchNorm) for m in plain.module_.modules())
    for (k, a), b in zip(plain.module_.state_dict().items(), synced.module_.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    np.testing.assert_allclose(plain.transform(X), synced.transform(X), rtol=1e-6)
