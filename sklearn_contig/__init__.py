"""sklearn_contig: ContIG contrastive image-genetics pretraining with a scikit-learn API.

The main entry points::

    from sklearn_contig import ContIGPretrainer, ContIGClassifier, Explainer, GWASTransformer
    from sklearn_contig.datasets import make_imaging_genetics
"""

__version__ = "0.1.0"

from ._pretrained import load_pretrained, push_to_hub, save_pretrained
from .data import Samples, from_arrays, validate
from .downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
from .explain import Explainer
from .gwas import GWASTransformer
from .pretraining import (
    BarlowTwinsPretrainer,
    BYOLPretrainer,
    ContIGPretrainer,
    ImageEmbedder,
    NNCLRPretrainer,
    SimCLRPretrainer,
    SimSiamPretrainer,
)

__all__ = [
    "BarlowTwinsPretrainer",
    "BYOLPretrainer",
    "ContIGClassifier",
    "ContIGPretrainer",
    "ContIGRegressor",
    "ContIGSegmenter",
    "Explainer",
    "GWASTransformer",
    "ImageEmbedder",
    "NNCLRPretrainer",
    "Samples",
    "SimCLRPretrainer",
    "SimSiamPretrainer",
    "__version__",
    "from_arrays",
    "load_pretrained",
    "push_to_hub",
    "save_pretrained",
    "validate",
]
