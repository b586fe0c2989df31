"""Neural network modules only: encoders, heads, augmentation, decoders."""

from .augment import BatchAugment
from .contig import ContIGModule
from .encoders import (
    IMAGE_ENCODERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TIMM_PREFIX,
    ImageEncoder,
    ImageEncoderName,
    MLPBackbone,
    check_image_encoder_name,
    load_encoder,
    save_encoder,
)
from .genetic import GENETIC_ENCODERS, GeneticEncoder
from .heads import CoralHead, MLPHead, ProjectionHead

__all__ = [
    "BatchAugment",
    "ContIGModule",
    "CoralHead",
    "MLPHead",
    "GENETIC_ENCODERS",
    "GeneticEncoder",
    "IMAGE_ENCODERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TIMM_PREFIX",
    "ImageEncoder",
    "ImageEncoderName",
    "MLPBackbone",
    "ProjectionHead",
    "check_image_encoder_name",
    "load_encoder",
    "save_encoder",
]

from .downstream import DownstreamModule, SegmentationModule  # noqa: E402
from .unet import RESNET_STAGES, UNet  # noqa: E402

__all__ += ["RESNET_STAGES", "UNet", "DownstreamModule", "SegmentationModule"]

from .weights import find_state_dict, load_weights, map_state_dict, read_state_dict  # noqa: E402

__all__ += ["find_state_dict", "load_weights", "map_state_dict", "read_state_dict"]
