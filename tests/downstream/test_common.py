"""scikit-learn conformance: the shared estimator checks on the flat-feature (mlp) configuration."""

import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor

TINY = dict(
    image_encoder="mlp",
    max_epochs=10,
    batch_size=64,
    validation_fraction=0.0,
    device="cpu",
    random_state=0,
)

EXPECTED_FAILURES = {
    # The network computes in float32, and the BLAS kernels PyTorch picks depend
    # on the batch size, so predicting a subset rather than the whole array
    # changes outputs by ~1e-7 relative (the check demands rtol=1e-7): rounding,
    # not batch dependence (BatchNorm runs with its stored statistics in eval
    # mode; every row is computed independently).
    "check_methods_subset_invariance": "float32 outputs differ by ~1e-7 with the batch size",
}


@pytest.fixture(autouse=True)
def _one_thread():
    # OpenMP threads spin-wait: on a loaded 2-core machine 2 threads run ~50x slower.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@parametrize_with_checks(
    [ContIGClassifier(**TINY), ContIGRegressor(**TINY)],
    expected_failed_checks=lambda est: EXPECTED_FAILURES,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
