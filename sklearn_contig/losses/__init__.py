"""Losses, one per module."""

from .contig import ContIGLoss

__all__ = ["ContIGLoss"]

from .ssl import BarlowTwinsLoss, BYOLLoss, NNCLRLoss, NTXentLoss, SimSiamLoss

__all__ += ["BarlowTwinsLoss", "BYOLLoss", "NNCLRLoss", "NTXentLoss", "SimSiamLoss"]
