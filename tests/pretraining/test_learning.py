"""ContIG learns on the synthetic biobank: checked on individuals never seen in training."""

import numpy as np
import pytest

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.pretraining import ContIGPretrainer

N, N_TEST, BATCH = 2000, 384, 64


@pytest.fixture(scope="module")
def split():
    # Polygenic scores carry the genetic signal (h2 = 0.8), as in the calibration
    # prototype; at CPU test scale weaker signals do not leave chance reliably.
    ds, truth = make_imaging_genetics(N, image_size=32, heritability=0.8, genetic_shares={"pgs": 1.0},
                                      simulator="independent", random_state=0)
    return ds.isel(sample=slice(0, N - N_TEST)), ds.isel(sample=slice(N - N_TEST, None)), truth


@pytest.fixture(scope="module")
def trained(split):
    train, _, _ = split
    # The package's learning rate. Early stopping on a 162-person validation split picks an
    # early epoch, and which one moves with the last bits of the arithmetic: the thread count
    # alone moved top-10 retrieval from 0.089 to 0.123 (random_state=1, lr 3e-4). At lr 1e-3 it
    # was 0.100-0.148 over random_state 0-4 on two threads and 0-2 on one; at lr 3e-4
    # 0.089-0.131, and once 0.075 in a whole-suite run, under the bound.
    return ContIGPretrainer(image_encoder="resnet18", modalities=["pgs"], batch_size=BATCH, max_epochs=8,
                            lr=1e-3, weight_decay=1e-4, hidden_dim=256, projection_dim=64,
                            augment={"brightness": 0.1}, patience=3, random_state=0, verbose=0).fit(train)


@pytest.mark.slow
def test_held_out_contrastive_loss_below_chance(trained, split):
    train, test, _ = split
    assert set(test["individual"].values).isdisjoint(train["individual"].values)
    loss = trained.contrastive_loss(test, chunk_size=BATCH)["mean"]
    assert loss < 0.95 * np.log(BATCH), loss


@pytest.mark.slow
def test_held_out_retrieval_beats_chance(trained, split):
    _, test, _ = split
    # top-10 among all held-out individuals: chance is 10 / 384 = 0.026
    top10 = trained.retrieval_accuracy(test, k=10, chunk_size=N_TEST)["pgs"]
    assert top10 >= 3 * 10 / N_TEST, top10
