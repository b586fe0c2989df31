"""Synthetic imaging-genetics data with planted ground truth."""

from ._synthetic import (
    EASY_TRAITS,
    HARD_TRAITS,
    TRAITS,
    SyntheticTruth,
    generate_to_disk,
    make_imaging_genetics,
    write_image_folder,
)

__all__ = [
    "EASY_TRAITS",
    "HARD_TRAITS",
    "TRAITS",
    "SyntheticTruth",
    "generate_to_disk",
    "make_imaging_genetics",
    "write_image_folder",
]
