"""Each image-only baseline learns under its defaults at a small image size."""

import numpy as np
import pytest

from sklearn_contig.data import split_individuals
from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.pretraining import (
    BarlowTwinsPretrainer,
    BYOLPretrainer,
    NNCLRPretrainer,
    SimCLRPretrainer,
    SimSiamPretrainer,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def split():
    ds, _ = make_imaging_genetics(600, image_size=32, simulator="independent", random_state=0)
    return split_individuals(ds, test_size=0.2, random_state=0)


@pytest.mark.parametrize(
    "Baseline", [SimCLRPretrainer, BYOLPretrainer, BarlowTwinsPretrainer, SimSiamPretrainer, NNCLRPretrainer]
)
def test_baseline_defaults_learn_at_32px(Baseline, split):
    train, test = split
    # only the encoder and the training length are set (random_state/verbose change nothing learned)
    trained = Baseline(image_encoder="resnet18", max_epochs=8, random_state=0, verbose=0).fit(train)
    untrained = Baseline(image_encoder="resnet18", max_epochs=0, random_state=0, verbose=0).fit(train)
    score, chance_like = trained.score(test), untrained.score(test)
    assert score >= 2 * chance_like, (score, chance_like)
    assert np.isfinite(trained.history_[-1, "train_loss"])
