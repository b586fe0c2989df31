"""Losses: the ContIG cross-modal loss and the image-only self-supervised losses."""

from .contig import ContIGLoss
from .ssl import BarlowTwinsLoss, BYOLLoss, NNCLRLoss, NTXentLoss, SimSiamLoss

__all__ = ["BarlowTwinsLoss", "BYOLLoss", "ContIGLoss", "NNCLRLoss", "NTXentLoss", "SimSiamLoss"]
