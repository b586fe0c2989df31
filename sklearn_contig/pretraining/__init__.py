"""Pretrainers: ContIG and the image-only self-supervised baselines, on one base."""

from ._base import BasePretrainer
from ._contig import ContIGPretrainer

__all__ = ["BasePretrainer", "ContIGPretrainer"]
