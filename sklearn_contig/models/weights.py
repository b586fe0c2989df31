"""Published weights into an :class:`~sklearn_contig.models.ImageEncoder`.

A weights file is read without unpickling anything (safetensors, or
``torch.load(weights_only=True)`` for ``.pth``/``.pt``/``.ckpt``/``.bin``), its
state dict is found inside the usual containers and its keys are mapped onto
the encoder's backbone:

- plain state dicts (torchvision, timm);
- ``{"model": ...}`` (MAE and RETFound), ``{"state_dict": ...}`` (PyTorch
  Lightning), ``{"model_state_dict": ...}``;
- any common key prefix, found by matching key suffixes against the backbone:
  DataParallel's ``module.``, Lightning's ``model.imaging_model.`` or
  ``models.0.imaging_model.`` (the ContIG authors' checkpoints), ``backbone.``,
  ``encoder.`` and this package's own ``image_encoder.backbone.``;
- classification heads and MAE decoders are dropped (torchvision ``fc.*``,
  timm ``head.*``, ``classifier.*``, ``decoder_*``, ``mask_token``), and the
  position embeddings of a vision transformer are resampled to the encoder's
  image size.

Anything else that does not match raises ``ValueError`` listing the missing,
unexpected and mis-shaped keys.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch

from .encoders import IMAGENET_MEAN, IMAGENET_STD, ImageEncoder

#: File suffixes read with ``torch.load(weights_only=True)``.
TORCH_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")

#: Containers a state dict is found in, tried in this order.
_CONTAINERS = ("state_dict", "model_state_dict", "model", "module", "net")

#: Keys (after the prefix is removed) that belong to a classifier or an MAE
#: decoder, not to the encoder: dropped.
_DROPPED = ("fc.", "head.", "head_dist.", "heads.", "classifier.", "last_linear.",
            "decoder", "mask_token", "pre_logits.")

#: Backbone keys a checkpoint may lack without harm.
_OPTIONAL = ("num_batches_tracked",)


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, as stored (no key mapping).

    Parameters
    ----------
    path : str or Path
        ``.safetensors``, or ``.pth`` / ``.pt`` / ``.ckpt`` / ``.bin`` read with
        ``torch.load(weights_only=True)`` (plain tensors and containers only;
        a file that needs unpickling of arbitrary objects is refused).

    Returns
    -------
    state : dict
        The file's top-level object: a dict, possibly nested (see
        :func:`find_state_dict`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained_weights file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - any parse error
            raise ValueError(f"pretrained_weights {str(path)!r} is not a safetensors file: {exc}") from None
    if suffix not in TORCH_SUFFIXES:
        raise ValueError(
            f"pretrained_weights {str(path)!r} must end in .safetensors or one of {TORCH_SUFFIXES}"
        )
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling refused or corrupt file
        raise ValueError(
            f"pretrained_weights {str(path)!r} could not be read with torch.load(weights_only=True) "
            f"(only tensors and plain containers are read, never arbitrary objects): {exc}"
        ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"pretrained_weights {str(path)!r} holds a {type(obj).__name__}, not a state dict")
    return obj


def find_state_dict(obj: dict) -> dict[str, torch.Tensor]:
    """The state dict inside a checkpoint: ``obj`` itself or a known container.

    Examples
    --------
    >>> import torch
    >>> find_state_dict({"epoch": 3, "model": {"w": torch.zeros(1)}})
    {'w': tensor([0.])}
    """
    seen = 0
    while isinstance(obj, dict) and seen < 4:
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        inner = next((obj[c] for c in _CONTAINERS if isinstance(obj.get(c), dict) and obj[c]), None)
        if inner is not None and len(tensors) < len(obj) / 2:
            obj, seen = inner, seen + 1
            continue
        if tensors:
            return tensors
        break
    raise ValueError("the weights file holds no state dict (a mapping of names to tensors)")


def _best_prefix(keys, targets: set) -> str:
    """The key prefix whose removal makes most keys names of ``targets``."""
    votes: Counter = Counter()
    for key in keys:
        if key in targets:
            votes[""] += 1
        parts = key.split(".")
        for i in range(1, len(parts)):
            if ".".join(parts[i:]) in targets:
                votes[".".join(parts[:i]) + "."] += 1
    if not votes:
        return ""
    # most matches; on a tie the shorter prefix
    return max(votes, key=lambda p: (votes[p], -len(p)))


def _resample_position_embedding(state: dict, backbone) -> None:
    """Resample a ViT's absolute position embeddings to the backbone's patch grid."""
    pos = state.get("pos_embed")
    target = getattr(backbone, "pos_embed", None)
    if not isinstance(target, torch.Tensor) or pos is None or pos.shape == target.shape:
        return
    from timm.layers import resample_abs_pos_embed

    prefix = 0 if getattr(backbone, "no_embed_class", False) else int(getattr(backbone, "num_prefix_tokens", 1))
    grid = list(backbone.patch_embed.grid_size)
    state["pos_embed"] = resample_abs_pos_embed(pos, new_size=grid, num_prefix_tokens=prefix)


def map_state_dict(state: dict, backbone: torch.nn.Module, *, source: str = "pretrained_weights") -> dict:
    """Map a checkpoint's tensors onto ``backbone``'s state dict keys.

    Removes the common prefix, drops classifier heads and MAE decoders,
    resamples ViT position embeddings, and checks names and shapes.

    Parameters
    ----------
    state : dict of str to Tensor
    backbone : nn.Module
    source : str
        Name of the file or argument, used in error messages.

    Returns
    -------
    mapped : dict of str to Tensor
        Exactly the keys of ``backbone.state_dict()`` (up to BatchNorm's
        ``num_batches_tracked``), with matching shapes.

    Raises
    ------
    ValueError
        Listing missing, unexpected and mis-shaped keys when the file does not
        hold this architecture.
    """
    own = backbone.state_dict()
    targets = set(own)
    prefix = _best_prefix(state, targets)
    mapped, unexpected = {}, []
    for key, value in state.items():
        if not key.startswith(prefix):
            continue  # other sub-networks of a checkpoint (genetic encoders, heads, optimiser...)
        name = key[len(prefix):]
        if name in targets:
            mapped[name] = value
        elif not name.startswith(_DROPPED):
            unexpected.append(name)
    _resample_position_embedding(mapped, backbone)
    missing = [k for k in own if k not in mapped and not k.endswith(_OPTIONAL)]
    shapes = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in mapped.items()
        if tuple(v.shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        def show(items):
            return f"{len(items)} {items[:8]}" + (" ..." if len(items) > 8 else "")

        raise ValueError(
            f"{source} does not match the encoder's architecture"
            + (f" (keys read under the prefix {prefix!r})" if prefix else "")
            + f": missing keys {show(missing)}; unexpected keys {show(unexpected)}; "
            f"shape mismatches {show(shapes)}"
        )
    return {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in mapped.items()}


def load_weights(encoder: ImageEncoder, path, *, normalization="imagenet") -> ImageEncoder:
    """Load published weights into ``encoder``'s backbone, in place.

    Parameters
    ----------
    encoder : ImageEncoder
        Built for the architecture of the weights (e.g. ``"resnet50"`` for
        torchvision or ContIG checkpoints, ``"timm:vit_large_patch16_224"`` for
        RETFound), at any image size.
    path : str or Path
        A weights file (see :func:`read_state_dict` and the module docstring
        for the layouts understood).
    normalization : "imagenet", "keep" or (mean, std), default="imagenet"
        Input statistics the weights expect, set on the encoder: the ImageNet
        per-channel mean and standard deviation (torchvision, timm, RETFound),
        ``"keep"`` to leave the encoder's, or explicit per-channel values.

    Returns
    -------
    encoder : ImageEncoder

    Examples
    --------
    >>> import torch, torchvision
    >>> net = torchvision.models.resnet18(weights=None)
    >>> torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, "r18.pth")
    >>> enc = load_weights(ImageEncoder("resnet18", image_size=32), "r18.pth")
    >>> torch.equal(enc.backbone.conv1.weight, net.conv1.weight)
    True
    """
    if not isinstance(encoder, ImageEncoder):
        raise TypeError(f"encoder must be an ImageEncoder, got {type(encoder).__name__}")
    if encoder.flat:
        raise ValueError("pretrained_weights needs an image backbone (a ResNet or timm model), not 'mlp'")
    state = find_state_dict(read_state_dict(path))
    mapped = map_state_dict(state, encoder.backbone, source=f"pretrained_weights {str(path)!r}")
    encoder.backbone.load_state_dict(mapped, strict=False)
    if isinstance(normalization, str):
        if normalization == "imagenet":
            if encoder.in_channels != 3:
                raise ValueError(
                    f"ImageNet normalisation needs 3 channels, the encoder has {encoder.in_channels}; "
                    "give (mean, std) per channel"
                )
            encoder.set_normalization(IMAGENET_MEAN, IMAGENET_STD)
        elif normalization != "keep":
            raise ValueError(f"normalization must be 'imagenet', 'keep' or (mean, std), got {normalization!r}")
    else:
        mean, std = normalization
        encoder.set_normalization(mean, std)
    return encoder
