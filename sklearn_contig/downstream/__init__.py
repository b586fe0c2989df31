"""Downstream estimators: classification, regression and segmentation on a (pretrained) encoder."""

from ._base import BaseDownstream
from ._classifier import ContIGClassifier
from ._regressor import ContIGRegressor
from ._segmenter import ContIGSegmenter

__all__ = [
    "BaseDownstream",
    "ContIGClassifier",
    "ContIGRegressor",
    "ContIGSegmenter",
]
