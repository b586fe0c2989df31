"""Downstream estimators: classification, regression and segmentation on a (pretrained) encoder."""

from ._base import BaseDownstream, DownstreamModule
from ._classifier import ContIGClassifier, CoralHead, CoralLoss
from ._regressor import ContIGRegressor
from ._segmenter import ContIGSegmenter, SegmentationModule

__all__ = [
    "BaseDownstream",
    "ContIGClassifier",
    "ContIGRegressor",
    "ContIGSegmenter",
    "CoralHead",
    "CoralLoss",
    "DownstreamModule",
    "SegmentationModule",
]
