"""Losses of the downstream tasks: classification, ordinal grading, regression, segmentation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy on integer-coded classes (multiclass, binary included)."""

    def forward(self, logits, y):
        return F.cross_entropy(logits, y.long())


class MultilabelBCELoss(nn.Module):
    """Mean binary cross-entropy over the labels of an indicator matrix."""

    def forward(self, logits, y):
        return F.binary_cross_entropy_with_logits(logits, y.float())


class CoralLoss(nn.Module):
    """CORAL loss: sum over thresholds of binary cross-entropy on ``y > k``, mean over samples.

    Cao, Mirjalili & Raschka, Pattern Recognition Letters 140 (2020); pairs with
    :class:`~sklearn_contig.models.CoralHead`.
    """

    def forward(self, logits, y):
        levels = (y.long()[:, None] > torch.arange(logits.shape[1], device=logits.device)[None]).float()
        return F.binary_cross_entropy_with_logits(logits, levels, reduction="none").sum(1).mean()


class MSELoss(nn.Module):
    """Mean squared error on float targets of the prediction's shape."""

    def forward(self, pred, y):
        return F.mse_loss(pred, y.float().reshape(pred.shape))


class DiceBCELoss(nn.Module):
    """Binary cross-entropy plus soft Dice loss (1 - Dice per image and channel, averaged).

    Takes ``y_pred = (logits, target)`` as returned by
    :class:`~sklearn_contig.models.SegmentationModule`: the target masks travel
    through the module so they are augmented with the images.
    """

    def __init__(self, eps: float = 1.0):
        super().__init__()
        self.eps = eps

    def forward(self, y_pred, y_true=None):
        logits, target = y_pred
        target = target.float()
        bce = F.binary_cross_entropy_with_logits(logits, target)
        p = torch.sigmoid(logits).flatten(2)
        t = target.flatten(2)
        dice = (2 * (p * t).sum(-1) + self.eps) / (p.sum(-1) + t.sum(-1) + self.eps)
        return bce + (1 - dice).mean()
