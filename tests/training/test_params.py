"""The shared parameters: listed once in NetEstimator, inherited by every estimator."""

import inspect

import pytest
from sklearn.base import clone

from sklearn_contig.downstream import ContIGClassifier
from sklearn_contig.pretraining import SimCLRPretrainer
from sklearn_contig.training import TRAINING_CONSTRAINTS, NetEstimator
from sklearn_contig.training._estimator import auto_batch_size, auto_validation_fraction

from .._estimators import DOWNSTREAM, TRAINED_ESTIMATORS

SHARED = list(inspect.signature(NetEstimator).parameters)


def test_shared_parameters_have_constraints():
    assert set(SHARED) == {"pretrained_weights", "weights_normalization", *TRAINING_CONSTRAINTS}
    assert set(SHARED) <= set(NetEstimator._parameter_constraints)


@pytest.mark.parametrize("cls", TRAINED_ESTIMATORS, ids=lambda c: c.__name__)
def test_every_estimator_takes_and_stores_the_shared_parameters(cls):
    params = inspect.signature(cls).parameters
    assert set(SHARED) <= set(params)
    assert set(params) == set(cls._parameter_constraints)
    # Every parameter is keyword-only but the first, which has a default.
    first, *rest = params.values()
    assert first.default is not inspect.Parameter.empty
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in rest)
    est = cls(max_epochs=3, lr=0.01, sync_batchnorm=True)
    assert est.get_params()["max_epochs"] == 3
    assert clone(est).get_params() == est.get_params()
    assert set(vars(est)) == set(params)


def test_family_defaults():
    for cls in DOWNSTREAM:
        p = cls().get_params()
        assert (p["batch_size"], p["max_epochs"], p["validation_fraction"], p["verbose"]) == ("auto", 50, "auto", 0)
    p = SimCLRPretrainer().get_params()
    assert (p["batch_size"], p["max_epochs"], p["validation_fraction"], p["verbose"]) == (64, 100, 0.1, 1)
    assert SimCLRPretrainer("resnet18").image_encoder == "resnet18"
    assert ContIGClassifier("ordinal").task == "ordinal"


@pytest.mark.parametrize(
    "n, batch, fraction",
    # 60 steps an epoch within [8, 32] (small_labels.py at 1,000 images: batch 16 was the
    # best on cup Dice and grade QWK and 0.07 below batch 8 on cup-to-disc R^2, batch 8 lost
    # 0.11 QWK and batch 32 0.15 Dice); early stopping only from 500 held-out individuals
    [(50, 8, 0.0), (500, 8, 0.0), (1000, 16, 0.0), (2000, 32, 0.0), (5000, 32, 0.1), (50_000, 32, 0.1)],
)
def test_auto_training_length(n, batch, fraction):
    assert auto_batch_size(n) == batch
    assert auto_validation_fraction(n) == fraction


def test_unknown_or_repeated_parameter_is_a_type_error():
    with pytest.raises(TypeError, match=r"SimCLRPretrainer\(\).*'max_epoch'"):
        SimCLRPretrainer(max_epoch=3)
    with pytest.raises(TypeError, match=r"ContIGClassifier\(\).*multiple values.*task"):
        ContIGClassifier("ordinal", task="multiclass")
    with pytest.raises(TypeError, match="Clashing.__init__ repeats parameters of NetEstimator.*'lr'"):
        class Clashing(NetEstimator):  # noqa: F841 - the class statement raises
            def __init__(self, lr=0.1):
                self.lr = lr
