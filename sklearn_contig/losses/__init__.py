"""Losses: the ContIG cross-modal loss, the image-only self-supervised losses, the
downstream tasks' losses, and the skorch criteria that feed them."""

from .contig import ContIGLoss
from .criteria import ContIGCriterion, SSLCriterion
from .ssl import BarlowTwinsLoss, BYOLLoss, NNCLRLoss, NTXentLoss, SimSiamLoss
from .supervised import CoralLoss, CrossEntropyLoss, DiceBCELoss, MSELoss, MultilabelBCELoss

__all__ = [
    "BarlowTwinsLoss",
    "BYOLLoss",
    "ContIGCriterion",
    "ContIGLoss",
    "CoralLoss",
    "CrossEntropyLoss",
    "DiceBCELoss",
    "MSELoss",
    "MultilabelBCELoss",
    "NNCLRLoss",
    "NTXentLoss",
    "SSLCriterion",
    "SimSiamLoss",
]
