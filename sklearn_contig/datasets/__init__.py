"""Synthetic imaging-genetics data with planted ground truth."""

from ._assemble import SyntheticTruth
from ._cohort import EASY_TRAITS, HARD_TRAITS, TRAITS
from ._disk import generate_to_disk, write_image_folder
from ._synthetic import make_imaging_genetics

__all__ = [
    "EASY_TRAITS",
    "HARD_TRAITS",
    "TRAITS",
    "SyntheticTruth",
    "generate_to_disk",
    "make_imaging_genetics",
    "write_image_folder",
]
