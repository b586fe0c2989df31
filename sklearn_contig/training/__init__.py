"""The training core shared by pretrainers and downstream estimators.

:class:`NetEstimator` (fit template, inference loop, device/precision,
checkpoint/resume, accelerate), the skorch callbacks it installs, and the
helpers they use. A new estimator that trains a network derives from it.
"""

from ._callbacks import (
    CosineSchedule,
    Interruption,
    RecordLossParts,
    SkippedData,
    TrainingControl,
    cosine_decay,
    load_checkpoint,
    planned_steps,
    steps_per_epoch,
    unwrapped,
)
from ._checkpoint import FolderLock, checkpoint_folder, has_checkpoint, write_checkpoint
from ._estimator import (
    GEOMETRIC_AUGMENT,
    TRAINING_ATTRS_DOC,
    TRAINING_CONSTRAINTS,
    NetEstimator,
    image_dataset,
    resolve_device,
    resolve_precision,
    split_by_individual,
    training_params_doc,
)
from ._net import EpochOrder, NonFiniteLoss, TrainingInterrupted, TrainingNet
from ._weights import PRETRAINED_WEIGHTS_DOC, check_pretrained_weights, copy_encoder, start_from_weights

__all__ = [
    "CosineSchedule",
    "EpochOrder",
    "FolderLock",
    "Interruption",
    "NonFiniteLoss",
    "SkippedData",
    "TrainingInterrupted",
    "TrainingNet",
    "checkpoint_folder",
    "write_checkpoint",
    "GEOMETRIC_AUGMENT",
    "TRAINING_ATTRS_DOC",
    "TRAINING_CONSTRAINTS",
    "NetEstimator",
    "RecordLossParts",
    "TrainingControl",
    "has_checkpoint",
    "image_dataset",
    "load_checkpoint",
    "resolve_device",
    "resolve_precision",
    "split_by_individual",
    "steps_per_epoch",
    "planned_steps",
    "cosine_decay",
    "training_params_doc",
    "PRETRAINED_WEIGHTS_DOC",
    "check_pretrained_weights",
    "copy_encoder",
    "start_from_weights",
    "unwrapped",
]
