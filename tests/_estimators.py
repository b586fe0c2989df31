"""The estimators that train a network, for tests that check all of them."""

from sklearn_contig.downstream import ContIGClassifier, ContIGRegressor, ContIGSegmenter
from sklearn_contig.pretraining import (
    BarlowTwinsPretrainer,
    BYOLPretrainer,
    ContIGPretrainer,
    NNCLRPretrainer,
    SimCLRPretrainer,
    SimSiamPretrainer,
)

PRETRAINERS = [ContIGPretrainer, SimCLRPretrainer, BYOLPretrainer, BarlowTwinsPretrainer, SimSiamPretrainer,
               NNCLRPretrainer]
DOWNSTREAM = [ContIGClassifier, ContIGRegressor, ContIGSegmenter]
TRAINED_ESTIMATORS = PRETRAINERS + DOWNSTREAM
