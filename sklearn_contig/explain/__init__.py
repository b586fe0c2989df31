"""Explanations of ContIG models: which genetic features (and pixels) drive the loss."""

from ._explainer import Explainer, aggregate, deeplift_safe
from ._plots import plot_global, plot_image_attribution, plot_local

__all__ = [
    "Explainer",
    "aggregate",
    "deeplift_safe",
    "plot_global",
    "plot_image_attribution",
    "plot_local",
]
