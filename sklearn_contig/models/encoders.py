"""Image encoders and their persistence.

An :class:`ImageEncoder` wraps a backbone (torchvision ResNet, an MLP, or any
``timm`` architecture named ``"timm:<name>"``) with the preprocessing every
caller needs, so that embedding works from raw arrays: uint8 0-255 or float 0-1
input, resizing to ``image_size``, per-channel normalisation (statistics stored
as buffers, saved with the weights) and ``channels_last`` memory format on GPUs.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .._compat import StrOptions

#: Backbones offered by name, with their pooled output dimension.
IMAGE_ENCODERS = {"resnet50": 2048, "resnet18": 512, "mlp": 512}

#: Prefix of the names of ``timm`` architectures (``"timm:vit_base_patch16_224"``).
TIMM_PREFIX = "timm:"

#: ImageNet per-channel mean and standard deviation of [0, 1] RGB images: the
#: input statistics torchvision's, timm's and RETFound's published weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _timm():
    try:
        import timm
    except ImportError:
        raise ImportError(
            "image_encoder='timm:<name>' needs the timm package: "
            "pip install timm (or pip install sklearn-contig[timm])"
        ) from None
    return timm


def check_image_encoder_name(name, param: str = "image_encoder") -> str:
    """Return ``name`` if it names an image encoder, else raise ``ValueError``.

    Valid: ``"resnet50"``, ``"resnet18"``, ``"mlp"`` and ``"timm:<architecture>"``
    for any architecture ``timm.list_models()`` knows (checked when timm is
    installed; without timm the name is accepted here and building the encoder
    raises ``ImportError``).

    Examples
    --------
    >>> check_image_encoder_name("resnet18")
    'resnet18'
    >>> check_image_encoder_name("vgg16")
    Traceback (most recent call last):
    ...
    ValueError: image_encoder must be one of ['mlp', 'resnet18', 'resnet50'] or 'timm:<architecture>', got 'vgg16'
    """
    if not isinstance(name, str):
        raise TypeError(f"{param} must be a str, got {type(name).__name__}")
    if name in IMAGE_ENCODERS:
        return name
    if name.startswith(TIMM_PREFIX):
        arch = name[len(TIMM_PREFIX):]
        if not arch:
            raise ValueError(f"{param}={name!r} names no timm architecture (e.g. 'timm:resnet50')")
        try:
            timm = _timm()
        except ImportError:
            return name
        if not timm.is_model(arch):
            raise ValueError(f"{param}={name!r}: timm has no architecture {arch!r} (see timm.list_models())")
        return name
    raise ValueError(
        f"{param} must be one of {sorted(IMAGE_ENCODERS)} or 'timm:<architecture>', got {name!r}"
    )


class ImageEncoderName(StrOptions):
    """Parameter constraint: a built-in encoder name or ``"timm:<architecture>"``.

    A :class:`StrOptions` that also accepts every timm architecture, so the
    estimators' declarative checks (``_parameter_constraints``) cover timm names
    and raise scikit-learn's ``InvalidParameterError`` (a ``ValueError``)
    naming the parameter for anything else.
    """

    def __init__(self):
        super().__init__(set(IMAGE_ENCODERS))

    def is_satisfied_by(self, val):
        try:
            check_image_encoder_name(val)
        except (TypeError, ValueError):
            return False
        return True

    def __str__(self):
        return f"{super().__str__()} or a str 'timm:<architecture>' naming a timm model"


def _timm_backbone(arch: str, in_channels: int, image_size):
    """A timm model without classifier (``num_classes=0``) for ``image_size`` px input.

    Vision transformers get ``img_size=image_size`` (their position embeddings
    are built for that grid) or, without a size, ``dynamic_img_size=True``;
    architectures without these arguments (CNNs) take any size anyway.
    """
    timm = _timm()
    kwargs = {"pretrained": False, "num_classes": 0, "in_chans": in_channels}
    extra = {"img_size": image_size} if image_size is not None else {"dynamic_img_size": True}
    try:
        net = timm.create_model(arch, **kwargs, **extra)
    except TypeError:  # the architecture takes no image size (CNNs)
        net = timm.create_model(arch, **kwargs)
    return net


def _timm_width(net) -> int:
    """Width of the pooled output of a timm model built with ``num_classes=0``."""
    return int(getattr(net, "head_hidden_size", None) or net.num_features)


def _resnet(name: str, in_channels: int) -> nn.Module:
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    return net


class MLPBackbone(nn.Module):
    """Encoder for flat image-derived features: Linear-ReLU-BN twice.

    Parameters
    ----------
    in_features : int
    hidden : int, default=512
    """

    def __init__(self, in_features: int, hidden: int = 512):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.BatchNorm1d(hidden),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.BatchNorm1d(hidden),
        )

    def forward(self, x):  # (n, in_features) -> (n, hidden)
        return self.net(x)


class ImageEncoder(nn.Module):
    """Backbone plus input preprocessing; ``forward`` maps raw images to embeddings.

    Parameters
    ----------
    name : {"resnet50", "resnet18", "mlp"} or "timm:<architecture>"
        Backbone, randomly initialised (load published weights with
        :func:`~sklearn_contig.models.load_weights`). ``"timm:<architecture>"``
        builds any model of the optional ``timm`` package without its
        classifier (``num_classes=0``), for ``image_size`` px input (position
        embeddings of vision transformers are built for that size).
    in_channels : int, default=3
        Image channels (ResNets) or, for ``"mlp"``, the number of input features.
    image_size : int or None, default=None
        Images are resized (bilinear) to this size when they differ; ``None`` keeps
        the input size.

    Attributes
    ----------
    out_dim : int
        Embedding dimension (2048 for resnet50, 512 for resnet18 and mlp; the
        pooled width ``num_features`` of a timm model).
    kind : {"resnet", "mlp", "timm"}

    Examples
    --------
    >>> import torch
    >>> enc = ImageEncoder("resnet18", image_size=32).eval()
    >>> enc(torch.zeros(2, 3, 40, 40, dtype=torch.uint8)).shape
    torch.Size([2, 512])
    """

    def __init__(self, name: str = "resnet50", in_channels: int = 3, image_size=None):
        super().__init__()
        check_image_encoder_name(name)
        self.name = name
        self.in_channels = int(in_channels)
        self.image_size = None if image_size is None else int(image_size)
        self.flat = name == "mlp"
        self.kind = "mlp" if self.flat else ("timm" if name.startswith(TIMM_PREFIX) else "resnet")
        if self.flat:
            self.backbone = MLPBackbone(self.in_channels)
            shape = (1, self.in_channels)
            self.out_dim = IMAGE_ENCODERS[name]
        elif self.kind == "timm":
            self.backbone = _timm_backbone(name[len(TIMM_PREFIX):], self.in_channels, self.image_size)
            shape = (1, self.in_channels, 1, 1)
            self.out_dim = _timm_width(self.backbone)
        else:
            self.backbone = _resnet(name, self.in_channels)
            shape = (1, self.in_channels, 1, 1)
            self.out_dim = IMAGE_ENCODERS[name]
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    def config(self) -> dict:
        """Constructor arguments, stored beside the weights."""
        return {"name": self.name, "in_channels": self.in_channels, "image_size": self.image_size}

    def set_image_size(self, image_size) -> None:
        """Change the working size (a timm ViT resamples its position embeddings)."""
        if self.flat:
            raise ValueError("an mlp encoder has no image size")
        image_size = None if image_size is None else int(image_size)
        if image_size == self.image_size:
            return
        if self.kind == "timm" and image_size is not None and hasattr(self.backbone, "pos_embed"):
            if not hasattr(self.backbone, "set_input_size"):
                raise ValueError(
                    f"{self.name} has position embeddings for one input size and cannot be "
                    f"resampled to image_size={image_size}"
                )
            self.backbone.set_input_size(img_size=image_size)
        self.image_size = image_size

    @torch.no_grad()
    def set_normalization(self, mean, std) -> None:
        """Set per-channel (or per-feature) statistics of the 0-1 scaled input."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(self.mean.shape))
        std = torch.as_tensor(std, dtype=torch.float32).reshape(self.std.shape)
        self.std.copy_(std.clamp_min(1e-6))

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Check the shape, scale to floats in [0, 1] (uint8 input) and resize."""
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        else:
            x = x.float()
        if self.flat:
            if x.ndim != 2 or x.shape[1] != self.in_channels:
                raise ValueError(
                    f"image must have shape (n, {self.in_channels}) for the mlp encoder, "
                    f"got {tuple(x.shape)}"
                )
            return x
        if x.ndim != 4:
            raise ValueError(
                f"image must have shape (n, channel, y, x) for {self.name}, got {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"image has {x.shape[1]} channels; the encoder expects {self.in_channels}"
            )
        size = self.image_size
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(
                x, size=(size, size), mode="bilinear", align_corners=False, antialias=True
            )
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Standardise with the stored per-channel statistics."""
        return (x - self.mean) / self.std

    def embed_unit(self, x: torch.Tensor) -> torch.Tensor:
        """Embed images already scaled to [0, 1] by :meth:`to_unit` (and maybe augmented)."""
        return self.backbone(self.normalize(x))

    def forward(self, x: torch.Tensor, augment: nn.Module | None = None) -> torch.Tensor:
        """Embed raw images; ``augment`` (e.g. :class:`BatchAugment`) runs on [0, 1] input."""
        x = self.to_unit(x)
        if augment is not None:
            x = augment(x)
        return self.embed_unit(x)


