"""scikit-learn conformance of every estimator that takes plain arrays, in one place.

The neural estimators run on the flat-feature (mlp) configuration; expected
failures are listed and justified below, nowhere else.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor
from sklearn_contig.gwas import GWASTransformer

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(
    image_encoder="mlp",
    max_epochs=10,
    batch_size=64,
    validation_fraction=0.0,
    device="cpu",
    random_state=0,
)

EXPECTED_FAILURES = {
    ContIGClassifier: {
        # The network computes in float32, and the BLAS kernels PyTorch picks
        # depend on the batch size, so predicting a subset rather than the whole
        # array changes outputs by ~1e-7 relative (the check demands rtol=1e-7):
        # rounding, not batch dependence (BatchNorm runs with its stored
        # statistics in eval mode; every row is computed independently).
        "check_methods_subset_invariance": "float32 outputs differ by ~1e-7 with the batch size",
    },
    ContIGRegressor: {
        "check_methods_subset_invariance": "float32 outputs differ by ~1e-7 with the batch size",
    },
    GWASTransformer: {
        # The rank-based inverse normal transform ranks the individuals
        # transformed together (as transferGWAS does for the whole cohort), so
        # a subset's phenotypes are re-ranked within the subset by design.
        "check_methods_subset_invariance": "the inverse normal transform ranks within the transformed set",
    },
}


@parametrize_with_checks(
    [ContIGClassifier(**TINY), ContIGRegressor(**TINY), GWASTransformer(n_components=2)],
    expected_failed_checks=lambda est: EXPECTED_FAILURES[type(est)],
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
