"""Training-length defaults at 50 labelled images: a small version of benchmarks/small_labels.py."""

import pytest

from sklearn_contig.datasets import make_imaging_genetics
from sklearn_contig.downstream import ContIGSegmenter

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_segmenter_defaults_are_near_the_best_configuration_at_50_images():
    # The optic cup: under 2 % of the image at low contrast. Same cohort as
    # ``small_labels.py --tasks cup --sizes 50 --test 100 --image-size 32`` (seed 0),
    # whose search over batch size, schedule, learning rate and early stopping found
    # batch 4 best (Dice 0.573 over seeds 0 and 1; seed 0: 0.601) and the defaults
    # at 0.565 (seed 0: 0.621); the previous defaults (batch 32, constant rate,
    # early stopping) reached 0.489.
    ds, _ = make_imaging_genetics(150, image_size=32, simulator="independent", random_state=0)
    train, test = ds.isel(sample=slice(0, 50)), ds.isel(sample=slice(50, None))
    common = dict(target="cup_mask", image_encoder="resnet18", max_epochs=30, device="cpu", random_state=0)
    defaults = ContIGSegmenter(**common).fit(train)
    assert defaults.batch_size_ == 8 and defaults.n_valid_samples_ == 0  # "auto" at 50 images
    best = ContIGSegmenter(**common, batch_size=4, validation_fraction=0.0).fit(train)
    dice, best_dice = defaults.score(test), best.score(test)
    assert dice >= best_dice - 0.05, (dice, best_dice)
    assert dice >= 0.5, dice
