"""Explanations of ContIG models: which genetic features (and pixels) drive the loss."""

from ._deeplift import deeplift_safe
from ._explainer import AUTHORS_SETTINGS, Explainer
from ._plots import plot_global, plot_image_attribution, plot_local
from ._results import aggregate

__all__ = [
    "AUTHORS_SETTINGS",
    "Explainer",
    "aggregate",
    "deeplift_safe",
    "plot_global",
    "plot_image_attribution",
    "plot_local",
]
