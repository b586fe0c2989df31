"""Networks of the downstream estimators: an image encoder followed by a task head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .contig import autocast_context
from .encoders import ImageEncoder
from .unet import UNet


class DownstreamModule(nn.Module):
    """Image encoder followed by a task head; the network of classification and regression.

    ``forward(image, **ignored)`` scales, (in training) augments, normalises and
    encodes the images, then applies ``head`` to the pooled embedding.

    Parameters
    ----------
    encoder : ImageEncoder
    head : nn.Module
        Maps the embedding ``(n, encoder.out_dim)`` to the task's outputs.
    freeze : bool, default=False
        Linear evaluation: the encoder gets no gradients and stays in eval mode
        (BatchNorm statistics frozen too) whatever ``train()`` is called with.

    Examples
    --------
    >>> import torch
    >>> enc = ImageEncoder("mlp", in_channels=5)
    >>> DownstreamModule(enc, nn.Linear(enc.out_dim, 3))(torch.randn(4, 5)).shape
    torch.Size([4, 3])
    """

    def __init__(self, encoder: ImageEncoder, head: nn.Module, freeze: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head = head
        self.freeze = bool(freeze)
        self.augment = None
        self.autocast_dtype = None
        if self.freeze:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze:
            self.encoder.eval()
        return self

    def _maybe_frozen(self, fn, *args):
        """``fn(*args)``, without building a graph when the encoder is frozen."""
        if self.freeze:
            with torch.no_grad():
                return fn(*args)
        return fn(*args)

    def forward(self, image, **ignored):  # (n, c, h, w) or (n, d) -> (n, n_outputs)
        x = self.encoder.to_unit(image)
        if self.augment is not None and self.training:
            x = self.augment(x)
        with autocast_context(x.device.type, self.autocast_dtype):
            h = self._maybe_frozen(self.encoder.embed_unit, x)
            out = self.head(h)
        return out.float()


class SegmentationModule(DownstreamModule):
    """Encoder + :class:`~sklearn_contig.models.UNet`; ``forward(image, target=None)``.

    Returns ``(logits, target)``: in training the target masks are warped with the
    same random geometry as the images (``photometric`` augmentation touches the
    images only) and both are at the working size; in eval mode the logits are
    resized to the input's size and the target passes through.

    Parameters
    ----------
    encoder : ImageEncoder
        A ResNet encoder (its stem and four stages give the skip connections).
    out_channels : int
        Mask channels.
    freeze : bool, default=False
        Train the decoder only.
    """

    def __init__(self, encoder: ImageEncoder, out_channels: int, freeze: bool = False):
        unet = UNet(encoder.backbone, encoder.name, encoder.in_channels, out_channels)
        super().__init__(encoder, unet, freeze=freeze)
        self.photometric = None

    def forward(self, image, target=None, **ignored):
        size = tuple(image.shape[-2:])
        x = self.encoder.to_unit(image)
        if self.training and self.augment is not None:
            if target is not None:
                t = target.float()
                if tuple(t.shape[-2:]) != tuple(x.shape[-2:]):
                    t = F.interpolate(t, size=x.shape[-2:], mode="bilinear", align_corners=False)
                both = self.augment(torch.cat([x, t], dim=1))
                x, target = both[:, : x.shape[1]], both[:, x.shape[1] :]
            else:
                x = self.augment(x)
        if self.training and self.photometric is not None:
            x = self.photometric(x)
        with autocast_context(x.device.type, self.autocast_dtype):
            x = self.encoder.normalize(x)
            logits = self.head.decode(x, self._maybe_frozen(self.head.encode, x)).float()
        if target is not None and tuple(logits.shape[-2:]) != tuple(target.shape[-2:]):
            logits = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
        elif target is None and tuple(logits.shape[-2:]) != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits, target
