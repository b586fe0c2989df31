"""Pretrainers: ContIG and the image-only self-supervised baselines, on one base."""

from ._base import BasePretrainer
from ._contig import ContIGPretrainer

__all__ = ["BasePretrainer", "ContIGPretrainer"]

from ._baselines import (
    BarlowTwinsPretrainer,
    BYOLPretrainer,
    NNCLRPretrainer,
    SimCLRPretrainer,
    SimSiamPretrainer,
)

__all__ += [
    "BarlowTwinsPretrainer",
    "BYOLPretrainer",
    "NNCLRPretrainer",
    "SimCLRPretrainer",
    "SimSiamPretrainer",
]
