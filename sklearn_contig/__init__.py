"""sklearn_contig: ContIG contrastive image-genetics pretraining with a scikit-learn API."""

__version__ = "0.1.0"
