"""Pretrainers: ContIG and the image-only self-supervised baselines, on one base."""

from ._base import BasePretrainer
from ._baselines import (
    BarlowTwinsPretrainer,
    BYOLPretrainer,
    NNCLRPretrainer,
    SimCLRPretrainer,
    SimSiamPretrainer,
    ssl_augment,
)
from ._contig import ContIGPretrainer

__all__ = [
    "BarlowTwinsPretrainer",
    "BasePretrainer",
    "BYOLPretrainer",
    "ContIGPretrainer",
    "NNCLRPretrainer",
    "SimCLRPretrainer",
    "SimSiamPretrainer",
    "ssl_augment",
]