def save_encoder(encoder: ImageEncoder, path) -> Path:
    """Save an :class:`ImageEncoder` as safetensors, with its configuration as metadata.

    Loading (:func:`load_encoder`) never unpickles anything.
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    save_file(state, str(path), metadata={"sklearn_contig": json.dumps(encoder.config())})
    return path


def load_encoder(path, *, expected: str | None = None) -> ImageEncoder:
    """Load an encoder written by :func:`save_encoder`.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file.
    expected : str, default=None
        Architecture the caller needs; a file of another architecture raises
        ``ValueError``.

    Returns
    -------
    encoder : ImageEncoder
        In eval mode.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"encoder file {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - any parse error means "not our file"
        raise ValueError(f"encoder file {str(path)!r} is not a safetensors file: {exc}") from None
    if "sklearn_contig" not in meta:
        raise ValueError(f"encoder file {str(path)!r} was not written by save_encoder")
    config = json.loads(meta["sklearn_contig"])
    if expected is not None and config["name"] != expected:
        raise ValueError(
            f"encoder file {str(path)!r} holds a {config['name']!r} encoder, expected {expected!r}"
        )
    encoder = ImageEncoder(**config)
    state = load_file(str(path))
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"encoder file {str(path)!r} does not match a {config['name']!r} encoder "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return encoder.eval()
