"""Explanations find the planted causal PGS on the synthetic biobank, on unseen people.

A short ContIG pretraining on part of a small synthetic cohort learns the easy
visual traits. The explainer's reference batch and the explained people are
individuals the model never saw in pretraining (and the explained people are not
in the reference batch). The global attributions must rank the easy traits'
causal PGS above the noise PGS (features causal for no trait), an untrained
model must not, and the difference trained - untrained must be large.
"""

import numpy as np
import pytest

from sklearn_contig.data import from_arrays
from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.evaluation import attribution_auc
from sklearn_contig.explain import Explainer
from sklearn_contig.pretraining import ContIGPretrainer

N = 1500
N_PRETRAIN, N_REFERENCE, N_EXPLAIN = 900, 300, 300

# Observed at this size on the 2-core CPU (2026-12-02, 1 thread), seeds 0 / 1 / 2 of cohort, split
# and model (the test runs seed 0):
#   trained ROC-AUC    0.795 / 0.794 / 0.821
#   untrained ROC-AUC  0.485 / 0.608 / 0.546
#   difference         0.310 / 0.186 / 0.275
# After the generator matched causal to noise features on frequency (same day), seed 0
# gave trained 0.902, untrained 0.571, difference 0.331 (2 threads).
# Bounds: trained >= 0.72 (0.07 below the lowest seed, about one standard error of an
# AUC over 12 causal PGS), untrained < 0.70 (0.09 above the highest seed), difference
# >= 0.10 (0.09 below the lowest seed).
TRAINED_MIN, UNTRAINED_MAX, DIFFERENCE_MIN = 0.72, 0.70, 0.10


def split_people(ds, seed):
    """Pretraining, reference and explained samples: disjoint sets of individuals."""
    people = np.random.default_rng(seed).permutation(np.unique(ds["individual"].values))
    cut = np.cumsum([N_PRETRAIN, N_REFERENCE, N_EXPLAIN])
    groups = np.split(people, cut)[:3]
    return [ds.isel(sample=np.flatnonzero(np.isin(ds["individual"].values, g))) for g in groups]


def easy_trait_auc(seed, max_epochs):
    ds, truth = make_imaging_genetics(
        N, image_size=32, simulator="independent", n_snps=50, n_pgs=100, n_genes=20,
        missing={"pgs": 0.05}, heritability=0.8, random_state=seed,
    )
    pretrain, reference, explained = split_people(ds, seed)
    model = ContIGPretrainer(
        "resnet18", modalities=["pgs"], hidden_dim=256, projection_dim=64, batch_size=128,
        max_epochs=max_epochs, weight_decay=1e-4, validation_fraction=0, verbose=0,
        random_state=seed,
    ).fit(pretrain)
    explainer = Explainer(model, n_reference=N_REFERENCE, n_steps=16, random_state=seed).fit(reference)
    glob = explainer.global_(explained)
    return attribution_auc(glob, truth.causal, truth.easy_traits, modality="pgs")


@pytest.fixture(scope="module")
def aucs():
    return {"trained": easy_trait_auc(0, max_epochs=5), "untrained": easy_trait_auc(0, max_epochs=0)}


def test_split_keeps_people_apart():
    people = np.repeat([f"i{k}" for k in range(N)], 2)  # two images per person
    ds = from_arrays(np.zeros((2 * N, 3, 4, 4), np.uint8), pgs=np.zeros((2 * N, 2)),
                     individual_ids=people)
    parts = [set(p["individual"].values) for p in split_people(ds, 0)]
    assert [len(p) for p in parts] == [N_PRETRAIN, N_REFERENCE, N_EXPLAIN]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_trained_model_ranks_causal_pgs_above_noise(aucs):
    print(f"easy-trait PGS ROC-AUC: trained {aucs['trained']:.3f}, untrained {aucs['untrained']:.3f}")
    assert aucs["trained"] >= TRAINED_MIN, aucs


def test_untrained_model_does_not(aucs):
    assert aucs["untrained"] < UNTRAINED_MAX, aucs


def test_training_adds_attribution_quality(aucs):
    assert aucs["trained"] - aucs["untrained"] >= DIFFERENCE_MIN, aucs
