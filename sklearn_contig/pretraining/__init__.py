"""Pretrainers: ContIG and the image-only self-supervised baselines, on one base; ImageEmbedder."""

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
from ._embedder import ImageEmbedder

__all__ = [
    "BarlowTwinsPretrainer",
    "BasePretrainer",
    "BYOLPretrainer",
    "ContIGPretrainer",
    "ImageEmbedder",
    "NNCLRPretrainer",
    "SimCLRPretrainer",
    "SimSiamPretrainer",
    "ssl_augment",
]
