"""Losses, one per module."""

from .contig import ContIGLoss

__all__ = ["ContIGLoss"]
